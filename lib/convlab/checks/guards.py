"""Rules a correct output cannot prove: no forbidden calls, no loops over pixels.

Both are observed, not read from the source, so an alias, a ``getattr`` or an
``nn.Conv2d`` is caught the same as ``F.conv2d``:

* ``ForbiddenCalls`` is a TorchDispatchMode: every aten op the function runs passes
  through it, after every Python-level alias has resolved.
* ``measure_work`` counts the aten ops and the Python lines a call executes in the
  student's own code; a vectorized function does the same work at every input size.
"""
from __future__ import annotations

import sys
from typing import Callable

import torch
# A TorchDispatchMode imports torch._dynamo the first time it is entered (1-3 s). Pay
# that at import, so the first visible check in a notebook stays under its 2 s budget.
import torch._dynamo  # noqa: F401,E402
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "ForbiddenCalls",
    "forbidden_call",
    "is_student_file",
    "measure_work",
    "loops_over_input",
    "uses_convlab",
]

# The families and their ops: one table with the grader's sandbox (checks/families.py).
from .families import CONV_OP as _CONV_OP  # noqa: E402
from .families import DUAL_OP as _FORWARD_AD_OP  # noqa: E402
from .families import FAMILY_TEXT  # noqa: E402,F401  (the checks' and the grader's wording)
from .families import UNFOLD_OP as _UNFOLD_OP  # noqa: E402


# What a student called, for "<exercise> calls ...": what they wrote, with the aten op
# that was observed in brackets. The grader's sandbox words its findings the same way.
UNFOLD_CALL = "F.unfold / F.fold (observed as torch's {op} op)"
CONV_CALL = "a torch convolution: F.conv*, torch.conv* or nn.Conv* (observed as torch's {op} op)"
AUTOGRAD_CALL = "torch.autograd (observed as torch's {op} op run by {how})"


def _in_ad_transform() -> bool:
    """Inside torch.func's grad, vjp or jvp (vmap is fine), or a forward-AD dual level."""
    import torch.autograd.forward_ad as forward_ad
    from torch._C._functorch import TransformType
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

    if getattr(forward_ad, "_current_level", -1) >= 0:
        return True
    return any(i.key() in (TransformType.Grad, TransformType.Jvp)
               for i in retrieve_all_functorch_interpreters())


def _autograd_violation(base: str) -> str | None:
    """Backward-mode AD shows as ops the autograd engine runs (a graph task is current);
    forward-mode AD and torch.func's AD transforms as ops run inside them."""
    if torch._C._current_graph_task_id() != -1:
        return AUTOGRAD_CALL.format(op=base, how="autograd's backward pass")
    if _FORWARD_AD_OP.match(base) or _in_ad_transform():
        return AUTOGRAD_CALL.format(op=base, how="forward-mode AD or a torch.func transform")
    return None


def _conv_args(args) -> tuple:
    # aten.convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    stride, padding, dilation, transposed = args[3], args[4], args[5], args[6]
    return tuple(stride), tuple(padding), tuple(dilation), bool(transposed)


def _violation(op_name: str, args, families) -> str | None:
    base = op_name.split(".")[0]
    if "autograd" in families:
        found = _autograd_violation(base)
        if found:
            return found
    if "unfold" in families and _UNFOLD_OP.match(base):
        return UNFOLD_CALL.format(op=base)
    if not _CONV_OP.search(base):
        return None
    if "conv" in families:
        return CONV_CALL.format(op=base)
    is_generic = base in ("convolution", "_convolution") and len(args) >= 7
    if "conv_except_plain" in families:
        if not is_generic:
            return f"{base} (only F.conv2d with stride 1, no padding, no dilation is allowed)"
        stride, padding, dilation, transposed = _conv_args(args)
        dims = len(stride)
        if transposed:
            return f"F.conv_transpose{dims}d (a transposed convolution op)"
        wrong = [f"{name}={list(value)}" for name, value, plain in
                 (("stride", stride, 1), ("padding", padding, 0), ("dilation", dilation, 1))
                 if set(value) != {plain}]
        if wrong:
            return f"F.conv{dims}d with {', '.join(wrong)}"
    if "dilated_conv" in families:
        if not is_generic:
            return CONV_CALL.format(op=base)
        dilation = _conv_args(args)[2]
        if set(dilation) != {1}:
            return f"a torch convolution with dilation={list(dilation)} (dilation > 1 is what you implement)"
    return None


class ForbiddenCalls(TorchDispatchMode):
    """Records the first forbidden aten op run inside the ``with`` block."""

    def __init__(self, families=("conv", "unfold")):
        super().__init__()
        self.families = tuple(families)
        self.found: str | None = None
        self.op_count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.op_count += 1
        if self.found is None and self.families:
            self.found = _violation(str(func.overloadpacket.__name__), args, self.families)
        return func(*args, **(kwargs or {}))


def forbidden_call(fn: Callable, args=(), kwargs=None, families=("conv", "unfold")):
    """Run ``fn`` once under ``ForbiddenCalls``; return (result, violation or None)."""
    with ForbiddenCalls(families) as mode:
        result = fn(*args, **(kwargs or {}))
    return result, mode.found


_LIBRARY_ROOTS = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
_CONVLAB_ROOT = __file__.rsplit("/checks/", 1)[0]


def is_student_file(filename: str) -> bool:
    """Code that is neither Python's, an installed package's, nor convlab's: the
    notebook's cells (IPython names each cell's file) or a grader's answer module."""
    return not (
        filename.startswith(_LIBRARY_ROOTS)
        or filename.startswith(_CONVLAB_ROOT)
        or filename.startswith("<frozen")
    )


def _student_lines(fn: Callable, args, kwargs) -> int:
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if not is_student_file(frame.f_code.co_filename):
            return None
        if event == "line":
            count += 1
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn(*args, **kwargs)
    finally:
        sys.settrace(old)
    return count


def measure_work(fn: Callable, case) -> tuple[int, int]:
    """(aten ops, Python lines in the student's code) that one call of ``fn`` executes."""
    with ForbiddenCalls(()) as mode:
        fn(*case.clone().args, **case.clone().kwargs)
    return mode.op_count, _student_lines(fn, case.clone().args, case.clone().kwargs)


def loops_over_input(fn: Callable, scaling_case: Callable[[int], object]) -> str | None:
    """A message when the work of ``fn`` grows with the input size, else None.

    The two cases differ only in N, H and W (several-fold), so a loop over pixels or
    over the batch multiplies the count; a loop over kernel taps does not.
    """
    # Scale 1 is avoided: with N=1 some reshapes are free views, so a correct answer can
    # run a few more ops at N>1 without looping.
    small, large = scaling_case(2), scaling_case(5)
    ops_small, lines_small = measure_work(fn, small)
    ops_large, lines_large = measure_work(fn, large)
    # Slack for data-independent bookkeeping (a branch taken at one size only).
    if ops_large > ops_small + 4 or lines_large > lines_small + 4:
        return (
            f"the work grows with the input: {ops_small} torch ops and {lines_small} Python lines "
            f"for a small input, {ops_large} ops and {lines_large} lines for a larger one. "
            "A vectorized answer may loop over kernel taps, but not over N, H or W."
        )
    return None


def uses_convlab(fn: Callable) -> str | None:
    """The name under which ``fn`` reaches the reference library, if it does."""
    seen = set()
    stack = [fn]
    while stack:
        f = stack.pop()
        code = getattr(f, "__code__", None)
        if code is None or id(code) in seen:
            continue
        seen.add(id(code))
        globs = getattr(f, "__globals__", {})
        names = set(code.co_names)
        for const in code.co_consts:
            if hasattr(const, "co_names"):
                names |= set(const.co_names)
        for name in names:
            obj = globs.get(name)
            module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
            if isinstance(module, str) and (module == "convlab" or module.startswith("convlab.")):
                return name
            if callable(obj) and getattr(obj, "__code__", None) is not None:
                stack.append(obj)
    return None
