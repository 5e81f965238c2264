"""The scoring rules (autograder.score): each pinned by a value that changes if the rule does."""
from __future__ import annotations

import pytest

from autograder.score import ZERO_STATUSES, points, regrade_counts, zero


def test_points_are_the_share_earned_rounded_to_four_decimals():
    assert points(3.0, 2, 3) == 2.0
    assert points(1.0, 1, 3) == 0.3333
    assert points(2.0, 2.5, 7) == round(2.0 * 2.5 / 7, 4) == 0.7143


def test_a_halved_exercise_gets_half_of_its_share():
    assert points(3.0, 3, 3, halved=True) == 1.5
    assert points(1.0, 1, 3, halved=True) == 0.1667


def test_a_zero_status_earns_nothing_whatever_passed():
    for status in ZERO_STATUSES:
        assert points(3.0, 3, 3, status=status) == 0.0
    assert points(3.0, 3, 3, status="failed") == 3.0  # scored from its cases
    assert points(3.0, 0, 0) == 0.0  # no case run: nothing earned


def test_zero_is_only_for_statuses_scored_zero_by_rule():
    assert zero("forbidden") == 0.0 and zero("not_implemented") == 0.0
    with pytest.raises(ValueError):
        zero("passed")


def test_a_score_never_exceeds_the_points_and_a_bad_verdict_is_refused():
    assert points(0.5, 3, 3) == 0.5
    with pytest.raises(ValueError):
        points(1.0, 4, 3)
    with pytest.raises(ValueError):
        points(-1.0, 1, 3)


def test_the_regrade_with_reference_callees_counts_only_when_strictly_better():
    assert regrade_counts(1.0, 2.0)
    assert not regrade_counts(2.0, 2.0)
    assert not regrade_counts(2.0, 1.0)
