"""The example students, graded by the real pipeline (nbgrader, its SQLite gradebook, the
trusted grader), get the scores their specs promise, and their feedback gives nothing away."""
from __future__ import annotations

import html
import io
import re
from pathlib import Path

import nbformat
import pytest

from autograder import hidden_cases
from autograder.cli import grade, read_grades
from autograder.demo import check_expectations
from autograder.examples.build import build, course_notebooks, load_students
from convlab.cli import repo_root
from grading_once import once

pytestmark = pytest.mark.slow

ROOT = repo_root()
STUDENTS = sorted(load_students())


def _grade_every_example(folder):
    build(folder / "submitted", root=ROOT)
    grade(folder / "submitted", folder / "out", workers=2,
          progress=io.StringIO(), report=io.StringIO())


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every example student, built from the current notebooks and graded once."""
    out = once(tmp_path_factory, "examples", _grade_every_example) / "out"
    return out, read_grades(out / "grades.csv")


@pytest.mark.parametrize("name", STUDENTS)
def test_example_gets_the_scores_its_spec_expects(graded, name):
    _, rows = graded
    problems = check_expectations(rows, ROOT, [name])[name]
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_solutions_get_full_marks_and_the_stubs_zero(graded):
    _, rows = graded
    perfect = [r for r in rows if r.student_id == "perfect"]
    untouched = [r for r in rows if r.student_id == "untouched"]
    assert perfect and all(r.score == r.max_score > 0 for r in perfect), perfect
    assert untouched and all(r.score == 0 for r in untouched), untouched
    assert all("not implemented" in r.message for r in untouched), untouched


def test_every_student_has_one_row_per_test_cell(graded):
    _, rows = graded
    tests = []
    for assignment, (released, _) in course_notebooks(ROOT).items():
        nb = nbformat.read(released, as_version=4)
        tests += [(assignment, c.metadata["nbgrader"]["grade_id"]) for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    keys = [(r.student_id, r.assignment, r.grade_id) for r in rows]
    assert len(keys) == len(set(keys))
    assert sorted(keys) == sorted((s, a, g) for s in STUDENTS for a, g in tests)


def _feedback_text(out, student, assignment) -> str:
    pages = list((out / "feedback" / student / assignment).glob("*.html"))
    assert pages, f"no feedback for {student}/{assignment}"
    return "\n".join(html.unescape(p.read_text()) for p in pages)


def test_feedback_for_every_student_and_assignment_shows_at_most_one_hidden_case(graded):
    out, _ = graded
    # The contract lets a message show the first failing case, never the list of them.
    descriptions = {name: [c.describe(name) for c in hidden_cases.cpu_cases(name)]
                    for name in hidden_cases.HIDDEN}
    for student in STUDENTS:
        for assignment in course_notebooks(ROOT):
            text = _feedback_text(out, student, assignment)
            for name, described in descriptions.items():
                shown = [d for d in set(described) if d in text]
                assert len(shown) <= 1, (student, assignment, name, shown)


def _solution_lines(solution) -> set[str]:
    """Lines only the solution notebook has: inside BEGIN/END SOLUTION, long enough to
    be telling, and not in the student notebook."""
    lines, inside = set(), False
    for cell in nbformat.read(solution, as_version=4).cells:
        for line in cell.source.splitlines():
            if re.match(r"^\s*#+\s*BEGIN SOLUTION", line):
                inside = True
            elif re.match(r"^\s*#+\s*END SOLUTION", line):
                inside = False
            elif inside and len(line.strip()) >= 25:
                lines.add(line.strip())
    return lines


def _leaked(text: str, released: Path, solution: Path) -> list[str]:
    released_text = "\n".join(c.source for c in nbformat.read(released, as_version=4).cells)
    return [line for line in sorted(_solution_lines(solution))
            if line in text and line not in released_text]


def test_solution_lines_are_found_in_the_feedback_of_the_perfect_student(graded):
    # The check below would pass vacuously if it could not see solution code at all.
    out, _ = graded
    for assignment, (released, solution) in course_notebooks(ROOT).items():
        assert _leaked(_feedback_text(out, "perfect", assignment), released, solution)


@pytest.mark.parametrize("student", ["untouched", "not_a_notebook", "empty_folder"])
def test_feedback_of_a_student_without_the_solution_does_not_contain_it(graded, student):
    out, _ = graded
    for assignment, (released, solution) in course_notebooks(ROOT).items():
        leaked = _leaked(_feedback_text(out, student, assignment), released, solution)
        assert not leaked, (student, assignment, leaked[:3])
