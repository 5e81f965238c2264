"""The scoring rules, in one place: how an exercise's verdict becomes points.

Pure functions of typed results (no message is read, no notebook or gradebook consulted):
the grader (autograder.judge.grader) calls them; every other part (the rows, grades.csv, the
gradebook nbgrader fills, the report) reads the number they give.

* ``ZERO_STATUSES``: a verdict with one of these statuses earns nothing, whatever passed;
* ``regrade_counts``: an exercise built on others is regraded with the reference callees
  and that run counts only where it earns strictly more (the better of the two);
* ``points``: the share of the hidden cases earned (``convlab.checks.core.credit``: a
  constant earns nothing, invalid-input cases in proportion), halved where the
  vectorization check failed, scaled to the test cell's points, rounded to 4 decimals,
  never above them.
"""
from __future__ import annotations

__all__ = ["ZERO_STATUSES", "points", "regrade_counts", "zero"]

# Nothing to grade or a refusal: the answer is missing or was never run, touched the
# grader, used a forbidden op, has no hidden cases, or the grader failed on it; and the
# rows of a student who handed nothing in or whose files intake refused.
ZERO_STATUSES = frozenset({"missing", "forbidden", "tampered", "ungraded", "error",
                           "not_submitted", "refused"})


def points(max_score: float, earned: float, total: int, *, halved: bool = False,
           status: str = "passed") -> float:
    """The test cell's score: ``earned`` of ``total`` hidden cases, halved when not
    vectorized, out of ``max_score``."""
    if max_score < 0 or earned < 0 or total < 0 or earned > total + 1e-9:
        raise ValueError(f"not a verdict: {earned} of {total} cases, out of {max_score} points")
    if status in ZERO_STATUSES or total == 0:
        return 0.0
    fraction = earned / total
    if halved:
        fraction /= 2
    return min(float(max_score), round(max_score * fraction, 4))


def zero(status: str) -> float:
    """The score of a verdict with a zero status (ValueError for any other status)."""
    if status not in ZERO_STATUSES and status not in ("not_implemented", "timeout", "crashed"):
        raise ValueError(f"status {status!r} is scored from its cases, not zero by rule")
    return 0.0


def regrade_counts(own_earned: float, regraded_earned: float) -> bool:
    """Whether the run with the reference callees replaces the answer's own run."""
    return regraded_earned > own_earned
