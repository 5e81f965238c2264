"""The one walk of a case's arguments and an answer's value.

A case's arguments and an exercise's value are tensors, numbers, strings, None, and
lists, tuples and dict values of those, nested. Every place that moves, copies, counts or
looks for the tensors in such a value walks it with these functions, so the rule of what
is a container and how deep one may go is written once (the sandbox's wire format keeps
its own, stricter reader of a student's value: see autograder/sandbox/wire.py ``to_plain``):

* the containers are lists, tuples (their own type is kept: a tuple stays a tuple, a
  named tuple stays one) and dicts (their values; the keys are left as they are);
* anything else is a leaf and is left untouched (strings are not walked into);
* a value nested deeper than ``MAX_DEPTH`` containers, or one that holds itself, is
  refused with a ValueError instead of recursing until Python's own limit.

The grading sandbox loads this file by itself, without the ``convlab`` package (see
autograder/sandbox/launcher.py), as it loads ``adapters.py``: import nothing but the
standard library and ``torch`` here.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch

__all__ = ["MAX_DEPTH", "map_tensors", "tensors_in", "leaves"]

# Deeper than any case or answer value of the course (a model's layers: a list of tuples),
# far below Python's recursion limit.
MAX_DEPTH = 16


def _too_deep() -> ValueError:
    return ValueError(f"a value nested more than {MAX_DEPTH} lists, tuples or dicts deep "
                      "(or one that contains itself)")


def _rebuilt(container, items: list):
    """``items`` in a container of ``container``'s own type."""
    if isinstance(container, tuple) and hasattr(type(container), "_fields"):
        return type(container)(*items)  # a named tuple takes its fields one by one
    return type(container)(items)


def map_tensors(value, fn: Callable[[torch.Tensor], object], _depth: int = 0):
    """``value`` with each tensor ``t`` replaced by ``fn(t)``: the same containers (new
    ones: a list in the result is never the argument's list), every other leaf the same
    object. ValueError past ``MAX_DEPTH``."""
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple, dict)):
        if _depth >= MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            pairs = [(k, map_tensors(v, fn, _depth + 1)) for k, v in value.items()]
            return dict(pairs) if type(value) is dict else type(value)(pairs)
        return _rebuilt(value, [map_tensors(v, fn, _depth + 1) for v in value])
    return value


def leaves(value, _depth: int = 0) -> Iterator:
    """Every leaf of ``value`` (tensors and everything that is not a container), in order:
    depth first, a dict's values in its order. ValueError past ``MAX_DEPTH``."""
    if isinstance(value, (list, tuple, dict)):
        if _depth >= MAX_DEPTH:
            raise _too_deep()
        for item in (value.values() if isinstance(value, dict) else value):
            yield from leaves(item, _depth + 1)
    else:
        yield value


def tensors_in(*values) -> Iterator[torch.Tensor]:
    """The tensors among the leaves of ``values``, in order (lazily: ``next`` stops at the
    first). ``tensors_in(case.args, case.kwargs)`` walks a whole case."""
    for value in values:
        for leaf in leaves(value):
            if isinstance(leaf, torch.Tensor):
                yield leaf
