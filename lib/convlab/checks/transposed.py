"""Checks for assignment 02: transposed convolution.

The three routes to a transposed convolution (scatter, zero insertion + conv, and the
matrix) go wrong in different, recognisable ways; the mistakes below compute those
wrong answers directly, from the uncropped ("full") transposed convolution, so that
each names one slip: a kernel flipped or not, the channel axes not swapped, padding or
output_padding on the wrong side, stride or bias forgotten.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import convlab
from convlab.shapes import effective_kernel_size
from .core import Case, Exercise, Mistake, register, scale_axes
from .standard import randn

A = "02_transposed"

# The ValueErrors of this assignment, as the instructions word them (Exercise.errors).
ERR_OP_SIZE = "output_padding >= max(stride, dilation)"
ERR_CROP = "padding crops the whole output"
ERR_INPUT = "kernel larger than the input"
ERR_OP = "output_padding >= stride"
ERR_4D = "x not 4-D (N, C, H, W)"
ERR_STRIDE = "stride smaller than 1"
ERR_MODE = "padding not 'same', 'valid' or 'full'"
ERR_COUNTS = "k, stride or n smaller than 1"


# --- conv_transpose_output_size ----------------------------------------------------

def _size(n, k, s, p, op, d, *, plus_one=1, n_times_s=False, dk=False, p_sides=2):
    """The size formula with one of its terms written wrong (keyword flags)."""
    start = n * s if n_times_s else (n - 1) * s
    extent = d * k if dk else d * (k - 1) + plus_one
    return start - p_sides * p + extent + op


_SIZE_DEFAULTS = {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1}


def _size_mistake(name, hint, ignore=None, **wrong):
    """A size mistake: argument ``ignore`` left at its default, or a term written wrong."""
    def produce(n, k, stride=1, padding=0, output_padding=0, dilation=1):
        args = {"stride": stride, "padding": padding, "output_padding": output_padding,
                "dilation": dilation}
        if ignore is not None:
            args[ignore] = _SIZE_DEFAULTS[ignore]
        return _size(n, k, *args.values(), **wrong)

    return Mistake(name, hint, produce)


register(Exercise(
    name="conv_transpose_output_size",
    assignment=A,
    reference=convlab.conv_transpose_output_size,
    returns="int",
    visible_cases=lambda: [
        Case((4, 3)),
        Case((4, 3), {"stride": 2, "padding": 1}, note="conv(k=3, s=2, p=1) maps 7 to 4"),
        # output_padding=2 before =1: ignoring it then differs from forgetting the +1.
        Case((5, 2), {"stride": 3, "padding": 1, "output_padding": 2}),
        Case((4, 3), {"stride": 2, "padding": 1, "output_padding": 1},
             note="conv(k=3, s=2, p=1) maps 8 to 4 too: output_padding=1 picks 8"),
        Case((3, 3), {"stride": 2, "dilation": 2}, note="dilated kernel spans d(k-1)+1 = 5"),
        Case((4, 3), {"stride": 2, "output_padding": 2}, raises=ValueError, note=ERR_OP_SIZE),
        Case((4, 3), {"stride": 1, "output_padding": 1, "dilation": 2},
             note="output_padding may reach the stride while it is below the dilation"),
        Case((4, 3), {"stride": 2, "output_padding": 2, "dilation": 2}, raises=ValueError, note=ERR_OP_SIZE),
        Case((1, 1), {"padding": 1}, raises=ValueError, note=ERR_CROP),
        Case((1, 2), {"padding": 1}, raises=ValueError, note=ERR_CROP),  # 0 is no output either
    ],
    errors=(ERR_OP_SIZE, ERR_CROP),
    mistakes=[
        _size_mistake("forgot the +1", "The kernel's extent is d(k-1) + 1 pixels: "
                      "(n-1)s - 2p + d(k-1) + output_padding + 1.", plus_one=0),
        _size_mistake("n*s instead of (n-1)s", "n input pixels are n-1 strides apart: the last "
                      "kernel copy starts at (n-1)s.", n_times_s=True),
        _size_mistake("d*k instead of d(k-1)+1", "A dilated kernel has k taps with k-1 gaps of d: "
                      "its extent is d(k-1) + 1, not d*k.", dk=True),
        _size_mistake("padding subtracted once", "Padding crops p pixels from both ends: -2p.",
                      p_sides=1),
        _size_mistake("output_padding ignored", "output_padding adds that many pixels at the "
                      "end: + output_padding.", ignore="output_padding"),
        _size_mistake("dilation ignored", "With dilation d the kernel spans d(k-1) + 1 pixels.",
                      ignore="dilation"),
        _size_mistake("stride ignored", "Input pixels land s apart in the output: (n-1)s.",
                      ignore="stride"),
    ],
))


# --- conv_matrix ------------------------------------------------------------------

def _matrix_rows(kernel, input_shape, order):
    """conv_matrix with its rows (one per output pixel) viewed as (Ho, Wo), then ``order``."""
    h, w = input_shape
    kh, kw = kernel.shape
    rows = convlab.conv_matrix(kernel, input_shape).reshape(h - kh + 1, w - kw + 1, h * w)
    return order(rows)


def _columns_by_wo(kernel, input_shape):
    """conv_matrix with input pixel (y, x) put in column y*Wo + x instead of y*W + x."""
    h, w = input_shape
    kh, kw = kernel.shape
    ho, wo = h - kh + 1, w - kw + 1
    matrix = kernel.new_zeros(ho * wo, h * w)
    for i in range(ho):
        for j in range(wo):
            for a in range(kh):
                for b in range(kw):
                    matrix[i * wo + j, (i + a) * wo + (j + b)] = kernel[a, b]
    return matrix


register(Exercise(
    name="conv_matrix",
    assignment=A,
    reference=convlab.conv_matrix,
    forbidden=("conv", "unfold"),
    visible_cases=lambda: [
        Case((torch.arange(1.0, 10.0, dtype=torch.float64).reshape(3, 3), (4, 4)),
             note="Dumoulin & Visin's example: a 4 x 16 matrix"),
        Case((randn(2, 3, seed=5), (4, 5)), note="non-square kernel and input"),
        Case((randn(3, 2, seed=6), (3, 2)), note="kernel as large as the input: one row"),
        Case((randn(3, 3, seed=7), (2, 4)), raises=ValueError, note=ERR_INPUT),
    ],
    errors=(ERR_INPUT,),
    mistakes=[
        Mistake("kernel flipped", "corr2d slides the kernel as it is; row r of C holds the "
                "kernel unflipped at output pixel r's window.",
                lambda kernel, input_shape: convlab.conv_matrix(kernel.flip(0, 1), input_shape)),
        Mistake("matrix transposed", "C has one row per OUTPUT pixel and one column per INPUT "
                "pixel: shape (Ho*Wo, H*W).",
                lambda kernel, input_shape: convlab.conv_matrix(kernel, input_shape).T),
        Mistake("output pixels in column-major order",
                "Row i*Wo + j belongs to output pixel (i, j), as y.flatten() orders them.",
                lambda kernel, input_shape: _matrix_rows(
                    kernel, input_shape, lambda r: r.transpose(0, 1).reshape(-1, r.shape[-1]))),
        Mistake("input pixel (y, x) in column y*Wo + x instead of y*W + x",
                "Columns index INPUT pixels: x.flatten() puts pixel (y, x) at y*W + x, with W the "
                "input's width, not the output's.", _columns_by_wo),
        Mistake("last output row and column missing",
                "There are H - kh + 1 window positions down and W - kw + 1 across.",
                lambda kernel, input_shape: _matrix_rows(
                    kernel, input_shape, lambda r: r[:-1, :-1].reshape(-1, r.shape[-1]))),
    ],
))


# --- the transposed convolution itself: scatter and via conv -----------------------

def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _transposed(x, weight, bias=None, stride=1, padding=0, output_padding=0, *,
                op_side="end", crop="both", place=None, bias_times=1):
    """A transposed convolution with one step done a known wrong way.

    The full output (nothing cropped) gets output_padding zero rows/columns at the end
    (``op_side="end"``), at the start, or none; then padding p is cropped from both
    sides, one side, or none (``crop``); ``place`` overrides the stride the input pixels
    are placed at inside a canvas of the correct size; the bias is added ``bias_times``.
    """
    (sh, sw), (ph, pw), (oph, opw) = _pair(stride), _pair(padding), _pair(output_padding)
    if place is None:
        full = convlab.conv_transpose2d(x, weight, stride=(sh, sw))
    else:
        n, _, h, w = x.shape
        kh, kw = weight.shape[2:]
        full = x.new_zeros(n, weight.shape[1], (h - 1) * sh + kh, (w - 1) * sw + kw)
        dense = convlab.conv_transpose2d(x, weight, stride=place)
        full[:, :, :dense.shape[2], :dense.shape[3]] = dense
    pad = {"end": (0, opw, 0, oph), "start": (opw, 0, oph, 0), "none": (0, 0, 0, 0),
           "both": (opw, opw, oph, oph), "after_crop": (0, 0, 0, 0)}[op_side]
    full = F.pad(full, pad)
    keep = {"both": (1, 1), "start": (1, 0), "end": (0, 1), "none": (0, 0), "end_twice": (0, 2)}[crop]
    h, w = full.shape[2:]
    out = full[:, :, keep[0] * ph : h - keep[1] * ph, keep[0] * pw : w - keep[1] * pw]
    if op_side == "after_crop":  # zero rows appended to the cropped output
        out = F.pad(out, (0, opw, 0, oph))
    if bias is not None:
        out = out + bias_times * bias.reshape(1, -1, 1, 1)
    return out


def _padded_by_p(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The via-conv route with the zero-inserted input padded by p (not k-1-p)."""
    (ph, pw), (oph, opw) = _pair(padding), _pair(output_padding)
    z = convlab.insert_zeros(x, stride)
    z = F.pad(z, (pw, pw + opw, ph, ph + oph))
    return convlab.conv2d(z, weight.flip(2, 3).transpose(0, 1), bias)


def _weight_changed(route, change):
    """``route`` run with ``change(weight)``: a kernel flipped or not, channels swapped."""
    return lambda x, weight, *args, **kwargs: route(x, change(weight), *args, **kwargs)


def _variant(**wrong):
    return lambda *args, **kwargs: _transposed(*args, **kwargs, **wrong)


def _transposed_mistakes(reference) -> list[Mistake]:
    """Mistakes both routes can make (the kernel-flip mistake is route-specific)."""
    return [
        Mistake("channel axes of the weight not swapped",
                "A transposed-conv weight is (C_in, C_out, kh, kw): input channel c adds "
                "weight[c, o] into output channel o. A direct conv wants (C_out, C_in, kh, kw), "
                "so the via-conv route needs weight.transpose(0, 1).",
                _weight_changed(reference, lambda w: w.transpose(0, 1))),
        Mistake("padding ignored (or padded by k-1 instead of k-1-p)",
                "padding p crops p rows/columns from each side of the full output; in the "
                "via-conv route that is padding the zero-inserted input by k-1-p.",
                _variant(crop="none")),
        Mistake("padding cropped at the top/left only",
                "padding p removes p rows/columns on BOTH sides (k-1-p padding on both sides in "
                "the via-conv route).", _variant(crop="start")),
        Mistake("padding cropped at the bottom/right only",
                "padding p removes p rows/columns on BOTH sides (k-1-p padding on both sides in "
                "the via-conv route).", _variant(crop="end")),
        Mistake("2p cropped at the bottom/right, none at the top/left",
                "padding p removes p rows/columns at the top/left AND p at the bottom/right: "
                "out = full[p : H_full - p] (k-1-p padding on both sides in the via-conv route).",
                _variant(crop="end_twice")),
        Mistake("output_padding ignored",
                "output_padding adds that many rows/columns at the bottom/right of the output.",
                _variant(op_side="none")),
        Mistake("output_padding added at the top/left",
                "output_padding goes at the bottom/right (the end), as in F.conv_transpose2d.",
                _variant(op_side="start")),
        Mistake("output_padding added on both sides",
                "output_padding adds rows/columns at the bottom/right only (in the via-conv route: "
                "pad k-1-p at the top/left, k-1-p + output_padding at the bottom/right).",
                _variant(op_side="both")),
        Mistake("stride ignored (no zeros inserted)",
                "Neighbouring input pixels land s apart in the output: insert s-1 zeros between "
                "them (or place pixel (i, j) at (i*s, j*s)).",
                lambda x, weight, bias=None, stride=1, padding=0, output_padding=0: _transposed(
                    x, weight, bias, 1, padding, output_padding)),
        Mistake("input pixels placed 1 apart instead of s apart",
                "Input pixel (i, j) scatters its kernel copy to rows i*s.., columns j*s...",
                lambda x, weight, bias=None, stride=1, padding=0, output_padding=0: _transposed(
                    x, weight, bias, stride, padding, output_padding, place=1)),
        Mistake("bias dropped", "Add bias[o] to every pixel of output channel o.",
                _variant(bias_times=0)),
        Mistake("bias added twice", "Add the bias once (F.conv2d(z, w, bias) already adds it).",
                _variant(bias_times=2)),
    ]


def _transposed_cases() -> list[Case]:
    # The first case has C_in == C_out, so an unswapped weight gives wrong values (named)
    # instead of a shape error; the second has C_in != C_out, so the swap is required.
    return [
        Case((randn(1, 2, 3, 3, seed=10), randn(2, 2, 3, 3, seed=11)), note="C_in = C_out = 2"),
        Case((randn(2, 2, 3, 4, seed=12), randn(2, 3, 3, 2, seed=13), randn(3, seed=14)),
             {"stride": 2}, note="C_in=2, C_out=3, non-square input and kernel, bias"),
        # padding != output_padding in both: where they are equal, cropping on one side
        # and output_padding on the wrong side give the same output.
        Case((randn(1, 3, 3, 2, seed=15), randn(3, 2, 3, 3, seed=16), randn(2, seed=17)),
             {"stride": 3, "padding": 1, "output_padding": 2}),
        Case((randn(1, 2, 3, 3, seed=18), randn(2, 2, 2, 3, seed=19)),
             {"stride": 2, "padding": 2, "output_padding": 1},
             note="padding > k-1: the via-conv route crops instead of padding"),
        Case((randn(1, 2, 3, 3, seed=10), randn(2, 3, 3, 3, seed=11)),
             {"stride": 2, "output_padding": 2}, raises=ValueError, note=ERR_OP),
        Case((randn(1, 2, 2, 2, seed=24), randn(2, 2, 2, 2, seed=25)),
             {"padding": 2}, raises=ValueError, note=ERR_CROP),
        Case((randn(1, 2, 1, 1, seed=26), randn(2, 1, 2, 2, seed=27)),
             {"padding": 1}, raises=ValueError, note=ERR_CROP),  # 0 x 0 is no output either
    ]


# N starts at 2: with N=1 some reshapes are free views, and an answer that loops only
# over kernel taps would run fewer ops at the small size than at the large one.
def _transposed_scaling(scale) -> Case:
    n, h, w = scale_axes(scale)
    return Case((randn(2 * n, 2, 2 * h, 3 * w, seed=20), randn(2, 3, 3, 3, seed=21)),
                {"stride": 2, "padding": 1, "output_padding": 1})


register(Exercise(
    name="conv_transpose2d_scatter",
    assignment=A,
    reference=convlab.conv_transpose2d_scatter,
    forbidden=("conv", "unfold"),
    visible_cases=_transposed_cases,
    errors=(ERR_OP, ERR_CROP),
    mistakes=[
        Mistake("kernel flipped", "The scatter adds value * kernel as it is: only the via-conv "
                "route flips the kernel.",
                _weight_changed(convlab.conv_transpose2d_scatter, lambda w: w.flip(2, 3))),
        *_transposed_mistakes(convlab.conv_transpose2d_scatter),
        Mistake("output_padding rows added as zeros after cropping",
                "Allocate the full output with output_padding extra rows/columns at the end, "
                "scatter into it, THEN crop p from each side: the extra rows hold kernel values "
                "where p > 0, not zeros.", _variant(op_side="after_crop")),
    ],
))


# --- insert_zeros -----------------------------------------------------------------

register(Exercise(
    name="insert_zeros",
    assignment=A,
    reference=convlab.insert_zeros,
    vectorized=True,
    scaling_case=lambda scale: Case((randn(2 * scale_axes(scale)[0], 2, 3 * scale_axes(scale)[1],
                                          2 * scale_axes(scale)[2] + 1, seed=30), 2)),
    visible_cases=lambda: [
        Case((torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 1, 3, 3), 2)),
        Case((randn(2, 3, 2, 4, seed=31), 3), note="non-square, stride 3"),
        Case((randn(1, 2, 3, 2, seed=32), 1), note="stride 1 inserts nothing"),
        Case((randn(1, 1, 2, 2, seed=33), 0), raises=ValueError, note=ERR_STRIDE),
        Case((randn(2, 2, seed=34), 2), raises=ValueError, note=ERR_4D),
    ],
    errors=(ERR_4D, ERR_STRIDE),
    mistakes=[
        Mistake("s zeros instead of s-1", "Between two neighbours go stride-1 zeros, so they end "
                "up s apart: size (H-1)s + 1.",
                lambda x, stride: convlab.insert_zeros(x, stride + 1)),
        Mistake("zeros also after the last pixel", "Zeros go only BETWEEN pixels: the last row "
                "and column are real pixels, size (H-1)s + 1, not H*s.",
                lambda x, stride: F.pad(convlab.insert_zeros(x, stride), (0, stride - 1) * 2)),
        Mistake("zeros inserted between rows only", "Insert zeros along both H and W.",
                lambda x, stride: convlab.insert_zeros(x, (stride, 1))),
    ],
))


# --- conv_transpose2d_via_conv --------------------------------------------------------

register(Exercise(
    name="conv_transpose2d_via_conv",
    assignment=A,
    reference=convlab.conv_transpose2d_via_conv,
    forbidden=("conv_except_plain", "unfold"),
    vectorized=True,
    scaling_case=_transposed_scaling,
    visible_cases=_transposed_cases,
    errors=(ERR_OP, ERR_CROP),
    uses=("insert_zeros",),  # the pad or crop, the flipped swapped kernel, the conv are left
    mistakes=[
        Mistake("kernel not flipped", "The conv that undoes the scatter reads the kernel back to "
                "front: flip it in both spatial axes, weight.flip(2, 3).",
                _weight_changed(convlab.conv_transpose2d_via_conv, lambda w: w.flip(2, 3))),
        Mistake("kernel flipped along one axis only", "Flip both spatial axes: weight.flip(2, 3).",
                _weight_changed(convlab.conv_transpose2d_via_conv, lambda w: w.flip(3))),
        *_transposed_mistakes(convlab.conv_transpose2d_via_conv),
        Mistake("zero-inserted input padded by p instead of k-1-p",
                "The stride-1 conv must see k-1-p zeros around the zero-inserted input (a "
                "'full' conv is k-1, and padding p takes p of it away).", _padded_by_p),
    ],
))


# --- keras_deconv_output_length ------------------------------------------------------

def _keras(input_length, filter_size, padding, stride, output_padding=None, dilation=1, *,
           same_explicit=False, full_sign=1, valid_max=True, use_dilation=True):
    """Keras' deconv_output_length with one known slip switched on."""
    if input_length is None:  # an unknown length stays unknown: no slip shows there
        return None
    k = effective_kernel_size(filter_size, dilation) if use_dilation else filter_size
    n, s = input_length, stride
    if output_padding is None and not (padding == "same" and same_explicit):
        if padding == "valid":
            return n * s + (max(k - s, 0) if valid_max else k - s)
        if padding == "full":
            return n * s - full_sign * (s + k - 2)
        return n * s
    pad = {"same": k // 2, "valid": 0, "full": full_sign * (k - 1)}[padding]
    return (n - 1) * s + k - 2 * pad + (output_padding or 0)


def _keras_mistake(name, hint, **wrong):
    def produce(input_length, filter_size, padding, stride, output_padding=None, dilation=1):
        return _keras(input_length, filter_size, padding, stride, output_padding, dilation, **wrong)

    return Mistake(name, hint, produce)


register(Exercise(
    name="keras_deconv_output_length",
    assignment=A,
    reference=convlab.keras_deconv_output_length,
    returns="int",
    visible_cases=lambda: [
        Case((4, 3, "same", 2), note="'same' with output_padding=None: exactly n*s"),
        Case((4, 3, "valid", 2)),
        Case((3, 2, "valid", 3), note="kernel shorter than the stride"),
        Case((4, 3, "full", 2)),
        Case((4, 3, "same", 2), {"output_padding": 1}),
        Case((4, 3, "same", 2), {"output_padding": 0}, note="output_padding=0 is not None: 7, not 8"),
        Case((6, 3, "full", 2), {"output_padding": 1, "dilation": 2}),
        Case((5, 4, "valid", 1), {"dilation": 2}),
        Case((None, 3, "same", 2), note="unknown length stays unknown"),
        Case((4, 3, "causal", 2), raises=ValueError, note=ERR_MODE),
    ],
    errors=(ERR_MODE,),
    mistakes=[
        _keras_mistake("'same' with output_padding=None computed by the formula",
                       "With output_padding=None Keras infers the length: 'same' gives exactly "
                       "input_length * stride.", same_explicit=True),
        _keras_mistake("'full' sign error",
                       "'full' removes k-1 on each side: n*s - (s + k - 2) when output_padding is "
                       "None, pad = k-1 subtracted twice otherwise.", full_sign=-1),
        _keras_mistake("'valid': max(k - s, 0) dropped",
                       "When the kernel is shorter than the stride, the copies do not overlap and "
                       "'valid' gives n*s: max(k - s, 0).", valid_max=False),
        _keras_mistake("dilation ignored", "Use the dilated kernel size k + (k-1)(d-1) everywhere.",
                       use_dilation=False),
    ],
))


# --- overlap_counts -----------------------------------------------------------------

def _counts(k, stride, n, *, pixels=None, taps=None, length=None):
    """Tap counts of a 1-D transposed conv, with pixel/tap/length counts overridable."""
    pixels = n if pixels is None else pixels
    taps = k if taps is None else taps
    length = (n - 1) * stride + k if length is None else length
    counts = torch.zeros(max(length, (n - 1) * stride + k), dtype=torch.int64)
    for i in range(pixels):
        counts[i * stride : i * stride + taps] += 1
    return counts[:length]


register(Exercise(
    name="overlap_counts",
    assignment=A,
    reference=convlab.overlap_counts,
    vectorized=True,
    scaling_case=lambda scale: Case((3, 2, 10 * scale_axes(scale)[1])),  # one axis: the length
    visible_cases=lambda: [
        Case((3, 2, 4), note="k not divisible by s: uneven"),
        Case((4, 2, 4), note="k divisible by s: even in the middle"),
        Case((3, 1, 5)),
        Case((2, 3, 3), note="k < s: gaps that nothing reaches"),
        Case((0, 2, 3), raises=ValueError, note=ERR_COUNTS),
        Case((3, 2, 0), raises=ValueError, note=ERR_COUNTS),
    ],
    errors=(ERR_COUNTS,),
    mistakes=[
        Mistake("length n*s instead of (n-1)s + k",
                "The last kernel copy starts at (n-1)s and covers k positions.",
                lambda k, stride, n: _counts(k, stride, n, length=n * stride)),
        Mistake("last input pixel missing (range(n - 1))", "All n input pixels place a copy.",
                lambda k, stride, n: _counts(k, stride, n, pixels=n - 1)),
        Mistake("one tap short (range(k - 1))",
                "Each copy covers k positions: i*s ... i*s + k - 1.",
                lambda k, stride, n: _counts(k, stride, n, taps=k - 1)),
    ],
))


# --- conv2d_backward -------------------------------------------------------------------

ERR_GRAD_SHAPE = "grad_out not of conv2d's output shape"
ERR_PADDED = "kernel larger than the padded input"


def _backward(x, weight, grad_out, stride=1, padding=0, *, flip_x=True, output_padding=True,
              x_padding=True, x_stride=True, w_pad_end=False, w_spread=True, w_flip=False,
              bias_dims=(0, 2, 3), bias_mean=False):
    """conv2d_backward with one known slip switched off or on (keyword flags)."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    kh, kw = weight.shape[2:]
    h, w = x.shape[2:]
    op = ((h + 2 * ph - kh) % sh, (w + 2 * pw - kw) % sw) if output_padding else 0
    kernel = weight if flip_x else weight.flip(2, 3)
    grad_x = convlab.conv_transpose2d(grad_out, kernel, None, (sh, sw) if x_stride else 1,
                                      (ph, pw) if x_padding else 0, op if x_stride else 0)
    pads = (0, 2 * pw, 0, 2 * ph) if w_pad_end else (pw, pw, ph, ph)
    xp = F.pad(x, pads).transpose(0, 1)
    spread = convlab.insert_zeros(grad_out, (sh, sw)) if w_spread else grad_out
    grad_weight = convlab.conv2d(xp, spread.transpose(0, 1))[:, :, :kh, :kw].transpose(0, 1)
    if w_flip:
        grad_weight = grad_weight.flip(2, 3)
    grad_bias = grad_out.mean(bias_dims) if bias_mean else grad_out.sum(bias_dims)
    return grad_x, grad_weight, grad_bias


def _backward_mistake(name, hint, **wrong):
    def produce(x, weight, grad_out, stride=1, padding=0):
        return _backward(x, weight, grad_out, stride, padding, **wrong)

    return Mistake(name, hint, produce)


def _backward_scaling(scale) -> Case:
    n, h, w = scale_axes(scale)
    x = randn(2 * n, 2, 3 * h + 2, 2 * w + 3, seed=70)
    weight = randn(3, 2, 3, 2, seed=71)
    ho, wo = (3 * h + 2 + 2 - 3) // 2 + 1, (2 * w + 3 + 2 - 2) // 2 + 1
    return Case((x, weight, randn(2 * n, 3, ho, wo, seed=72)), {"stride": 2, "padding": 1})


def _grad_out(x, weight, stride, padding, seed):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    kh, kw = weight.shape[2:]
    ho = (x.shape[2] + 2 * ph - kh) // sh + 1
    wo = (x.shape[3] + 2 * pw - kw) // sw + 1
    return randn(x.shape[0], weight.shape[0], ho, wo, seed=seed)


def _backward_case(x_shape, w_shape, stride, padding, seed, note=""):
    x, weight = randn(*x_shape, seed=seed), randn(*w_shape, seed=seed + 1)
    return Case((x, weight, _grad_out(x, weight, stride, padding, seed + 2)),
                {"stride": stride, "padding": padding}, note=note)


register(Exercise(
    name="conv2d_backward",
    assignment=A,
    reference=convlab.conv2d_backward,
    forbidden=("autograd", "conv_except_plain", "unfold"),
    vectorized=True,
    scaling_case=_backward_scaling,
    visible_cases=lambda: [
        _backward_case((1, 2, 4, 5), (2, 2, 2, 3), 1, 0, 80, note="stride 1, no padding; C_in = C_out"),
        _backward_case((2, 2, 6, 5), (3, 2, 3, 2), 2, 1, 84,
                       note="stride 2, padding 1: (6 + 2 - 3) mod 2 = 1 row the forward never reads"),
        _backward_case((1, 3, 7, 7), (2, 3, 3, 3), 3, 2, 88, note="stride 3, padding 2"),
        _backward_case((2, 2, 5, 4), (2, 2, 2, 2), 1, 1, 92, note="stride 1, padding 1"),
        Case((randn(1, 2, 4, 4, seed=96), randn(3, 2, 3, 3, seed=97), randn(1, 3, 3, 3, seed=98)),
             raises=ValueError, note=ERR_GRAD_SHAPE),
        Case((randn(1, 2, 2, 3, seed=99), randn(3, 2, 3, 3, seed=100), randn(1, 3, 1, 1, seed=101)),
             raises=ValueError, note=ERR_PADDED),
    ],
    errors=(ERR_GRAD_SHAPE, ERR_PADDED),
    uses=("conv_transpose2d_via_conv",),
    mistakes=[
        _backward_mistake("grad_x without flipping the kernel",
                          "grad_x is the transposed conv of grad_out with the weight as it is: "
                          "conv_transpose2d_via_conv(grad_out, weight, ...) flips it once inside. "
                          "Written as a direct conv, grad_out (zero-inserted and padded) meets the "
                          "kernel flipped, weight.flip(2, 3).transpose(0, 1).", flip_x=False),
        _backward_mistake("output_padding not chosen, so grad_x is smaller than x",
                          "Where the stride skips the last (H + 2p - k) mod s rows, the transposed "
                          "conv needs output_padding = (H + 2p - k) mod s to give back x's shape "
                          "(those rows' gradient is 0).", output_padding=False),
        _backward_mistake("padding ignored in grad_x",
                          "The forward's padding p is cropped from each side of the transposed "
                          "conv: padding=p there too.", x_padding=False),
        _backward_mistake("stride ignored in grad_x",
                          "The transposed conv takes the forward's stride: grad_out's pixels land "
                          "s apart in grad_x.", x_stride=False),
        _backward_mistake("grad_weight flipped (x and grad_out swapped in the correlation)",
                          "grad_weight[o, c, i, j] = sum over n, y, x of grad_out[n, o, y, x] * "
                          "x_padded[n, c, y*s + i, x*s + j]: correlate x with grad_out (x as the "
                          "input, grad_out as the kernel), not the other way round.", w_flip=True),
        _backward_mistake("grad_weight without the stride (grad_out not spread s apart)",
                          "The forward read x at y*s + i: the correlation takes grad_out with s-1 "
                          "zeros between its pixels (insert_zeros(grad_out, s)).", w_spread=False),
        _backward_mistake("x padded at the bottom/right only for grad_weight",
                          "Pad x by p on every side, as the forward did, before the correlation.",
                          w_pad_end=True),
        _backward_mistake("grad_bias summed over H and W but not over the batch",
                          "The bias is added to every image of the batch: sum grad_out over N, H "
                          "and W, grad_out.sum((0, 2, 3)).", bias_dims=(2, 3)),
        _backward_mistake("grad_bias summed over the channels",
                          "grad_bias has one value per output channel: sum over N, H and W "
                          "(dims 0, 2, 3), keep dim 1.", bias_dims=(0, 1, 2)),
        _backward_mistake("grad_bias averaged instead of summed",
                          "Every output pixel adds the bias once: its gradient is the SUM of "
                          "grad_out over N, H and W.", bias_mean=True),
    ],
))
