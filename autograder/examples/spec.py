"""The vocabulary of the example students (``students/*.py``).

A student is described, not stored: answers by exercise, a few notebook edits, and what
the grader must give for each exercise. ``build.py`` turns the descriptions into a
submitted/ folder from whatever the current notebooks are, so the examples follow the
notebooks as they change.

    Student(
        about="flips the kernel",
        answers={"corr2d": '''
            def corr2d(x, kernel):
                ...
        '''},
        edits={"01_convolution": [delete_cell("test_corr2d")]},
        expect={"corr2d": zero("kernel flipped")},
    )

An answer is the answer cell's whole source, or ``SOLUTION`` (the solution notebook's
answer), ``STUB`` (the cell as released) or ``after_solution(code)`` (the solution, then
``code``, which may wrap what it defines). Every exercise not named in ``answers`` gets
``SOLUTION`` (``base="solution"``, the default) or ``STUB`` (``base="stub"``).

``expect`` says, per exercise, ``full()``, ``zero(...)`` or ``partial(...)``, with phrases
the grader's message must contain. Exercises not named there are expected to score full
marks with ``SOLUTION``, 0 with ``STUB``, and 0 wherever an edit makes the whole notebook
ungradable (``not_a_notebook``, ``omit``, ``rename``); any other answer must be named.
"""
from __future__ import annotations

import copy
import textwrap
from dataclasses import dataclass, field
from typing import Callable

import nbformat

__all__ = [
    "Student", "Expect", "Edit", "full", "zero", "partial", "wrong",
    "delete_cell", "empty_cell", "replace_cell", "as_markdown", "add_cell",
    "strip_metadata", "edit_metadata", "not_a_notebook", "omit", "rename", "after_solution",
    "SOLUTION", "STUB",
]


@dataclass(frozen=True)
class Expect:
    """What the grader must give one exercise: ``outcome`` is "full" (all points), "zero"
    or "partial" (strictly between); the message must contain every phrase of ``says``
    (case-insensitive)."""

    outcome: str
    says: tuple[str, ...] = ()
    never: tuple[str, ...] = ()  # phrases the message must not contain (leaks)

    def __post_init__(self):
        if self.outcome not in ("full", "zero", "partial", "wrong"):
            raise ValueError(f"outcome must be full, zero, partial or wrong, got {self.outcome!r}")

    def judge(self, score: float, max_score: float, message: str) -> str | None:
        """None when (score, message) meets the expectation, else what is wrong."""
        ok = {"full": score == max_score,
              "zero": score == 0,
              "partial": 0 < score < max_score,
              "wrong": score < max_score}[self.outcome]
        if not ok:
            return f"expected {self.outcome}, got {score:g} / {max_score:g}"
        missing = [p for p in self.says if p.lower() not in message.lower()]
        if missing:
            return f"message lacks {missing}"
        leaked = [p for p in self.never if p.lower() in message.lower()]
        if leaked:
            return f"message contains {leaked}"
        return None


def full(*says: str, never=()) -> Expect:
    return Expect("full", says, tuple(never))


def zero(*says: str, never=()) -> Expect:
    return Expect("zero", says, tuple(never))


def wrong(*says: str, never=()) -> Expect:
    """Less than full marks, zero included: a named mistake that may pass none of a
    student's valid hidden cases or a few, by the draw (a flipped kernel is right on a
    1 x 1 kernel); the message must still name it."""
    return Expect("wrong", says, tuple(never))


def partial(*says: str, never=()) -> Expect:
    return Expect("partial", says, tuple(never))


# --- edits: what a student does to the notebook besides answering -------------------

@dataclass(frozen=True)
class Edit:
    """One change to an assignment's notebook. ``apply`` takes the notebook and returns
    it changed, or returns a str: the raw text to save instead of a notebook."""

    describe: str
    apply: Callable
    ungradable: bool = False  # the notebook cannot be graded at all: every exercise scores 0
    filename: str | None = None  # save under this name instead of the notebook's own
    omitted: bool = False  # the assignment's folder is not submitted at all


def _index(nb, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(f"no cell with grade_id {grade_id!r} in the notebook")


def _cell_edit(describe: str, grade_id: str, change) -> Edit:
    def apply(nb):
        change(nb, _index(nb, grade_id))
        return nb
    return Edit(f"{describe} {grade_id}", apply)


def delete_cell(grade_id: str) -> Edit:
    return _cell_edit("delete cell", grade_id, lambda nb, i: nb.cells.pop(i))


def empty_cell(grade_id: str) -> Edit:
    return _cell_edit("empty cell", grade_id, lambda nb, i: nb.cells[i].update(source=""))


def replace_cell(grade_id: str, source: str) -> Edit:
    return _cell_edit("rewrite cell", grade_id,
                      lambda nb, i: nb.cells[i].update(source=_clean(source)))


def as_markdown(grade_id: str) -> Edit:
    """Re-type a code cell as markdown (metadata kept, as Jupyter does)."""
    def change(nb, i):
        old = nb.cells[i]
        cell = nbformat.v4.new_markdown_cell(old.source, metadata=old.metadata)
        if "id" in old:
            cell.id = old.id
        nb.cells[i] = cell
    return _cell_edit("re-type as markdown", grade_id, change)


def add_cell(source: str, *, after: str | None = None, before: str | None = None) -> Edit:
    """An extra code cell after/before the cell ``after``/``before``, else at the end."""
    where = f"after {after}" if after else f"before {before}" if before else "at the end"

    def apply(nb):
        i = _index(nb, after) + 1 if after else _index(nb, before) if before else len(nb.cells)
        nb.cells.insert(i, nbformat.v4.new_code_cell(_clean(source)))
        return nb
    return Edit(f"add a cell {where}", apply)


def strip_metadata() -> Edit:
    """What some 'clean notebook' tools do: every cell's and the notebook's metadata gone."""
    def apply(nb):
        for cell in nb.cells:
            cell.metadata = {}
        nb.metadata = {}
        return nb
    return Edit("strip all metadata", apply)


def edit_metadata(cell: str, **changes) -> Edit:
    """Hand-edit the nbgrader metadata of the cell with grade_id ``cell``: a key set to
    None is deleted."""
    def change(nb, i):
        meta = nb.cells[i].metadata["nbgrader"]
        for key, value in changes.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
    return _cell_edit(f"edit metadata {changes} of", cell, change)


def not_a_notebook(text: str) -> Edit:
    """Submit ``text`` under the notebook's name."""
    return Edit("replace the file by text", lambda nb: text, ungradable=True)


def omit() -> Edit:
    return Edit("do not submit the assignment", lambda nb: nb, ungradable=True, omitted=True)


def rename(filename: str) -> Edit:
    return Edit(f"save as {filename}", lambda nb: nb, ungradable=True, filename=filename)


def _clean(source: str) -> str:
    return textwrap.dedent(source).strip("\n")


class AfterSolution(str):
    """An answer cell made of the solution's own source followed by this code."""


def after_solution(source: str) -> AfterSolution:
    """Answer = the solution, then ``source`` (which may wrap or shadow what it defines)."""
    return AfterSolution(_clean(source))


SOLUTION = AfterSolution("")  # the answer is the solution's, whatever the base


class _Stub(str):
    """The answer cell is left as released."""


STUB = _Stub("")


# --- students --------------------------------------------------------------------------

@dataclass
class Student:
    about: str
    answers: dict[str, str] = field(default_factory=dict)
    edits: dict[str, list[Edit]] = field(default_factory=dict)
    expect: dict[str, Expect] = field(default_factory=dict)
    base: str = "solution"
    name: str = ""  # set by the loader: the module's name
    # The assignments it hands in. None: those its answers, edits and expectations are
    # about (every assignment where they name none), so an attack on 01 is not graded
    # five times over; the others count as not submitted (0, "No submission").
    assignments: tuple[str, ...] | None = None

    def submits(self, assignment: str) -> bool:
        chosen = self.assignments
        if chosen is None:
            from convlab import EXERCISES

            named = set(self.answers) | set(self.expect)
            chosen = {a for a, names in EXERCISES.items() if named & set(names)} | set(self.edits)
            if not chosen:
                return True
        return assignment in chosen

    def __post_init__(self):
        if self.base not in ("solution", "stub"):
            raise ValueError(f"base must be 'solution' or 'stub', got {self.base!r}")
        self.answers = {k: v if isinstance(v, (AfterSolution, _Stub)) else _clean(v)
                        for k, v in self.answers.items()}

    def expected(self, exercise: str, assignment: str) -> Expect:
        if not self.submits(assignment):
            return zero()
        if exercise in self.expect:
            return self.expect[exercise]
        if any(edit.ungradable for edit in self.edits.get(assignment, [])):
            return zero()
        answer = self.answers.get(exercise, STUB if self.base == "stub" else SOLUTION)
        if answer is STUB:
            return zero()
        if answer is SOLUTION:
            return full()
        raise ValueError(f"example {self.name}: say in `expect` what {exercise} should score")

    def edit(self, assignment: str, nb) -> tuple[object, str | None, bool]:
        """(notebook or text, file name or None, submitted?) after this student's edits."""
        if not self.submits(assignment):
            return nb, None, False
        nb = copy.deepcopy(nb)
        filename, submitted = None, True
        for edit in self.edits.get(assignment, []):
            nb = edit.apply(nb)
            filename = edit.filename or filename
            submitted = submitted and not edit.omitted
        return nb, filename, submitted
