"""The trusted grader's hidden cases: many random calls per exercise, never shown in full.

Each exercise has a generator seeded with a fixed number, so every grading run (``nbgrader
autograde``, ``convlab grade``, any machine) sees the same cases and gives the same score,
while the cases themselves are random draws, not the handful the notebooks show: an answer
fitted to the visible cases fails here.

The draws vary everything the contract lets vary: batch size, channels, non-square inputs
and kernels, stride, padding, output_padding, with and without bias, arguments passed by
position or by keyword or left at their defaults, float64 and float32 (float32 inputs are
small integers, so every correct order of summation gives the same result exactly), and a
few invalid calls that must raise ValueError. Shapes stay small (up to 2x4x12x12) so that
a correct loop-based answer runs each case in milliseconds.

CUDA: where a GPU is present, every case with tensor arguments is repeated on it.
"""
from __future__ import annotations

import random
import zlib
from typing import Callable

import torch

from convlab.checks.core import Case

__all__ = ["HIDDEN", "cases", "cpu_cases", "default_devices"]


class _Draw:
    """Random ints, choices and tensors from one seed."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)

    def int(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def choice(self, options):
        return self.rng.choice(options)

    def dtype(self) -> torch.dtype:
        return torch.float32 if self.chance(0.25) else torch.float64

    def tensor(self, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        if dtype == torch.float64:
            return torch.randn(*shape, generator=self.gen, dtype=dtype)
        # Small integers: sums of products are exact in float32, whatever the order.
        return torch.randint(-3, 4, shape, generator=self.gen).to(dtype)


def _call(draw: _Draw, required: tuple, optional: list[tuple[str, object, object]], **case) -> Case:
    """A Case calling with ``required`` positionally, then each optional (name, value,
    default): positional while the previous ones were, else by keyword, and left out now
    and then when it equals its default."""
    args, kwargs = list(required), {}
    positional = draw.chance(0.3)
    for name, value, default in optional:
        if value is default or (isinstance(value, int) and not isinstance(value, bool) and value == default):
            if draw.chance(0.6):
                positional = False  # skipped: later arguments must be keywords
                continue
        if positional:
            args.append(value)
        else:
            kwargs[name] = value
    return Case(tuple(args), kwargs, **case)


# --- sizes ------------------------------------------------------------------------------

def _conv_output_size(draw: _Draw) -> list[Case]:
    cases = []
    while len(cases) < 26:
        n, k, s, p = draw.int(1, 40), draw.int(1, 9), draw.int(1, 5), draw.int(0, 4)
        if k <= n + 2 * p:
            cases.append(_call(draw, (n, k), [("stride", s, 1), ("padding", p, 0)]))
    for _ in range(4):
        n, p = draw.int(1, 6), draw.int(0, 1)
        k = n + 2 * p + draw.int(1, 3)
        cases.append(_call(draw, (n, k), [("stride", draw.int(1, 3), 1), ("padding", p, 0)],
                           raises=ValueError, note="kernel larger than the padded input"))
    return cases


def _conv_transpose_output_size(draw: _Draw) -> list[Case]:
    cases = []
    while len(cases) < 26:
        n, k, s, d = draw.int(1, 12), draw.int(1, 6), draw.int(1, 4), draw.choice([1, 1, 2, 3])
        op = draw.int(0, max(s, d) - 1)
        p = draw.int(0, 3)
        if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1:
            cases.append(_call(draw, (n, k), [("stride", s, 1), ("padding", p, 0),
                                              ("output_padding", op, 0), ("dilation", d, 1)]))
    for _ in range(3):
        s, d = draw.int(1, 3), draw.int(1, 2)
        cases.append(Case((draw.int(2, 6), draw.int(1, 4)),
                          {"stride": s, "output_padding": max(s, d) + draw.int(0, 1), "dilation": d},
                          raises=ValueError, note="output_padding not smaller than stride or dilation"))
    cases.append(Case((1, 2), {"padding": 2}, raises=ValueError, note="padding crops the whole output"))
    return cases


def _keras_deconv_output_length(draw: _Draw) -> list[Case]:
    cases = []
    for _ in range(28):
        length = None if draw.chance(0.1) else draw.int(1, 16)
        padding = draw.choice(["same", "valid", "full"])
        output_padding = None if draw.chance(0.5) else draw.int(0, 2)
        cases.append(_call(draw, (length, draw.int(1, 6), padding, draw.int(1, 4)),
                           [("output_padding", output_padding, None),
                            ("dilation", draw.choice([1, 1, 2, 3]), 1)]))
    for mode in ("causal", "SAMEISH"):
        cases.append(Case((draw.int(2, 8), 3, mode, 2), raises=ValueError, note="unknown padding mode"))
    return cases


def _overlap_counts(draw: _Draw) -> list[Case]:
    cases = [Case((draw.int(1, 7), draw.int(1, 4), draw.int(1, 9))) for _ in range(20)]
    cases += [Case((0, 2, 4), raises=ValueError, note="kernel size must be >= 1"),
              Case((3, 0, 4), raises=ValueError, note="stride must be >= 1")]
    return cases


# --- standard convolution ---------------------------------------------------------------

def _corr2d(draw: _Draw) -> list[Case]:
    cases = []
    for i in range(22):
        h, w = draw.int(1, 12), draw.int(1, 12)
        kh, kw = draw.int(1, min(h, 5)), draw.int(1, min(w, 5))
        if i % 7 == 6:
            kh, kw = h, w  # one window: a single output value
        dtype = draw.dtype()
        cases.append(Case((draw.tensor(h, w, dtype=dtype), draw.tensor(kh, kw, dtype=dtype))))
    for _ in range(3):
        h, w = draw.int(2, 6), draw.int(2, 6)
        big = (h + draw.int(1, 2), draw.int(1, w)) if draw.chance(0.5) else (draw.int(1, h), w + 1)
        cases.append(Case((draw.tensor(h, w), draw.tensor(*big)), raises=ValueError,
                          note="kernel larger than the input"))
    return cases


def _conv2d_cases(draw: _Draw, count: int) -> list[Case]:
    """Batched multi-channel conv2d calls: (x, weight, bias=None, stride=1, padding=0)."""
    cases = []
    while len(cases) < count:
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 4), draw.int(1, 4)
        h, w = draw.int(3, 12), draw.int(3, 12)
        kh, kw = draw.int(1, 5), draw.int(1, 5)
        stride, padding = draw.choice([1, 1, 2, 3]), draw.choice([0, 0, 1, 2])
        if kh > h + 2 * padding or kw > w + 2 * padding:
            continue
        dtype = draw.dtype()
        bias = draw.tensor(c_out, dtype=dtype) if draw.chance(0.5) else None
        cases.append(_call(draw, (draw.tensor(n, c_in, h, w, dtype=dtype), draw.tensor(c_out, c_in, kh, kw, dtype=dtype)),
                           [("bias", bias, None), ("stride", stride, 1), ("padding", padding, 0)]))
    for _ in range(2):
        h, w = draw.int(2, 5), draw.int(2, 5)
        c_in = draw.int(1, 3)
        cases.append(Case((draw.tensor(1, c_in, h, w), draw.tensor(2, c_in, h + 1, w)),
                          raises=ValueError, note="kernel larger than the input"))
    return cases


def _im2col(draw: _Draw) -> list[Case]:
    cases = []
    while len(cases) < 22:
        n, c, h, w = draw.int(1, 2), draw.int(1, 4), draw.int(2, 12), draw.int(2, 12)
        kh, kw = draw.int(1, 4), draw.int(1, 4)
        stride, padding = draw.choice([1, 1, 2, 3]), draw.choice([0, 0, 1, 2])
        if kh > h + 2 * padding or kw > w + 2 * padding:
            continue
        kernel_size = kh if kh == kw and draw.chance(0.5) else (kh, kw)
        cases.append(_call(draw, (draw.tensor(n, c, h, w, dtype=draw.dtype()), kernel_size),
                           [("stride", stride, 1), ("padding", padding, 0)]))
    cases.append(Case((draw.tensor(1, 2, 3, 4), (4, 2)), raises=ValueError, note="kernel taller than the input"))
    cases.append(Case((draw.tensor(2, 1, 3, 3), 5), {"padding": 0}, raises=ValueError,
                      note="kernel larger than the input"))
    return cases


# --- transposed convolution -------------------------------------------------------------

def _conv_matrix(draw: _Draw) -> list[Case]:
    cases = []
    for _ in range(18):
        h, w = draw.int(1, 7), draw.int(1, 7)
        kh, kw = draw.int(1, h), draw.int(1, w)
        cases.append(Case((draw.tensor(kh, kw, dtype=draw.dtype()), (h, w))))
    cases.append(Case((draw.tensor(3, 2), (2, 4)), raises=ValueError, note="kernel taller than the input"))
    cases.append(Case((draw.tensor(2, 5), (3, 4)), raises=ValueError, note="kernel wider than the input"))
    return cases


def _transposed_cases(draw: _Draw, count: int) -> list[Case]:
    """(x, weight, bias=None, stride=1, padding=0, output_padding=0), weight (C_in, C_out, kh, kw)."""
    cases = []
    while len(cases) < count:
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 3), draw.int(1, 3)
        h, w = draw.int(1, 6), draw.int(1, 6)
        kh, kw = draw.int(1, 4), draw.int(1, 4)
        stride = draw.choice([1, 2, 2, 3])
        padding = draw.choice([0, 0, 1, 2])
        output_padding = draw.int(0, stride - 1)
        if min((h - 1) * stride + kh, (w - 1) * stride + kw) + output_padding - 2 * padding < 1:
            continue
        dtype = draw.dtype()
        bias = draw.tensor(c_out, dtype=dtype) if draw.chance(0.5) else None
        cases.append(_call(draw, (draw.tensor(n, c_in, h, w, dtype=dtype), draw.tensor(c_in, c_out, kh, kw, dtype=dtype)),
                           [("bias", bias, None), ("stride", stride, 1), ("padding", padding, 0),
                            ("output_padding", output_padding, 0)]))
    stride = draw.int(1, 3)
    cases.append(Case((draw.tensor(1, 2, 3, 3), draw.tensor(2, 2, 3, 3)),
                      {"stride": stride, "output_padding": stride}, raises=ValueError,
                      note="output_padding must be smaller than the stride"))
    return cases


def _insert_zeros(draw: _Draw) -> list[Case]:
    cases = [Case((draw.tensor(draw.int(1, 2), draw.int(1, 4), draw.int(1, 8), draw.int(1, 8),
                               dtype=draw.dtype()), draw.int(1, 4))) for _ in range(20)]
    cases.append(Case((draw.tensor(1, 2, 3, 3), 0), raises=ValueError, note="stride must be >= 1"))
    cases.append(Case((draw.tensor(3, 4), 2), raises=ValueError, note="x must be (N, C, H, W)"))
    return cases


# name -> case generator; each is seeded from its name, so adding one changes no other.
_GENERATORS: dict[str, Callable[[_Draw], list[Case]]] = {
    "conv_output_size": _conv_output_size,
    "corr2d": _corr2d,
    "conv2d_loops": lambda draw: _conv2d_cases(draw, 22),
    "im2col": _im2col,
    "conv2d_im2col": lambda draw: _conv2d_cases(draw, 22),
    "conv_transpose_output_size": _conv_transpose_output_size,
    "conv_matrix": _conv_matrix,
    "conv_transpose2d_scatter": lambda draw: _transposed_cases(draw, 21),
    "insert_zeros": _insert_zeros,
    "conv_transpose2d_via_conv": lambda draw: _transposed_cases(draw, 21),
    "keras_deconv_output_length": _keras_deconv_output_length,
    "overlap_counts": _overlap_counts,
}

HIDDEN = frozenset(_GENERATORS)

_SALT = 0x5EED  # change to draw a new set of hidden cases for every exercise


def cpu_cases(name: str) -> list[Case]:
    """The hidden cases of exercise ``name`` on the CPU, the same on every call."""
    if name not in _GENERATORS:
        raise KeyError(f"no hidden cases for {name!r}")
    return _GENERATORS[name](_Draw(zlib.crc32(name.encode()) ^ _SALT))


def default_devices() -> list[str]:
    """Where hidden cases run: the CPU, and the GPU when there is one."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _has_tensor(case: Case) -> bool:
    values = list(case.args) + list(case.kwargs.values())
    return any(isinstance(v, torch.Tensor) for v in values)


def cases(name: str, devices=None) -> list[Case]:
    """The CPU cases, then each case with tensor arguments again on every other device."""
    base = cpu_cases(name)
    result = list(base)
    for device in devices if devices is not None else default_devices():
        if device != "cpu":
            result += [case.to(device) for case in base if _has_tensor(case)]
    return result
