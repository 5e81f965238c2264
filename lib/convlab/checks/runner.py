"""Run one exercise's visible cases on a student's function and explain the first failure."""
from __future__ import annotations

import warnings

import torch

from .core import REGISTRY, Case, CaseResult, Exercise, evaluate, first_failure
from .guards import FAMILY_TEXT, ForbiddenCalls, loops_over_input, uses_convlab

__all__ = ["check", "devices", "run_case", "use_or_reference"]


def devices() -> list[torch.device]:
    """CPU, and the GPU when there is one: every check runs on both."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    return found


def run_case(exercise: Exercise, fn, case: Case) -> CaseResult:
    """Call ``fn`` on one case under the forbidden-call guard and judge the result."""
    got, error = None, None
    guard = ForbiddenCalls(exercise.forbidden)
    try:
        with guard:
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


def check(name: str, fn, quiet: bool = False) -> None:
    """Check the student's ``fn`` for exercise ``name``; raise AssertionError that teaches."""
    exercise = REGISTRY[name]
    if not callable(fn):
        raise AssertionError(f"{name} should be a function, got {type(fn).__name__}")
    via = uses_convlab(fn)
    if via is not None:
        raise AssertionError(
            f"{name} uses the reference library (through {via!r}). Write it yourself: the grader "
            "gives 0 for calling convlab."
        )
    results: list[CaseResult] = []
    with warnings.catch_warnings():
        # A visible check must not write to stderr (nbgrader scores such a cell 0).
        warnings.simplefilter("ignore")
        for device in devices():
            for case in exercise.visible_cases():
                result = run_case(exercise, fn, case.to(device))
                if result.mistake == "forbidden call":
                    raise AssertionError(result.message)
                results.append(result)
        failure = first_failure(exercise, results)
        if failure is not None:
            passed = sum(r.passed for r in results)
            raise AssertionError(
                f"{name}: {passed} of {len(results)} cases pass. First failing case:\n{failure.message}"
            )
        if exercise.vectorized and exercise.scaling_case is not None:
            problem = loops_over_input(fn, exercise.scaling_case)
            if problem:
                raise AssertionError(f"{name} gives the right values but is not vectorized: {problem}")
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
