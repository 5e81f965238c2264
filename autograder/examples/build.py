"""Build the example students' submissions from the current notebooks.

    python -m autograder.examples.build OUT [STUDENT ...]    write OUT/<student>/<assignment>/
    python -m autograder.examples.build --list               who they are, what they should get

Each student starts from the student notebook ``notebooks/<id>/<id>.ipynb``, fills every
answer cell from its spec (``students/<name>.py``), from the solution notebook
(``solutions/<id>/``, markers removed) or leaves the stub, then applies its edits.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from pathlib import Path

import nbformat

import convlab
from convlab.checks.core import test_id

from . import students as _students_package
from .spec import SOLUTION, STUB, AfterSolution, Student

__all__ = ["load_students", "build", "answer_cells", "exercises"]

_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$")


def load_students(names=None) -> dict[str, Student]:
    """The example students by name (the module's name), sorted."""
    found = {}
    for module in pkgutil.iter_modules(_students_package.__path__):
        student = importlib.import_module(f"{_students_package.__name__}.{module.name}").STUDENT
        student.name = module.name
        found[module.name] = student
    if names:
        unknown = sorted(set(names) - set(found))
        if unknown:
            raise ValueError(f"no example student {unknown}; there are {sorted(found)}")
        found = {name: found[name] for name in names}
    return dict(sorted(found.items()))


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def answer_cells(nb) -> dict[str, int]:
    """grade_id -> index of each autograded-answer cell."""
    return {_nbgrader(c)["grade_id"]: i for i, c in enumerate(nb.cells)
            if _nbgrader(c).get("solution") and not _nbgrader(c).get("grade")}


def exercises(nb) -> list[str]:
    """The exercises of a notebook, in order: the answers that have a test cell."""
    tests = {_nbgrader(c).get("grade_id") for c in nb.cells if _nbgrader(c).get("grade")}
    return [name for name in answer_cells(nb) if test_id(name) in tests]


def _solution_source(cell) -> str:
    return "\n".join(line for line in cell.source.splitlines() if not _MARKER.match(line))


def course_notebooks(root: Path) -> dict[str, tuple[Path, Path]]:
    """assignment -> (student notebook, solution notebook), for every generated assignment."""
    from convlab.course import ASSIGNMENTS

    found = {}
    for assignment in ASSIGNMENTS:
        for released in sorted((root / "notebooks" / assignment).glob("*.ipynb")):
            found[assignment] = (released, root / "solutions" / assignment / released.name)
    if not found:
        raise FileNotFoundError(f"no student notebooks under {root / 'notebooks'}: "
                                "run `make assignments` first")
    return found


def _notebook_for(student: Student, released: Path, solution: Path):
    nb = nbformat.read(released, as_version=4)
    solved = nbformat.read(solution, as_version=4)
    solved_cells = answer_cells(solved)
    for grade_id, index in answer_cells(nb).items():
        solution = _solution_source(solved.cells[solved_cells[grade_id]])
        answer = student.answers.get(grade_id, STUB if student.base == "stub" else SOLUTION)
        if answer is STUB:
            continue
        if isinstance(answer, AfterSolution):
            answer = f"{solution}\n\n{answer}" if answer else solution
        nb.cells[index].source = answer
    return nb


def build(out, names=None, root: Path | None = None) -> dict[str, Student]:
    """Write the students' submissions into ``out`` (submitted/ layout); return them."""
    from convlab.course import repo_root

    root = Path(root or repo_root())
    out = Path(out)
    notebooks = course_notebooks(root)
    students = load_students(names)
    known = {name for released, _ in notebooks.values()
             for name in answer_cells(nbformat.read(released, as_version=4))}
    # Answers to exercises of assignments with no notebook yet wait for them.
    pending = {name for assignment, names in convlab.EXERCISES.items()
               if assignment not in notebooks for name in names}
    for student in students.values():
        unknown = sorted(set(student.answers) - known - pending)
        if unknown:
            raise ValueError(f"example {student.name} answers {unknown}, not an answer cell "
                             f"of the notebooks ({sorted(known)})")
        folder = out / student.name
        folder.mkdir(parents=True, exist_ok=True)
        for assignment, (released, solution) in notebooks.items():
            nb, filename, submitted = student.edit(
                assignment, _notebook_for(student, released, solution))
            if not submitted:
                continue
            target = folder / assignment / (filename or released.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(nb, str):
                target.write_text(nb)
            else:
                nbformat.write(nb, target)
    return students


def expectations(root: Path | None = None, names=None) -> dict[tuple[str, str, str], object]:
    """(student, assignment, test grade_id) -> Expect, for every example and exercise."""
    from convlab.course import repo_root

    root = Path(root or repo_root())
    table = {}
    for assignment, (released, _) in course_notebooks(root).items():
        names_in_order = exercises(nbformat.read(released, as_version=4))
        for student in load_students(names).values():
            for exercise in names_in_order:
                table[(student.name, assignment, test_id(exercise))] = student.expected(
                    exercise, assignment)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder to write the submissions into")
    parser.add_argument("students", nargs="*", help="only these students (default: all)")
    parser.add_argument("--list", action="store_true", help="describe the students and stop")
    args = parser.parse_args(argv)
    if args.list or not args.out:
        for student in load_students(args.students).values():
            print(f"{student.name}: {student.about}")
            for exercise, expect in student.expect.items():
                says = f" ({', '.join(expect.says)})" if expect.says else ""
                print(f"    {exercise}: {expect.outcome}{says}")
        return 0
    built = build(args.out, args.students or None)
    print(f"{len(built)} example students written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
