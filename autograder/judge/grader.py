"""The trusted grader: score a notebook's answers on hidden cases, outside the student's kernel.

For each test cell ``test_<name>`` in the trusted list (``points``, taken from the source
notebook or the gradebook, never from the submission):

1. find the answer: the code cell whose nbgrader grade_id is ``name`` (or, where a student
   stripped the metadata, the last cell that defines ``def name`` / ``class name``), and
   the student's own definitions it uses from other cells (``convlab.checks.deps``: defs,
   classes, imports, constants, found by reading the code, never by running those cells);
2. run every answer cell, with those definitions, in the sandbox (``autograder.sandbox``) and call ``name`` on the
   hidden cases (``autograder.judge.hidden_cases``), under the exercise's forbidden-call guard,
   plus the vectorization check where the exercise asks for it;
3. judge each returned value here, with ``convlab.checks.evaluate``: the visible checks'
   own diagnosis (first failing case, expected vs got, the named mistake).

Score = points * (cases passed / cases), where the invalid-input cases count in proportion
to the valid ones passed (``convlab.checks.core.credit``); where an exercise is built on
another (``Exercise.uses``, the course's declared decomposition, and only that) and fails
cases, it is graded again with the reference callee (run in a budgeted process of its own,
``sandbox.references``) and the better score counts. Halved when a vectorized exercise
loops over the input; 0 for a forbidden call (dynamic guard, or an answer that names the reference library
or the guards' machinery), for a tampered guard, or when there is nothing to call.
"""
from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field

import nbformat
import torch

from convlab.checks import REGISTRY
from convlab.checks.core import (TEST_PREFIX, Case, CaseResult, Exercise, compare_outputs, credit, evaluate,
                                 exercise_of, first_failure)
from convlab.checks.deps import PREIMPORTS, Binding, Resolver, blocked_message
from convlab.checks.guards import CONV_CALL, FAMILY_TEXT, UNFOLD_CALL
from convlab.checks.values import tensors_in

from . import hidden_cases
from .. import score as score_rules
from ..scrub import clip_error, scrub
from ..sandbox import SCALES, Cell, ExerciseRun, Limits, Sandbox, draw_scales

__all__ = ["STATUSES", "CellGrade", "Selection", "grade_notebook", "answer_cells", "select_cells",
           "exercise_name", "TEST_PREFIX", "NOTEBOOK_IMPORTS"]



UNISOLATED_NOTE = ("[graded WITHOUT isolation: the instructor turned the grading sandbox off "
                   "(--no-isolation); this score is not protected against tampering]")

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
    isolated: bool = True            # False: graded without the OS sandbox (instructor's override)

    def record(self) -> dict:
        """The JSON form written into the autograded notebook (see preprocessor.GRADE_MIME)."""
        return {"grade_id": self.grade_id, "score": self.score, "max_score": self.max_score,
                "status": self.status, "mistakes": list(self.mistakes), "passed": self.passed,
                "total": self.total, "not_vectorized": self.not_vectorized, "isolated": self.isolated}


exercise_name = exercise_of  # one rule for the test_ prefix: convlab.checks.core

# What every answer sees without importing it: what each notebook's first code cell
# imports (tests/test_fairness.py pins both to ``deps.PREIMPORTS``).
NOTEBOOK_IMPORTS = "".join(f"{line}\n" for line in PREIMPORTS.values())


# --- reading the submission ------------------------------------------------------------

def _defines(source: str, name: str) -> bool:
    """Whether the cell defines ``name`` at its top level (by a regex if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return re.search(rf"^(def|class)\s+{re.escape(name)}\b", source, re.MULTILINE) is not None
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
               for node in tree.body)


@dataclass
class Selection:
    """What goes into the sandbox for one notebook, and why."""

    cells: list[Cell]                       # in notebook order
    owner: dict[str, Cell]                  # exercise -> its answer cell
    oversized: dict[int, str] = field(default_factory=dict)  # cell index -> why it is not run
    blocked: dict[str, dict[str, Binding]] = field(default_factory=dict)  # exercise -> needed, not taken
    unread: dict[str, dict[str, str]] = field(default_factory=dict)  # exercise -> needed, cell not read


def select_cells(nb, names) -> Selection:
    """The answer cells (nbgrader solution cells; for a name no solution cell defines, the
    last other code cell that defines it), run whole, plus the definitions they use from
    the other code cells (``deps.Resolver``), each in a cell of its own at its place.

    Only the cells that matter are transformed and parsed; a cell over ``CELL_LIMIT``
    characters is not run and its exercise is told why."""
    raw = {i: c.get("source", "") for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"}
    raw = {i: (s if isinstance(s, str) else "".join(s)) for i, s in raw.items()}
    resolver = Resolver(raw)
    whole: dict[int, str] = {}   # cell index -> label
    owner_index: dict[str, int] = {}
    for i in raw:
        meta = nb.cells[i].get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            grade_id = meta.get("grade_id")
            whole[i] = f"'{grade_id}'" if grade_id else f"#{i + 1}"
            if grade_id in names:
                owner_index[grade_id] = i
    for name in names:
        if any(resolver.python(i) is not None and _defines(resolver.python(i), name) for i in whole):
            continue
        found = resolver.find_definition(name, set(whole))
        if found is not None:
            whole[found.cell] = f"#{found.cell + 1}"
            owner_index[name] = found.cell
    for name in names:  # an answer cell that no longer defines its name: maybe another does
        if name not in owner_index:
            candidates = [i for i in whole if resolver.python(i) is not None and _defines(resolver.python(i), name)]
            if candidates:
                owner_index[name] = candidates[-1]
    selection = Selection([], {})
    for i in whole:
        resolver.python(i)  # records the oversized ones
    runnable = {i for i in whole if i not in resolver.problems}
    needed = resolver.resolve(runnable)
    extra = needed.cells()
    cells: dict[int, Cell] = {}
    for i, label in whole.items():
        source = resolver.python(i)
        cells[i] = Cell(i, label, source if source is not None else "")
    for i, source in extra.items():
        if i not in cells:
            cells[i] = Cell(i, f"#{i + 1}", source)
    selection.cells = [cells[i] for i in sorted(cells)]
    selection.owner = {name: cells[i] for name, i in owner_index.items()}
    selection.oversized = {i: why for i, why in resolver.problems.items() if i in cells}
    for name, i in owner_index.items():
        if i in runnable:
            own = resolver.resolve(runnable, start=resolver.needs_of(i))
            if own.blocked:
                selection.blocked[name] = own.blocked
            if own.unread:
                selection.unread[name] = own.unread
    return selection


def answer_cells(nb, names) -> tuple[list[Cell], dict[str, Cell]]:
    """The cells the sandbox runs, in notebook order, and the cell that answers each name
    (``select_cells`` without the reasons)."""
    selection = select_cells(nb, names)
    return selection.cells, selection.owner


# --- judging one exercise --------------------------------------------------------------

def _cell_name(cell: Cell) -> str:
    return f"answer cell {cell.label}" if cell.label.startswith("'") else f"code cell {cell.label}"


def _what_was_called(found: str) -> str:
    """The sandbox's finding in the checks' words (guards.UNFOLD_CALL / CONV_CALL): what the
    student called, not the aten op's name alone ("im2col calls im2col")."""
    legacy = re.fullmatch(r"(\w+) \((that is F\.unfold / F\.fold|a torch convolution op)\)", found)
    if legacy is None:
        return found
    template = UNFOLD_CALL if legacy[2].startswith("that is") else CONV_CALL
    return template.format(op=legacy[1])


def _forbidden_message(exercise: Exercise, found: str) -> str:
    families = "; ".join(FAMILY_TEXT[f] for f in exercise.forbidden) or "nothing"
    found = _what_was_called(found)
    return (f"{exercise.name} calls {found}. This exercise forbids {families}: "
            "write it from tensor operations yourself.")


def _judge(exercise: Exercise, case: Case, outcome) -> CaseResult:
    call = case.describe(exercise.name)
    if outcome is None:
        return CaseResult(False, f"{call}\n  not run: the grader gave up after earlier calls hung or crashed")
    # The student's process wrote these texts: short, whatever they carry (scrub.py).
    if outcome.failure:
        return CaseResult(False, f"{call}\n  {clip_error(outcome.failure)}")
    # The reference's value where drawing the cases computed it already (hidden_cases).
    expected = hidden_cases.expected(case)
    if outcome.error is not None:
        return evaluate(exercise, case, error=clip_error(outcome.error), expected=expected)
    return evaluate(exercise, case, got=outcome.value, expected=expected)


def _unrunnable(name: str, cell: Cell | None, run: ExerciseRun | None, sandbox: Sandbox) -> tuple[str, str]:
    """Why there was nothing to call: (status, message); the status is "not_implemented"
    where the answer cell is still the stub, else "missing"."""
    if cell is None:
        return "missing", (f"{name} is missing: no answer cell has grade_id '{name}' and no cell "
                           f"defines `def {name}`. Was the cell deleted, or the function renamed?")
    where = _cell_name(cell)
    if cell.index in sandbox.cell_problems:
        return "missing", (f"{name} could not be graded: your {where} "
                           f"{clip_error(sandbox.cell_problems[cell.index])}.")
    if run is not None and cell.index in run.unimplemented_cells:
        return "not_implemented", f"{name} is not implemented yet (your {where} raises NotImplementedError)."
    error = clip_error(run.cell_errors.get(cell.index)) if run is not None else None
    if error:
        return "missing", f"{name} {run.missing}: your {where} {error}."
    detail = run.missing if run is not None else "is not defined"
    return "missing", f"{name} {detail} after running your answer cells (check its name in your {where})."


def _notes(run: ExerciseRun, sandbox: Sandbox, own: Cell | None) -> list[str]:
    """What went wrong in the other answer cells: why a name they define may be missing."""
    notes = []
    for cell in sandbox.cells:
        if own is not None and cell.index == own.index:
            continue
        problem = clip_error(sandbox.cell_problems.get(cell.index) or run.cell_errors.get(cell.index))
        if problem:
            notes.append(f"Note: your {_cell_name(cell)} {problem}.")
    return notes


def _run_with_substitutes(sandbox: Sandbox, name: str, calls, families, scaling, substitutes):
    """``sandbox.run`` with callees replaced by the reference (the sandbox's ``substitutes``:
    a proxy whose calls run the reference in a budgeted process of its own, never in the
    grader's); None where this sandbox cannot substitute."""
    try:
        accepts = "substitutes" in inspect.signature(sandbox.run).parameters
    except (TypeError, ValueError):
        accepts = False
    if not accepts:
        return None
    return sandbox.run(name, calls, families, scaling, substitutes=substitutes,
                       adapter=REGISTRY[name].adapter)


def _regraded(sandbox: Sandbox, exercise: Exercise, cases, calls, scaling, results, own: ExerciseRun):
    """Where ``exercise`` is built on other exercises (``Exercise.callees``: its declared
    ``uses``, never whatever else its cell names) and fails cases or the vectorization
    check: run it again with each callee replaced by the reference. Returns that run's
    results when they pass more; else None. Either way the vectorization verdict becomes
    the one measured with the reference callees (written into ``own``): a loop in the
    callee is charged to the callee, not again to the caller."""
    callees = {c: REGISTRY[c].reference for c in exercise.callees() if c in REGISTRY}
    vector_problem = scaling is not None and (own.not_vectorized or own.vector_error)
    if not callees or (all(r.passed for r in results) and not vector_problem):
        return None
    run = _run_with_substitutes(sandbox, exercise.name, calls, exercise.forbidden, scaling, callees)
    if run is None or run.missing or run.tampered:
        return None
    if any(o is not None and (o.forbidden or getattr(o, "tampered", None)) for o in run.outcomes):
        return None
    own.not_vectorized, own.vector_error, own.scaling = run.not_vectorized, run.vector_error, run.scaling
    again = [_judge(exercise, case, outcome) for case, outcome in zip(cases, run.outcomes)]
    if not score_rules.regrade_counts(credit(cases, results)[0], credit(cases, again)[0]):
        return None
    return run, again, tuple(callees)


def _grade_exercise(sandbox: Sandbox, exercise: Exercise, max_score: float, cell: Cell | None,
                    devices, grade_id: str, key: hidden_cases.SeedKey | None = None,
                    selection: Selection | None = None) -> CellGrade:
    name = exercise.name

    def zero(status: str, message: str) -> CellGrade:
        return CellGrade(grade_id, score_rules.zero(status), max_score, message, status)

    if cell is None:
        return zero(*_unrunnable(name, None, None, sandbox))
    if selection is not None and cell.index in selection.oversized:
        return zero("missing", f"{name} could not be graded: your {_cell_name(cell)} "
                               f"{selection.oversized[cell.index]}.")
    if cell.index in sandbox.refused_cells:
        problem = sandbox.cell_problems[cell.index]
        return zero("forbidden", f"{name}: 0 points. Your {_cell_name(cell)} {problem}. "
                                 "Answers may use torch, but not the reference library or the grader's machinery.")
    cases = hidden_cases.cases(name, devices, key)
    scaling = None
    scales, sample_seed, scaling_cases = (), 0, {}
    if exercise.vectorized and exercise.scaling_case is not None:
        # A small size, a medium one, then each of N, H and W alone at a large one, drawn
        # from the student's seed (sandbox.draw_scales); every call is measured.
        scales, sample_seed = _scales(name, key)
        scaling_cases = {s: exercise.scaling_case(s) for s in scales}
        scaling = {scale: (case.args, case.kwargs) for scale, case in scaling_cases.items()}
    calls = [(c.args, c.kwargs) for c in cases]
    run = sandbox.run(name, calls, exercise.forbidden, scaling, adapter=exercise.adapter)
    if run.missing:
        return zero(*_unrunnable(name, cell, run, sandbox))
    tampered = run.tampered or next((o.tampered for o in run.outcomes if o is not None and o.tampered), None)
    if tampered:
        return zero("tampered", f"{name}: 0 points: the grading sandbox refused what your code tried: "
                                f"{tampered}. Answers may not inspect or change the grader's machinery.")
    forbidden = next((o.forbidden for o in run.outcomes if o is not None and o.forbidden), None)
    results = [_judge(exercise, case, outcome) for case, outcome in zip(cases, run.outcomes)]
    lines, mistakes, status = [], (), "passed"
    # A forbidden op seen while the answer ran with its own declared callees may be the
    # callee's (charged there): with the reference callees the answer must be clean itself.
    regraded = _regraded(sandbox, exercise, cases, calls, scaling, results, run)
    if forbidden and regraded is None:
        return zero("forbidden", f"{name}: 0 points. {_forbidden_message(exercise, forbidden)}")
    if regraded is not None:
        own_passed = sum(r.passed for r in results)
        run, results, callees = regraded
        theirs = " and ".join(callees)
        lines.append(f"Graded with the reference {theirs} (the course builds {name} on it): with your "
                     f"own {theirs}, {name} passes {own_passed} of {len(results)} hidden cases; a mistake "
                     f"there costs points in {theirs}, not again here.")
    passed = sum(r.passed for r in results)
    earned, credit_note = credit(cases, results)
    on = " and ".join(sorted({_device(c) for c in cases}))
    first = None
    if passed == len(results):
        lines.insert(0, f"{name}: all {len(results)} hidden cases pass ({on}).")
    else:
        first = first_failure(exercise, results)
        status = "failed"
        mistakes = first.named or tuple(m for m in (first.mistake,) if m)
        failures = [o.failure for o in run.outcomes if o is not None and o.failure]
        if failures and not passed:
            endings = {o.ending for o in run.outcomes if o is not None and o.failure}
            status = "timeout" if "timeout" in endings else "crashed"
        if first.not_implemented:
            status = "not_implemented"
            lines.append(f"{first.message}.")
        else:
            lines.append(f"{name}: {passed} of {len(results)} hidden cases pass ({on}). First failing case:")
            lines.append(first.message)
            if credit_note:
                lines.append(credit_note)
            if first.error_type == "MemoryError":
                lines.append(f"  (The grader gives your code {sandbox.limits.memory_mb} MiB of memory.)")
    halved = False
    if scaling is not None and passed:
        # Fails closed: a check that could not decide counts against the exercise.
        problem = (run.not_vectorized or run.vector_error
                   or _scaling_problem(exercise, run, mistakes, scales, sample_seed, scaling_cases))
        if problem:
            halved = True
            if run.not_vectorized:
                lines.append(f"Score halved: {name} is not vectorized: {run.not_vectorized}")
            else:
                lines.append(f"Score halved: the vectorization check could not confirm that {name} is "
                             f"vectorized ({problem}).")
    if first is not None and selection is not None:
        if name in selection.blocked:
            lines.append("Note: " + blocked_message(name, selection.blocked[name]))
        for needed, why in selection.unread.get(name, {}).items():
            lines.append(f"Note: {name} uses `{needed}`, but {why}.")
    if first is not None and first.error_type == "NameError":
        lines += _notes(run, sandbox, cell)
    score = score_rules.points(max_score, earned, len(results), halved=halved, status=status)
    return CellGrade(grade_id, score, max_score, "\n".join(lines), status, mistakes, passed, len(results), halved)


def _scales(name: str, key: hidden_cases.SeedKey | None) -> tuple[list, int]:
    """The vectorization check's sizes for this student and exercise (no fixed trip count
    covers them all without costing more than a vectorized answer: host.WORK_BOUND), and
    the seed of the positions where their large results are compared."""
    key = key if key is not None else hidden_cases.SeedKey.for_submission()
    return draw_scales(key.seed(name + "#scaling")), key.seed(name + "#sampled")


def _scaling_problem(exercise: Exercise, run: ExerciseRun, mistakes=(), scales=SCALES,
                     sample_seed: int = 0, cases=None) -> str | None:
    """Why the size-scaling calls cannot vouch for the work counts: their values are judged
    too, so an answer cannot behave differently on the calls that measure it. A wrong value
    there is no reason when it is the named mistake (``mistakes``) that its failing hidden
    cases show: the answer is the same computation on every call, wrong the same way."""
    for scale in scales:
        outcome = run.scaling.get(scale)
        if outcome is None:
            return "the size-scaling call did not run"
        case = (cases or {}).get(scale) or exercise.scaling_case(scale)
        if _sampled_match(exercise, case, outcome, sample_seed):
            continue
        result = _judge(exercise, case, outcome)
        if not result.passed and not set(result.named) & set(mistakes):
            return "its result on the size-scaling input is wrong"
    return None


_SAMPLED = 2**14  # positions compared in a large size-scaling result


def _sampled_match(exercise: Exercise, case: Case, outcome, seed: int) -> bool:
    """True when a large size-scaling result has the reference's shape, dtype and device and
    matches it at _SAMPLED positions the answer cannot know (the whole comparison of a
    million values costs more than the call). Anything else is judged in full (_judge)."""
    got = outcome.value if outcome.failure is None and outcome.error is None else None
    if exercise.adapter is not None or not isinstance(got, torch.Tensor) or got.numel() <= _SAMPLED:
        return False
    try:
        expected = exercise.reference(*case.clone().args, **case.clone().kwargs)
    except Exception:
        return False
    if not isinstance(expected, torch.Tensor) or (got.shape, got.dtype, got.device) != (
            expected.shape, expected.dtype, expected.device):
        return False
    positions = torch.randint(got.numel(), (_SAMPLED,), generator=torch.Generator().manual_seed(seed))
    positions = positions.to(got.device)
    return compare_outputs(expected.reshape(-1)[positions], got.reshape(-1)[positions],
                           exercise.rtol, exercise.atol) is None


def _device(case: Case) -> str:
    first = next(tensors_in(case.args, case.kwargs), None)  # Case.to moved them all together
    return first.device.type if first is not None else "cpu"


# --- the notebook ----------------------------------------------------------------------

def grade_notebook(nb, assignment: str, points: dict[str, float], limits: Limits | None = None,
                   devices=None, key: hidden_cases.SeedKey | None = None) -> list[CellGrade]:
    """Grade every test cell in ``points`` (grade_id -> max score), in that order.

    ``nb``: the submitted notebook (NotebookNode or dict); ``assignment`` is for messages
    only; ``devices`` defaults to the CPU plus CUDA where present; ``key`` says whose hidden
    cases (``hidden_cases.SeedKey``: the course secret, the student, the attempt; the
    preprocessor passes the submission's), None for the course secret's cases for no
    student in particular.
    """
    nb = nbformat.from_dict(nb)
    names = {gid: exercise_name(gid) for gid in points}
    gradable = {gid: n for gid, n in names.items() if n in REGISTRY and n in hidden_cases.HIDDEN}
    selection = select_cells(nb, set(gradable.values()))
    owner = selection.owner
    grades = []
    # The oversized cells are skipped (cell_problems); the answers see the notebook's imports.
    # The student's sandbox may serve their next notebook too (never anyone else's).
    sandbox = Sandbox(selection.cells, limits, preamble=NOTEBOOK_IMPORTS,
                      cell_problems=dict(selection.oversized),
                      owner=key.student if key is not None and key.student else None) if gradable else None
    try:
        for grade_id, max_score in points.items():
            max_score = float(max_score)
            name = gradable.get(grade_id)
            if name is None:
                # Zero, never free points: a test cell the grader cannot check is the
                # instructor's to fix (add hidden cases), and the message says so.
                grades.append(CellGrade(grade_id, score_rules.zero("ungraded"), max_score,
                                        f"{grade_id} is not graded by the trusted grader (no hidden cases "
                                        f"for it in {assignment}): 0 until the instructor adds them to "
                                        "autograder/judge/hidden_cases/.", "ungraded"))
                continue
            grades.append(_grade_exercise(sandbox, REGISTRY[name], max_score, owner.get(name), devices,
                                          grade_id, key, selection))
    finally:
        if sandbox is not None:
            sandbox.close()
    for grade in grades:  # no path, no line of a course file, bounded (scrub.py)
        grade.message = scrub(grade.message)
        if sandbox is not None and not sandbox.isolated:
            grade.isolated = False
            grade.message = f"{UNISOLATED_NOTE}\n{grade.message}"
    return grades
