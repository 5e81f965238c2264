"""The visible checks of 02_transposed against answers a student could write.

Correct answers are written differently from the reference (loops, einsum, tap loops,
difference arrays, nn.Conv2d) and must pass silently; wrong ones are hand-written the
way a student slips, and the check must name the slip.
"""
from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

import convlab
from convlab.checks import REGISTRY, check
from check_helpers import fails_naming, passes


# --- conv_transpose_output_size -------------------------------------------------------

def size_correct(n, k, stride=1, padding=0, output_padding=0, dilation=1):
    if output_padding >= max(stride, dilation):
        raise ValueError("output_padding must be smaller than stride or dilation")
    extent = dilation * (k - 1) + 1
    size = stride * (n - 1) + extent - 2 * padding + output_padding
    if size <= 0:
        raise ValueError(f"output size {size} is not positive")
    return size


def test_output_size_correct_passes():
    passes("conv_transpose_output_size", size_correct)


@pytest.mark.parametrize("formula,mistake", [
    (lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + d * (k - 1) + op, "forgot the +1"),
    (lambda n, k, s, p, op, d: n * s - 2 * p + d * (k - 1) + op + 1, "n*s instead of (n-1)s"),
    (lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + d * k + op, "d*k instead of d(k-1)+1"),
    (lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + d * (k - 1) + 1, "output_padding ignored"),
    (lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + (k - 1) + op + 1, "dilation ignored"),
    (lambda n, k, s, p, op, d: (n - 1) * s - p + d * (k - 1) + op + 1, "padding subtracted once"),
])
def test_output_size_slips_are_named(formula, mistake):
    def wrong(n, k, stride=1, padding=0, output_padding=0, dilation=1):
        size_correct(n, k, stride, padding, output_padding, dilation)  # same validation
        return formula(n, k, stride, padding, output_padding, dilation)

    fails_naming("conv_transpose_output_size", wrong, mistake)


def test_output_size_without_validation_fails_on_the_error_case():
    fails_naming("conv_transpose_output_size",
                 lambda n, k, stride=1, padding=0, output_padding=0, dilation=1:
                 (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1,
                 "should raise ValueError")


# --- conv_matrix ----------------------------------------------------------------------

def matrix_loops(kernel, input_shape):
    h, w = input_shape
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError("kernel larger than input")
    ho, wo = h - kh + 1, w - kw + 1
    c = torch.zeros(ho * wo, h * w, dtype=kernel.dtype, device=kernel.device)
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for b in range(kw):
                    c[i * wo + j, (i + a) * w + (j + b)] = kernel[a, b]
    return c


def matrix_indexed(kernel, input_shape):
    # Column index of tap (a, b) for output pixel (i, j), built by broadcasting.
    h, w = input_shape
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError("kernel larger than input")
    ho, wo = h - kh + 1, w - kw + 1
    dev = kernel.device
    i = torch.arange(ho, device=dev).view(ho, 1, 1, 1)
    j = torch.arange(wo, device=dev).view(1, wo, 1, 1)
    a = torch.arange(kh, device=dev).view(1, 1, kh, 1)
    b = torch.arange(kw, device=dev).view(1, 1, 1, kw)
    cols = ((i + a) * w + (j + b)).reshape(ho * wo, kh * kw)
    c = kernel.new_zeros(ho * wo, h * w)
    c.scatter_(1, cols, kernel.reshape(1, -1).expand(ho * wo, -1))
    return c


@pytest.mark.parametrize("fn", [matrix_loops, matrix_indexed])
def test_conv_matrix_correct_passes(fn):
    passes("conv_matrix", fn)


def test_conv_matrix_flipped_kernel_named():
    fails_naming("conv_matrix", lambda kernel, shape: matrix_loops(kernel.flip(0, 1), shape),
                 "kernel flipped")


def test_conv_matrix_transposed_named():
    fails_naming("conv_matrix", lambda kernel, shape: matrix_indexed(kernel, shape).t(),
                 "matrix transposed")


def test_conv_matrix_with_unfold_is_forbidden():
    def via_unfold(kernel, input_shape):
        h, w = input_shape
        eye = torch.eye(h * w, dtype=kernel.dtype).reshape(h * w, 1, h, w)
        cols = F.unfold(eye, kernel.shape)  # (H*W, kh*kw, L)
        return (kernel.reshape(1, -1, 1) * cols).sum(1).t()

    fails_naming("conv_matrix", via_unfold, "calls F.unfold", "F.unfold")


# --- conv_transpose2d_scatter and via_conv: shared helpers -----------------------------

def _validate(stride, output_padding, x, weight, padding):
    if output_padding >= stride:
        raise ValueError("output_padding must be smaller than stride")
    for size, k in zip(x.shape[2:], weight.shape[2:]):
        if (size - 1) * stride + k - 2 * padding + output_padding < 1:
            raise ValueError("padding crops the whole output")


def _finish(full, bias, padding, output_padding, *, op_top=False, crop=(True, True)):
    """Pad output_padding zeros, crop padding, add bias: the end of every scatter."""
    op = output_padding
    full = F.pad(full, (op, 0, op, 0) if op_top else (0, op, 0, op))
    h, w = full.shape[2:]
    top, bottom = (padding if crop[0] else 0), (padding if crop[1] else 0)
    out = full[:, :, top:h - bottom, top:w - bottom]
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0, *,
            flip=False, swap=False, place=None, op_top=False, crop=(True, True), bias_times=1):
    """A student's pixel loop; the keyword flags switch on one slip each."""
    _validate(stride, output_padding, x, weight, padding)
    n, c_in, h, w = x.shape
    kh, kw = weight.shape[2:]
    if flip:
        weight = weight.flip(2, 3)
    pattern = "nc,ockl->nokl" if swap else "nc,cokl->nokl"
    c_out = weight.shape[0] if swap else weight.shape[1]
    step = stride if place is None else place
    full = x.new_zeros(n, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw)
    for i in range(h):
        for j in range(w):
            full[:, :, i * step:i * step + kh, j * step:j * step + kw] += torch.einsum(
                pattern, x[:, :, i, j], weight)
    if bias is not None:
        bias = bias * bias_times
    return _finish(full, bias, padding, output_padding, op_top=op_top, crop=crop)


def scatter_channel_loops(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """Everything a loop: batch, channels, pixels."""
    _validate(stride, output_padding, x, weight, padding)
    n, c_in, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    full = x.new_zeros(n, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw)
    for b in range(n):
        for c in range(c_in):
            for o in range(c_out):
                for i in range(h):
                    for j in range(w):
                        full[b, o, i * stride:i * stride + kh, j * stride:j * stride + kw] += (
                            x[b, c, i, j] * weight[c, o])
    return _finish(full, bias, padding, output_padding)


def scatter_tap_loop(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """col2im style: one strided slab per kernel tap."""
    _validate(stride, output_padding, x, weight, padding)
    n, _, h, w = x.shape
    _, c_out, kh, kw = weight.shape
    full = x.new_zeros(n, c_out, (h - 1) * stride + kh, (w - 1) * stride + kw)
    for a in range(kh):
        for b in range(kw):
            full[:, :, a:a + (h - 1) * stride + 1:stride, b:b + (w - 1) * stride + 1:stride] += (
                torch.einsum("nchw,co->nohw", x, weight[:, :, a, b]))
    return _finish(full, bias, padding, output_padding)


def zeros_between(x, stride):
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    z[:, :, ::stride, ::stride] = x
    return z


def via_conv(x, weight, bias=None, stride=1, padding=0, output_padding=0, *,
             flip=True, swap=True, stride_used=None, pad_p=(True, True), op_top=False):
    """A student's zero-insertion route with F.conv2d; flags switch on one slip each."""
    _validate(stride, output_padding, x, weight, padding)
    kh, kw = weight.shape[2:]
    z = zeros_between(x, stride if stride_used is None else stride_used)
    top = [k - 1 - (padding if pad_p[0] else 0) for k in (kh, kw)]
    bottom = [k - 1 - (padding if pad_p[1] else 0) for k in (kh, kw)]
    op_start, op_end = (output_padding, 0) if op_top else (0, output_padding)
    z = F.pad(z, (top[1] + op_start, bottom[1] + op_end, top[0] + op_start, bottom[0] + op_end))
    if flip:
        weight = weight.flip(2, 3)
    if swap:
        weight = weight.transpose(0, 1)
    return F.conv2d(z, weight, bias)


def via_tap_loop(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The via-conv route with the stride-1 conv written as a loop over kernel taps."""
    _validate(stride, output_padding, x, weight, padding)
    kh, kw = weight.shape[2:]
    z = F.pad(zeros_between(x, stride), (kw - 1 - padding, kw - 1 - padding + output_padding,
                                          kh - 1 - padding, kh - 1 - padding + output_padding))
    ho, wo = z.shape[2] - kh + 1, z.shape[3] - kw + 1
    flipped = weight.flip(2, 3)
    out = sum(torch.einsum("nchw,co->nohw", z[:, :, a:a + ho, b:b + wo], flipped[:, :, a, b])
              for a in range(kh) for b in range(kw))
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def via_module(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """nn.Conv2d with stride 1 and no padding is the plain conv the exercise allows."""
    _validate(stride, output_padding, x, weight, padding)
    kh, kw = weight.shape[2:]
    z = F.pad(zeros_between(x, stride), (kw - 1 - padding, kw - 1 - padding + output_padding,
                                          kh - 1 - padding, kh - 1 - padding + output_padding))
    conv = torch.nn.Conv2d(weight.shape[0], weight.shape[1], (kh, kw), bias=bias is not None)
    conv = conv.to(dtype=x.dtype, device=x.device)
    with torch.no_grad():
        conv.weight.copy_(weight.flip(2, 3).transpose(0, 1))
        if bias is not None:
            conv.bias.copy_(bias)
    with torch.no_grad():
        return conv(z)


@pytest.mark.parametrize("fn", [scatter, scatter_channel_loops, scatter_tap_loop])
def test_scatter_correct_passes(fn):
    passes("conv_transpose2d_scatter", fn)


@pytest.mark.parametrize("fn", [via_conv, via_tap_loop, via_module, scatter_tap_loop])
def test_via_conv_correct_passes(fn):
    passes("conv_transpose2d_via_conv", fn)


def _with(fn, **slip):
    return lambda *args, **kwargs: fn(*args, **kwargs, **slip)


SHARED_SLIPS = [
    ({"crop": (True, False)}, {"pad_p": (True, False)}, "padding cropped at the top/left only"),
    ({"crop": (False, True)}, {"pad_p": (False, True)}, "padding cropped at the bottom/right only"),
    ({"crop": (False, False)}, {"pad_p": (False, False)}, "padding ignored"),
    ({"op_top": True}, {"op_top": True}, "output_padding added at the top/left"),
    ({"swap": True}, {"swap": False}, "channel axes of the weight not swapped"),
]


@pytest.mark.parametrize("scatter_slip,_,mistake", SHARED_SLIPS)
def test_scatter_slips_are_named(scatter_slip, _, mistake):
    fails_naming("conv_transpose2d_scatter", _with(scatter, **scatter_slip), mistake)


@pytest.mark.parametrize("_,via_slip,mistake", SHARED_SLIPS)
def test_via_conv_slips_are_named(_, via_slip, mistake):
    fails_naming("conv_transpose2d_via_conv", _with(via_conv, **via_slip), mistake)


def test_scatter_specific_slips_are_named():
    fails_naming("conv_transpose2d_scatter", _with(scatter, flip=True), "kernel flipped")
    fails_naming("conv_transpose2d_scatter", _with(scatter, place=1), "placed 1 apart")
    fails_naming("conv_transpose2d_scatter", _with(scatter, bias_times=2), "bias added twice")
    fails_naming("conv_transpose2d_scatter", _with(scatter, bias_times=0), "bias dropped")


def test_via_conv_specific_slips_are_named():
    fails_naming("conv_transpose2d_via_conv", _with(via_conv, flip=False), "kernel not flipped")
    fails_naming("conv_transpose2d_via_conv", _with(via_conv, stride_used=1), "stride ignored")


def test_output_padding_ignored_is_named():
    def ignores_op(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        return via_conv(x, weight, bias, stride, padding, 0)

    fails_naming("conv_transpose2d_via_conv", ignores_op, "output_padding ignored")


def test_via_conv_with_a_loop_over_pixels_is_not_vectorized():
    def scatter_then_nothing(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        return scatter(x, weight, bias, stride, padding, output_padding)

    fails_naming("conv_transpose2d_via_conv", scatter_then_nothing, "not vectorized")


def _transposed_module(weight, stride, padding, output_padding):
    layer = torch.nn.ConvTranspose2d(weight.shape[0], weight.shape[1], weight.shape[2:],
                                     stride, padding, output_padding, bias=False)
    layer.weight = torch.nn.Parameter(weight.float())
    return layer


@pytest.mark.parametrize("call,named", [
    (lambda x, w, b, s, p, op: F.conv_transpose2d(x, w, b, s, p, op), "F.conv_transpose2d"),
    (lambda x, w, b, s, p, op: torch.nn.functional.conv_transpose2d(x, w, b, s, p, op),
     "F.conv_transpose2d"),
    (lambda x, w, b, s, p, op: getattr(torch, "conv_transpose2d")(x, w, b, s, p, op),
     "F.conv_transpose2d"),
    (lambda x, w, b, s, p, op: _transposed_module(w, s, p, op).to(x.dtype)(x),
     "F.conv_transpose2d"),
])
def test_via_conv_forbids_torch_transposed_conv(call, named):
    def forbidden(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        return call(x, weight, bias, stride, padding, output_padding)

    fails_naming("conv_transpose2d_via_conv", forbidden, named, "forbids")


def test_via_conv_forbids_conv2d_with_padding():
    def padded_by_torch(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        _validate(stride, output_padding, x, weight, padding)
        kh = weight.shape[2]
        z = F.pad(zeros_between(x, stride), (0, output_padding, 0, output_padding))
        w = weight.flip(2, 3).transpose(0, 1)
        return F.conv2d(z, w, bias, padding=kh - 1 - padding)

    fails_naming("conv_transpose2d_via_conv", padded_by_torch, "F.conv2d with padding=")


def test_scatter_forbids_any_torch_conv():
    conv = torch.nn.functional.conv2d

    def via_alias(x, weight, bias=None, stride=1, padding=0, output_padding=0):
        return via_conv(x, weight, bias, stride, padding, output_padding) + 0 * conv(
            x[:, :1, :1, :1], x[:1, :1, :1, :1])

    fails_naming("conv_transpose2d_scatter", via_alias, "convolution", "forbids")


def test_calling_convlab_is_refused():
    fails_naming("conv_transpose2d_via_conv",
                 lambda *a, **k: convlab.conv_transpose2d(*a, **k), "reference library")


# --- insert_zeros ---------------------------------------------------------------------

def insert_zeros_stack(x, stride):
    """Append s-1 zero rows after every row (reshape trick), then drop the trailing ones."""
    if x.dim() != 4 or stride < 1:
        raise ValueError("x must be 4-D and stride >= 1")
    n, c, h, w = x.shape
    s = stride
    tall = torch.cat([x.unsqueeze(3), x.new_zeros(n, c, h, s - 1, w)], 3).reshape(n, c, h * s, w)
    wide = torch.cat([tall.unsqueeze(4), tall.new_zeros(n, c, h * s, w, s - 1)], 4)
    return wide.reshape(n, c, h * s, w * s)[:, :, :(h - 1) * s + 1, :(w - 1) * s + 1]


def insert_zeros_checked(x, stride):
    if x.dim() != 4 or stride < 1:
        raise ValueError("x must be 4-D and stride >= 1")
    return zeros_between(x, stride)


@pytest.mark.parametrize("fn", [insert_zeros_checked, insert_zeros_stack])
def test_insert_zeros_correct_passes(fn):
    passes("insert_zeros", fn)


def test_insert_zeros_s_zeros_named():
    fails_naming("insert_zeros", lambda x, stride: insert_zeros_checked(x, stride + 1),
                 "s zeros instead of s-1")


def test_insert_zeros_trailing_zeros_named():
    def trailing(x, stride):
        if x.dim() != 4 or stride < 1:
            raise ValueError("bad input")
        n, c, h, w = x.shape
        z = x.new_zeros(n, c, h * stride, w * stride)
        z[:, :, ::stride, ::stride] = x
        return z

    fails_naming("insert_zeros", trailing, "zeros also after the last pixel")


def test_insert_zeros_pixel_loop_is_not_vectorized():
    def loops(x, stride):
        if x.dim() != 4 or stride < 1:
            raise ValueError("bad input")
        n, c, h, w = x.shape
        z = x.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
        for i in range(h):
            for j in range(w):
                z[:, :, i * stride, j * stride] = x[:, :, i, j]
        return z

    fails_naming("insert_zeros", loops, "not vectorized")


# --- keras_deconv_output_length ------------------------------------------------------

def keras_correct(input_length, filter_size, padding, stride, output_padding=None, dilation=1):
    if padding not in ("same", "valid", "full"):
        raise ValueError(f"padding must be same, valid or full, not {padding!r}")
    if input_length is None:
        return None
    k = filter_size + (filter_size - 1) * (dilation - 1)
    if output_padding is None:
        extra = {"same": 0, "valid": max(k - stride, 0), "full": -(stride + k - 2)}[padding]
        return input_length * stride + extra
    pad = {"same": k // 2, "valid": 0, "full": k - 1}[padding]
    return (input_length - 1) * stride + k - 2 * pad + output_padding


def test_keras_correct_passes():
    passes("keras_deconv_output_length", keras_correct)


def test_keras_same_by_formula_named():
    def same_by_formula(input_length, filter_size, padding, stride, output_padding=None,
                        dilation=1):
        if padding == "same" and output_padding is None:
            output_padding = 0
        return keras_correct(input_length, filter_size, padding, stride, output_padding, dilation)

    fails_naming("keras_deconv_output_length", same_by_formula, "'same' with output_padding=None")


def test_keras_full_sign_named():
    def full_plus(input_length, filter_size, padding, stride, output_padding=None, dilation=1):
        if padding == "full" and output_padding is None:
            k = filter_size + (filter_size - 1) * (dilation - 1)
            return input_length * stride + (stride + k - 2)
        return keras_correct(input_length, filter_size, padding, stride, output_padding, dilation)

    fails_naming("keras_deconv_output_length", full_plus, "'full' sign error")


def test_keras_dilation_ignored_named():
    fails_naming("keras_deconv_output_length",
                 lambda n, k, padding, stride, output_padding=None, dilation=1:
                 keras_correct(n, k, padding, stride, output_padding, 1), "dilation ignored")


# --- overlap_counts -------------------------------------------------------------------

def counts_difference_array(k, stride, n):
    """+1 where a kernel copy starts, -1 just after it ends, cumulative sum."""
    if k < 1 or stride < 1 or n < 1:
        raise ValueError("k, stride and n must be >= 1")
    length = (n - 1) * stride + k
    starts = torch.arange(n) * stride
    delta = torch.zeros(length + 1, dtype=torch.int64)
    delta.index_add_(0, starts, torch.ones(n, dtype=torch.int64))
    delta.index_add_(0, starts + k, -torch.ones(n, dtype=torch.int64))
    return delta.cumsum(0)[:length]


def counts_transposed_conv_of_ones(k, stride, n):
    """The definition: a 1-D transposed conv of ones with ones, as an outer-product scatter."""
    if k < 1 or stride < 1 or n < 1:
        raise ValueError("k, stride and n must be >= 1")
    positions = (torch.arange(n)[:, None] * stride + torch.arange(k)[None, :]).flatten()
    return torch.zeros((n - 1) * stride + k, dtype=torch.int64).scatter_add_(
        0, positions, torch.ones_like(positions))


@pytest.mark.parametrize("fn", [counts_difference_array, counts_transposed_conv_of_ones])
def test_overlap_counts_correct_passes(fn):
    passes("overlap_counts", fn)


def test_overlap_counts_length_n_times_s_named():
    fails_naming("overlap_counts",
                 lambda k, stride, n: counts_difference_array(k, stride, n)[:n * stride]
                 if n * stride <= (n - 1) * stride + k
                 else F.pad(counts_difference_array(k, stride, n), (0, stride - k)),
                 "length n*s instead of (n-1)s + k")


def test_overlap_counts_last_pixel_missing_named():
    def misses_last(k, stride, n):
        if k < 1 or stride < 1 or n < 1:
            raise ValueError("bad")
        counts = torch.zeros((n - 1) * stride + k, dtype=torch.int64)
        positions = (torch.arange(n - 1)[:, None] * stride + torch.arange(k)).flatten()
        return counts.scatter_add_(0, positions, torch.ones_like(positions))

    fails_naming("overlap_counts", misses_last, "last input pixel missing")


def test_overlap_counts_float_result_fails_on_dtype():
    fails_naming("overlap_counts", lambda k, s, n: counts_difference_array(k, s, n).double(),
                 "dtype")


def test_overlap_counts_python_loop_is_not_vectorized():
    def loops(k, stride, n):
        if k < 1 or stride < 1 or n < 1:
            raise ValueError("bad")
        counts = [0] * ((n - 1) * stride + k)
        for i in range(n):
            for t in range(k):
                counts[i * stride + t] += 1
        return torch.tensor(counts, dtype=torch.int64)

    fails_naming("overlap_counts", loops, "not vectorized")


# --- conv2d_backward ---------------------------------------------------------------------

def backward_by_taps(x, weight, grad_out, stride=1, padding=0, *, flip=True, unread=True):
    """A student's conv2d_backward: grad_x scattered back tap by tap, grad_weight tap by tap."""
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    if kh > h + 2 * padding or kw > w + 2 * padding:
        raise ValueError("kernel larger than the padded input")
    ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    if tuple(grad_out.shape) != (n, c_out, ho, wo):
        raise ValueError("grad_out not of conv2d's output shape")
    rows, cols = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    kernel = weight if flip else weight.flip(2, 3)
    grad_padded = x.new_zeros(n, c_in, h + 2 * padding, w + 2 * padding)
    if not unread:  # only the rows the windows cover: output_padding forgotten
        grad_padded = grad_padded[:, :, :rows + kh - 1, :cols + kw - 1]
    x_padded = F.pad(x, (padding,) * 4)
    taps = []
    for i in range(kh):
        for j in range(kw):
            grad_padded[:, :, i:i + rows:stride, j:j + cols:stride] += torch.einsum(
                "nohw,oc->nchw", grad_out, kernel[:, :, i, j])
            taps.append(torch.einsum("nohw,nchw->oc", grad_out, x_padded[:, :, i:i + rows:stride, j:j + cols:stride]))
    hp, wp = grad_padded.shape[2:]
    grad_x = grad_padded[:, :, padding:hp - padding, padding:wp - padding]
    return grad_x, torch.stack(taps, -1).reshape(weight.shape), grad_out.sum((0, 2, 3))


def test_conv2d_backward_unflipped_kernel_is_named():
    fails_naming("conv2d_backward", lambda *a, **k: backward_by_taps(*a, **k, flip=False),
                 "grad_x without flipping the kernel")


def test_conv2d_backward_without_output_padding_is_named():
    fails_naming("conv2d_backward", lambda *a, **k: backward_by_taps(*a, **k, unread=False),
                 "output_padding not chosen")


def test_conv2d_backward_by_autograd_is_refused():
    def by_autograd(x, weight, grad_out, stride=1, padding=0):
        x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
        out = (F.pad(x, (padding,) * 4)[:, None] * 0).sum(1)  # any graph will do
        out = sum(torch.einsum("nchw,oc->nohw", F.pad(x, (padding,) * 4)[
            :, :, i:i + stride * (grad_out.shape[2] - 1) + 1:stride, j:j + stride * (grad_out.shape[3] - 1) + 1:stride],
            weight[:, :, i, j]) for i in range(weight.shape[2]) for j in range(weight.shape[3]))
        gx, gw = torch.autograd.grad(out, (x, weight), grad_out)
        return gx, gw, grad_out.sum((0, 2, 3))

    fails_naming("conv2d_backward", by_autograd, "calls torch.autograd")


# --- every check: quiet, fast -----------------------------------------------------------

CORRECT = {
    "conv_transpose_output_size": size_correct,
    "conv_matrix": matrix_indexed,
    "conv_transpose2d_scatter": scatter,
    "insert_zeros": insert_zeros_checked,
    "conv_transpose2d_via_conv": via_conv,
    "keras_deconv_output_length": keras_correct,
    "overlap_counts": counts_difference_array,
    "conv2d_backward": backward_by_taps,
}


def test_every_02_exercise_has_a_correct_answer_here():
    assert set(CORRECT) == set(convlab.EXERCISES["02_transposed"])
    assert all(REGISTRY[name].assignment == "02_transposed" for name in CORRECT)


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_check_is_silent_on_stderr_and_fast(name, capsys):
    start = time.process_time()
    check(name, CORRECT[name])
    elapsed = time.process_time() - start
    out, err = capsys.readouterr()
    assert err == ""
    assert f"{name}: all" in out
    assert elapsed < 5.0, f"check_{name} took {elapsed:.2f} s (must be < 2 s on a laptop)"


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_failing_check_is_silent_on_stderr(name, capsys):
    with pytest.raises(AssertionError):
        check(name, lambda *a, **k: (_ for _ in ()).throw(NotImplementedError()))
    assert capsys.readouterr().err == ""
