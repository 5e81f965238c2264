"""The example students, graded by the real pipeline (nbgrader, its SQLite gradebook, the
trusted grader), get the scores their specs promise, and their feedback gives nothing away."""
from __future__ import annotations

import hashlib
import html
import io
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.judge import hidden_cases
from autograder.outputs.grades import read_grades
from autograder.pipeline import grade
from autograder.demo import check_expectations
from autograder.examples.build import build, course_notebooks, load_students
from convlab.checks import REGISTRY
from convlab.cli import repo_root
from grading_once import once

# In `make test`: every attack is an example student with its expected outcome. The class
# is graded once (``once``), by two grading workers of its own; `make test`'s
# --dist loadscope keeps this module on one test worker while the other goes on.

ROOT = repo_root()
STUDENTS = sorted(load_students())


def _grade_examples(folder, names=None):
    build(folder / "submitted", names, root=ROOT)
    rows = grade(folder / "submitted", folder / "out", workers=2,
                 progress=io.StringIO(), report=io.StringIO())
    # The public part of each submission's hidden-case key, to know which cases it was shown.
    attempts = {f"{r.student_id}/{r.assignment}": r.attempt for r in rows if r.attempt}
    (folder / "attempts.json").write_text(json.dumps(attempts))


def _selected_students(session) -> list[str] | None:
    """The students this session's tests of this module are about, where every one of
    them names its student (``pytest -m a03``: a notebook's slice); None (all) otherwise."""
    names = set()
    for item in session.items:
        if item.path != Path(__file__) or "graded" not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(item, "callspec", None) and item.callspec.params
        student = (params or {}).get("name") or (params or {}).get("student")
        if student is None:
            return None  # a test about every student
        names.add(student)
    # perfect hands in every assignment: a run grades the assignments someone handed in,
    # and a student's spec also speaks of those it did not (no hand-in, no points).
    names.add("perfect")
    return sorted(names) if names != set(STUDENTS) else None


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory):
    """The example students, built from the current notebooks and graded once: all of them,
    or only those of the tests selected (a marker's slice)."""
    names = _selected_students(request.session)
    label = "examples" if names is None else "examples-" + hashlib.sha256(" ".join(names).encode()).hexdigest()[:12]
    out = once(tmp_path_factory, label, lambda folder: _grade_examples(folder, names)) / "out"
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
    # Tags out first: highlighted code is one span per token, so a line of code is only
    # contiguous text once they are gone.
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", p.read_text())) for p in pages)


def test_feedback_for_every_student_and_assignment_shows_at_most_one_hidden_case(graded):
    out, _ = graded
    # The contract lets a message show the first failing case, never the list of them; the
    # cases are the student's own (their key: course secret, student, attempt).
    attempts = json.loads((out.parent / "attempts.json").read_text())
    for student in STUDENTS:
        for assignment in course_notebooks(ROOT):
            if f"{student}/{assignment}" not in attempts:
                continue  # not graded by the trusted grader: no case to show
            key = hidden_cases.SeedKey.for_submission(assignment, student,
                                                      attempts[f"{student}/{assignment}"])
            descriptions = {name: [c.describe(name) for c in hidden_cases.cpu_cases(name, key)]
                            for name in hidden_cases.HIDDEN if REGISTRY[name].assignment == assignment}
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
    # The released text as a page shows it: markdown's code quotes are not on the page.
    released_text = "\n".join(c.source for c in nbformat.read(released, as_version=4).cells).replace("`", "")
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


def test_students_get_different_hidden_cases(graded):
    out, _ = graded
    attempts = json.loads((out.parent / "attempts.json").read_text())
    keys = [hidden_cases.SeedKey.for_submission("01_convolution", student, attempts[f"{student}/01_convolution"])
            for student in ("perfect", "mistakes")]
    first = [hidden_cases.cpu_cases("corr2d", key)[0].args[0] for key in keys]
    assert first[0].shape != first[1].shape or not (first[0] == first[1]).all()


def test_feedback_and_grades_carry_no_file_of_the_grader_and_no_path(graded):
    out, rows = graded
    files = [*(ROOT / "autograder" / "judge" / "hidden_cases").glob("*.py"), ROOT / "autograder" / "judge" / "grader.py",
             ROOT / "autograder" / "secret.py"]
    assert all(path.is_file() for path in files) and len(files) > 3
    private = {line.strip() for path in files
               for line in path.read_text().splitlines() if len(line.strip()) >= 30}
    submitted = out.parent / "submitted" / "leak_file_in_exception"
    own = "\n".join(c.source for nb in submitted.rglob("*.ipynb")
                    for c in nbformat.read(nb, as_version=4).cells)
    for assignment in course_notebooks(ROOT):
        text = _feedback_text(out, "leak_file_in_exception", assignment)
        leaked = [line for line in private if line in text and line not in own]
        assert not leaked, leaked[:3]
        assert str(ROOT) + "/" not in text and sys.base_prefix + "/" not in text
    for row in rows:
        assert str(ROOT) + "/" not in row.message and len(row.message) <= 4000, row


def test_edited_metadata_is_normalised_never_zeroed(graded):
    _, rows = graded
    student = load_students(["grade_toggled"])["grade_toggled"]
    toggled = [r for r in rows if r.student_id == "grade_toggled" and student.submits(r.assignment)]
    assert toggled and all(r.score == r.max_score for r in toggled), toggled
    handed_in = {r.assignment for r in toggled}
    points = {(r.assignment, r.grade_id): r.max_score for r in rows
              if r.student_id == "perfect" and r.assignment in handed_in}
    assert {(r.assignment, r.grade_id): r.max_score for r in toggled} == points
