"""The instructor's path in a real browser (issue 15): a course folder set up like the
repository's (its nbgrader_config.py loads the repository's), one submission, `make
lab`'s server on it, and nbgrader's formgrader driven in chromium: it loads, its
autograde button gives the scores `convlab grade` gives, a reflection is graded by hand
and the feedback it generates shows that grade.
"""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from browser_helpers import ROOT, Server, free_port, lab_environment, make_lab_command, shoot

pytestmark = pytest.mark.browser

A = "01_convolution"
STUDENT = "ann"
BIN = Path(sys.executable).parent

COURSE_CONFIG = """\
# A course folder of its own, configured as the repository is (its nbgrader_config.py),
# with its folders and gradebook here.
import os

load_subconfig({root!r})
HERE = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = HERE
c.CourseDirectory.submitted_directory = os.path.join(HERE, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(HERE, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(HERE, "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
"""


def _submission(course: Path) -> Path:
    """ann's notebook: corr2d and conv2d_loops right, conv_output_size with a named mistake
    (partial credit), im2col and conv2d_im2col left as handed out, the reflections written."""
    answers = {}
    for c in nbformat.read(course / "solutions" / A / f"{A}.ipynb", as_version=4).cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution") and c.cell_type == "code":
            answers[meta["grade_id"]] = "\n".join(l for l in c.source.splitlines() if "### " not in l)
    wrong = answers["conv_output_size"].replace("(n + 2 * padding - k)", "(n + padding - k)")
    assert wrong != answers["conv_output_size"]
    answers["conv_output_size"] = wrong
    nb = nbformat.read(course / "notebooks" / A / f"{A}.ipynb", as_version=4)
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade_id") in ("conv_output_size", "corr2d", "conv2d_loops"):
            c.source = answers[meta["grade_id"]]
        elif meta.get("solution") and c.cell_type == "markdown":
            c.source = "TensorFlow pads SAME asymmetrically: one zero before, two after."
    folder = course / "submitted" / STUDENT / A
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{A}.ipynb")
    # The attempt's time: `convlab grade` and the formgrader draw the same hidden cases.
    (folder / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC\n")
    return folder


@pytest.fixture(scope="module")
def instructor(browser, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("instructor")
    course = tmp / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / A, course / "solutions" / A)
    (course / "nbgrader_config.py").write_text(COURSE_CONFIG.format(root=str(ROOT / "nbgrader_config.py")))
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", A, "--force"], cwd=course,
                   check=True, capture_output=True)
    _submission(course)
    graded = tmp / "graded"
    subprocess.run([str(BIN / "convlab"), "grade", str(course / "submitted"), "--out", str(graded)],
                   check=True, capture_output=True)
    server = Server(make_lab_command(course, free_port()), cwd=course, env=lab_environment(tmp),
                    log=tmp / "server.log")
    yield types.SimpleNamespace(server=server, course=course, graded=graded)
    server.stop()


def _grades_csv(graded: Path) -> dict[str, float]:
    with open(graded / "grades.csv", newline="") as f:
        return {r["grade_id"]: float(r["score"]) for r in csv.DictReader(f)
                if r["student_id"] == STUDENT and r["assignment"] == A}


def _succeeded(page, message: str) -> None:
    """The formgrader's answer to a button: its success dialog, else its error dialog."""
    dialog = page.pw.locator("#success-modal, #error-modal")
    dialog.wait_for(state="visible", timeout=300_000)
    said = dialog.inner_text()
    assert message in said, said[-3000:]
    dialog.locator(".modal-footer button").click()
    dialog.wait_for(state="detached")


def test_formgrader_autogrades_as_convlab_grade_grades_by_hand_and_gives_feedback(browser, instructor):
    page = browser.page(height=800)
    url = instructor.server.url
    try:
        # The formgrader loads: its table filled in, not stuck on "Loading, please wait...".
        page.pw.goto(f"{url}/formgrader")
        page.pw.locator("#main-table tr", has_text=A).wait_for()
        assert not page.pw.get_by_text("Loading, please wait").is_visible()
        page.pw.goto(f"{url}/formgrader/gradebook")
        page.pw.locator("#main-table tr", has_text=A).wait_for()  # Manual Grading lists it

        # Autograde from the page: the submission's flash button.
        page.pw.goto(f"{url}/formgrader/manage_submissions/{A}")
        row = page.pw.locator("#main-table tr", has_text=STUDENT)
        assert "needs autograding" in row.inner_text()
        row.locator("td.autograde a").click()
        _succeeded(page, f"Successfully autograded '{A}' for student '{STUDENT}'")
        page.pw.wait_for_function(
            "() => /\\d+(\\.\\d+)? \\/ 25/.test(document.querySelector('#main-table td.score').innerText)",
            timeout=300_000)
        assert "needs manual grading" in row.inner_text(), row.inner_text()

        # The submission's grading page: each test cell's autograde score (the score
        # box's placeholder; its value is the instructor's override) equals grades.csv.
        page.pw.goto(f"{url}/formgrader/gradebook/{A}/{A}")
        page.pw.get_by_text("Submission #1").click()
        page.pw.locator("input.score#reflection_1").wait_for()
        expected = _grades_csv(instructor.graded)
        assert len(expected) == 5 and 0 < expected["test_conv_output_size"] < 2, expected
        shown = {}
        for grade_id in expected:  # the page's script fills the boxes in after it loads
            score = page.pw.locator(f"input.score#{grade_id}[placeholder]")
            score.wait_for()
            shown[grade_id] = float(score.get_attribute("placeholder"))
        assert shown == expected

        # A reflection graded by hand: the score typed in is saved to the gradebook.
        box = page.pw.locator("input.score#reflection_1")
        box.fill("1.5")
        box.press("Tab")
        page.pw.wait_for_function(
            "() => getComputedStyle(document.querySelector('#reflection_1').closest('.nbgrader_cell')"
            ".querySelector('.score-saved')).display !== 'none'", timeout=30_000)
        box.scroll_into_view_if_needed()
        shoot(page.pw, "formgrader")
        page.pw.reload()
        page.pw.locator("input.score#reflection_1").wait_for()
        assert page.pw.locator("input.score#reflection_1").input_value() == "1.5"

        # Feedback from the page: Generate Feedback on the submission's row.
        page.pw.goto(f"{url}/formgrader/manage_submissions/{A}")
        page.pw.locator("#main-table tr", has_text=STUDENT).locator("td.generate-feedback a").click()
        _succeeded(page, f"Successfully generated feedback for '{A}' for student '{STUDENT}'")
        feedback = instructor.course / "feedback" / STUDENT / A / f"{A}.html"
        # The course's sanitised page (autograder/templates), not nbgrader's own.
        assert "Content-Security-Policy" in feedback.read_text()
        page.pw.goto(feedback.as_uri())
        text = re.sub(r"\s+", " ", page.pw.inner_text("body"))
        assert "Written response (Score: 1.5 / 2.0)" in text, text[:2000]
        assert text.count("to be graded by hand, out of 2.0") == 2 * 2  # the other two
        page.pw.get_by_text("Written response (Score: 1.5 / 2.0)").first.scroll_into_view_if_needed()
        shoot(page.pw, "feedback")

        # convlab grade's report.html, opened from the disk as the README says.
        page.pw.goto((instructor.graded / "report.html").as_uri())
        report = page.pw.inner_text("body")
        assert A in report and "conv_output_size" in report, report[:2000]
        shoot(page.pw, "report")
        page.assert_no_errors()
    finally:
        page.close()
