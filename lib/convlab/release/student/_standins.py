"""What the student build runs where the course library would run a graded function.

The student build of convlab holds no implementation of an exercise. Where a figure, a
demo or a helper needs one, it gets a stand-in:

* torch's own op, where torch has one and the exercise forbids using it (a stand-in that
  calls ``F.conv2d`` is no answer to ``conv2d_loops``: its check refuses torch's conv),
  or where it only asks torch for a shape (``conv_output_size`` through a convolution on
  the "meta" device, which computes no values);
* otherwise your own function, once its check passes in your notebook, or in an earlier
  notebook: a passing answer's source is kept in ``~/.convlab/answers/`` (or
  ``$CONVLAB_HOME/answers/``) and, in another notebook, checked again before it is used;
* before that, an ``ExerciseNotDone`` error that says which exercise to finish first.

``convlab release`` checks, when it builds this package, that no stand-in passes its
exercise's check.
"""
from __future__ import annotations

import inspect
import os
import types
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["ExerciseNotDone", "learn", "learned", "standin", "has_torch_op"]


class ExerciseNotDone(NotImplementedError):
    """A figure or demo needs an exercise that your notebook has not solved yet."""


# Exercise name -> the student's function that passed its check in this kernel.
_LEARNED: dict = {}


def learn(name: str, fn) -> None:
    """Remember ``fn`` as the implementation of ``name`` (its check has just passed), in
    this kernel and, as source, for the notebooks that come later."""
    _LEARNED[name] = fn
    try:
        source = _source_with_helpers(fn)
    except (OSError, TypeError):  # defined where its source cannot be read: this kernel only
        return
    folder = _answers_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(_HEADER + source, encoding="utf-8")
    except OSError:
        pass


def learned(name: str):
    return _LEARNED.get(name)


# What a notebook's first cell imports, for an answer's source read back elsewhere.
_HEADER = ("import math\nimport itertools\nimport numpy as np\nimport torch\n"
           "import torch.nn as nn\nimport torch.nn.functional as F\n\n")


def _answers_dir() -> Path:
    home = os.environ.get("CONVLAB_HOME") or os.path.join(os.path.expanduser("~"), ".convlab")
    return Path(home) / "answers"


def _source_with_helpers(fn) -> str:
    """The source of ``fn`` and of the notebook functions and classes it uses."""
    seen, parts, todo = set(), [], [fn]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        parts.append(inspect.getsource(obj))
        code = getattr(obj, "__code__", None)
        names = set(code.co_names) if code else set()
        if code:
            for const in code.co_consts:
                if isinstance(const, types.CodeType):
                    names |= set(const.co_names)
        if isinstance(obj, type):
            for member in vars(obj).values():
                if isinstance(member, types.FunctionType):
                    names |= set(member.__code__.co_names)
        globals_ = getattr(obj, "__globals__", None) or vars(inspect.getmodule(obj) or types)
        for n in names:
            value = globals_.get(n)
            if isinstance(value, (types.FunctionType, type)) and value.__module__ == "__main__":
                todo.append(value)
    return "\n\n".join(reversed(parts))


def _from_earlier_notebook(name: str):
    """The answer kept by an earlier notebook, if it still passes its check here."""
    path = _answers_dir() / f"{name}.py"
    if not path.exists():
        return None
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
        from .checks import runner

        runner.check(name, namespace[name], quiet=True)
    except Exception:  # noqa: BLE001  (an old or broken answer is simply not used)
        return None
    _LEARNED[name] = namespace[name]
    return namespace[name]


def _meta(*shape):
    return torch.empty(*shape, device="meta")


def _conv_output_size(n, k, stride=1, padding=0):
    # torch's shape inference on tensors without values.
    return F.conv1d(_meta(1, 1, n), _meta(1, 1, k), stride=stride, padding=padding).shape[-1]


def _conv_transpose_output_size(n, k, stride=1, padding=0, output_padding=0, dilation=1):
    return F.conv_transpose1d(_meta(1, 1, n), _meta(1, 1, k), stride=stride, padding=padding,
                              output_padding=output_padding, dilation=dilation).shape[-1]


def _effective_kernel_size(k, dilation):
    # A length-k signal spread by a stride-`dilation` transposed conv of a 1-tap kernel.
    return F.conv_transpose1d(_meta(1, 1, k), _meta(1, 1, 1), stride=dilation).shape[-1]


def _conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    return F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)


def _conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    return F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding,
                              output_padding=output_padding, dilation=dilation)


def _corr2d(x, kernel):
    return F.conv2d(x[None, None], kernel[None, None])[0, 0]


def _im2col(x, kernel_size, stride=1, padding=0):
    return F.unfold(x, kernel_size, stride=stride, padding=padding)


def _patches(x, kernel, stride=1, dilation=1):
    # (N, C, kh, kw, Ho, Wo): every window of the (already padded) input.
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    cols = F.unfold(x, (kh, kw), stride=stride, dilation=dilation)
    n, c, h, w = x.shape
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    ho = (h - dh * (kh - 1) - 1) // sh + 1
    wo = (w - dw * (kw - 1) - 1) // sw + 1
    return cols.reshape(n, c, kh, kw, ho, wo)


def _conv_matrix(kernel, input_shape):
    # Row i of C is the output of the conv for the i-th basis image.
    h, w = input_shape
    basis = torch.eye(h * w, dtype=kernel.dtype, device=kernel.device).reshape(h * w, 1, h, w)
    return F.conv2d(basis, kernel[None, None]).reshape(h * w, -1).T


def _atrous_conv2d(value, filters, rate, padding):
    x, w = value.permute(0, 3, 1, 2), filters.permute(3, 2, 0, 1)
    same = str(padding).upper() == "SAME"
    extent = [rate * (k - 1) + 1 for k in filters.shape[:2]]
    if not same and (extent[0] > value.shape[1] or extent[1] > value.shape[2]):
        # As TensorFlow: a VALID atrous conv needs the dilated filter to fit.
        raise ValueError(f"the dilated filter {tuple(extent)} is larger than the input "
                         f"{tuple(value.shape[1:3])} (padding 'VALID')")
    return F.conv2d(x, w, padding="same" if same else 0, dilation=rate).permute(0, 2, 3, 1)


def _causal_conv1d(x, weight, bias=None, dilation=1):
    return F.conv1d(F.pad(x, ((weight.shape[2] - 1) * dilation, 0)), weight, bias, dilation=dilation)


def _conv2d_backward(x, weight, grad_out, stride=1, padding=0):
    # autograd's gradients of torch's conv2d.
    x, weight = x.detach().requires_grad_(), weight.detach().requires_grad_()
    bias = x.new_zeros(weight.shape[0]).requires_grad_()
    with torch.enable_grad():
        out = F.conv2d(x, weight, bias, stride=stride, padding=padding)
        return torch.autograd.grad(out, (x, weight, bias), grad_out)


_TORCH = {
    "conv2d": _conv2d,
    "conv_transpose2d": _conv_transpose2d,
    "patches": _patches,
    "conv_output_size": _conv_output_size,
    "conv_transpose_output_size": _conv_transpose_output_size,
    "effective_kernel_size": _effective_kernel_size,
    "corr2d": _corr2d,
    "conv2d_loops": _conv2d,
    "conv2d_im2col": _conv2d,
    "conv2d_dilated": _conv2d,
    "im2col": _im2col,
    "conv_matrix": _conv_matrix,
    "conv_transpose2d_scatter": _conv_transpose2d,
    "conv_transpose2d_via_conv": _conv_transpose2d,
    "atrous_conv2d": _atrous_conv2d,
    "conv2d_backward": _conv2d_backward,
    "causal_conv1d": _causal_conv1d,
}


def _not_done(name: str) -> str:
    from . import EXERCISES

    where = next((a for a, names in EXERCISES.items() if name in names), "the course")
    return (f"This needs your {name} (an exercise of {where}), which has not passed its check "
            f"yet. Finish it and run its check cell (in {where}), then run this cell again.")


def has_torch_op(name: str) -> bool:
    return name in _TORCH


def standin(name: str):
    """The function the student build calls where the library would call ``name``."""
    if name in _TORCH:
        impl = _TORCH[name]

        def fn(*args, **kwargs):
            return impl(*args, **kwargs)
    else:
        def fn(*args, **kwargs):
            mine = _LEARNED.get(name) or _from_earlier_notebook(name)
            if mine is None:
                raise ExerciseNotDone(_not_done(name))
            return mine(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    return fn
