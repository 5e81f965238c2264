"""Checks for assignment 01: standard convolution.

The named mistakes are written as what the mistaken code returns, built from the
reference ops, so a student's output that equals one of them gets the mistake's name.
Cases are chosen so that every mistake changes the result somewhere (C_in = C_out in one
case so a swapped weight still has the right shape; C_in = 3 so a bias added once per
input channel differs from a bias added twice; H_out != W_out so a transposed output
shows in the shape).
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

import convlab
from convlab.ops import conv2d
from .core import Case, Exercise, Mistake, register, scale_axes

A = "01_convolution"

# The ValueErrors of this assignment, as the instructions word them (Exercise.errors):
# each raising case, visible or hidden, carries one of these as its note.
ERR_PADDED = "kernel larger than the padded input"
ERR_INPUT = "kernel larger than the input"
ERR_STRIDE = "stride smaller than 1"
ERR_CHANNELS = "x's channels differ from weight's C_in"
ERR_4D = "x not 4-D (N, C, H, W)"


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
        Case((5, 4), {"stride": 1, "padding": 2}),
        Case((6, 3), {"stride": 2, "padding": 1}, note="stride does not divide evenly: floor"),
        Case((2, 4), {"padding": 1}, note="kernel larger than the input, but it fits the padded input"),
        Case((2, 5), {"padding": 0}, raises=ValueError, note=ERR_PADDED),
        Case((5, 3), {"stride": 0}, raises=ValueError, note=ERR_STRIDE),
    ],
    errors=(ERR_PADDED, ERR_STRIDE),
    mistakes=[
        # (n + 2p - k + 1) // s fails exactly where this does, with the same output.
        Mistake("forgot the +1, or put it inside the floor",
                "The first window also counts, after the division: floor((n + 2p - k) / s) + 1, "
                "not (n + 2p - k + 1) // s.",
                lambda n, k, stride=1, padding=0: (n + 2 * padding - k) // stride),
        Mistake("padding counted on one side only", "Padding p is added on both sides: n + 2p.",
                lambda n, k, stride=1, padding=0: (n + padding - k) // stride + 1),
        Mistake("padding ignored", "The kernel slides over the padded input, of length n + 2p.",
                lambda n, k, stride=1, padding=0: (n - k) // stride + 1),
        Mistake("rounded up instead of down", "A window that would run past the edge is dropped: use floor.",
                lambda n, k, stride=1, padding=0: -(-(n + 2 * padding - k) // stride) + 1),
        Mistake("stride ignored", "Divide by the stride: consecutive windows start s pixels apart.",
                lambda n, k, stride=1, padding=0: n + 2 * padding - k + 1),
    ],
))


# --- corr2d -----------------------------------------------------------------------

def _edge_image() -> torch.Tensor:
    # d2l's edge-detection example: a dark vertical band on a white image.
    x = torch.ones(6, 8, dtype=torch.float64)
    x[:, 2:6] = 0
    return x


register(Exercise(
    name="corr2d",
    assignment=A,
    reference=convlab.corr2d,
    forbidden=("conv", "unfold"),
    visible_cases=lambda: [
        Case((torch.arange(9.0, dtype=torch.float64).reshape(3, 3),
              torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64)), note="d2l's example"),
        Case((_edge_image(), torch.tensor([[1.0, -1.0]], dtype=torch.float64)),
             note="d2l's edge detector, a 1 x 2 kernel"),
        Case((randn(5, 7, seed=1), randn(2, 3, seed=2)), note="non-square input and kernel"),
        Case((randn(4, 4, seed=3), randn(4, 4, seed=4)), note="kernel as large as the input"),
        Case((randn(3, 5, seed=5), randn(4, 2, seed=6)), raises=ValueError, note=ERR_INPUT),
    ],
    errors=(ERR_INPUT,),
    mistakes=[
        Mistake("kernel flipped (that is true convolution)",
                "Deep-learning 'convolution' is cross-correlation: slide the kernel as it is.",
                lambda x, kernel: convlab.corr2d(x, kernel.flip(0, 1))),
        Mistake("size formula off by one (last row and column missing)",
                "The output is (H - kh + 1, W - kw + 1): range(H - kh + 1) includes the last window.",
                lambda x, kernel: convlab.corr2d(x, kernel)[:-1, :-1]),
    ],
))


# --- mistakes shared by conv2d_loops, im2col and conv2d_im2col -------------------------
# A mistake returns exactly what the mistaken code returns, so it can stand in for a
# student: the reference called with one argument changed the way the mistaken code
# changes it (on a case where the mistake makes no difference, it returns the right
# answer, as the student's code would). ``variant`` binds the case's arguments by name,
# as hidden cases may pass them positionally.

def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _arguments(function, args, kwargs) -> dict:
    """Every parameter of ``function`` by name, defaults filled in."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def variant(reference, change):
    """A Mistake's ``produce``: ``reference`` with its arguments edited by ``change``
    (a function of the argument dict that edits it in place)."""

    def produce(*args, **kwargs):
        arguments = _arguments(reference, args, kwargs)
        change(arguments)
        return reference(**arguments)

    return produce


def _move_padding(pad_of):
    """Pad x by ``pad_of(ph, pw)`` (F.pad order: left, right, top, bottom), then padding 0."""

    def change(a):
        ph, pw = _pair(a["padding"])
        a["x"] = F.pad(a["x"], pad_of(ph, pw))
        a["padding"] = 0

    return change


def _padding_mistakes(reference) -> list[Mistake]:
    hint = "Pad p zeros on all four sides: F.pad(x, (p, p, p, p)) pads left, right, top and bottom."
    return [
        Mistake("padding on the top/left only", hint,
                variant(reference, _move_padding(lambda ph, pw: (pw, 0, ph, 0)))),
        Mistake("padding on the bottom/right only", hint,
                variant(reference, _move_padding(lambda ph, pw: (0, pw, 0, ph)))),
        Mistake("input copied into the corner of the padded buffer",
                "In a zero buffer of size (H + 2p, W + 2p), x goes to [p:p+H, p:p+W], not [:H, :W].",
                variant(reference, _move_padding(lambda ph, pw: (0, 2 * pw, 0, 2 * ph)))),
        Mistake("padding along the width only",
                "F.pad(x, (p, p)) pads only the last dimension (W); F.pad(x, (p, p, p, p)) pads W and H.",
                variant(reference, _move_padding(lambda ph, pw: (pw, pw, 0, 0)))),
        Mistake("padding ignored", "Pad the input with p zeros on every side before sliding the kernel.",
                variant(reference, _move_padding(lambda ph, pw: (0, 0, 0, 0)))),
    ]


def _stride_one(a):
    a["stride"] = 1


def _stride_ignored(reference) -> Mistake:
    return Mistake("stride ignored",
                   "Windows start s pixels apart: there are floor((H + 2p - kh) / s) + 1 rows of them.",
                   variant(reference, _stride_one))


def _short_size(reference, args, kwargs, axis: int) -> int:
    """(H + 2p - k + 1) // s along ``axis`` (0: height, 1: width), for a conv2d-like call."""
    a = _arguments(reference, args, kwargs)
    (sh, sw), (ph, pw) = _pair(a["stride"]), _pair(a["padding"])
    size = a["x"].shape[2 + axis]
    k = a["weight"].shape[2 + axis] if "weight" in a else _pair(a["kernel_size"])[axis]
    s, p = (sh, ph) if axis == 0 else (sw, pw)
    return (size + 2 * p - k + 1) // s


def _stride_mistakes(reference) -> list[Mistake]:
    """For ops whose result is an image (N, C, H_out, W_out)."""
    unstrided = variant(reference, _stride_one)

    def cropped(*args, **kwargs):
        # Windows read at (i, j) instead of (i*s, j*s), over the right number of positions.
        right = reference(*args, **kwargs)
        return unstrided(*args, **kwargs)[..., : right.shape[-2], : right.shape[-1]]

    def unstrided_size(*args, **kwargs):
        # The output allocated as if the stride were 1; the loop fills only its top-left corner.
        right = reference(*args, **kwargs)
        out = torch.zeros_like(unstrided(*args, **kwargs))
        out[..., : right.shape[-2], : right.shape[-1]] = right
        return out

    def size_plus_one_over_s(*args, **kwargs):
        # H_out = (H + 2p - k + 1) // s: right for s = 1, one window short for some strides.
        right = reference(*args, **kwargs)
        return right[..., : _short_size(reference, args, kwargs, 0), : _short_size(reference, args, kwargs, 1)]

    return [
        _stride_ignored(reference),
        Mistake("output size (H + 2p - k + 1) // s instead of (H + 2p - k) // s + 1",
                "The number of windows is floor((H + 2p - kh) / s) + 1: the first window counts "
                "once, whatever the stride; (H + 2p - kh + 1) // s drops the last window for some "
                "strides.", size_plus_one_over_s),
        Mistake("windows not moved by the stride",
                "Output (i, j) reads the window that starts at row i*s and column j*s, not at (i, j).",
                cropped),
        Mistake("output sized without the stride",
                "Allocate floor((H + 2p - kh) / s) + 1 rows (and the same for the columns): "
                "the count your loop runs over.",
                unstrided_size),
    ]


def _conv2d_mistakes() -> list[Mistake]:
    def flip(a):
        a["weight"] = a["weight"].flip(2, 3)

    def bias(times):
        def change(a):
            if a["bias"] is not None:
                a["bias"] = a["bias"] * times(a) if times(a) else None
        return change

    def swap_weight_axes(a):
        a["weight"] = a["weight"].transpose(0, 1)

    def first_channel(a):
        a["x"], a["weight"] = a["x"][:, :1], a["weight"][:, :1]

    return [
        Mistake("kernel flipped (that is true convolution)",
                "Deep-learning 'convolution' is cross-correlation: use the weight as it is, no flip.",
                variant(conv2d, flip)),
        *_padding_mistakes(conv2d),
        *_stride_mistakes(conv2d),
        Mistake("bias dropped", "Add bias[o] to every position of output channel o.",
                variant(conv2d, bias(lambda a: 0))),
        Mistake("bias added twice", "Add the bias once per output value, after the sum.",
                variant(conv2d, bias(lambda a: 2))),
        Mistake("bias added once per input channel",
                "Add the bias once, after summing over the input channels, not inside that sum.",
                variant(conv2d, bias(lambda a: a["x"].shape[1]))),
        Mistake("weight axes swapped (summed over output channels)",
                "weight is (C_out, C_in, kh, kw): output channel o is the sum over input "
                "channels c of x[:, c] correlated with weight[o, c].",
                variant(conv2d, swap_weight_axes)),
        Mistake("only input channel 0 used", "Sum over all C_in input channels, not just the first.",
                variant(conv2d, first_channel)),
    ]


def _conv2d_cases() -> list[Case]:
    """Batched, float64, non-square; each case exercises a different argument. The first
    has no bias, so how a student adds it cannot hide a layout mistake there."""
    return [
        Case((randn(2, 3, 5, 7, seed=10), randn(3, 3, 3, 2, seed=11)), note="C_in = C_out, non-square kernel"),
        Case((randn(1, 2, 7, 6, seed=13), randn(3, 2, 3, 3, seed=14)), {"stride": 2, "padding": 1},
             note="stride and padding"),
        Case((randn(2, 3, 6, 5, seed=15), randn(4, 3, 2, 3, seed=16), randn(4, seed=17)),
             {"stride": 3, "padding": 2}, note="stride 3, padding 2, bias"),
        Case((randn(1, 1, 4, 5, seed=18), randn(2, 1, 4, 4, seed=19), randn(2, seed=12)),
             note="kernel as tall as the input"),
        # Padding at stride 1: padding one side only changes the size here, while the size
        # formula (H + 2p - k + 1) // s does not, so the two are told apart.
        Case((randn(1, 2, 5, 4, seed=22), randn(2, 2, 3, 2, seed=23)), {"padding": 1},
             note="padding, stride 1"),
        # And at stride 2 the formula loses a row where padding one side keeps it.
        Case((randn(1, 2, 7, 6, seed=24), randn(2, 2, 3, 3, seed=25), randn(2, seed=26)),
             {"stride": 2, "padding": 2}),
        Case((randn(1, 2, 2, 5, seed=27), randn(2, 2, 4, 3, seed=28)), {"padding": 1},
             note="kernel taller than the input, not than the padded input: valid"),
    ]


def _conv2d_error_cases() -> list[Case]:
    return [
        Case((randn(1, 2, 3, 3, seed=20), randn(1, 2, 4, 2, seed=21)), raises=ValueError, note=ERR_PADDED),
        Case((randn(2, 3, 5, 5, seed=43), randn(4, 2, 3, 3, seed=44)), raises=ValueError, note=ERR_CHANNELS),
    ]


# --- conv2d_loops -------------------------------------------------------------------

register(Exercise(
    name="conv2d_loops",
    assignment=A,
    reference=convlab.conv2d_loops,
    forbidden=("conv", "unfold"),
    visible_cases=lambda: [
        *_conv2d_cases(),
        *_conv2d_error_cases(),
    ],
    errors=(ERR_PADDED, ERR_CHANNELS),
    mistakes=_conv2d_mistakes(),
))


# --- im2col -------------------------------------------------------------------------

def _column_grid(a) -> torch.Tensor:
    """The reference's columns as (N, C, kh*kw, H_out, W_out)."""
    cols = convlab.im2col(a["x"], a["kernel_size"], a["stride"], a["padding"])
    (kh, kw), (sh, sw), (ph, pw) = _pair(a["kernel_size"]), _pair(a["stride"]), _pair(a["padding"])
    n, c, h, w = a["x"].shape
    return cols.reshape(n, c, kh * kw, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def _im2col_mistakes() -> list[Mistake]:
    def reorder(rearrange):
        # These change the layout, not an argument: compute, then rearrange.
        def produce(*args, **kwargs):
            grid = _column_grid(_arguments(convlab.im2col, args, kwargs))
            return rearrange(grid).reshape(grid.shape[0], grid.shape[1] * grid.shape[2], -1)
        return produce

    def tap_major(grid):
        return grid.transpose(1, 2)

    def x_major(grid):
        return grid.transpose(-2, -1)

    def swap_kernel(a):
        kh, kw = _pair(a["kernel_size"])
        a["kernel_size"] = (kw, kh)

    return [
        Mistake("rows ordered kernel-position-major instead of channel-major",
                "Row c*kh*kw + i*kw + j holds channel c, tap (i, j), as in F.unfold: all taps of "
                "channel 0 first, then those of channel 1, ...",
                reorder(tap_major)),
        Mistake("columns in column-major (x-major) order",
                "Column y*W_out + x holds the window at output position (y, x), as in F.unfold: "
                "the windows of the first output row come first.",
                reorder(x_major)),
        *_padding_mistakes(convlab.im2col),
        _stride_ignored(convlab.im2col),
        Mistake("kernel height and width swapped", "kernel_size is (kh, kw): kh rows and kw columns per window.",
                variant(convlab.im2col, swap_kernel)),
    ]


# The vectorization check's inputs: (n, h, w) scale the batch, the height and the width.
def _im2col_scaling(n: int, h: int, w: int) -> Case:
    return Case((randn(n, 2, 3 + 4 * h, 4 + 3 * w, seed=30), (2, 3)), {"padding": 1})


def _conv2d_im2col_scaling(n: int, h: int, w: int) -> Case:
    return Case((randn(n, 2, 3 + 4 * h, 4 + 3 * w, seed=40), randn(3, 2, 3, 2, seed=41), randn(3, seed=42)),
                {"padding": 1})


register(Exercise(
    name="im2col",
    assignment=A,
    reference=convlab.im2col,
    forbidden=("conv", "unfold"),
    vectorized=True,
    scaling_case=lambda s: _im2col_scaling(*scale_axes(s)),
    visible_cases=lambda: [
        Case((torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4), 2), note="one 4 x 4 channel"),
        Case((randn(2, 3, 4, 6, seed=31), (2, 3)), note="non-square kernel, 3 channels"),
        Case((randn(2, 2, 6, 7, seed=32), 3), {"stride": 2, "padding": 1}, note="stride and padding"),
        Case((randn(1, 2, 5, 7, seed=33), (3, 2)), {"stride": 3, "padding": 2}),
        Case((randn(1, 2, 2, 5, seed=36), (4, 2)), {"padding": 1},
             note="kernel taller than the input, not than the padded input: valid"),
        Case((randn(1, 1, 3, 3, seed=34), 4), raises=ValueError, note=ERR_PADDED),
        Case((randn(2, 4, 4, seed=35), 2), raises=ValueError, note=ERR_4D),
    ],
    errors=(ERR_4D, ERR_PADDED),
    mistakes=_im2col_mistakes(),
))


# --- conv2d_im2col ------------------------------------------------------------------

def _reshape_mistakes() -> list[Mistake]:
    def relayout(rearrange):
        def produce(*args, **kwargs):
            return rearrange(conv2d(*args, **kwargs))
        return produce

    def as_wo_ho(out):
        n, c, ho, wo = out.shape
        return out.reshape(n, c, wo, ho)

    def batch_channel_mixed(out):
        # A (C_out, N*L) product reshaped to (N, C_out, ...) without a permute first.
        return out.transpose(0, 1).reshape(out.shape)

    def weight_tap_major(a):
        # weight.permute(0, 2, 3, 1).reshape(C_out, -1): (kh, kw, C) order, while the rows of
        # the columns are (C, kh, kw): each value meets the wrong tap.
        w = a["weight"]
        a["weight"] = w.permute(0, 2, 3, 1).reshape(w.shape)

    hint = ("The product is (N, C_out, L) with L = H_out*W_out in row-major order: "
            "reshape it to (N, C_out, H_out, W_out).")
    return [
        Mistake("weight flattened in (kh, kw, C_in) order",
                "im2col's rows are ordered (channel, tap row, tap column): flatten the weight the "
                "same way, weight.reshape(C_out, -1), without a permute.",
                variant(conv2d, weight_tap_major)),
        Mistake("output reshaped to (N, C_out, W_out, H_out)", hint, relayout(as_wo_ho)),
        Mistake("output reshaped to (N, C_out, W_out, H_out), then transposed", hint,
                relayout(lambda out: as_wo_ho(out).transpose(2, 3))),
        Mistake("batch and channel axes mixed up",
                "A (C_out, N*L) product must be permuted to (N, C_out, L) before the reshape; "
                "a reshape alone mixes images and channels.",
                relayout(batch_channel_mixed)),
    ]


register(Exercise(
    name="conv2d_im2col",
    assignment=A,
    reference=convlab.conv2d_im2col,
    forbidden=("conv", "unfold"),
    vectorized=True,
    scaling_case=lambda s: _conv2d_im2col_scaling(*scale_axes(s)),
    visible_cases=lambda: [
        *_conv2d_cases(),
        *_conv2d_error_cases(),
    ],
    errors=(ERR_PADDED, ERR_CHANNELS),
    uses=("im2col",),  # the weight matrix, the one product, the bias, the output shape are left
    mistakes=_conv2d_mistakes() + _reshape_mistakes(),
))
