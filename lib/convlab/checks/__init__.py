"""Visible checks: one ``check_<exercise>(fn)`` per exercise, as the notebooks' test cells call them.

Each runs a handful of cases against the reference library and raises AssertionError
with a message that names the first failing case, expected vs got, and the known
mistake the output matches. The trusted grader uses the same ``Exercise`` records
(``REGISTRY``) with its own hidden cases.
"""
from . import atrous, gridding, hdc, standard, transposed  # noqa: F401  (fill the registry)
from .core import REGISTRY, Case, CaseResult, Exercise, Mistake, compare_outputs, evaluate
from .runner import CheckFailed, check, devices, run_case, use_or_reference


def _make_check(name):
    def check_exercise(fn, quiet: bool = False) -> None:
        check(name, fn, quiet)

    check_exercise.__name__ = check_exercise.__qualname__ = f"check_{name}"
    check_exercise.__doc__ = f"Check your ``{name}`` against the reference on a few cases."
    return check_exercise


for _name in REGISTRY:
    globals()[f"check_{_name}"] = _make_check(_name)

__all__ = [f"check_{name}" for name in REGISTRY] + [
    "CheckFailed", "REGISTRY", "Case", "CaseResult", "Exercise", "Mistake", "check", "compare_outputs",
    "devices", "evaluate", "run_case", "use_or_reference",
]
