"""What ``convlab grade`` prints: a line per graded submission as it ends, and the class's
totals per student and assignment (ids and problems escaped for the terminal)."""
from __future__ import annotations

from ..safe_text import terminal
from .grades import Row, number

__all__ = ["progress_line", "summary_table"]


def progress_line(done: int, total: int, result) -> str:
    """``[ 3/10] ada 01_convolution: 7/12  4.2 s  (problem)`` for a JobResult."""
    score = sum(c.score for c in result.cells)
    out_of = sum(c.max_score for c in result.cells)
    width = len(str(total))
    note = f"  ({result.problems[0]})" if result.problems else ""
    # Ids and problems quote what students named and raised: no escape code reaches the tty.
    return terminal(f"[{done:>{width}}/{total}] {result.student} {result.assignment}: "
                    f"{number(score)}/{number(out_of)}  {result.seconds:.1f} s{note}")


def summary_table(rows: list[Row], assignments: list[str], late=()) -> str:
    """Per student, per assignment totals, as a fixed-width text table. ``late``: the
    Lateness records (score.lateness) whose penalties the totals are after; such a cell
    is marked ``*`` and a line under the table says so."""
    students = sorted({row.student_id for row in rows})
    totals: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        cell = totals.setdefault((row.student_id, row.assignment), [0.0, 0.0])
        cell[0] += row.score
        cell[1] += row.max_score
    penalised = set()
    for record in late:
        cell = totals.get((record.student_id, record.assignment))
        if cell is not None and record.penalty > 0:
            cell[0] = max(0.0, cell[0] - record.penalty)
            penalised.add((record.student_id, record.assignment))

    def fraction(score, out_of, mark=""):
        return f"{mark}{number(score)} / {number(out_of)}"

    header = ["student", *assignments, "total"]
    table = [header]
    for student in students:
        cells = [totals.get((student, a), [0.0, 0.0]) for a in assignments]
        marks = ["*" if (student, a) in penalised else "" for a in assignments]
        table.append([terminal(student), *(fraction(*c, m) for c, m in zip(cells, marks)),
                      fraction(sum(c[0] for c in cells), sum(c[1] for c in cells), max(marks))])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w)
                       for i, (text, w) in enumerate(zip(line, widths))) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if penalised:
        lines.append("* after the late penalty (lateness.csv says why)")
    return "\n".join(lines)
