"""The one walk of a case's arguments and an answer's value (convlab.checks.values), and
the places that use it: what is a container, how deep, what is left alone."""
from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from convlab.checks.core import Case, describe_value
from convlab.checks.values import MAX_DEPTH, leaves, map_tensors, tensors_in

Pair = namedtuple("Pair", "first second")


def nested(depth: int, leaf):
    """``leaf`` inside ``depth`` lists."""
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def test_map_tensors_keeps_every_container_and_leaf():
    a, b, c, d = (torch.arange(3.0) + k for k in range(4))
    marker = object()
    value = [a, (b, [c, "text", 3]), {"w": d, "n": None}, Pair(a, 2.5), torch.Size([2, 3]), marker]
    got = map_tensors(value, lambda t: t * 10)
    assert type(got) is list and type(got[1]) is tuple and type(got[1][1]) is list
    assert type(got[2]) is dict and list(got[2]) == ["w", "n"]
    assert type(got[3]) is Pair and got[3].second == 2.5
    assert type(got[4]) is torch.Size and got[4] == torch.Size([2, 3])
    assert got[5] is marker and got[1][1][1] == "text" and got[1][1][2] == 3 and got[2]["n"] is None
    for new, old in ((got[0], a), (got[1][0], b), (got[1][1][0], c), (got[2]["w"], d), (got[3].first, a)):
        assert_close(new, old * 10)
    assert got is not value and got[1][1] is not value[1][1]  # new containers, never the argument's
    assert map_tensors("abc", lambda t: 1 / 0) == "abc"  # a string is a leaf, not walked


def test_leaves_and_tensors_in_walk_depth_first_in_order():
    a, b, c = torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)
    value = [1, (a, {"k": b, "s": "x"}), [[c]], 2]
    assert [type(v).__name__ for v in leaves(value)] == ["int", "Tensor", "Tensor", "str", "Tensor", "int"]
    found = list(tensors_in(value, {"more": a}))
    assert [t is x for t, x in zip(found, (a, b, c, a))] == [True] * 4 and len(found) == 4
    assert list(tensors_in(1, "x", None, [])) == []
    assert next(tensors_in(a)) is a  # a bare tensor is its own only leaf


def test_the_depth_limit_is_a_clear_value_error():
    ok, deep = nested(MAX_DEPTH, torch.ones(1)), nested(MAX_DEPTH + 1, torch.ones(1))
    assert_close(nested(MAX_DEPTH, torch.ones(1) * 2), map_tensors(ok, lambda t: t * 2))
    assert len(list(tensors_in(ok))) == 1
    for walk in (lambda v: map_tensors(v, lambda t: t), lambda v: list(leaves(v)), lambda v: list(tensors_in(v))):
        with pytest.raises(ValueError, match=f"nested more than {MAX_DEPTH}"):
            walk(deep)
    loop: list = [torch.ones(1)]
    loop.append(loop)  # holds itself: refused, not a RecursionError
    with pytest.raises(ValueError, match="contains itself"):
        map_tensors(loop, lambda t: t)
    with pytest.raises(ValueError):
        map_tensors({"d": nested(MAX_DEPTH, 1)}, lambda t: t)  # a dict is a level too


def test_clone_really_copies_every_tensor():
    x, w, k = torch.arange(4.0), torch.ones(2), torch.zeros(3)
    case = Case((x, [[w]], (1, "s")), {"weights": [k], "extra": {"t": x}})
    copy = case.clone()
    for got, old in zip(tensors_in(copy.args, copy.kwargs), tensors_in(case.args, case.kwargs)):
        assert got is not old and got.data_ptr() != old.data_ptr()
        assert_close(got, old)
        got.add_(100)  # writing into the copy's inputs leaves the case as it was
    assert_close(x, torch.arange(4.0)) and assert_close(w, torch.ones(2)) and assert_close(k, torch.zeros(3))
    assert copy.args[2] == (1, "s") and type(copy.args) is tuple and type(copy.args[1][0]) is list


def test_to_moves_every_tensor_also_in_nested_lists_and_dicts():
    # "meta" stands for another device: every CPU machine has it.
    case = Case((torch.ones(2, 2), [[torch.ones(1)], 3], "name"), {"weights": [torch.ones(3)],
                                                                  "opts": {"t": torch.ones(1), "n": 2}},
                note="why")
    moved = case.to("meta")
    devices = [t.device.type for t in tensors_in(moved.args, moved.kwargs)]
    assert devices == ["meta"] * 4
    assert moved.args[1][1] == 3 and moved.args[2] == "name" and moved.kwargs["opts"]["n"] == 2
    assert moved.note == "why" and moved.raises is None
    assert [t.device.type for t in tensors_in(case.args, case.kwargs)] == ["cpu"] * 4  # the original stays


def test_the_hidden_cases_move_what_case_to_moves():
    from autograder.judge import hidden_cases

    nested_only = Case(([[torch.ones(2)]], 3))
    assert hidden_cases._has_tensor(nested_only)
    assert hidden_cases._has_tensor(Case((1,), {"opts": {"w": torch.ones(1)}}))
    assert not hidden_cases._has_tensor(Case(([1, [2.0]], "x"), {"k": 3}))
    assert [t.device.type for t in tensors_in(nested_only.to("meta").args)] == ["meta"]


def test_fingerprints_tell_values_apart_by_content():
    from autograder.judge.hidden_cases import _fingerprint

    big = torch.zeros(5000)
    other = big.clone()
    other[2500] = 1.0  # torch's repr would show both as "0., 0., ..., 0."
    assert _fingerprint(Case((big,))) == _fingerprint(Case((big.clone(),)))
    assert _fingerprint(Case(({"w": big},))) != _fingerprint(Case(({"w": other},)))
    assert _fingerprint(Case(([1, 2],))) != _fingerprint(Case(((1, 2),)))
    assert _fingerprint(Case((torch.tensor([1.0]),))) != _fingerprint(Case(((("torch.float64",), (1,), [1.0]),)))
    assert _fingerprint(Case((torch.ones(2, dtype=torch.float64),))) != _fingerprint(Case((torch.ones(2),)))
    assert _fingerprint(Case((1,), raises=ValueError)) != _fingerprint(Case((1,)))


def test_numbers_are_the_leaves_of_a_list_of_numbers_only():
    from autograder.judge.hidden_cases import _numbers

    assert _numbers([1, (2, [3.5])]) == [1, 2, 3.5]
    assert _numbers([1, True]) is None and _numbers([1, torch.ones(1)]) is None
    assert _numbers([1, "2"]) is None and _numbers([]) is None and _numbers(3) is None


def test_the_sandbox_counts_and_finds_tensors_with_the_same_walk():
    from autograder.judge.grader import _device
    from autograder.sandbox.host import _uses_cuda
    from autograder.sandbox.references import _elements

    assert _elements([torch.ones(2, 3), (torch.ones(4), [torch.ones(5)], 7), {"d": torch.ones(1)}]) == 6 + 4 + 5 + 1
    assert _elements(3) == 0

    class OnCuda(torch.Tensor):  # a CPU machine's stand-in for a CUDA tensor
        @property
        def device(self):
            return torch.device("cuda")

    fake = torch.ones(1).as_subclass(OnCuda)
    assert _uses_cuda([((torch.ones(1),), {"w": [[fake]]})])
    assert not _uses_cuda([((torch.ones(1), [torch.ones(1)]), {"n": 1})])
    assert _device(Case((1, [torch.ones(1).to("meta")]))) == "meta" and _device(Case((1, "x"))) == "cpu"


def test_describe_value_shows_nested_tensors_by_shape():
    text = describe_value([[torch.zeros(3, 4)], 2])
    assert text == "[[float32 tensor of shape (3, 4)], 2]"
    loop: list = [1]
    loop.append(loop)
    assert describe_value(loop) == "[1, [...]]"  # too deep to walk: its repr, never an error


def test_the_sandbox_runtime_carries_the_same_walk():
    import shutil

    from autograder.sandbox import launcher
    from convlab.checks import values

    runtime = Path(launcher.stage_runtime())
    try:
        assert (runtime / "values.py").read_text(encoding="utf-8") == Path(values.__file__).read_text(encoding="utf-8")
    finally:
        shutil.rmtree(runtime)
    # It is loaded there without convlab: the standard library and torch only.
    source = Path(values.__file__).read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["from __future__ import annotations", "from typing import Callable, Iterator",
                       "import torch"]
