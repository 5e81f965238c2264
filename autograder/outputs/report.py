"""``report.html``: what the class got wrong, on one self-contained page.

``convlab grade`` writes it next to grades.csv. It opens in a browser from the disk: no
server, no script, plots embedded as PNG data URLs. For each assignment:

* what to re-teach first: the exercises fewest students got fully right, with the
  mistake most of them made;
* per exercise, the score distribution (a plot), the mean, and the share of the class
  with full marks;
* the named mistakes (``Row.mistakes``), ranked by how many students made them;
* the submissions that were not simply right or wrong (``Row.status`` other than
  passed / failed: missing, crashed, timed out, forbidden calls, tampering, ...) and
  what happened to each;
* the pairs of students the copy detection flagged (``autograder.outputs.similarity``), one row
  per pair with the exercises and the highest score;

and, for the whole run, the files refused at intake whose owner could not be known.
Students who handed nothing in for an assignment are listed as such and left out of its
shares and means (their rows, 0, stay in grades.csv).

Decisions are taken on the rows' typed fields (score, status, mistakes), never on their
message text. Everything a student controls (ids, messages) is HTML-escaped, control and
bidi characters shown as visible escapes, and the page carries a Content-Security-Policy
that allows no script at all.
"""
from __future__ import annotations

import base64
import html
import io
from collections import Counter, defaultdict
from pathlib import Path

from convlab.checks.core import exercise_of

from ..safe_html import PAGE_CSP
from ..safe_text import terminal

__all__ = ["render", "write_report", "NORMAL_STATUSES", "STYLE"]

# Statuses that are plain right-or-wrong answers; every other one is listed as a problem.
NORMAL_STATUSES = ("passed", "failed", "")
NOT_ATTEMPTED = ("not_implemented",)  # counted, not listed: nothing broke
NOT_SUBMITTED = ("not_submitted",)    # handed nothing in: not part of the class's figures
MAX_MESSAGE = 600  # characters of a message shown in the problems table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.85em; max-width: 50em; }
.low { color: #a00; font-weight: bold; } .note { color: #666; font-size: 0.9em; }
img { max-width: 100%; }
"""


def _e(value) -> str:
    # An escape sequence in a student's id or message is shown, never acted on.
    return html.escape(terminal(value), quote=True)


def _exercise(grade_id: str) -> str:
    return exercise_of(grade_id) or grade_id


def _fraction(row) -> float:
    return row.score / row.max_score if row.max_score else 0.0


def _full(row) -> bool:
    return row.max_score > 0 and row.score >= row.max_score - 1e-9


def _png(fig) -> str:
    buffer = io.BytesIO()
    # No date in the metadata: grading the same class twice writes the same page.
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _distribution_plot(by_exercise: dict[str, list], totals: list[float], assignment: str) -> str:
    """Histograms of the fraction of each test cell's points, one panel per exercise,
    and of the assignment's total, as a PNG data URL."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no window

    names = list(by_exercise)
    panels = len(names) + 1
    cols = min(4, panels)
    rows = -(-panels // cols)
    fig = Figure(figsize=(3.2 * cols, 2.3 * rows))
    bins = [i / 10 for i in range(11)]
    for i, name in enumerate(names + ["total"]):
        ax = fig.add_subplot(rows, cols, i + 1)
        values = totals if name == "total" else [_fraction(r) for r in by_exercise[name]]
        ax.hist(values, bins=bins, color="#c44" if name != "total" else "#448", edgecolor="white")
        ax.set_xlim(0, 1)
        ax.set_title(name if name != "total" else f"{assignment}: total", fontsize=9)
        ax.set_xlabel("share of the points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return _png(fig)


def _table(header: list[str], rows: list[list[str]], numeric=()) -> str:
    """A table of already-escaped cells."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _assignment_section(assignment: str, all_rows: list, pairs: list, threshold: float) -> str:
    absent = sorted({r.student_id for r in all_rows if r.status in NOT_SUBMITTED})
    rows = [r for r in all_rows if r.student_id not in absent]
    by_exercise: dict[str, list] = defaultdict(list)
    for row in rows:
        by_exercise[_exercise(row.grade_id)].append(row)
    students = sorted({r.student_id for r in rows})
    totals = []
    for student in students:
        mine = [r for r in rows if r.student_id == student]
        out_of = sum(r.max_score for r in mine)
        totals.append(sum(r.score for r in mine) / out_of if out_of else 0.0)
    parts = [f'<h2 id="{_e(assignment)}">{_e(assignment)}</h2>',
             f"<p>{len(students)} students submitted, {len(by_exercise)} exercises; mean total "
             f"{100 * sum(totals) / max(len(totals), 1):.0f}%.</p>"]
    if absent:
        parts.append(f'<p class="note">Not submitted (left out of the figures below, 0 in '
                     f"grades.csv): {len(absent)} students: {', '.join(_e(a) for a in absent)}.</p>")
    if not rows:
        return "\n".join(parts)

    # What to re-teach: the exercises fewest got fully right, with their top mistake.
    summary = []
    for name, exercise_rows in by_exercise.items():
        full = sum(_full(r) for r in exercise_rows) / len(exercise_rows)
        mean = sum(_fraction(r) for r in exercise_rows) / len(exercise_rows)
        mistakes = Counter(m for r in exercise_rows for m in set(r.mistakes))
        top = mistakes.most_common(1)
        top_text = f"{_e(top[0][0])} ({top[0][1]})" if top else ""
        summary.append((full, name, mean, top_text))
    summary.sort(key=lambda item: (item[0], item[1]))
    parts.append("<h3>Exercises, fewest fully right first</h3>")
    parts.append(_table(
        ["exercise", "fully right", "mean score", "most common named mistake (students)"],
        [[_e(name), f'<span class="{"low" if full < 0.5 else ""}">{100 * full:.0f}%</span>',
          f"{100 * mean:.0f}%", top] for full, name, mean, top in summary],
        numeric=(1, 2)))
    parts.append("<h3>Score distributions</h3>")
    parts.append(f'<img alt="score distribution per exercise of {_e(assignment)}" '
                 f'src="{_distribution_plot(dict(by_exercise), totals, assignment)}">')

    mistake_rows = []
    for name, exercise_rows in by_exercise.items():
        counts = Counter(m for r in exercise_rows for m in set(r.mistakes))
        for mistake, count in counts.items():
            mistake_rows.append((-count, name, mistake, count, len({r.student_id for r in exercise_rows})))
    mistake_rows.sort()
    parts.append("<h3>Named mistakes, by how many students made them</h3>")
    if mistake_rows:
        parts.append(_table(["exercise", "mistake", "students", "share"],
                            [[_e(n), _e(m), str(c), f"{100 * c / total:.0f}%"]
                             for _, n, m, c, total in mistake_rows], numeric=(2, 3)))
    else:
        parts.append('<p class="note">No answer matched a named mistake.</p>')

    problems = [r for r in rows if r.status not in NORMAL_STATUSES + NOT_ATTEMPTED]
    untouched = [r for r in rows if r.status in NOT_ATTEMPTED]
    parts.append("<h3>Broken or hostile submissions</h3>")
    if untouched:
        parts.append(f'<p class="note">Not attempted (the stub left as given): {len(untouched)} '
                     f"answers of {len({r.student_id for r in untouched})} students.</p>")
    if problems:
        by_status = Counter(r.status for r in problems)
        parts.append("<p>" + ", ".join(f"{_e(s)}: {n}" for s, n in by_status.most_common()) + "</p>")
        problems.sort(key=lambda r: (r.status, r.student_id, r.grade_id))
        parts.append(_table(
            ["student", "exercise", "status", "score", "what happened"],
            [[_e(r.student_id), _e(_exercise(r.grade_id)), _e(r.status),
              f"{r.score:g} / {r.max_score:g}", f"<pre>{_e(_short(r.message))}</pre>"]
             for r in problems], numeric=(3,)))
    else:
        parts.append('<p class="note">None: every answer ran and was judged right or wrong.</p>')

    by_pair: dict[tuple[str, str], list] = defaultdict(list)
    for p in pairs:
        if p.assignment == assignment:
            by_pair[(p.student_a, p.student_b)].append(p)
    parts.append(f"<h3>Similar answers (score at least {threshold:.2f})</h3>")
    if by_pair:
        parts.append('<p class="note">For review, not a verdict: short answers and answers '
                     "that follow the notebook's hints closely can look alike. One row per "
                     "pair; each exercise's score is in similarity.csv.</p>")
        ranked = sorted(by_pair.items(), key=lambda item: (-max(p.score for p in item[1]), item[0]))
        parts.append(_table(
            ["student", "similar to", "exercises", "highest score"],
            [[_e(a), _e(b), _e(", ".join(sorted({p.exercise for p in found}))),
              f"{max(p.score for p in found):.2f}"] for (a, b), found in ranked],
            numeric=(3,)))
    else:
        parts.append('<p class="note">No pair of answers reached the threshold.</p>')
    return "\n".join(parts)


def _short(message: str) -> str:
    message = str(message)
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + " [...]"


def _refused_section(refused) -> str:
    if not refused:
        return ""
    return ("<h2 id=\"refused\">Files refused at intake</h2>\n"
            '<p class="note">Not graded; where a file says whose it is, that student also has '
            "rows with 0 and the reason.</p>\n"
            + _table(["file: why"], [[f"<pre>{_e(_short(line))}</pre>"] for line in refused]))


def render(rows: list, pairs: list = (), threshold: float = 0.8, title: str = "convlab class report",
           refused=(), late=()) -> str:
    """The report page for graded ``rows`` (autograder.outputs.grades.Row), flagged ``pairs`` and the
    files intake ``refused`` ("file: why" lines)."""
    assignments = sorted({r.assignment for r in rows})
    students = sorted({r.student_id for r in rows})
    sections = [_assignment_section(a, [r for r in rows if r.assignment == a], list(pairs), threshold)
                for a in assignments]
    toc = " · ".join(f'<a href="#{_e(a)}">{_e(a)}</a>' for a in assignments)
    body = "\n".join(sections) if sections else "<p>No graded submissions.</p>"
    body += _refused_section(list(refused))
    # --- late policy hook: the late submissions (autograder/score/lateness.py)
    from ..score.lateness import report_section

    body += report_section(list(late))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(PAGE_CSP)}">
<meta name="referrer" content="no-referrer">
<title>{_e(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p>{len(students)} students, {len(assignments)} assignments. {toc}</p>
{body}
</body>
</html>
"""


def write_report(rows: list, pairs: list, path: Path, threshold: float = 0.8, refused=(),
                 late=()) -> Path:
    path = Path(path)
    path.write_text(render(rows, pairs, threshold, refused=refused, late=late), encoding="utf-8")
    return path
