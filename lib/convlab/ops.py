"""General 2-D convolution ops with ``torch.nn.functional`` semantics.

Built from tensor primitives only, never torch's convolution ops or unfold:

* ``conv2d``: one matrix product per kernel tap, each reading a shifted slice of one
  channels-last copy of the padded input (split into stride phases), accumulated.
* ``conv_transpose2d``: the same per output stride phase, then the phases interleaved.

Both loop over kernel taps and stride phases only (never over N, H or W).

Both accept ints or (h, w) pairs, batched (N, C, H, W) or unbatched (C, H, W) input,
are differentiable, and return the input's dtype and device.
"""
from __future__ import annotations

import torch

from .shapes import as_pair, conv_transpose_output_size, same_padding

__all__ = ["conv2d", "conv_transpose2d", "patches", "check_input", "check_bias"]


def check_input(x: torch.Tensor, weight: torch.Tensor, in_channel_dim: int) -> bool:
    """Validate a conv input / weight pair; return True when ``x`` is unbatched (C, H, W)."""
    if not isinstance(x, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise ValueError("x and weight must be torch.Tensors")
    if x.dim() not in (3, 4):
        raise ValueError(f"x must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if weight.dim() != 4 or min(weight.shape[2:]) < 1:
        raise ValueError(f"weight must be 4-D with a kernel of at least 1x1, got shape {tuple(weight.shape)}")
    channels = x.shape[-3]
    if weight.shape[in_channel_dim] != channels:
        raise ValueError(
            f"x has {channels} channels but weight {tuple(weight.shape)} expects "
            f"{weight.shape[in_channel_dim]} (dim {in_channel_dim} of the weight)"
        )
    if x.dtype != weight.dtype:
        raise ValueError(f"x is {x.dtype} but weight is {weight.dtype}")
    if x.device != weight.device:
        raise ValueError(f"x is on {x.device} but weight is on {weight.device}")
    return x.dim() == 3


def check_bias(bias, out_channels: int, x: torch.Tensor) -> None:
    if bias is None:
        return
    if not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (out_channels,):
        shape = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
        raise ValueError(f"bias must have shape ({out_channels},), got {shape}")
    if bias.dtype != x.dtype or bias.device != x.device:
        raise ValueError(f"bias is {bias.dtype} on {bias.device}, x is {x.dtype} on {x.device}")


def _resolve_padding(padding, kernel, stride, dilation):
    """Return (top, bottom, left, right) for an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is only supported with stride 1")
            top, bottom = same_padding(kernel[0], dilation[0])
            left, right = same_padding(kernel[1], dilation[1])
            return (top, bottom, left, right)
        raise ValueError(f"unknown padding mode {padding!r}; expected an int, a pair, 'valid' or 'same'")
    ph, pw = as_pair(padding, "padding", 0)
    return (ph, ph, pw, pw)


def _kernel_extent(kernel, dilation, padded_hw):
    (kh, kw), (dh, dw), (h, w) = kernel, dilation, padded_hw
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if ekh > h or ekw > w:
        raise ValueError(
            f"kernel of extent ({ekh}, {ekw}) (size ({kh}, {kw}), dilation ({dh}, {dw})) "
            f"is larger than the padded input ({h}, {w})"
        )
    return ekh, ekw


def patches(x: torch.Tensor, kernel, stride=1, dilation=1) -> torch.Tensor:
    """View of every kernel-sized window of an (N, C, H, W) tensor, no copy.

    Returns shape (N, C, kh, kw, Ho, Wo): element [n, c, i, j, y, x] is
    x[n, c, y*sh + i*dh, x*sw + j*dw]. ``x`` is taken as already padded.
    """
    kh, kw = as_pair(kernel, "kernel_size", 1)
    sh, sw = as_pair(stride, "stride", 1)
    dh, dw = as_pair(dilation, "dilation", 1)
    n, c, h, w = x.shape
    ekh, ekw = _kernel_extent((kh, kw), (dh, dw), (h, w))
    ho, wo = (h - ekh) // sh + 1, (w - ekw) // sw + 1
    x = x.contiguous()
    s_n, s_c, s_h, s_w = x.stride()
    return x.as_strided(
        (n, c, kh, kw, ho, wo),
        (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw),
    )


class _TapSum(torch.autograd.Function):
    """out = bias + sum over taps t of, added at rows out[dst[t] : dst[t] + rows]:
    source[src[t] : src[t] + rows] @ weights[t].

    The kernel of both convolutions below. ``source`` is a flat (pixels, C_in) buffer laid
    out so that every kernel tap reads one contiguous, shifted slice of it and adds one
    contiguous slice of ``out`` (out_rows, C_out): each tap is one matrix product, and no
    tap copies its input.

    A Function of its own for the backward pass: autograd would give every tap's slice a
    zero-filled, source-sized gradient of its own; here all taps accumulate in place into
    one buffer. The backward is written in differentiable ops, so double backward works.
    """

    @staticmethod
    def forward(ctx, source, weights, bias, src, dst, rows, out_rows):
        ctx.save_for_backward(source, weights)
        ctx.taps, ctx.rows, ctx.has_bias = list(zip(src, dst)), rows, bias is not None
        out = source.new_zeros((out_rows, weights.shape[2]))
        if bias is not None:
            out += bias
        for weight, (s, d) in zip(weights, ctx.taps):
            out[d : d + rows].addmm_(source[s : s + rows], weight)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        source, weights = ctx.saved_tensors
        rows = ctx.rows
        grad_source = grad_weights = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_source = torch.zeros_like(source)
            for weight, (s, d) in zip(weights, ctx.taps):
                grad_source[s : s + rows].addmm_(grad_out[d : d + rows], weight.t())
        if ctx.needs_input_grad[1]:
            grad_weights = torch.stack(
                [source[s : s + rows].t() @ grad_out[d : d + rows] for s, d in ctx.taps]
            )
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(0)
        return grad_source, grad_weights, grad_bias, None, None, None, None


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``F.conv2d`` (groups=1): cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, kh, kw).

    out[n, :, y, x] = sum over taps (i, j) of weight[:, :, i, j] @ xpad[n, :, y*s + i*d, x*s + j*d].
    The padded input is split into its s_h*s_w stride phases (phase (a, b) holds the pixels
    (r*s_h + a, q*s_w + b)), channels last, all in one flat buffer. Tap (i, j) then reads
    phase (i*d_h mod s_h, j*d_w mod s_w) shifted by (i*d_h // s_h, j*d_w // s_w), the same
    shift for every output pixel: one contiguous slice of the buffer, one matrix product.
    Outputs are computed on the phase grid (Hq, Wq) and the overhang is cropped.
    """
    unbatched = check_input(x, weight, in_channel_dim=1)
    if unbatched:
        x = x.unsqueeze(0)
    c_out, c_in, kh, kw = weight.shape
    check_bias(bias, c_out, x)
    sh, sw = stride = as_pair(stride, "stride", 1)
    dh, dw = dilation = as_pair(dilation, "dilation", 1)
    top, bottom, left, right = _resolve_padding(padding, (kh, kw), stride, dilation)
    n, _, h, w = x.shape
    ekh, ekw = _kernel_extent((kh, kw), dilation, (h + top + bottom, w + left + right))
    ho, wo = (h + top + bottom - ekh) // sh + 1, (w + left + right - ekw) // sw + 1
    hq, wq = -(-(h + top + bottom) // sh), -(-(w + left + right) // sw)  # ceil
    # Pad to whole stride blocks (extra zeros are never read by a kept output), then
    # (N, C, Hq, s_h, Wq, s_w) -> (s_h, s_w, N, Hq, Wq, C). One expression, so the padded
    # NCHW copy is freed before the products run.
    source = (
        torch.nn.functional.pad(x, (left, wq * sw - w - left, top, hq * sh - h - top))
        .reshape(n, c_in, hq, sh, wq, sw)
        .permute(3, 5, 0, 2, 4, 1)
        .reshape(-1, c_in)
    )
    block = n * hq * wq
    offsets = [
        ((i * dh % sh) * sw + j * dw % sw) * block + (i * dh // sh) * wq + j * dw // sw
        for i in range(kh)
        for j in range(kw)
    ]
    # The last rows of the grid are overhang that the largest shift would read past the
    # end of the buffer for; they are cropped anyway, so no tap computes them.
    rows = block - ((ekh - 1) // sh) * wq - (ekw - 1) // sw
    taps = weight.permute(2, 3, 1, 0).reshape(kh * kw, c_in, c_out)
    out = _TapSum.apply(source, taps, bias, offsets, [0] * len(offsets), rows, block)
    out = out.view(n, hq, wq, c_out)[:, :ho, :wo].permute(0, 3, 1, 2).contiguous()
    return out[0] if unbatched else out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """``F.conv_transpose2d`` (groups=1): x (N, C_in, H, W), weight (C_in, C_out, kh, kw).

    Input pixel y adds weight tap i at full-output row y*s + i*d, which lies in output
    stride phase a = i*d mod s, at phase row y + i*d // s. So each output phase is a sum
    over its own taps of the input shifted by i*d // s: the same shifted-slice matrix
    products as ``conv2d``, on one padded channels-last copy of the input. The phases
    are then interleaved and ``padding`` is cropped from each side. A phase no tap lands
    in (dilation a multiple of the stride) is left at the bias.
    """
    unbatched = check_input(x, weight, in_channel_dim=0)
    if unbatched:
        x = x.unsqueeze(0)
    c_in, c_out, kh, kw = weight.shape
    check_bias(bias, c_out, x)
    sh, sw = as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    oph, opw = as_pair(output_padding, "output_padding", 0)
    dh, dw = as_pair(dilation, "dilation", 1)
    n, _, h, w = x.shape
    # The size formula validates output_padding and the crop; the uncropped ("full")
    # output is the cropped one plus padding on each side.
    sizes = []
    for axis, args in (("height", (h, kh, sh, ph, oph, dh)), ("width", (w, kw, sw, pw, opw, dw))):
        try:
            sizes.append(conv_transpose_output_size(*args))
        except ValueError as exc:
            raise ValueError(f"{exc} ({axis})") from None
    out_h, out_w = sizes
    full_h, full_w = out_h + 2 * ph, out_w + 2 * pw
    lh, lw = -(-full_h // sh), -(-full_w // sw)  # rows and columns per output phase
    qh, qw = dh * (kh - 1) // sh, dw * (kw - 1) // sw  # the largest shifts
    # Zeros above / left of the input let a tap shifted by (qi, qj) read row r + qh - qi.
    hx, wx = lh + qh, lw + qw
    source = (
        torch.nn.functional.pad(x, (qw, wx - w - qw, qh, hx - h - qh))
        .permute(0, 2, 3, 1)
        .reshape(-1, c_in)
    )
    grid = n * hx * wx
    rows = grid - qh * wx - qw  # the overhang the largest offset would read past
    # Output phase (a, b) gets its own block of the output buffer, each laid out as the
    # padded input is, so a tap (i, j) reads the input at one shift and adds to its
    # phase's block at one offset.
    taps = [(i, j) for i in range(kh) for j in range(kw)]
    src = [(qh - i * dh // sh) * wx + qw - j * dw // sw for i, j in taps]
    dst = [((i * dh % sh) * sw + j * dw % sw) * grid for i, j in taps]
    weights = weight.permute(2, 3, 0, 1).reshape(kh * kw, c_in, c_out)
    out = _TapSum.apply(source, weights, bias, src, dst, rows, sh * sw * grid)
    # (s_h, s_w, N, Lh, Lw, C_out) -> (N, C_out, Lh, s_h, Lw, s_w): row r*s_h + a.
    out = out.view(sh, sw, n, hx, wx, c_out)[:, :, :, :lh, :lw].permute(2, 5, 3, 0, 4, 1)
    out = out.reshape(n, c_out, lh * sh, lw * sw)[:, :, ph : ph + out_h, pw : pw + out_w]
    out = out.contiguous()
    return out[0] if unbatched else out
