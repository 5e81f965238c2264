"""Assignment 01: standard convolution, naive first, then vectorized.

``corr2d`` and ``conv2d_loops`` are the loop versions students write first;
``im2col`` + ``conv2d_im2col`` are the vectorized versions with the same interface.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ops import check_bias, check_input, conv2d, patches
from .shapes import as_pair, conv_output_size

__all__ = ["corr2d", "conv2d_loops", "im2col", "conv2d_im2col", "conv_output_size"]


def corr2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid 2-D cross-correlation of x (H, W) by kernel (kh, kw): no flip, no padding."""
    if not isinstance(x, torch.Tensor) or not isinstance(kernel, torch.Tensor):
        raise ValueError("x and kernel must be torch.Tensors")
    if x.dim() != 2 or kernel.dim() != 2:
        raise ValueError(f"x and kernel must be 2-D, got {tuple(x.shape)} and {tuple(kernel.shape)}")
    h, w = x.shape
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError(f"kernel {tuple(kernel.shape)} is larger than the input {tuple(x.shape)}")
    out = x.new_zeros((h - kh + 1, w - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (x[i : i + kh, j : j + kw] * kernel).sum()
    return out


def conv2d_loops(x, weight, bias=None, stride=1, padding=0):
    """Batched multi-channel conv2d, one output position at a time."""
    unbatched = check_input(x, weight, in_channel_dim=1)
    if unbatched:
        x = x.unsqueeze(0)
    c_out, _, kh, kw = weight.shape
    check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    n, _, h, w = x.shape
    ho = conv_output_size(h, kh, sh, ph)
    wo = conv_output_size(w, kw, sw, pw)
    x = F.pad(x, (pw, pw, ph, ph))
    out = x.new_zeros((n, c_out, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (N, C, kh, kw)
            out[:, :, i, j] = torch.tensordot(window, weight, dims=([1, 2, 3], [1, 2, 3]))
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out[0] if unbatched else out


def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0) -> torch.Tensor:
    """Every receptive field as a column: (N, C*kh*kw, L), the layout of ``F.unfold``.

    Row index is c*kh*kw + i*kw + j (channel-major); column index is y*Wo + x.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a 4-D (N, C, H, W) tensor, got {shape}")
    kh, kw = as_pair(kernel_size, "kernel_size", 1)
    ph, pw = as_pair(padding, "padding", 0)
    n, c = x.shape[:2]
    x = F.pad(x, (pw, pw, ph, ph))
    cols = patches(x, (kh, kw), stride)  # (N, C, kh, kw, Ho, Wo)
    return cols.reshape(n, c * kh * kw, -1)


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    """conv2d as im2col followed by one matrix product."""
    unbatched = check_input(x, weight, in_channel_dim=1)
    if unbatched:
        x = x.unsqueeze(0)
    c_out, _, kh, kw = weight.shape
    check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    n, _, h, w = x.shape
    ho = conv_output_size(h, kh, sh, ph)
    wo = conv_output_size(w, kw, sw, pw)
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw))  # (N, C*kh*kw, L)
    out = weight.reshape(c_out, -1) @ cols  # (N, C_out, L)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    out = out.reshape(n, c_out, ho, wo)
    return out[0] if unbatched else out


# The vectorized twin every loop version is tested against.
conv2d_reference = conv2d
