"""Feedback pages (nbgrader GenerateFeedback with the course config, as `convlab grade`
runs it): a reflection nobody has graded yet is "to be graded by hand", never a 0."""
from __future__ import annotations

import re

import nbformat
import pytest

from convlab.cli import repo_root

ROOT = repo_root()


@pytest.mark.slow
def test_an_ungraded_reflection_is_to_be_graded_by_hand_and_a_graded_one_scores(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.run.workspace import Course, Workspace

    course = Course.load(ROOT, ["01_convolution"])
    ws = Workspace(ROOT, tmp_path / "course", course.template.gradebook)
    target = ws.folder("submitted", "ann", "01_convolution")
    target.mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb", as_version=4)
    for cell in nb.cells:  # written answers (nbgrader gives an unchanged one 0 by itself)
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "Because the kernel is not flipped."
    nbformat.write(nb, target / "01_convolution.ipynb")
    assert ws.autograde("01_convolution", "ann")["success"]
    assert ws.feedback("01_convolution", "ann")["success"]
    page = (ws.folder("feedback", "ann", "01_convolution") / "01_convolution.html").read_text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert text.count("to be graded by hand, out of 2.0") == 2 * 3  # table of contents + cell
    assert not re.search(r"Written response \(Score", text)
    assert "6.0 more points to be graded by hand" in text
    assert re.search(r"Score so far: 0\.0 / 19\.0", text), text[:500]

    # Once the instructor has graded one (the formgrader writes manual_score), it shows.
    with Gradebook(f"sqlite:///{ws.gradebook}") as gradebook:
        grade = gradebook.find_grade("reflection_1", "01_convolution", "01_convolution", "ann")
        grade.manual_score = 1.5
        gradebook.db.commit()
    assert ws.feedback("01_convolution", "ann")["success"]
    page = (ws.folder("feedback", "ann", "01_convolution") / "01_convolution.html").read_text()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Written response (Score: 1.5 / 2.0)" in text
    assert text.count("to be graded by hand, out of 2.0") == 2 * 2
    assert "4.0 more points to be graded by hand" in text
