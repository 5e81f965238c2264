"""Assignment 02: transposed convolution, three ways that agree.

* as a matrix: ``conv_matrix`` C, so that conv is C @ x and transposed conv is C.T @ y;
* as a scatter: every input pixel adds value * kernel into the output;
* as a convolution: insert zeros, pad, convolve with the flipped, channel-swapped kernel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .ops import check_bias, check_input, conv2d
from .shapes import as_pair, check_int, conv_output_size, conv_transpose_output_size

__all__ = [
    "conv_matrix",
    "conv_transpose2d_scatter",
    "insert_zeros",
    "conv_transpose2d_via_conv",
    "overlap_counts",
    "conv2d_backward",
]


def conv_matrix(kernel: torch.Tensor, input_shape) -> torch.Tensor:
    """The (Ho*Wo, H*W) matrix C with corr2d(x, kernel).flatten() == C @ x.flatten()."""
    if not isinstance(kernel, torch.Tensor) or kernel.dim() != 2:
        raise ValueError("kernel must be a 2-D (kh, kw) tensor")
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 2:
        raise ValueError(f"input_shape must be (H, W), got {input_shape!r}")
    h, w = (check_int(v, "input_shape", 1) for v in input_shape)
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError(f"kernel {tuple(kernel.shape)} is larger than the input ({h}, {w})")
    ho, wo = h - kh + 1, w - kw + 1
    matrix = kernel.new_zeros((ho * wo, h * w))
    for i in range(ho):
        for j in range(wo):
            row = matrix[i * wo + j].view(h, w)
            row[i : i + kh, j : j + kw] = kernel
    return matrix


def conv_transpose2d_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """Transposed conv as a scatter: input pixel (y, x) adds x[y, x] * weight at (y*s, x*s)."""
    unbatched = check_input(x, weight, in_channel_dim=0)
    if unbatched:
        x = x.unsqueeze(0)
    c_in, c_out, kh, kw = weight.shape
    check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    oph, opw = as_pair(output_padding, "output_padding", 0)
    n, _, h, w = x.shape
    out_h = conv_transpose_output_size(h, kh, sh, ph, oph)
    out_w = conv_transpose_output_size(w, kw, sw, pw, opw)
    full = x.new_zeros((n, c_out, out_h + 2 * ph, out_w + 2 * pw))
    for i in range(h):
        for j in range(w):
            # (N, C_in) x (C_in, C_out, kh, kw) -> (N, C_out, kh, kw)
            contribution = torch.tensordot(x[:, :, i, j], weight, dims=1)
            full[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += contribution
    out = full[:, :, ph : ph + out_h, pw : pw + out_w]
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out[0] if unbatched else out


def insert_zeros(x: torch.Tensor, stride) -> torch.Tensor:
    """Put stride-1 zeros between neighbouring pixels: (N, C, (H-1)s+1, (W-1)s+1)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError("x must be a 4-D (N, C, H, W) tensor")
    sh, sw = as_pair(stride, "stride", 1)
    n, c, h, w = x.shape
    out = x.new_zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1))
    out[:, :, ::sh, ::sw] = x
    return out


def conv_transpose2d_via_conv(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """Transposed conv as a direct conv: zeros inserted, padded by k-1-p (plus output_padding
    at the bottom/right; negative padding crops), then a stride-1 conv with the kernel
    flipped in space and its channel axes swapped."""
    unbatched = check_input(x, weight, in_channel_dim=0)
    if unbatched:
        x = x.unsqueeze(0)
    c_in, c_out, kh, kw = weight.shape
    check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    oph, opw = as_pair(output_padding, "output_padding", 0)
    # Validates output_padding and the cropped size with the contract's formula.
    conv_transpose_output_size(x.shape[2], kh, sh, ph, oph)
    conv_transpose_output_size(x.shape[3], kw, sw, pw, opw)
    z = insert_zeros(x, (sh, sw))
    top, left = kh - 1 - ph, kw - 1 - pw
    z = F.pad(z, (left, left + opw, top, top + oph))
    flipped = weight.flip(2, 3).transpose(0, 1)  # (C_out, C_in, kh, kw)
    out = conv2d(z, flipped, bias)
    return out[0] if unbatched else out


def overlap_counts(k: int, stride: int, n: int) -> torch.Tensor:
    """How many kernel taps land on each output position of a 1-D transposed conv.

    Length (n-1)s + k. Uneven counts (k not divisible by s) are the checkerboard
    artifacts of Odena et al. (2016)."""
    k = check_int(k, "kernel size k", 1)
    stride = check_int(stride, "stride", 1)
    n = check_int(n, "input length n", 1)
    starts = torch.arange(n) * stride  # where each input pixel's kernel lands
    taps = (starts[:, None] + torch.arange(k)[None, :]).flatten()
    return torch.bincount(taps, minlength=(n - 1) * stride + k).to(torch.int64)


def conv2d_backward(x, weight, grad_out, stride=1, padding=0):
    """The gradients of ``conv2d(x, weight, bias, stride, padding)`` given ``grad_out``.

    Returns (grad_x, grad_weight, grad_bias), equal to autograd's:

    * grad_x is the transposed convolution of grad_out with the same weight (its
      (C_out, C_in) axes are a transposed conv's (C_in, C_out)): the conv
      matrix C maps x to the output, so dL/dx = C.T @ dL/dy. ``output_padding`` restores
      the rows and columns that the forward stride skipped at the bottom/right, so grad_x
      has x's shape;
    * grad_weight[o, c] correlates the padded x[:, c] with grad_out[:, o] spread s apart
      (the forward's taps read x at y*s + i), one kernel tap at a time;
    * grad_bias[o] is grad_out[:, o] summed over N, H and W.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError("x must be a 4-D (N, C, H, W) tensor")
    check_input(x, weight, in_channel_dim=1)
    if not isinstance(grad_out, torch.Tensor):
        raise ValueError("grad_out must be a torch.Tensor")
    c_out, _, kh, kw = weight.shape
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    n, _, h, w = x.shape
    ho, wo = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    if tuple(grad_out.shape) != (n, c_out, ho, wo):
        raise ValueError(
            f"grad_out must have conv2d's output shape {(n, c_out, ho, wo)}, got {tuple(grad_out.shape)}"
        )
    if grad_out.dtype != x.dtype or grad_out.device != x.device:
        raise ValueError(f"grad_out is {grad_out.dtype} on {grad_out.device}, x is {x.dtype} on {x.device}")
    # The forward's last window ends (h + 2p - k) mod s rows before the padded input does.
    oph, opw = (h + 2 * ph - kh) % sh, (w + 2 * pw - kw) % sw
    grad_x = conv_transpose2d_via_conv(grad_out, weight, None, (sh, sw), (ph, pw), (oph, opw))
    # One product per kernel tap (a fixed count, whatever the input's size): tap (i, j)
    # met padded input pixel (y*s + i, x*s + j) at output (y, x).
    xp = F.pad(x, (pw, pw, ph, ph))
    rows, cols = sh * (ho - 1) + 1, sw * (wo - 1) + 1
    taps = [torch.einsum("nohw,nchw->oc", grad_out, xp[:, :, i:i + rows:sh, j:j + cols:sw])
            for i in range(kh) for j in range(kw)]
    grad_weight = torch.stack(taps, dim=-1).reshape(weight.shape)
    grad_bias = grad_out.sum((0, 2, 3))
    return grad_x, grad_weight, grad_bias
