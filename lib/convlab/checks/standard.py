"""Checks for assignment 01: standard convolution."""
from __future__ import annotations

import torch

import convlab
from .core import Case, Exercise, Mistake, register

A = "01_convolution"


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """Reproducible float64 test data."""
    return torch.randn(*shape, generator=_gen(seed), dtype=dtype)


# --- conv_output_size -------------------------------------------------------------

register(Exercise(
    name="conv_output_size",
    assignment=A,
    reference=convlab.conv_output_size,
    returns="int",
    visible_cases=lambda: [
        Case((5, 3)),
        Case((7, 3), {"stride": 2}),
        Case((6, 3), {"stride": 2, "padding": 1}, note="stride does not divide evenly: floor"),
        Case((5, 4), {"stride": 1, "padding": 2}),
        Case((2, 5), {"padding": 0}, raises=ValueError, note="kernel larger than the padded input"),
    ],
    mistakes=[
        Mistake("forgot the +1", "The first window also counts: floor((n + 2p - k) / s) + 1.",
                lambda n, k, stride=1, padding=0: (n + 2 * padding - k) // stride),
        Mistake("padding counted on one side only", "Padding p is added on both sides: n + 2p.",
                lambda n, k, stride=1, padding=0: (n + padding - k) // stride + 1),
        Mistake("rounded up instead of down", "A window that would run past the edge is dropped: use floor.",
                lambda n, k, stride=1, padding=0: -(-(n + 2 * padding - k) // stride) + 1),
        Mistake("stride ignored", "Divide by the stride: consecutive windows start s pixels apart.",
                lambda n, k, stride=1, padding=0: n + 2 * padding - k + 1),
    ],
))


# --- corr2d -----------------------------------------------------------------------

register(Exercise(
    name="corr2d",
    assignment=A,
    reference=convlab.corr2d,
    forbidden=("conv", "unfold"),
    visible_cases=lambda: [
        Case((torch.arange(9.0, dtype=torch.float64).reshape(3, 3),
              torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)), note="d2l's example"),
        Case((randn(5, 7, seed=1), randn(2, 3, seed=2)), note="non-square input and kernel"),
        Case((randn(4, 4, seed=3), randn(4, 4, seed=4)), note="kernel as large as the input"),
    ],
    mistakes=[
        Mistake("kernel flipped (that is true convolution)",
                "Deep-learning 'convolution' is cross-correlation: slide the kernel as it is.",
                lambda x, kernel: convlab.corr2d(x, kernel.flip(0, 1))),
        Mistake("size formula off by one (last row and column missing)",
                "The output is (H - kh + 1, W - kw + 1): range(H - kh + 1) includes the last window.",
                lambda x, kernel: convlab.corr2d(x, kernel)[:-1, :-1]),
    ],
))
