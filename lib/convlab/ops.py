"""General 2-D convolution ops with ``torch.nn.functional`` semantics.

Built from tensor primitives only, never torch's convolution ops or unfold:

* ``conv2d``: channels-last, one matrix product per kernel tap, accumulated; with
  stride 1 each tap reads a shifted slice of the padded input without any copy.
* ``conv_transpose2d``: channels-last col2im, one matrix product per kernel tap,
  each added into the output at stride ``s``.

Both loop over kernel taps only (never over N, H or W).

Both accept ints or (h, w) pairs, batched (N, C, H, W) or unbatched (C, H, W) input,
are differentiable, and return the input's dtype and device.
"""
from __future__ import annotations

import torch

from .shapes import as_pair, same_padding

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


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``F.conv2d`` (groups=1): cross-correlation of x (N, C_in, H, W) with weight (C_out, C_in, kh, kw).

    Computed channels-last as one matrix product per kernel tap, accumulated:
    out[n, y, x, :] += xpad[n, y*s + i*d, x*s + j*d, :] @ weight[:, :, i, j].T.
    With stride 1 every tap's rows are one contiguous slice of the flattened padded
    input (shifted by i*d*Wp + j*d), so no im2col buffer is built at all; the "wide"
    output rows that straddle the right edge are computed and cropped afterwards.
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
    hp, wp = h + top + bottom, w + left + right
    ekh, ekw = _kernel_extent((kh, kw), dilation, (hp, wp))
    ho, wo = (hp - ekh) // sh + 1, (wp - ekw) // sw + 1
    # Stride 1 reads up to `tail` rows past the last pixel; zeros there keep every
    # tap's slice the same length.
    tail = (ekh - 1) * wp + ekw - 1 if stride == (1, 1) else 0
    # Padding and the NCHW -> NHWC transpose in a single copy.
    flat = x.new_zeros((n * hp * wp + tail, c_in))
    flat[: n * hp * wp].view(n, hp, wp, c_in)[:, top : top + h, left : left + w] = x.permute(
        0, 2, 3, 1
    )
    grid = flat[: n * hp * wp].view(n, hp, wp, c_in)
    taps = weight.permute(2, 3, 1, 0)  # (kh, kw, C_in, C_out)
    out = None
    for i in range(kh):
        for j in range(kw):
            if stride == (1, 1):
                offset = i * dh * wp + j * dw
                rows = flat[offset : offset + n * hp * wp]
            else:  # strided taps are not one slice: copy (N*Ho*Wo, C_in) per tap
                rows = grid[
                    :, i * dh : i * dh + (ho - 1) * sh + 1 : sh, j * dw : j * dw + (wo - 1) * sw + 1 : sw
                ].reshape(-1, c_in)
            if out is None:
                out = rows @ taps[i, j] if bias is None else torch.addmm(bias, rows, taps[i, j])
            else:
                out = out.addmm_(rows, taps[i, j])
    if stride == (1, 1):
        out = out.view(n, hp, wp, c_out)[:, :ho, :wo]
    else:
        out = out.view(n, ho, wo, c_out)
    out = out.permute(0, 3, 1, 2).contiguous()
    return out[0] if unbatched else out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1):
    """``F.conv_transpose2d`` (groups=1): x (N, C_in, H, W), weight (C_in, C_out, kh, kw).

    Channels-last col2im: for every kernel tap, one matrix product of all input pixels
    with that tap's (C_in, C_out) slice, added into the output at stride ``s``.
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
    for op, s, d, axis in ((oph, sh, dh, "height"), (opw, sw, dw, "width")):
        if op >= s and op >= d:
            raise ValueError(
                f"output_padding ({op}) must be smaller than either stride ({s}) or "
                f"dilation ({d}) ({axis})"
            )
    n, _, h, w = x.shape
    # The uncropped ("full") output, then padding crops p from each side.
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (w - 1) * sw + dw * (kw - 1) + 1 + opw
    out_h, out_w = full_h - 2 * ph, full_w - 2 * pw
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"padding ({ph}, {pw}) crops the whole output: uncropped size ({full_h}, {full_w})"
        )
    pixels = x.permute(0, 2, 3, 1).reshape(n * h * w, c_in)
    taps = weight.permute(2, 3, 0, 1)  # (kh, kw, C_in, C_out)
    out = x.new_zeros((n, full_h, full_w, c_out))
    # A loop over kernel taps only; each adds one strided slab of the (channels-last) output.
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (h - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (w - 1) * sw + 1, sw)
            out[:, rows, cols] += (pixels @ taps[i, j]).view(n, h, w, c_out)
    out = out[:, ph : ph + out_h, pw : pw + out_w]
    if bias is not None:
        out = out + bias
    out = out.permute(0, 3, 1, 2).contiguous()
    return out[0] if unbatched else out
