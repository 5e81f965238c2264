"""report.html (autograder.outputs.report) on synthetic rows: what it shows, and that nothing a
student wrote can run or render in it."""
from __future__ import annotations

import base64
import csv
import re
from html.parser import HTMLParser

import pytest

from autograder.outputs.grades import Row
from autograder.outputs.report import STYLE, render, write_report
from autograder.safe_html import active_content
from autograder.outputs.similarity import Pair

EVIL = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def rows():
    out = []
    # corr2d: 4 students, 1 fully right; 2 flipped the kernel, 1 also off by one.
    out += [
        Row("ann", "01_convolution", "test_corr2d", 2.0, 2.0, "", "passed"),
        Row("ben", "01_convolution", "test_corr2d", 0.5, 2.0, "flipped", "failed",
            ("kernel flipped (that is true convolution)",)),
        Row("cat", "01_convolution", "test_corr2d", 0.0, 2.0, "flipped", "failed",
            ("kernel flipped (that is true convolution)", "size formula off by one")),
        Row(EVIL, "01_convolution", "test_corr2d", 0.0, 2.0, EVIL + " crashed", "crashed"),
    ]
    # im2col: everyone right but one who timed out and one who called F.unfold.
    out += [
        Row("ann", "01_convolution", "test_im2col", 3.0, 3.0, "", "passed"),
        Row("ben", "01_convolution", "test_im2col", 3.0, 3.0, "", "passed"),
        Row("cat", "01_convolution", "test_im2col", 0.0, 3.0, "ran past 10 s", "timeout"),
        Row(EVIL, "01_convolution", "test_im2col", 0.0, 3.0, "calls im2col (F.unfold)", "forbidden"),
    ]
    out += [Row(s, "02_transposed", "test_insert_zeros", 1.0, 1.0, "", "passed")
            for s in ("ann", "ben")]
    out.append(Row("cat", "02_transposed", "test_insert_zeros", 0.0, 1.0, "not implemented yet",
                   "not_implemented"))
    out.append(Row(EVIL, "02_transposed", "test_insert_zeros", 0.0, 1.0, "tampered with torch", "tampered"))
    return out


PAIRS = [Pair("ben", "cat", "01_convolution", "corr2d", 0.97),
         Pair(EVIL, "reference", "01_convolution", "im2col", 0.91)]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    parser = _Text()
    parser.feed(page)
    return parser


def test_nothing_a_student_wrote_is_active():
    page = render(rows(), PAIRS)
    assert active_content(page, allowed_styles=(STYLE.strip(),)) == []
    assert "<script" not in page.lower() and "onerror=" not in page.lower().replace("onerror=&quot;", "")
    assert html_escaped(EVIL) in page
    csp = next(a["content"] for t, a in parse(page).tags
               if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src" not in csp
    # The only images are the embedded plots.
    images = [a["src"] for t, a in parse(page).tags if t == "img"]
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    for src in images:
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def html_escaped(text):
    import html

    return html.escape(text, quote=True)


def _table_after(page, heading):
    start = page.index(heading)
    table = page[page.index("<table>", start): page.index("</table>", start)]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)][1:] or [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_exercises_fewest_fully_right_first_with_their_top_mistake():
    page = render(rows(), PAIRS)
    table = [r for r in _table_after(page, "Exercises, fewest fully right first") if r]
    assert [r[0] for r in table] == ["corr2d", "im2col"]
    assert table[0][1] == "25%" and table[1][1] == "50%"
    assert table[0][3] == "kernel flipped (that is true convolution) (2)"


def test_named_mistakes_are_ranked_by_students():
    page = render(rows(), PAIRS)
    table = [r for r in _table_after(page, "Named mistakes, by how many students") if r]
    assert table[0][:3] == ["corr2d", "kernel flipped (that is true convolution)", "2"]
    assert table[1][:3] == ["corr2d", "size formula off by one", "1"]
    assert table[0][3] == "50%"


def test_broken_and_hostile_submissions_say_what_happened():
    page = render(rows(), PAIRS)
    section = page[page.index("01_convolution</h2>"): page.index("02_transposed</h2>")]
    table = [r for r in _table_after(section, "Broken or hostile submissions") if r]
    statuses = sorted(r[2] for r in table)
    assert statuses == ["crashed", "forbidden", "timeout"]  # passed / failed are not problems
    assert any("ran past 10 s" in r[4] for r in table)
    later = page[page.index("02_transposed</h2>"):]
    assert "tampered" in later
    # A stub left as given is counted, not listed as broken.
    assert "Not attempted (the stub left as given): 1 answers of 1 students" in later
    assert "not_implemented" not in later


def test_flagged_pairs_are_listed_per_assignment_one_row_per_pair():
    pairs = PAIRS + [Pair("ben", "cat", "01_convolution", "im2col", 0.85)]
    page = render(rows(), pairs, threshold=0.8)
    section = page[page.index("01_convolution</h2>"): page.index("02_transposed</h2>")]
    table = [r for r in _table_after(section, "Similar answers") if r]
    # One row per pair: its exercises and the highest of their scores, highest first.
    assert table[0] == ["ben", "cat", "corr2d, im2col", "0.97"]
    assert table[1][1:] == ["reference", "im2col", "0.91"]
    assert len(table) == 2
    page = render(rows(), PAIRS, threshold=0.9)
    section = page[page.index("01_convolution</h2>"): page.index("02_transposed</h2>")]
    assert "score at least 0.90" in section
    later = page[page.index("02_transposed</h2>"):]
    assert "No pair of answers reached the threshold" in later


def test_write_report_is_the_same_for_the_same_class_and_an_empty_class_has_one(tmp_path):
    path = write_report(rows(), [], tmp_path / "report.html")
    # Regrading a class must not change DIR (convlab grade is idempotent).
    assert write_report(rows(), [], tmp_path / "again.html").read_bytes() == path.read_bytes()
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert "No graded submissions" in render([], [])


@pytest.mark.slow
def test_convlab_grade_writes_the_report_and_the_similarity_csv(tmp_path_factory):
    # The class test_grade_cli grades once per session (shared through grading_once).
    from grading_once import once
    from test_grade_cli import CLASS, _grade_the_class

    out = once(tmp_path_factory, "grade_cli", _grade_the_class) / "out"
    page = (out / "report.html").read_text()
    assert active_content(page, allowed_styles=(STYLE.strip(),)) == []
    with open(out / "grades.csv", newline="") as handle:
        grades = list(csv.DictReader(handle))
    assert {r["student_id"] for r in grades} == set(CLASS)
    for assignment in {r["assignment"] for r in grades}:
        assert f'id="{assignment}"' in page
    with open(out / "similarity.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["student_a", "student_b", "assignment", "exercise", "score"]


def test_students_who_did_not_submit_are_left_out_of_the_figures_and_named():
    absent = [Row("dan", "01_convolution", g, 0.0, m, "No submission for 01_convolution.",
                  "not_submitted") for g, m in (("test_corr2d", 2.0), ("test_im2col", 3.0))]
    page = render(rows() + absent)
    section = page[page.index("01_convolution</h2>"): page.index("02_transposed</h2>")]
    summary = {r[0]: r for r in _table_after(section, "fewest fully right") if r}
    # As without dan: corr2d 1 of 4 fully right, mean (2 + 0.5) / 8.
    assert summary["corr2d"][1:3] == ["25%", "31%"]
    assert summary["im2col"][1:3] == ["50%", "50%"]
    assert "4 students submitted" in section
    assert "Not submitted" in section and "dan" in section
    problems = [r for r in _table_after(section, "Broken or hostile") if r]
    assert not any(r[0] == "dan" for r in problems)


def test_refused_files_are_listed_and_control_characters_are_shown_as_text():
    sneaky = "ev\x1b[8mil"
    page = render([Row(sneaky, "01_convolution", "test_corr2d", 0.0, 2.0, "boom \x1b]52;c;aGk=\x07",
                       "crashed")],
                  refused=["my-notes.zip/x_bob_attempt_2024-01-01-00-00-00_01_convolution.ipynb: "
                           "refused, it is inside an archive whose own name names no student"])
    assert "\x1b" not in page and "\x07" not in page
    assert "ev\\x1b[8mil" in page and "\\x07" in page
    refused = page[page.index("Files refused at intake"):]
    assert "my-notes.zip" in refused and "names no student" in refused
    assert "Files refused at intake" not in render(rows())
