"""Run one exercise's visible cases on a student's function and explain the first failure."""
from __future__ import annotations

import signal
import threading
import warnings
from contextlib import contextmanager

import torch

from .core import REGISTRY, Case, CaseResult, Exercise, credit, evaluate, first_failure
from .guards import FAMILY_TEXT, ForbiddenCalls, loops_over_input, uses_convlab

__all__ = ["CheckFailed", "CheckTimeout", "CASE_SECONDS", "check", "devices", "run_case",
           "time_limit", "use_or_reference", "history_problem"]

# A visible case runs in milliseconds; a call still running after this is stuck (an
# infinite loop, a huge allocation) and is stopped, so the kernel stays usable.
CASE_SECONDS = 3.0
VECTOR_SECONDS = 10.0


class CheckFailed(AssertionError):
    """A visible check's verdict. In a notebook it shows as its message alone: the
    traceback through the checks' own frames says nothing to a student.

    Its first line there says where Run All stopped and what to do (``check`` sets
    ``exercise`` and ``not_done``): a failing check raises, so the cell turns red and Run
    All stops at the first exercise that needs work instead of running past it."""

    exercise: str | None = None
    not_done: bool = False

    def headline(self) -> str | None:
        if not self.exercise:
            return None
        if self.not_done:
            return (f"Run All stopped here: {self.exercise} is not done yet. Write it in the cell "
                    "above, then run this cell again.")
        return (f"Run All stopped here: {self.exercise} does not pass its check yet. Fix it in the "
                "cell above, then run this cell again.")

    def _render_traceback_(self):  # IPython calls this instead of printing the traceback
        message = f"{type(self).__name__}: {self.args[0] if self.args else ''}"
        headline = self.headline()
        return [headline, "", message] if headline else [message]


class CheckTimeout(BaseException):
    """Raised inside a student's function that ran past its time budget. A BaseException,
    so ``except Exception`` in the student's code does not swallow it."""


@contextmanager
def time_limit(seconds: float | None):
    """Raise CheckTimeout in this thread after ``seconds`` (again every 0.25 s until the
    block ends, should the code catch it). Only in the main thread of a Unix process,
    where SIGALRM exists; elsewhere the block runs without a limit."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise CheckTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def devices() -> list[torch.device]:
    """CPU, and the GPU when there is one: every check runs on both."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def run_case(exercise: Exercise, fn, case: Case, seconds: float | None = None) -> CaseResult:
    """Call ``fn`` on one case under the forbidden-call guard and judge the result.
    With ``seconds``, a call that runs longer raises CheckTimeout out of here."""
    got, error = None, None
    guard = ForbiddenCalls(exercise.forbidden)
    try:
        with time_limit(seconds), guard:
            got = exercise.call(fn, case)
    except Exception as exc:  # the student's error is the diagnosis, not a crash
        error = exc
    if guard.found:
        families = "; ".join(FAMILY_TEXT[f] for f in exercise.forbidden)
        return CaseResult(
            False,
            f"{exercise.name} calls {guard.found}. This exercise forbids {families}: "
            "write it from tensor operations yourself.",
            "forbidden call",
        )
    return evaluate(exercise, case, got, error)


def history_problem(name: str, fn) -> str | None:
    """Where ``fn`` (defined in a notebook) uses a name that another cell sets by
    top-level code with side effects, what the grader will not see, else None.

    Read from the kernel's input history (IPython's ``In``), with the grader's own rules
    (``deps``): the last cell that defines ``name`` is the answer, and each answer cell of
    the assignment runs whole at grading."""
    from .deps import Resolver, blocked_message

    namespace = getattr(fn, "__globals__", None)
    history = namespace.get("In") if isinstance(namespace, dict) else None
    if not isinstance(history, list) or len(history) < 2:
        return None
    resolver = Resolver({i: s for i, s in enumerate(history) if isinstance(s, str) and s})
    answer = resolver.find_definition(name)
    if answer is None:
        return None
    exercise = REGISTRY.get(name)
    whole = {answer.cell}
    for other in REGISTRY.values():
        if exercise is not None and other.assignment == exercise.assignment and other.name != name:
            found = resolver.find_definition(other.name)
            if found is not None:
                whole.add(found.cell)
    result = resolver.resolve(whole, start=set(answer.reads))
    if result.blocked:
        return blocked_message(name, result.blocked, where=lambda b: f"In [{b.cell}]")
    return None


def _run_all(exercise: Exercise, fn) -> list[tuple[Case, CaseResult]]:
    pairs = []
    for device in devices():
        for case in exercise.visible_cases():
            case = case.to(device)
            try:
                result = run_case(exercise, fn, case, CASE_SECONDS)
            except CheckTimeout:
                raise CheckFailed(
                    f"{exercise.name} did not finish within {CASE_SECONDS:g} s on\n  "
                    f"{case.describe(exercise.name)}\nand was stopped. These inputs are tiny: look for "
                    "a loop that never ends (a while loop whose condition never changes).") from None
            if result.mistake == "forbidden call":
                raise CheckFailed(result.message)
            pairs.append((case, result))
    return pairs


@contextmanager
def _replaced(fn, name: str, value):
    """``fn``'s global ``name`` temporarily bound to ``value``."""
    namespace = fn.__globals__
    missing = object()
    old = namespace.get(name, missing)
    namespace[name] = value
    try:
        yield
    finally:
        if old is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = old


def _own_callees(exercise: Exercise, fn) -> list[str]:
    """The exercises ``fn`` may be blamed on (``Exercise.callees``: the declared ``uses``,
    the grader's rule) that its notebook defines: the student's own functions. A call to
    any other exercise is the caller's own work, checked as such."""
    namespace = getattr(fn, "__globals__", None)
    if not isinstance(namespace, dict):
        return []
    return [c for c in exercise.callees() if c in REGISTRY and callable(namespace.get(c))]


def _callee_to_blame(exercise: Exercise, fn) -> str | None:
    """The callee (``_own_callees``) whose own check fails and without which ``fn``
    passes every visible case, if there is one."""
    for callee in _own_callees(exercise, fn):
        try:
            check(callee, fn.__globals__[callee], quiet=True)
            continue  # the callee is right: the caller's failure is its own
        except AssertionError:
            pass
        with _replaced(fn, callee, REGISTRY[callee].reference):
            if all(r.passed for _, r in _run_all(exercise, fn)):
                return callee
    return None


def _looping_callee(exercise: Exercise, fn) -> str | None:
    """The callee without whose loop ``fn`` would pass the vectorization check, if any."""
    for callee in _own_callees(exercise, fn):
        with _replaced(fn, callee, REGISTRY[callee].reference):
            try:
                with time_limit(VECTOR_SECONDS):
                    if loops_over_input(fn, exercise.scaling_case) is None:
                        return callee
            except CheckTimeout:
                continue
    return None


def check(name: str, fn, quiet: bool = False) -> None:
    """Check the student's ``fn`` for exercise ``name``; raise CheckFailed that teaches."""
    try:
        _check(name, fn, quiet)
    except CheckFailed as failed:
        failed.exercise = name
        raise


def _check(name: str, fn, quiet: bool) -> None:
    exercise = REGISTRY[name]
    if not callable(fn):
        raise CheckFailed(f"{name} should be a function, got {type(fn).__name__}")
    via = uses_convlab(fn)
    if via is not None:
        raise CheckFailed(
            f"{name} uses the reference library (through {via!r}). Write it yourself: the grader "
            "gives 0 for calling convlab."
        )
    problem = history_problem(name, fn)
    if problem:
        raise CheckFailed(problem)
    with warnings.catch_warnings():
        # A visible check must not write to stderr (nbgrader scores such a cell 0).
        warnings.simplefilter("ignore")
        pairs = _run_all(exercise, fn)
        results = [r for _, r in pairs]
        failure = first_failure(exercise, results)
        if failure is not None:
            blame = _callee_to_blame(exercise, fn)
            if blame is not None:
                if not quiet:
                    print(f"\N{HEAVY CHECK MARK} {name}: all {len(results)} cases pass with the reference "
                          f"{blame}; with yours they do not, and your {blame} fails its own check. Fix "
                          f"{blame}: the grader charges its mistake to {blame} only.")
                return
            if failure.not_implemented:
                failed = CheckFailed(f"{failure.message}.")
                failed.not_done = True
                raise failed
            # Cases are counted whole ("3 of 7 cases pass"); how the invalid-input cases
            # weigh in the score is the credit note's to say, not a fractional count's.
            _, note = credit([c for c, _ in pairs], results)
            counted = f"{sum(r.passed for r in results)} of {len(results)} cases pass"
            if note:
                valid = [r.passed for c, r in pairs if c.raises is None]
                invalid = [r.passed for c, r in pairs if c.raises is not None]
                counted = (f"{sum(valid)} of {len(valid)} cases pass, and {sum(invalid)} of "
                           f"{len(invalid)} invalid-input cases")
            message = f"{name}: {counted}. First failing case:\n{failure.message}"
            raise CheckFailed(f"{message}\n{note}" if note else message)
        if exercise.vectorized and exercise.scaling_case is not None:
            try:
                with time_limit(VECTOR_SECONDS):
                    problem = loops_over_input(fn, exercise.scaling_case)
            except CheckTimeout:
                problem = f"it did not finish the larger inputs within {VECTOR_SECONDS:g} s"
            if problem:
                looping = _looping_callee(exercise, fn)
                if looping is not None:
                    if not quiet:
                        print(f"\N{HEAVY CHECK MARK} {name}: all {len(results)} cases pass; the loop the "
                              f"vectorization check finds is in your {looping}: with the reference "
                              f"{looping} it is gone. The grader charges that loop to {looping} only.")
                    return
                raise CheckFailed(f"{name} gives the right values but is not vectorized: {problem}")
    if not quiet:
        on = " and ".join(d.type for d in devices())
        print(f"\N{HEAVY CHECK MARK} {name}: all {len(results)} cases pass ({on}).")


def use_or_reference(fn, name: str):
    """``fn`` if it passes its check, else the reference, saying so.

    Demo and figure cells after an exercise call this, so a student who has not
    finished the exercise still sees them run."""
    try:
        check(name, fn, quiet=True)
        return fn
    except AssertionError:
        print(f"(Your {name} does not pass its check yet: this cell uses the reference convlab.{name}.)")
        return REGISTRY[name].reference
