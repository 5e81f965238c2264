"""Assertions shared by the per-assignment check tests: a visible check passes, or fails
with a message containing given phrases."""
from __future__ import annotations

import pytest

from convlab.checks import check


def passes(name, fn):
    check(name, fn, quiet=True)


def fails_naming(name, fn, *phrases):
    with pytest.raises(AssertionError) as info:
        check(name, fn, quiet=True)
    message = str(info.value)
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in:\n{message}"
    return message
