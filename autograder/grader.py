"""The trusted grader: score a notebook's answers on hidden cases, outside the student's kernel.

For each test cell ``test_<name>`` in the trusted list (``points``, taken from the source
notebook or the gradebook, never from the submission):

1. find the answer: the code cell whose nbgrader grade_id is ``name`` (or, where a student
   stripped the metadata, the last cell that defines ``def name`` / ``class name``);
2. run every answer cell in the sandbox (``autograder.sandbox``) and call ``name`` on the
   hidden cases (``autograder.hidden_cases``), under the exercise's forbidden-call guard,
   plus the vectorization check where the exercise asks for it;
3. judge each returned value here, with ``convlab.checks.evaluate``: the visible checks'
   own diagnosis (first failing case, expected vs got, the named mistake).

Score = points * (cases passed / cases), halved when a vectorized exercise loops over the
input; 0 for a forbidden call (dynamic guard, or an answer that names the reference library
or the guards' machinery), for a tampered guard, or when there is nothing to call.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import nbformat

from convlab.checks import REGISTRY
from convlab.checks.core import Case, CaseResult, Exercise, evaluate, first_failure
from convlab.checks.guards import FAMILY_TEXT

from . import hidden_cases
from .sandbox import Cell, ExerciseRun, Limits, Sandbox

__all__ = ["STATUSES", "CellGrade", "grade_notebook", "answer_cells", "exercise_name"]

TEST_PREFIX = "test_"
SCALES = range(1, 9)  # input sizes the vectorization check may ask for


# What happened to one exercise, for decisions and reports (never read from a message):
STATUSES = (
    "passed",           # every hidden case passes
    "failed",           # some hidden cases fail (partial credit; ``mistakes`` names why)
    "not_implemented",  # the stub, still raising NotImplementedError
    "missing",          # nothing to call: no answer, renamed, or its cell failed
    "forbidden",        # a forbidden op, the reference library, or the grader's machinery
    "tampered",         # the answer tried to inspect or change the sandbox's machinery
    "crashed",          # the sandbox process died (os._exit, a signal, out of memory)
    "timeout",          # a cell or case ran past its time limit
    "ungraded",         # the grader has no hidden cases for this test cell
    "error",            # the grader itself failed on this notebook (the run went on)
)


@dataclass
class CellGrade:
    grade_id: str
    score: float
    max_score: float
    message: str
    status: str = "passed"
    mistakes: tuple[str, ...] = ()   # named mistakes that explain the failing cases
    passed: int = 0                  # hidden cases passed / run
    total: int = 0
    not_vectorized: bool = False     # the score was halved for a loop over the input

    def record(self) -> dict:
        """The JSON form written into the autograded notebook (see preprocessor.GRADE_MIME)."""
        return {"grade_id": self.grade_id, "score": self.score, "max_score": self.max_score,
                "status": self.status, "mistakes": list(self.mistakes), "passed": self.passed,
                "total": self.total, "not_vectorized": self.not_vectorized}


def exercise_name(grade_id: str) -> str | None:
    """``test_corr2d`` -> ``corr2d``; None for a grade_id that is not an exercise's test."""
    if grade_id.startswith(TEST_PREFIX) and len(grade_id) > len(TEST_PREFIX):
        return grade_id[len(TEST_PREFIX):]
    return None


# --- reading the submission ------------------------------------------------------------

def _python(source: str) -> str:
    """The cell as plain Python: IPython magics (``%timeit``, ``!ls``) become calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython, magics stay syntax errors of their own cell
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _defines(source: str, name: str) -> bool:
    """Whether the cell defines ``name`` at its top level (by a regex if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return re.search(rf"^(def|class)\s+{re.escape(name)}\b", source, re.MULTILINE) is not None
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
               for node in tree.body)


def answer_cells(nb, names) -> tuple[list[Cell], dict[str, Cell]]:
    """The cells the sandbox runs, in notebook order, and the cell that answers each name.

    Those are the nbgrader solution cells; for a name no solution cell defines (metadata
    stripped, the function moved), also the last other code cell that defines it.
    """
    code = {i: _python(c.get("source", "")) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"}
    chosen: dict[int, Cell] = {}
    owner: dict[str, Cell] = {}
    for i, source in code.items():
        meta = nb.cells[i].get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            grade_id = meta.get("grade_id")
            chosen[i] = Cell(i, f"'{grade_id}'" if grade_id else f"#{i + 1}", source)
            if grade_id in names:
                owner[grade_id] = chosen[i]
    for name in names:
        if any(_defines(cell.source, name) for cell in chosen.values()):
            continue
        defining = [i for i, source in code.items() if _defines(source, name)]
        if defining:
            i = defining[-1]
            chosen[i] = owner[name] = Cell(i, f"#{i + 1}", code[i])
    return [chosen[i] for i in sorted(chosen)], owner


# --- judging one exercise --------------------------------------------------------------

def _cell_name(cell: Cell) -> str:
    return f"answer cell {cell.label}" if cell.label.startswith("'") else f"code cell {cell.label}"


def _forbidden_message(exercise: Exercise, found: str) -> str:
    families = "; ".join(FAMILY_TEXT[f] for f in exercise.forbidden) or "nothing"
    return (f"{exercise.name} calls {found}. This exercise forbids {families}: "
            "write it from tensor operations yourself.")


def _judge(exercise: Exercise, case: Case, outcome) -> CaseResult:
    call = case.describe(exercise.name)
    if outcome is None:
        return CaseResult(False, f"{call}\n  not run: the grader gave up after earlier calls hung or crashed")
    if outcome.failure:
        return CaseResult(False, f"{call}\n  {outcome.failure}")
    if outcome.error is not None:
        return evaluate(exercise, case, error=outcome.error)
    return evaluate(exercise, case, got=outcome.value)


def _unrunnable(name: str, cell: Cell | None, run: ExerciseRun | None, sandbox: Sandbox) -> str:
    """Why there was nothing to call."""
    if cell is None:
        return (f"{name} is missing: no answer cell has grade_id '{name}' and no cell defines "
                f"`def {name}`. Was the cell deleted, or the function renamed?")
    where = _cell_name(cell)
    if cell.index in sandbox.cell_problems:
        return f"{name} could not be graded: your {where} {sandbox.cell_problems[cell.index]}."
    error = run.cell_errors.get(cell.index) if run is not None else None
    if error and error.startswith("raised NotImplementedError"):
        return f"{name} is not implemented yet (your {where} raises NotImplementedError)."
    if error:
        return f"{name} {run.missing}: your {where} {error}."
    detail = run.missing if run is not None else "is not defined"
    return f"{name} {detail} after running your answer cells (check its name in your {where})."


def _notes(run: ExerciseRun, sandbox: Sandbox, own: Cell | None) -> list[str]:
    """What went wrong in the other answer cells: why a name they define may be missing."""
    notes = []
    for cell in sandbox.cells:
        if own is not None and cell.index == own.index:
            continue
        problem = sandbox.cell_problems.get(cell.index) or run.cell_errors.get(cell.index)
        if problem:
            notes.append(f"Note: your {_cell_name(cell)} {problem}.")
    return notes


def _grade_exercise(sandbox: Sandbox, exercise: Exercise, max_score: float, cell: Cell | None,
                    devices, grade_id: str) -> CellGrade:
    name = exercise.name

    def zero(status: str, message: str) -> CellGrade:
        return CellGrade(grade_id, 0.0, max_score, message, status)

    if cell is None:
        return zero("missing", _unrunnable(name, None, None, sandbox))
    problem = sandbox.cell_problems.get(cell.index)
    if problem and problem.startswith("was not run: it uses"):
        return zero("forbidden", f"{name}: 0 points. Your {_cell_name(cell)} {problem}. "
                                 "Answers may use torch, but not the reference library or the grader's machinery.")
    cases = hidden_cases.cases(name, devices)
    scaling = None
    if exercise.vectorized and exercise.scaling_case is not None:
        # loops_over_input picks two scales itself; offer it every small one.
        scaling = {scale: (case.args, case.kwargs)
                   for scale, case in ((s, exercise.scaling_case(s)) for s in SCALES)}
    run = sandbox.run(name, [(c.args, c.kwargs) for c in cases], exercise.forbidden, scaling)
    if run.missing:
        message = _unrunnable(name, cell, run, sandbox)
        return zero("not_implemented" if "not implemented yet" in message else "missing", message)
    if run.tampered:
        return zero("tampered", f"{name}: 0 points: {run.tampered}.")
    if run.imported:
        return zero("forbidden", f"{name}: 0 points: your answers import {run.imported}. "
                                 "Write it yourself: calling convlab is forbidden.")
    forbidden = next((o.forbidden for o in run.outcomes if o is not None and o.forbidden), None)
    if forbidden:
        return zero("forbidden", f"{name}: 0 points. {_forbidden_message(exercise, forbidden)}")

    results = [_judge(exercise, case, outcome) for case, outcome in zip(cases, run.outcomes)]
    passed = sum(r.passed for r in results)
    on = " and ".join(sorted({_device(c) for c in cases}))
    lines, mistakes, status = [], (), "passed"
    if passed == len(results):
        lines.append(f"{name}: all {len(results)} hidden cases pass ({on}).")
    else:
        first = first_failure(exercise, results)
        status = "failed"
        mistakes = tuple(m for m in (first.mistake,) if m)
        failures = [o.failure for o in run.outcomes if o is not None and o.failure]
        if failures and not passed:
            status = "timeout" if any("did not finish" in f for f in failures) else "crashed"
        if first.message.startswith(f"{name} is not implemented yet"):
            status = "not_implemented"
            lines.append(f"{first.message}.")
        else:
            lines.append(f"{name}: {passed} of {len(results)} hidden cases pass ({on}). First failing case:")
            lines.append(first.message)
            if "MemoryError" in first.message:
                lines.append(f"  (The grader gives your code {sandbox.limits.memory_mb} MiB of memory.)")
    fraction = passed / len(results)
    halved = False
    if scaling is not None and passed:
        if run.not_vectorized:
            fraction /= 2
            halved = True
            lines.append(f"Score halved: {name} is not vectorized: {run.not_vectorized}")
        elif run.vector_error:
            lines.append(f"(The vectorization check could not run: {run.vector_error}.)")
    if passed < len(results) and "NameError" in first.message:
        lines += _notes(run, sandbox, cell)
    score = min(max_score, round(max_score * fraction, 4))
    return CellGrade(grade_id, score, max_score, "\n".join(lines), status, mistakes, passed, len(results), halved)


def _device(case: Case) -> str:
    for value in list(case.args) + list(case.kwargs.values()):
        if hasattr(value, "device"):
            return value.device.type
    return "cpu"


# --- the notebook ----------------------------------------------------------------------

def grade_notebook(nb, assignment: str, points: dict[str, float], limits: Limits | None = None,
                   devices=None) -> list[CellGrade]:
    """Grade every test cell in ``points`` (grade_id -> max score), in that order.

    ``nb``: the submitted notebook (NotebookNode or dict); ``assignment`` is for messages
    only; ``devices`` defaults to the CPU plus CUDA where present.
    """
    nb = nbformat.from_dict(nb)
    names = {gid: exercise_name(gid) for gid in points}
    gradable = {gid: n for gid, n in names.items() if n in REGISTRY and n in hidden_cases.HIDDEN}
    cells, owner = answer_cells(nb, set(gradable.values()))
    grades = []
    sandbox = Sandbox(cells, limits) if gradable else None
    try:
        for grade_id, max_score in points.items():
            max_score = float(max_score)
            name = gradable.get(grade_id)
            if name is None:
                # Zero, never free points: a test cell the grader cannot check is the
                # instructor's to fix (add hidden cases), and the message says so.
                grades.append(CellGrade(grade_id, 0.0, max_score,
                                        f"{grade_id} is not graded by the trusted grader (no hidden cases "
                                        f"for it in {assignment}): 0 until the instructor adds them to "
                                        "autograder/hidden_cases/.", "ungraded"))
                continue
            grades.append(_grade_exercise(sandbox, REGISTRY[name], max_score, owner.get(name), devices,
                                          grade_id))
    finally:
        if sandbox is not None:
            sandbox.close()
    return grades
