"""Receptive fields: how much of the input one output unit can see.

``receptive_field`` is the closed form; ``dependency_map`` counts the paths through a
stack of dilated convs, which shows *which* pixels inside that field are seen and how
often (the gridding effect); ``effective_receptive_field`` measures it by autograd.
"""
from __future__ import annotations

import numpy as np
import torch

from .shapes import check_int, check_rates

__all__ = [
    "receptive_field",
    "dependency_map",
    "coverage",
    "has_gridding",
    "shared_inputs",
    "effective_receptive_field",
]


def receptive_field(layers) -> int:
    """Receptive-field size of one output unit of a stack of (kernel_size, stride, dilation) layers.

    r = 1 + sum_i d_i (k_i - 1) * prod_{j<i} s_j: each layer widens the field by its
    effective kernel extent, measured in input pixels (the product of earlier strides).
    """
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(f"layers must be a list of (kernel_size, stride, dilation), got {layers!r}")
    size, jump = 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 3:
            raise ValueError(f"layer {index} must be (kernel_size, stride, dilation), got {layer!r}")
        k, s, d = layer
        k = check_int(k, f"layer {index} kernel_size", 1)
        s = check_int(s, f"layer {index} stride", 1)
        d = check_int(d, f"layer {index} dilation", 1)
        size += d * (k - 1) * jump
        jump *= s
    return size


def _check_rates(rates, kernel_size):
    return check_rates(rates), check_int(kernel_size, "kernel_size", 1)


def _paths_1d(rates, kernel_size) -> np.ndarray:
    # Paths factor over the two axes: all-ones kernels are outer products of 1-D ones.
    paths = np.ones(1, dtype=np.int64)
    for rate in rates:
        taps = np.zeros(rate * (kernel_size - 1) + 1, dtype=np.int64)
        taps[::rate] = 1
        paths = np.convolve(paths, taps)
    return paths


def dependency_map(rates, kernel_size: int = 3) -> torch.Tensor:
    """(R, R) int64 path counts from each input pixel to the centre output of a stack of
    stride-1 k x k convs with these dilations, all-ones weights; R = 1 + (k-1)*sum(rates)."""
    rates, kernel_size = _check_rates(rates, kernel_size)
    paths = _paths_1d(rates, kernel_size)
    return torch.from_numpy(np.outer(paths, paths))


def coverage(rates, kernel_size: int = 3) -> float:
    """Fraction of the R x R receptive field that reaches the centre output at all."""
    reached = dependency_map(rates, kernel_size) > 0
    return reached.sum().item() / reached.numel()


def has_gridding(rates, kernel_size: int = 3) -> bool:
    """True where some pixel inside the receptive field is never reached (a hole)."""
    return bool((dependency_map(rates, kernel_size) == 0).any())


def shared_inputs(rates, kernel_size: int = 3, offset: int = 1) -> int:
    """Input pixels that two outputs ``offset`` apart in the same row both depend on."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise ValueError(f"offset must be an int, got {offset!r}")
    offset = abs(offset)  # two outputs offset apart, whichever is on the left
    reached = dependency_map(rates, kernel_size) > 0
    if offset >= reached.shape[1]:
        return 0
    return int((reached[:, offset:] & reached[:, : reached.shape[1] - offset]).sum())


def effective_receptive_field(model: torch.nn.Module, input_shape) -> torch.Tensor:
    """Gradient of the centre output w.r.t. an all-ones input, abs, summed over channels,
    normalised to sum 1 (Luo et al., 2016). ``input_shape`` is (C, H, W)."""
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}")
    c, h, w = (check_int(v, "input_shape", 1) for v in input_shape)
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        kwargs = {} if param is None else {"dtype": param.dtype, "device": param.device}
        x = torch.ones(1, c, h, w, requires_grad=True, **kwargs)
        out = model(x)
        if out.dim() != 4:
            raise ValueError(f"model must return (N, C, H, W), got shape {tuple(out.shape)}")
        ho, wo = out.shape[2:]
        centre = out[0, :, ho // 2, wo // 2].sum()
        # autograd.grad, not backward(): the model's parameter .grad stay untouched.
        (grad,) = (
            torch.autograd.grad(centre, x, allow_unused=True) if centre.requires_grad else (None,)
        )
    finally:
        model.train(was_training)
    if grad is None or not grad.any():
        raise ValueError("the centre output does not depend on the input (zero gradient)")
    grad = grad[0].abs().sum(0)
    return grad / grad.sum()
