"""Assignment 03: atrous (dilated) convolution.

Two routes to the same numbers: dilate the kernel (holes between taps) and run a
plain conv, or keep the kernel and rearrange the input (space_to_batch), which is how
TensorFlow's ``atrous_conv2d`` does it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ops import conv2d
from .shapes import as_pair, check_int, check_rates, effective_kernel_size, tf_same_padding

__all__ = [
    "effective_kernel_size",
    "dilate_kernel",
    "conv2d_dilated",
    "space_to_batch",
    "batch_to_space",
    "atrous_conv2d",
    "causal_conv1d",
    "wavenet_receptive_field",
]


def dilate_kernel(weight: torch.Tensor, dilation) -> torch.Tensor:
    """Insert dilation-1 zeros between the taps of (O, I, kh, kw): (O, I, d(kh-1)+1, d(kw-1)+1)."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise ValueError("weight must be a 4-D (O, I, kh, kw) tensor")
    dh, dw = as_pair(dilation, "dilation", 1)
    o, i, kh, kw = weight.shape
    out = weight.new_zeros((o, i, dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    out[:, :, ::dh, ::dw] = weight
    return out


def conv2d_dilated(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``F.conv2d`` with dilation: taps dilation apart, output d(k-1)+1 wide receptive field."""
    return conv2d(x, weight, bias, stride, padding, dilation)


def _check_nchw(x, rate):
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError("x must be a 4-D (N, C, H, W) tensor")
    return check_int(rate, "rate", 1)


def space_to_batch(x: torch.Tensor, rate: int) -> torch.Tensor:
    """Split each image into rate*rate phases: out[(i*rate + j)*N + n] = x[n, :, i::rate, j::rate]."""
    rate = _check_nchw(x, rate)
    n, c, h, w = x.shape
    if h % rate or w % rate:
        raise ValueError(f"height {h} and width {w} must be divisible by rate {rate}")
    # (N, C, H/r, r_i, W/r, r_j) -> (r_i, r_j, N, C, H/r, W/r)
    phases = x.reshape(n, c, h // rate, rate, w // rate, rate).permute(3, 5, 0, 1, 2, 4)
    return phases.reshape(rate * rate * n, c, h // rate, w // rate)


def batch_to_space(x: torch.Tensor, rate: int) -> torch.Tensor:
    """Inverse of ``space_to_batch``: (rate*rate*N, C, h, w) -> (N, C, h*rate, w*rate)."""
    rate = _check_nchw(x, rate)
    b, c, h, w = x.shape
    if b % (rate * rate):
        raise ValueError(f"batch {b} must be divisible by rate*rate = {rate * rate}")
    n = b // (rate * rate)
    phases = x.reshape(rate, rate, n, c, h, w).permute(2, 3, 4, 0, 5, 1)
    return phases.reshape(n, c, h * rate, w * rate)


def atrous_conv2d(value: torch.Tensor, filters: torch.Tensor, rate: int, padding: str) -> torch.Tensor:
    """``tf.nn.atrous_conv2d``: value (N, H, W, C_in), filters (kh, kw, C_in, C_out), NHWC out.

    The input is padded (SAME: TensorFlow's split, odd pixel after; VALID: none), padded
    further so both sides divide by ``rate``, split into rate*rate phases, convolved with
    the undilated filter, and reassembled; the extra rows and columns are dropped.
    """
    rate = check_int(rate, "rate", 1)
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise ValueError(f"unknown padding mode {padding!r}; expected 'SAME' or 'VALID'")
    if not isinstance(value, torch.Tensor) or value.dim() != 4:
        raise ValueError("value must be a 4-D (N, H, W, C) tensor")
    if not isinstance(filters, torch.Tensor) or filters.dim() != 4:
        raise ValueError("filters must be a 4-D (kh, kw, C_in, C_out) tensor")
    if filters.shape[2] != value.shape[3]:
        raise ValueError(
            f"value has {value.shape[3]} channels but filters {tuple(filters.shape)} expect {filters.shape[2]}"
        )
    kh, kw = filters.shape[:2]
    _, h, w, _ = value.shape
    if padding.upper() == "SAME":
        top, bottom = tf_same_padding(h, kh, 1, rate)
        left, right = tf_same_padding(w, kw, 1, rate)
    else:
        ekh, ekw = effective_kernel_size(kh, rate), effective_kernel_size(kw, rate)
        if ekh > h or ekw > w:
            raise ValueError(
                f"VALID: the dilated filter ({ekh}, {ekw}) (size ({kh}, {kw}), rate {rate}) "
                f"does not fit the input ({h}, {w})"
            )
        top = bottom = left = right = 0
    x = value.permute(0, 3, 1, 2)
    hp, wp = h + top + bottom, w + left + right
    out_h = hp - effective_kernel_size(kh, rate) + 1
    out_w = wp - effective_kernel_size(kw, rate) + 1
    extra_h, extra_w = -hp % rate, -wp % rate
    x = F.pad(x, (left, right + extra_w, top, bottom + extra_h))
    weight = filters.permute(3, 2, 0, 1)  # HWIO -> OIHW
    out = batch_to_space(conv2d(space_to_batch(x, rate), weight), rate)
    return out[:, :, :out_h, :out_w].permute(0, 2, 3, 1)


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias=None, dilation: int = 1) -> torch.Tensor:
    """WaveNet's dilated causal convolution of x (N, C_in, L) by weight (C_out, C_in, k).

    Output t sees inputs t, t-d, ..., t-(k-1)d only, never a later one: the input gets
    (k-1)d zeros on the LEFT, none on the right, so the output keeps the length L. As in
    F.conv1d, weight[..., k-1] meets x[t] and weight[..., 0] meets x[t - (k-1)d].
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        raise ValueError(f"x must be a 3-D (N, C_in, L) tensor, got {_shape(x)}")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 3:
        raise ValueError(f"weight must be a 3-D (C_out, C_in, k) tensor, got {_shape(weight)}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but weight {tuple(weight.shape)} expects {weight.shape[1]}")
    dilation = check_int(dilation, "dilation", 1)
    left = dilation * (weight.shape[2] - 1)
    # A 1-row image and a 1-row kernel: the 2-D op does the taps.
    out = conv2d(F.pad(x, (left, 0))[:, :, None], weight[:, :, None], bias, dilation=(1, dilation))
    return out[:, :, 0]


def _shape(value):
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def wavenet_receptive_field(kernel_size: int, rates, stacks: int = 1) -> int:
    """Receptive field of ``stacks`` repetitions of causal layers with these dilations:
    each layer reaches (k-1)d further back, so 1 + stacks * (k-1) * sum(rates)
    (WaveNet: k = 2, rates 1, 2, ..., 512: 1024 samples per stack)."""
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    rates = check_rates(rates)
    stacks = check_int(stacks, "stacks", 1)
    return 1 + stacks * (kernel_size - 1) * sum(rates)
