"""Checks for assignment 03: atrous (dilated) convolution.

Dilation is one number that can land in the wrong place: d zeros between taps instead of
d - 1, on the stride or the padding instead of the kernel, in a SAME padding computed from
the undilated filter. TensorFlow's ``atrous_conv2d`` route adds its own slips: a phase
order that ``batch_to_space`` does not undo, the odd padding pixel on the wrong side, the
rows added for divisibility left in. Each mistake below computes exactly what the slipped
code returns, from the reference ops, and the visible cases are chosen so that no two
mistakes give the same outputs on all of them (``tests/test_checks_atrous.py`` proves it):
N = 2 so that image-major and phase-major orders differ, H != W and non-square kernels so
that swapped axes show, an even kernel with an odd rate so that the odd SAME pixel has a
side, padding > 0 with dilation > 1 so that "dilation on the padding" is not "dilation
ignored".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import convlab
from convlab.ops import conv2d
from convlab.shapes import effective_kernel_size
from .core import Case, Exercise, Mistake, register, scale_axes
from .standard import randn

A = "03_atrous"

# Every ValueError each exercise must raise, in the words of its notebook instructions;
# the raising cases (visible here, hidden in the grader) carry exactly these as notes.
ERRORS = {
    "effective_kernel_size": ("kernel size k < 1", "dilation < 1"),
    "dilate_kernel": ("dilation < 1",),
    "conv2d_dilated": (
        "dilated kernel extent d(k-1)+1 larger than the padded input (height or width)",
        "weight's C_in differs from the number of channels of x",
        "dilation < 1",
    ),
    "space_to_batch": ("H not divisible by rate", "W not divisible by rate", "rate < 1"),
    "batch_to_space": ("batch size not divisible by rate*rate", "rate < 1"),
    "atrous_conv2d": (
        "padding neither 'SAME' nor 'VALID'",
        "VALID and the dilated filter extent rate*(k-1)+1 larger than the input (height or width)",
        "filters' C_in differs from the number of channels of value",
        "rate < 1",
    ),
    "receptive_field": ("a layer's kernel_size < 1", "a layer's stride < 1", "a layer's dilation < 1"),
    "causal_conv1d": (
        "x not 3-D (N, C_in, L) or weight not 3-D (C_out, C_in, k)",
        "weight's C_in differs from the number of channels of x",
        "dilation < 1",
    ),
    "wavenet_receptive_field": ("kernel_size < 1", "rates empty or a rate < 1", "stacks < 1"),
}


def _error(name: str, index: int) -> dict:
    """Case keywords for a raising case of ``name``: ValueError, noted with its listed error."""
    return {"raises": ValueError, "note": ERRORS[name][index]}


# --- effective_kernel_size ------------------------------------------------------------

def _size_mistake(name, hint, formula):
    def produce(k, dilation):
        effective_kernel_size(k, dilation)  # the same validation as the reference
        return formula(k, dilation)

    return Mistake(name, hint, produce)


_HOLES_HINT = ("Between two neighbouring taps go d - 1 zeros, so the taps are d apart: "
               "k taps span d(k - 1) + 1 pixels.")

register(Exercise(
    name="effective_kernel_size",
    assignment=A,
    errors=ERRORS["effective_kernel_size"],
    reference=convlab.effective_kernel_size,
    returns="int",
    visible_cases=lambda: [
        Case((3, 1), note="dilation 1: the kernel itself"),
        Case((5, 4), note="5 taps, 4 apart"),
        Case((3, 2), note="a 3-tap kernel at rate 2 spans 5 pixels"),
        Case((2, 3), note="an even kernel"),
        Case((1, 5), note="one tap has no gaps"),
        Case((0, 2), **_error("effective_kernel_size", 0)),
        Case((3, 0), **_error("effective_kernel_size", 1)),
    ],
    mistakes=[
        _size_mistake("d zeros between taps instead of d - 1 (dilation off by one)", _HOLES_HINT,
                      lambda k, d: (d + 1) * (k - 1) + 1),
        _size_mistake("d*k instead of d(k - 1) + 1", "k taps have k - 1 gaps of d pixels, plus the "
                      "first tap: d(k - 1) + 1, not d*k.", lambda k, d: d * k),
        _size_mistake("forgot the + 1", "d(k - 1) is the distance from the first tap to the last; "
                      "the extent counts both: d(k - 1) + 1.", lambda k, d: d * (k - 1)),
        _size_mistake("dilation added instead of multiplied", "Each of the k - 1 gaps grows to d "
                      "pixels: multiply, d(k - 1) + 1, not k + d - 1.", lambda k, d: k + d - 1),
        _size_mistake("dilation ignored", "With dilation d the kernel spans d(k - 1) + 1 pixels.",
                      lambda k, d: k),
    ],
))


# --- dilate_kernel -------------------------------------------------------------------------

def _dilate(weight, dh, dw, *, corner=False, trailing=False):
    o, i, kh, kw = weight.shape
    out = weight.new_zeros(o, i, dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    if corner:
        out[:, :, :kh, :kw] = weight
    else:
        out[:, :, ::dh, ::dw] = weight
    if trailing:  # d - 1 zeros after the last tap too: d*k wide
        out = F.pad(out, (0, dw - 1, 0, dh - 1))
    return out


def _dilate_mistake(name, hint, rule):
    def produce(weight, dilation):
        convlab.dilate_kernel(weight, dilation)  # the same validation as the reference
        return rule(weight, dilation)

    return Mistake(name, hint, produce)


# The vectorization check's inputs: (n, h, w) scale the batch, the height and the width.
def _sized(randn_, per_unit: tuple, axes: tuple, *rest, seed: int) -> Case:
    """An NCHW input whose N, H and W are ``per_unit`` times the axes' scales (C fixed)."""
    (n, h, w), (un, c, uh, uw) = axes, per_unit
    return Case((randn_(un * n, c, uh * h, uw * w, seed=seed), *rest))


def _dilated_scaling(n: int, h: int, w: int) -> Case:
    return Case((randn(2 * n, 2, 4 + 3 * h, 5 + 2 * w, seed=76), randn(3, 2, 3, 2, seed=77), randn(3, seed=78)),
                {"padding": 1, "dilation": 2})


def _atrous_scaling(n: int, h: int, w: int) -> Case:
    # NHWC, as TensorFlow's atrous_conv2d takes it.
    return Case((randn(2 * n, 3 + 3 * h, 4 + 2 * w, 2, seed=112), randn(3, 2, 2, 3, seed=113), 2, "SAME"))


register(Exercise(
    name="dilate_kernel",
    assignment=A,
    errors=ERRORS["dilate_kernel"],
    reference=convlab.dilate_kernel,
    vectorized=True,
    scaling_case=lambda s: Case((randn(2 * scale_axes(s)[0], scale_axes(s)[1] + 1, 3, 2, seed=50), 2)),  # N, C_in
    visible_cases=lambda: [
        Case((torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 1, 3, 3), 2),
             note="taps 1..9 at rate 2"),
        Case((randn(2, 3, 2, 3, seed=51), 3), note="non-square kernel, rate 3"),
        Case((randn(3, 2, 3, 1, seed=52), 2), note="a 3 x 1 kernel"),
        Case((randn(2, 1, 2, 2, seed=53), 1), note="rate 1 inserts nothing"),
        Case((randn(1, 1, 3, 3, seed=54), 0), **_error("dilate_kernel", 0)),
    ],
    mistakes=[
        _dilate_mistake("d zeros between taps instead of d - 1 (dilation off by one)", _HOLES_HINT,
                        lambda w, d: _dilate(w, d + 1, d + 1)),
        _dilate_mistake("zeros also after the last tap", "Zeros go only BETWEEN taps: the last "
                        "row and column are taps, size d(k - 1) + 1, not d*k.",
                        lambda w, d: _dilate(w, d, d, trailing=True)),
        _dilate_mistake("taps copied into the corner instead of spread out",
                        "Tap (i, j) goes to (i*d, j*d): out[:, :, ::d, ::d] = weight.",
                        lambda w, d: _dilate(w, d, d, corner=True)),
        _dilate_mistake("dilated along the height only", "Insert the zeros along kh and kw.",
                        lambda w, d: _dilate(w, d, 1)),
        _dilate_mistake("dilated along the width only", "Insert the zeros along kh and kw.",
                        lambda w, d: _dilate(w, 1, d)),
    ],
))


# --- conv2d_dilated --------------------------------------------------------------------------

def variant(change):
    """A Mistake's ``produce``: ``conv2d`` with its arguments (bound by name, defaults filled
    in, as hidden cases may pass them positionally) edited in place by ``change``."""

    def produce(x, weight, bias=None, stride=1, padding=0, dilation=1):
        a = {"x": x, "weight": weight, "bias": bias, "stride": stride, "padding": padding,
             "dilation": dilation}
        change(a)
        return conv2d(**a)

    return produce


def _move_padding(sides):
    """Pad x by ``sides(p)`` (F.pad order: left, right, top, bottom) instead of p all round."""

    def change(a):
        a["x"], a["padding"] = F.pad(a["x"], sides(a["padding"])), 0

    return change


def _conv_mistakes() -> list[Mistake]:
    """The slips of notebook 01 that a dilated conv can make just as well."""

    def flip(a):
        a["weight"] = a["weight"].flip(2, 3)

    def bias_times(times):
        def change(a):
            if a["bias"] is not None:
                a["bias"] = a["bias"] * times if times else None
        return change

    def swap_weight_axes(a):
        a["weight"] = a["weight"].transpose(0, 1)

    def first_channel(a):
        a["x"], a["weight"] = a["x"][:, :1], a["weight"][:, :1]

    def stride_one(a):
        a["stride"] = 1

    pad_hint = "Pad p zeros on all four sides: F.pad(x, (p, p, p, p)) pads left, right, top and bottom."
    return [
        Mistake("kernel flipped (that is true convolution)",
                "Deep-learning 'convolution' is cross-correlation: use the weight as it is, no flip.",
                variant(flip)),
        Mistake("padding on the top/left only", pad_hint, variant(_move_padding(lambda p: (p, 0, p, 0)))),
        Mistake("padding on the bottom/right only", pad_hint, variant(_move_padding(lambda p: (0, p, 0, p)))),
        Mistake("padding ignored", "Pad the input with p zeros on every side before sliding the kernel.",
                variant(_move_padding(lambda p: (0, 0, 0, 0)))),
        Mistake("stride ignored", "Windows start s pixels apart: there are "
                "floor((H + 2p - d(k - 1) - 1) / s) + 1 rows of them.", variant(stride_one)),
        Mistake("bias dropped", "Add bias[o] to every position of output channel o.", variant(bias_times(0))),
        Mistake("bias added twice", "Add the bias once per output value, after the sum.", variant(bias_times(2))),
        Mistake("weight axes swapped (summed over output channels)",
                "weight is (C_out, C_in, kh, kw): output channel o is the sum over input "
                "channels c of x[:, c] correlated with weight[o, c].", variant(swap_weight_axes)),
        Mistake("only input channel 0 used", "Sum over all C_in input channels, not just the first.",
                variant(first_channel)),
    ]


def _dilation_mistakes() -> list[Mistake]:
    def off_by_one(a):
        a["dilation"] = a["dilation"] + 1

    def ignored(a):
        a["dilation"] = 1

    def on_stride(a):
        a["stride"], a["dilation"] = a["stride"] * a["dilation"], 1

    def on_padding(a):
        a["padding"], a["dilation"] = a["padding"] * a["dilation"], 1

    def extent_dk(x, weight, bias=None, stride=1, padding=0, dilation=1):
        """Right values, but the output size counted with a kernel extent of d*k."""
        out = convlab.conv2d_dilated(x, weight, bias, stride, padding, dilation)
        (h, w), (kh, kw) = x.shape[-2:], weight.shape[-2:]
        rows = (h + 2 * padding - dilation * kh) // stride + 1
        cols = (w + 2 * padding - dilation * kw) // stride + 1
        if rows < 1 or cols < 1:
            raise ValueError("kernel larger than the padded input")
        return out[..., :rows, :cols]

    def sized_with_k(x, weight, bias=None, stride=1, padding=0, dilation=1):
        """A loop over the taps whose output is sized with k, not the extent d(k-1)+1: with
        d > 1 the windows run past the input, a slice comes back shorter than the output
        and the sum raises torch's "The size of tensor a (..) must match ..."."""
        convlab.conv2d_dilated(x, weight, bias, stride, padding, dilation)  # the same validation
        (kh, kw), (h, w) = weight.shape[-2:], x.shape[-2:]
        xp = F.pad(x, (padding,) * 4)
        rows = (h + 2 * padding - kh) // stride + 1
        cols = (w + 2 * padding - kw) // stride + 1
        out = x.new_zeros(x.shape[0], weight.shape[0], rows, cols)
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, :, i * dilation:i * dilation + stride * (rows - 1) + 1:stride,
                           j * dilation:j * dilation + stride * (cols - 1) + 1:stride]
                out += torch.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])
        return out if bias is None else out + bias[None, :, None, None]

    return [
        Mistake("output sized with k instead of the dilated extent d(k-1)+1",
                "With dilation d a k-tap kernel spans d(k - 1) + 1 pixels: there are "
                "floor((H + 2p - d(k - 1) - 1) / s) + 1 output rows, fewer than with k. Sized "
                "with k, the last windows run past the input and the slices come back short.",
                sized_with_k, error_pattern=r"size of tensor [ab] \((\d+)\)"),
        Mistake("kernel extent taken as d*k in the output size",
                "A dilated k-tap kernel spans d(k - 1) + 1 pixels, not d*k: there are "
                "floor((H + 2p - d(k - 1) - 1) / s) + 1 output rows.", extent_dk),
        Mistake("d zeros between taps instead of d - 1 (dilation off by one)",
                "Taps are d apart: tap (i, j) reads x[y*s + i*d, x*s + j*d] (d - 1 holes between "
                "taps), so the kernel spans d(k - 1) + 1 pixels.", variant(off_by_one)),
        Mistake("dilation ignored", "Tap (i, j) reads the input at (y*s + i*d, x*s + j*d), "
                "d pixels apart.", variant(ignored)),
        Mistake("dilation applied to the stride instead of the kernel",
                "Dilation spreads the TAPS of one window d apart; the windows still start s "
                "pixels apart (the stride).", variant(on_stride)),
        Mistake("dilation applied to the padding instead of the kernel",
                "Padding is p zeros on each side whatever the dilation; dilation spreads the "
                "taps d apart.", variant(on_padding)),
    ]


def _dilated_cases() -> list[Case]:
    # The first has C_in = C_out and no bias so that layout mistakes show alone; padding
    # > 0 with dilation > 1 separates "dilation on the padding" from "dilation ignored".
    return [
        # padding != dilation - 1: an output size counted with a d*k extent and padding on
        # one side only lose different numbers of rows.
        Case((randn(2, 2, 7, 8, seed=60), randn(2, 2, 3, 2, seed=61)), {"padding": 1, "dilation": 3},
             note="C_in = C_out, non-square kernel, padding 1, dilation 3"),
        Case((randn(1, 3, 9, 8, seed=62), randn(2, 3, 3, 3, seed=63), randn(2, seed=64)),
             {"stride": 2, "padding": 1, "dilation": 2}, note="stride, padding, dilation, bias"),
        Case((randn(2, 2, 8, 9, seed=65), randn(3, 2, 2, 3, seed=66), randn(3, seed=67)),
             {"padding": 2, "dilation": 3}, note="dilation 3, padding 2"),
        Case((randn(1, 2, 6, 7, seed=68), randn(2, 2, 3, 3, seed=69)), {"stride": 2, "padding": 1},
             note="dilation 1: a plain conv"),
        # The undilated 3 x 3 kernel fits the 5 x 9 input; dilated by 3 it is 7 tall.
        Case((randn(1, 2, 5, 9, seed=70), randn(2, 2, 3, 3, seed=71)), {"dilation": 3},
             **_error("conv2d_dilated", 0)),
        Case((randn(1, 3, 6, 6, seed=72), randn(2, 2, 3, 3, seed=73)), {"dilation": 2},
             **_error("conv2d_dilated", 1)),
        Case((randn(1, 2, 6, 6, seed=74), randn(2, 2, 3, 3, seed=75)), {"dilation": 0},
             **_error("conv2d_dilated", 2)),
    ]


register(Exercise(
    name="conv2d_dilated",
    assignment=A,
    errors=ERRORS["conv2d_dilated"],
    reference=convlab.conv2d_dilated,
    forbidden=("conv", "unfold"),
    vectorized=True,
    scaling_case=lambda s: _dilated_scaling(*scale_axes(s)),
    visible_cases=_dilated_cases,
    mistakes=_dilation_mistakes() + _conv_mistakes(),
))


# --- space_to_batch and batch_to_space --------------------------------------------------------
# Phase (i, j) of image n is x[n, :, i::r, j::r]. TensorFlow stacks the phases phase-major:
# batch (i*r + j)*N + n. The other orders below are what a student gets from another
# permute, or from space_to_depth / pixel_unshuffle, or from cutting tiles.

def _phases(x, r) -> torch.Tensor:
    """(N, C, H, W) -> (r_i, r_j, N, C, H/r, W/r): phase (i, j) of every image."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // r, r, w // r, r).permute(3, 5, 0, 1, 2, 4)


def _s2b_order(order):
    """space_to_batch that stacks the phases in ``order`` (a permute of (i, j, n))."""
    def produce(x, rate):
        convlab.space_to_batch(x, rate)  # the same validation
        p = _phases(x, rate)
        n, c, h, w = p.shape[2:]
        return p.permute(*order, 3, 4, 5).reshape(rate * rate * n, c, h, w)

    return produce


def _s2b_tiles(x, rate):
    convlab.space_to_batch(x, rate)
    n, c, h, w = x.shape
    tiles = x.reshape(n, c, rate, h // rate, rate, w // rate).permute(2, 4, 0, 1, 3, 5)
    return tiles.reshape(rate * rate * n, c, h // rate, w // rate)


def _s2b_depth(x, rate):
    convlab.space_to_batch(x, rate)
    return F.pixel_unshuffle(x, rate)


_S2B_HINT = ("TensorFlow's order: phase (i, j) of image n, x[n, :, i::rate, j::rate], goes to "
             "batch (i*rate + j)*N + n: all images' phase (0, 0) first, then phase (0, 1), ...")

register(Exercise(
    name="space_to_batch",
    assignment=A,
    errors=ERRORS["space_to_batch"],
    reference=convlab.space_to_batch,
    vectorized=True,
    scaling_case=lambda s: _sized(randn, (2, 2, 4, 6), scale_axes(s), 2, seed=80),
    visible_cases=lambda: [
        Case((torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4), 2), note="pixels 0..15"),
        Case((randn(2, 2, 4, 6, seed=81), 2), note="N = 2: where each image goes"),
        Case((randn(2, 1, 6, 3, seed=82), 3), note="rate 3, H != W"),
        Case((randn(1, 2, 3, 2, seed=83), 1), note="rate 1: nothing moves"),
        Case((randn(1, 1, 5, 4, seed=85), 2), **_error("space_to_batch", 0)),
        Case((randn(1, 1, 4, 6, seed=84), 4), **_error("space_to_batch", 1)),
        Case((randn(1, 1, 4, 4, seed=86), 0), **_error("space_to_batch", 2)),
    ],
    mistakes=[
        Mistake("phases ordered image-major (n*rate*rate + i*rate + j), not TensorFlow's", _S2B_HINT,
                _s2b_order((2, 0, 1))),
        Mistake("phase (i, j) sent to batch (j*rate + i)*N + n (column phase first)", _S2B_HINT,
                _s2b_order((1, 0, 2))),
        Mistake("contiguous tiles instead of interleaved phases",
                "A phase takes every rate-th pixel, x[:, :, i::rate, j::rate], not a block "
                "x[:, :, i*H/rate:(i+1)*H/rate, ...].", _s2b_tiles),
        Mistake("phases stacked into the channels (that is space_to_depth / pixel_unshuffle)",
                "The phases go to the BATCH axis: the result is (rate*rate*N, C, H/rate, W/rate).",
                _s2b_depth),
    ],
))


def _b2s_order(order):
    """batch_to_space that reads the batch as if the phases were stacked in ``order``."""
    def produce(x, rate):
        convlab.batch_to_space(x, rate)  # the same validation
        b, c, h, w = x.shape
        n = b // (rate * rate)
        sizes = {0: rate, 1: rate, 2: n}
        stacked = x.reshape(*(sizes[a] for a in order), c, h, w)
        inverse = [order.index(a) for a in (0, 1, 2)]
        phases = stacked.permute(*inverse, 3, 4, 5)  # (r_i, r_j, N, C, h, w)
        return phases.permute(2, 3, 4, 0, 5, 1).reshape(n, c, h * rate, w * rate)

    return produce


def _b2s_no_permute(x, rate):
    convlab.batch_to_space(x, rate)
    b, c, h, w = x.shape
    return x.reshape(b // (rate * rate), c, h * rate, w * rate)


def _b2s_tiles(x, rate):
    convlab.batch_to_space(x, rate)
    b, c, h, w = x.shape
    n = b // (rate * rate)
    return x.reshape(rate, rate, n, c, h, w).permute(2, 3, 0, 4, 1, 5).reshape(n, c, h * rate, w * rate)


_B2S_HINT = ("batch_to_space must undo space_to_batch exactly: batch (i*rate + j)*N + n holds "
             "phase (i, j) of image n, which goes back to out[n, :, i::rate, j::rate].")

register(Exercise(
    name="batch_to_space",
    assignment=A,
    errors=ERRORS["batch_to_space"],
    reference=convlab.batch_to_space,
    vectorized=True,
    scaling_case=lambda s: _sized(randn, (8, 2, 2, 3), scale_axes(s), 2, seed=90),
    visible_cases=lambda: [
        Case((torch.arange(16.0, dtype=torch.float64).reshape(4, 1, 2, 2), 2), note="pixels 0..15"),
        Case((randn(8, 2, 2, 3, seed=91), 2), note="N = 2 images of 2 channels"),
        Case((randn(18, 1, 2, 1, seed=92), 3), note="rate 3, N = 2"),
        Case((randn(2, 3, 2, 2, seed=93), 1), note="rate 1: nothing moves"),
        Case((randn(6, 1, 2, 2, seed=94), 2), **_error("batch_to_space", 0)),
        Case((randn(4, 1, 2, 2, seed=95), 0), **_error("batch_to_space", 1)),
    ],
    mistakes=[
        Mistake("not the exact inverse: batch read image-major (n*rate*rate + i*rate + j)", _B2S_HINT,
                _b2s_order((2, 0, 1))),
        Mistake("not the exact inverse: batch (i*rate + j)*N + n put back at phase (j, i)", _B2S_HINT,
                _b2s_order((1, 0, 2))),
        Mistake("not the exact inverse: a reshape alone, without a permute", _B2S_HINT
                + " A reshape keeps the memory order, so the phases end up side by side, "
                "not interleaved.", _b2s_no_permute),
        Mistake("not the exact inverse: phases put back as contiguous tiles", _B2S_HINT, _b2s_tiles),
    ],
))


# --- atrous_conv2d ---------------------------------------------------------------------------------

def _tf_split(total):
    return total // 2, total - total // 2


def _atrous(value, filters, rate, padding, *, same=None, io_swapped=False, uncropped=False,
            phases_swapped=False, nchw=False):
    """tf.nn.atrous_conv2d through space_to_batch, with one step done a known wrong way.

    ``same(k, rate)`` gives the SAME padding (before, after) of one axis (default: TF's split
    of rate*(k - 1)); ``io_swapped`` reads the filters as (kh, kw, C_out, C_in);
    ``uncropped`` keeps the rows/columns added to make the size divisible by the rate;
    ``phases_swapped`` puts batch (i*rate + j)*N + n back at phase (j, i); ``nchw`` leaves
    the output in NCHW.
    """
    convlab.atrous_conv2d(value, filters, rate, padding)  # the same validation (raises alike)
    kh, kw = filters.shape[:2]
    _, h, w, _ = value.shape
    if padding.upper() == "SAME":
        rule = same or (lambda k, r: _tf_split(r * (k - 1)))
        (top, bottom), (left, right) = rule(kh, rate), rule(kw, rate)
    else:
        top = bottom = left = right = 0
    x = value.permute(0, 3, 1, 2)
    hp, wp = h + top + bottom, w + left + right
    out_h, out_w = hp - effective_kernel_size(kh, rate) + 1, wp - effective_kernel_size(kw, rate) + 1
    extra_h, extra_w = -hp % rate, -wp % rate
    x = F.pad(x, (left, right + extra_w, top, bottom + extra_h))
    weight = filters.permute(2, 3, 0, 1) if io_swapped else filters.permute(3, 2, 0, 1)
    if out_h < 1 or out_w < 1:
        # The mistaken padding leaves no room for the dilated filter: each phase is then
        # smaller than the filter, and the code crashes where a student's does, in torch's
        # conv2d ("Calculated padded input size per channel: (2 x 3). Kernel size: (3 x 3).
        # Kernel size can't be greater than actual input size"; NO_ROOM names it).
        F.conv2d(convlab.space_to_batch(x, rate), weight)
        raise AssertionError("a phase smaller than the filter was convolved")  # unreachable
    y = conv2d(convlab.space_to_batch(x, rate), weight)
    if phases_swapped:
        b, c, hh, ww = y.shape
        y = y.reshape(rate, rate, b // rate**2, c, hh, ww).transpose(0, 1).reshape(b, c, hh, ww)
    out = convlab.batch_to_space(y, rate)
    if not uncropped:
        out = out[:, :, :out_h, :out_w]
    return out if nchw else out.permute(0, 2, 3, 1)


# torch's conv2d on phases smaller than the filter: the sizes in its message identify a
# mistaken SAME padding that leaves no room for the dilated filter.
NO_ROOM = r"input size per channel: \(\d+ x \d+\)\. Kernel size: \(\d+ x \d+\)"


def _atrous_mistake(name, hint, error_pattern=None, **wrong):
    def produce(value, filters, rate, padding):
        return _atrous(value, filters, rate, padding, **wrong)

    return Mistake(name, hint, produce, error_pattern=error_pattern)


_SAME_HINT = ("SAME pads the DILATED filter: rate*(k - 1) zeros in total per axis, "
              "rate*(k - 1) // 2 before and the rest (the odd one) after, as TensorFlow does.")


def _atrous_mistakes() -> list[Mistake]:
    return [
        Mistake("rate off by one (rate zeros between taps instead of rate - 1)",
                "Rate r puts r - 1 holes between taps: the dilated filter spans r(k - 1) + 1, and "
                "space_to_batch(x, r) makes neighbouring phase pixels r apart.",
                lambda value, filters, rate, padding: convlab.atrous_conv2d(value, filters, rate + 1, padding)),
        _atrous_mistake("SAME padding computed from the undilated filter", _SAME_HINT, NO_ROOM,
                        same=lambda k, r: _tf_split(k - 1)),
        _atrous_mistake("effective kernel size used as the padding", _SAME_HINT
                        + " The effective size r(k - 1) + 1 is the filter's extent, not the padding.",
                        same=lambda k, r: (effective_kernel_size(k, r),) * 2),
        _atrous_mistake("odd SAME padding pixel put before (top/left) instead of after", _SAME_HINT,
                        same=lambda k, r: _tf_split(r * (k - 1))[::-1]),
        _atrous_mistake("batch_to_space not the exact inverse of space_to_batch",
                        "Whatever order space_to_batch stacks the phases in, batch_to_space must read "
                        "them back in the same order: phase (i, j) returns to out[:, :, i::rate, j::rate].",
                        phases_swapped=True),
        _atrous_mistake("rows/columns added for divisibility not cropped",
                        "The zeros added to make H and W divisible by the rate give extra outputs: crop "
                        "the result to H + pad - rate(k - 1) rows (and the same for the columns).",
                        uncropped=True),
        _atrous_mistake("filters read as (kh, kw, C_out, C_in)", "filters are HWIO, (kh, kw, C_in, C_out): "
                        "a torch weight is filters.permute(3, 2, 0, 1).", io_swapped=True),
        _atrous_mistake("output left in NCHW", "value and result are NHWC, (N, H, W, C): permute the "
                        "conv's (N, C, H, W) back with .permute(0, 2, 3, 1).", nchw=True),
    ]


def _seed_image() -> torch.Tensor:
    # The seed example: a 4 x 4 two-channel image whose rows are all [1, 2, 3, 4].
    return torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).reshape(1, 1, 4, 1).expand(1, 4, 4, 2).contiguous()


def _atrous_cases() -> list[Case]:
    return [
        Case((randn(2, 7, 6, 2, seed=100), randn(3, 2, 2, 2, seed=101), 2, "SAME"),
             note="N = 2, C_in = C_out, a 3 x 2 filter, rate 2"),
        Case((randn(1, 7, 8, 2, seed=102), randn(2, 3, 2, 3, seed=103), 3, "SAME"),
             note="rate 3: odd total padding rate*(k - 1) = 3 along H"),
        Case((randn(2, 8, 9, 1, seed=104), randn(3, 3, 1, 2, seed=105), 2, "VALID")),
        Case((_seed_image(), torch.ones(3, 3, 2, 5, dtype=torch.float64), 2, "SAME"),
             note="the seed example: rows [16, 24, 16, 24]"),
        Case((randn(1, 6, 6, 2, seed=106), randn(3, 3, 2, 2, seed=107), 2, "FULL"), **_error("atrous_conv2d", 0)),
        # The seed's rate 2 VALID: the dilated 5 x 5 filter does not fit the 4 x 4 input.
        Case((_seed_image(), torch.ones(3, 3, 2, 5, dtype=torch.float64), 2, "VALID"), **_error("atrous_conv2d", 1)),
        Case((randn(1, 6, 6, 3, seed=108), randn(3, 3, 2, 2, seed=109), 2, "SAME"), **_error("atrous_conv2d", 2)),
        Case((randn(1, 6, 6, 2, seed=110), randn(3, 3, 2, 2, seed=111), 0, "SAME"), **_error("atrous_conv2d", 3)),
    ]


register(Exercise(
    name="atrous_conv2d",
    assignment=A,
    errors=ERRORS["atrous_conv2d"],
    reference=convlab.atrous_conv2d,
    forbidden=("dilated_conv", "unfold"),
    # The SAME / VALID padding, the VALID conv and the crop are left to atrous_conv2d.
    uses=("space_to_batch", "batch_to_space"),
    vectorized=True,
    scaling_case=lambda s: _atrous_scaling(*scale_axes(s)),
    visible_cases=_atrous_cases,
    mistakes=_atrous_mistakes(),
))


# --- receptive_field ------------------------------------------------------------------------------

def _field(layers, *, grow=lambda k, d: d * (k - 1), jump_after=True, use_stride=True):
    convlab.receptive_field(layers)  # the same validation
    size, jump = 1, 1
    for k, s, d in layers:
        if not jump_after and use_stride:
            jump *= s
        size += grow(k, d) * jump
        if jump_after and use_stride:
            jump *= s
    return size


def _field_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda layers: _field(layers, **wrong))


register(Exercise(
    name="receptive_field",
    assignment=A,
    errors=ERRORS["receptive_field"],
    reference=convlab.receptive_field,
    returns="int",
    visible_cases=lambda: [
        Case(([(3, 1, 1)] * 3,), note="three 3x3 convs (VGG): 7"),
        Case(([(3, 1, 1), (3, 1, 2), (3, 1, 4)],), note="rates 1, 2, 4: 15 (Yu & Koltun)"),
        Case(([(3, 2, 1), (3, 2, 1)],), note="two stride-2 layers"),
        Case(([(11, 4, 1), (3, 2, 1), (5, 1, 1)],), note="AlexNet conv1, pool1, conv2: 51"),
        Case(([(2, 2, 1), (3, 1, 3), (2, 1, 2)],), note="stride, then dilation"),
        Case(([],), note="no layers: one pixel"),
        Case(([(0, 1, 1)],), **_error("receptive_field", 0)),
        Case(([(3, 1, 1), (3, 0, 1)],), **_error("receptive_field", 1)),
        Case(([(3, 1, 0)],), **_error("receptive_field", 2)),
    ],
    mistakes=[
        _field_mistake("stride products ignored", "A layer's kernel covers its INPUT's pixels, which "
                       "are prod(strides before it) input pixels apart: add d(k - 1) * prod_{j<i} s_j.",
                       use_stride=False),
        _field_mistake("the layer's own stride included in its jump", "Layer i's taps are spaced by the "
                       "strides of the layers BEFORE it, not its own: prod_{j<i} s_j.", jump_after=False),
        _field_mistake("dilation added instead of (k - 1)d", "A dilated kernel widens the field by "
                       "d(k - 1), not by (k - 1) + (d - 1).", grow=lambda k, d: k - 1 + d - 1),
        _field_mistake("dilation ignored", "A dilated layer widens the field by d(k - 1).",
                       grow=lambda k, d: k - 1),
        _field_mistake("each layer adds its effective size d(k - 1) + 1 instead of d(k - 1)",
                       "Stacking adds the extent MINUS one: one pixel is shared. r = 1 + sum d(k - 1) * jump.",
                       grow=lambda k, d: d * (k - 1) + 1),
    ],
))


# --- causal_conv1d ----------------------------------------------------------------------------------

def _causal(x, weight, bias=None, dilation=1, *, left=None, right=0, tap_dilation=None, flip=False,
            keep=None, bias_times=1):
    """causal_conv1d with its padding, dilation, tap order, length or bias written wrong."""
    convlab.causal_conv1d(x, weight, bias, dilation)  # the same validation
    k = weight.shape[2]
    tap_dilation = dilation if tap_dilation is None else tap_dilation
    left = (k - 1) * dilation if left is None else left(k, dilation)
    right = right(k, dilation) if callable(right) else right
    w = weight.flip(2) if flip else weight
    xp = F.pad(x, (left, right))
    out = conv2d(xp[:, :, None], w[:, :, None], dilation=(1, tap_dilation))[:, :, 0]
    if keep is not None:
        out = out[:, :, :keep(x.shape[2], out.shape[2])]
    if bias is not None:
        out = out + bias_times * bias.reshape(1, -1, 1)
    return out


def _causal_mistake(name, hint, **wrong):
    def produce(x, weight, bias=None, dilation=1):
        return _causal(x, weight, bias, dilation, **wrong)

    return Mistake(name, hint, produce)


def _causal_scaling(n: int, h: int, w: int) -> Case:
    """A 1-D case: N grows with n, the length L with h and w (6s + 5 where all three are s)."""
    return Case((randn(2 * n, 2, 3 * (h + w) + 5, seed=130), randn(3, 2, 3, seed=131)), {"dilation": 2})


register(Exercise(
    name="causal_conv1d",
    assignment=A,
    errors=ERRORS["causal_conv1d"],
    reference=convlab.causal_conv1d,
    forbidden=("conv", "unfold"),
    vectorized=True,
    scaling_case=lambda s: _causal_scaling(*scale_axes(s)),
    visible_cases=lambda: [
        Case((randn(2, 2, 10, seed=122), randn(3, 2, 3, seed=123), randn(3, seed=124)), {"dilation": 2},
             note="N = 2, C_in = 2, C_out = 3, bias; (k-1)d = 4 zeros on the left"),
        Case((randn(1, 1, 8, seed=120), randn(1, 1, 2, seed=121)), note="WaveNet's k = 2, dilation 1"),
        Case((randn(1, 2, 9, seed=125), randn(2, 2, 2, seed=126)), {"dilation": 3},
             note="an odd padding (k-1)d = 3"),
        Case((randn(2, 1, 7, seed=127), randn(1, 1, 4, seed=128), randn(1, seed=129)), {"dilation": 2},
             note="the dilated kernel (extent 7) as long as the input"),
        Case((randn(1, 2, 8, seed=132), randn(3, 2)), **_error("causal_conv1d", 0)),
        Case((randn(1, 3, 8, seed=133), randn(2, 2, 2, seed=134)), **_error("causal_conv1d", 1)),
        Case((randn(1, 2, 8, seed=135), randn(2, 2, 2, seed=136)), {"dilation": 0}, **_error("causal_conv1d", 2)),
    ],
    mistakes=[
        _causal_mistake("symmetric ('same') padding instead of all on the left",
                        "A causal output may not see the future: all (k-1)d zeros go on the LEFT, "
                        "none on the right, F.pad(x, ((k-1)*d, 0)).",
                        left=lambda k, d: (k - 1) * d // 2, right=lambda k, d: (k - 1) * d - (k - 1) * d // 2),
        _causal_mistake("padded on the right (looks into the future)",
                        "Output t may depend on inputs t, t-d, ... only: the zeros go on the left.",
                        left=lambda k, d: 0, right=lambda k, d: (k - 1) * d),
        _causal_mistake("padding (k-1) without the dilation",
                        "The dilated kernel reaches (k-1)d samples back: pad (k-1)*d zeros, not k-1 "
                        "(the output then comes out (k-1)(d-1) samples short).", left=lambda k, d: k - 1),
        _causal_mistake("dilation ignored", "Tap j reads x[t - (k-1-j)*d]: the taps are d apart, "
                        "and the left padding is (k-1)*d.", left=lambda k, d: k - 1, tap_dilation=1),
        _causal_mistake("padded on both sides and not cropped: output length L + (k-1)d",
                        "The output has the input's length L: pad on the left only (or keep the first "
                        "L outputs).", right=lambda k, d: (k - 1) * d),
        _causal_mistake("kernel taps in reverse order (weight[..., j] on x[t - j*d])",
                        "As in F.conv1d, the LAST tap weight[..., k-1] meets x[t] and the first "
                        "weight[..., 0] meets x[t - (k-1)d].", flip=True),
        _causal_mistake("bias dropped", "Add bias[o] to every output of channel o.", bias_times=0),
    ],
))


# --- wavenet_receptive_field ------------------------------------------------------------------------

def _wavenet(kernel_size, rates, stacks=1, *, plus=1, taps=lambda k: k - 1, use_stacks=True,
             per_stack=False):
    convlab.wavenet_receptive_field(kernel_size, rates, stacks)  # the same validation
    stacks = stacks if use_stacks else 1
    one = taps(kernel_size) * sum(rates)
    return stacks * (plus + one) if per_stack else plus + stacks * one


def _wavenet_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda kernel_size, rates, stacks=1: _wavenet(kernel_size, rates, stacks, **wrong))


_WAVENET_RATES = [2**i for i in range(10)]

register(Exercise(
    name="wavenet_receptive_field",
    assignment=A,
    errors=ERRORS["wavenet_receptive_field"],
    reference=convlab.wavenet_receptive_field,
    returns="int",
    visible_cases=lambda: [
        Case((2, _WAVENET_RATES), note="WaveNet: k = 2, rates 1, 2, ..., 512: 1024"),
        Case((2, _WAVENET_RATES, 3), note="three stacks of WaveNet's rates"),
        Case((3, [1, 2, 4, 8], 2), note="k = 3, two stacks"),
        Case((1, [4, 8]), note="1-tap layers see one sample"),
        Case((0, [1, 2]), **_error("wavenet_receptive_field", 0)),
        Case((2, []), **_error("wavenet_receptive_field", 1)),
        Case((2, [1, 0, 2]), **_error("wavenet_receptive_field", 1)),
        Case((2, [1, 2], 0), **_error("wavenet_receptive_field", 2)),
    ],
    mistakes=[
        _wavenet_mistake("forgot the + 1", "The output's own sample counts: 1 + stacks * (k-1) * sum(rates).",
                         plus=0),
        _wavenet_mistake("k instead of k - 1", "A layer with k taps d apart reaches (k-1)d samples "
                         "further back, not kd.", taps=lambda k: k),
        _wavenet_mistake("stacks ignored", "Each stack repeats every rate: stacks * (k-1) * sum(rates).",
                         use_stacks=False),
        _wavenet_mistake("the + 1 counted once per stack", "Stacked fields share a sample where they "
                         "meet: the + 1 comes once, 1 + stacks * (k-1) * sum(rates).", per_stack=True),
    ],
))
