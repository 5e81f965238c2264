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

__all__ = ["HIDDEN", "Draw", "call", "generator", "cases", "cpu_cases", "default_devices"]


class Draw:
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


def call(draw: Draw, required: tuple, optional: list[tuple[str, object, object]], **case) -> Case:
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


# name -> case generator; each is seeded from its name, so adding one changes no other.
# One module per assignment (convolution.py, transposed.py, ...) registers its own.
_GENERATORS: dict[str, Callable[[Draw], list[Case]]] = {}


def generator(name: str):
    """Register the decorated function as the hidden-case generator of exercise ``name``."""

    def register(fn: Callable[[Draw], list[Case]]):
        if name in _GENERATORS:
            raise ValueError(f"two hidden-case generators for {name!r}")
        _GENERATORS[name] = fn
        return fn

    return register



_SALT = 0x5EED  # change to draw a new set of hidden cases for every exercise


def cpu_cases(name: str) -> list[Case]:
    """The hidden cases of exercise ``name`` on the CPU, the same on every call."""
    if name not in _GENERATORS:
        raise KeyError(f"no hidden cases for {name!r}")
    return _GENERATORS[name](Draw(zlib.crc32(name.encode()) ^ _SALT))


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


# The generators, one module per assignment; HIDDEN is every exercise they cover.
from . import atrous, convolution, gridding, hdc, transposed  # noqa: E402,F401

HIDDEN = frozenset(_GENERATORS)
