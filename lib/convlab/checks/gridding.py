"""Checks for assignment 04: the gridding effect.

Every exercise here is about *which* input pixels a stack of stride-1 dilated k x k convs
reads, so the mistakes are about counting: paths vs reachability, the size R of the
receptive field (R = 1 + (k-1) * sum(rates), not k * sum(rates), not the sum of the
layers' dilated kernel sizes), the spacing of the taps (d - 1 zeros between them, not d),
the square a fraction is taken over, the overlap of two shifted fields (an intersection
of pixels, without wrap-around), and, for the effective receptive field, which output is
differentiated and how the gradient is turned into a map (abs, sum over channels,
normalisation, eval mode).

``has_gridding`` returns a bool, so on any one case every wrong answer gives the same
output. A bool mistake is named only if no other mistake fails on every case it fails on
(``first_failure`` names all mistakes tied in its vote), so the catalogue holds only
mistakes whose sets of failing cases are not contained in one another, and the cases are
chosen to make them so: "answer inverted" (it fails wherever anything fails) and "holes
looked for in a k*sum(rates) square" (it fails wherever "any rate > 1" does) cannot be
told apart from the others by a bool and are left out. tests/test_checks_gridding.py
proves, for every exercise, that check() names exactly the mistake made.

``effective_receptive_field`` takes an ``nn.Module``, which cannot cross into the grading
sandbox: its cases describe a small model in plain data and the adapter
``erf_of_described_model`` (adapters.py) builds it, for the reference, the mistakes and the
student alike.
"""
from __future__ import annotations

import math

import torch

import convlab
from convlab.shapes import check_rates

from .core import Case, Exercise, Mistake, register
from .standard import randn

A = "04_gridding"


def _field(rates, k) -> int:
    return 1 + (k - 1) * sum(rates)


def _recentre(counts: torch.Tensor, size: int) -> torch.Tensor:
    """``counts`` (R, R) on a (size, size) canvas whose centre pixel size // 2 holds the
    map's centre R // 2: what a student's canvas of the wrong size ends up holding (the
    footprint around its centre pixel, cropped where the canvas is too small)."""
    r = counts.shape[0]
    shift = size // 2 - r // 2
    out = counts.new_zeros(size, size)
    lo, hi = max(shift, 0), min(shift + r, size)
    out[lo:hi, lo:hi] = counts[lo - shift:hi - shift, lo - shift:hi - shift]
    return out


def _reached(rates, k) -> torch.Tensor:
    return convlab.dependency_map(rates, k) > 0


# The ValueErrors of this assignment, as the instructions word them (Exercise.errors); the
# raising cases, visible and hidden, carry these phrases as their notes.
RATE_ERRORS = ("rates is empty", "a rate < 1", "kernel_size < 1")
ERRORS = {
    "dependency_map": RATE_ERRORS,
    "coverage": RATE_ERRORS,
    "has_gridding": RATE_ERRORS,
    "shared_inputs": RATE_ERRORS,
    "effective_receptive_field": (
        "input_shape is not three numbers (C, H, W)",
        "an entry of input_shape < 1",
        "the model's output is not 4-D",
        "the gradient is zero everywhere (the centre output does not depend on the input)",
    ),
}


def _error(name: str, index: int) -> dict:
    """Case keywords for a raising case of ``name``: ValueError, noted with its listed error."""
    return {"raises": ValueError, "note": ERRORS[name][index]}


def _rate_error_cases() -> list[Case]:
    """The ValueErrors every rates-based exercise raises, one case each."""
    empty, rate, kernel = ({"raises": ValueError, "note": e} for e in RATE_ERRORS)
    return [
        Case(([],), **empty),
        Case(([1, 0, 2],), **rate),
        Case(([1, 2], 0), **kernel),
    ]


# --- dependency_map -----------------------------------------------------------------------

register(Exercise(
    name="dependency_map",
    assignment=A,
    errors=ERRORS["dependency_map"],
    reference=convlab.dependency_map,
    visible_cases=lambda: [
        Case(([2, 2, 2],), note="the classic gridding schedule"),
        Case(([1, 2, 3],)),
        Case(([3],), note="one layer: a dilated kernel's own taps"),
        Case(([1, 3],), {"kernel_size": 2}, note="an even kernel"),
        Case(([2, 1],), {"kernel_size": 4}),
        *_rate_error_cases(),
    ],
    mistakes=[
        Mistake("kernel_size ignored (always 3)", "Every layer has kernel_size taps per axis, "
                "R = 1 + (kernel_size - 1) * sum(rates).",
                lambda rates, kernel_size=3: convlab.dependency_map(rates, 3)),
        Mistake("reachability (0/1) instead of path counts",
                "Count the paths: a pixel reached through two different chains of taps counts 2. "
                "With all-ones weights the map is what autograd gives for d(centre)/d(input).",
                lambda rates, kernel_size=3: (convlab.dependency_map(rates, kernel_size) > 0).long()),
        Mistake("taps d apart plus one (d zeros between taps instead of d - 1)",
                "A rate-d kernel has d - 1 zeros between neighbouring taps: its taps are d apart "
                "and it spans d(k - 1) + 1 pixels.",
                lambda rates, kernel_size=3: convlab.dependency_map([r + 1 for r in rates], kernel_size)),
        Mistake("R without the +1 ((k-1)*sum(rates))",
                "The centre pixel counts too: R = 1 + (k - 1) * sum(rates).",
                lambda rates, kernel_size=3: _recentre(
                    convlab.dependency_map(rates, kernel_size), _field(rates, kernel_size) - 1)),
        Mistake("R = k*sum(rates) instead of 1 + (k-1)*sum(rates)",
                "A rate-d layer widens the field by d(k - 1) (its taps span d(k - 1) + 1 pixels, "
                "one of them shared with what was already there): R = 1 + (k - 1) * sum(rates).",
                lambda rates, kernel_size=3: _recentre(
                    convlab.dependency_map(rates, kernel_size), kernel_size * sum(rates))),
        Mistake("R = 1 + k*sum(rates) instead of 1 + (k-1)*sum(rates)",
                "A rate-d layer widens the field by the span of its taps minus the pixel it "
                "shares with the field below: d(k - 1), not d*k. R = 1 + (k - 1) * sum(rates).",
                lambda rates, kernel_size=3: _recentre(
                    convlab.dependency_map(rates, kernel_size), 1 + kernel_size * sum(rates))),
        Mistake("rates ignored (every layer undilated)",
                "Layer i's taps are rates[i] apart: a rate-d layer adds d(k - 1) to the field, "
                "R = 1 + (k - 1) * sum(rates), and its taps land d pixels apart.",
                lambda rates, kernel_size=3: convlab.dependency_map(
                    [1] * len(check_rates(rates)), kernel_size)),
        Mistake("rates ignored on the right canvas (taps 1 apart in an R x R map)",
                "The map is R x R as it should be, but layer i's taps must be rates[i] apart "
                "(dilation=rates[i] in an F.conv2d, or offsets rates[i] * t), not neighbours.",
                lambda rates, kernel_size=3: _recentre(
                    convlab.dependency_map([1] * len(check_rates(rates)), kernel_size),
                    _field(rates, kernel_size))),
        Mistake("R = sum of the layers' kernel extents (d(k-1)+1 each)",
                "Stacked layers share their end pixels: each adds d(k - 1), not d(k - 1) + 1, so "
                "R = 1 + (k - 1) * sum(rates).",
                lambda rates, kernel_size=3: _recentre(
                    convlab.dependency_map(rates, kernel_size),
                    sum(r * (kernel_size - 1) + 1 for r in rates))),
    ],
))


# --- coverage -------------------------------------------------------------------------------

def _coverage(rates, kernel_size=3, *, square=None, value="fraction"):
    """coverage with the square it divides by, or what it counts, done wrong."""
    counts = convlab.dependency_map(rates, kernel_size)
    side = _field(rates, kernel_size) if square is None else square(rates, kernel_size)
    if value == "mean count":
        return counts.double().mean().item()
    if value == "row":
        return (counts[counts.shape[0] // 2] > 0).double().mean().item()
    reached = int((counts > 0).sum())
    if value == "count":
        return float(reached)  # a float, so that an int count and a float one both match
    if value == "holes":
        return 1 - reached / side**2
    return reached / side**2


def _coverage_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda rates, kernel_size=3: _coverage(rates, kernel_size, **wrong))


register(Exercise(
    name="coverage",
    uses=("dependency_map",),  # the share of reached pixels is left
    assignment=A,
    errors=ERRORS["coverage"],
    reference=convlab.coverage,
    returns="float",
    visible_cases=lambda: [
        Case(([2, 2, 2],), note="49 of the 169 pixels"),
        Case(([1, 2, 3],), note="no holes: 1.0"),
        Case(([1, 4],)),
        Case(([2, 3],), {"kernel_size": 2}),
        Case(([3],), {"kernel_size": 4}),
        *_rate_error_cases(),
    ],
    mistakes=[
        Mistake("kernel_size ignored (always 3)", "R = 1 + (kernel_size - 1) * sum(rates).",
                lambda rates, kernel_size=3: convlab.coverage(rates, 3)),
        _coverage_mistake("coverage of the middle row only (1-D)",
                          "Coverage is over the R x R square: the fraction of its R*R pixels that are "
                          "reached (for a square kernel, the 1-D fraction squared).", value="row"),
        _coverage_mistake("mean path count instead of fraction reached",
                          "Coverage asks whether a pixel is reached at all: count pixels with at least "
                          "one path, not paths.", value="mean count"),
        _coverage_mistake("a count of reached pixels instead of a fraction",
                          "Coverage is a fraction: the number of reached pixels divided by the "
                          "R * R pixels of the field (R = 1 + (k - 1) * sum(rates)).", value="count"),
        _coverage_mistake("fraction of holes (1 - coverage)",
                          "Coverage is the fraction of the R x R pixels that ARE reached.", value="holes"),
        _coverage_mistake("coverage over the wrong square: (k-1)*sum(rates) per side",
                          "The receptive field is R = 1 + (k - 1) * sum(rates) pixels per side; divide "
                          "by R*R.", square=lambda rates, k: (k - 1) * sum(rates)),
        _coverage_mistake("coverage over the wrong square: k*sum(rates) per side",
                          "The receptive field is R = 1 + (k - 1) * sum(rates) pixels per side, not "
                          "k * sum(rates); divide by R*R.", square=lambda rates, k: k * sum(rates)),
        _coverage_mistake("coverage over the wrong square: the sum of the layers' kernel extents",
                          "Stacked layers share their end pixels: R = 1 + (k - 1) * sum(rates), not "
                          "the sum of d(k - 1) + 1 over the layers.",
                          square=lambda rates, k: sum(r * (k - 1) + 1 for r in rates)),
    ],
))


# --- has_gridding -----------------------------------------------------------------------------

def _gcd(rates) -> int:
    return math.gcd(*rates)


register(Exercise(
    name="has_gridding",
    uses=("dependency_map",),  # the test for an unreached pixel is left
    assignment=A,
    errors=ERRORS["has_gridding"],
    reference=convlab.has_gridding,
    returns="bool",
    # Each wrong rule fails on its own set of these cases (see the module docstring).
    visible_cases=lambda: [
        Case(([2, 2, 2],), note="every rate even: only every other pixel is seen"),
        Case(([1, 2, 3],), note="no holes"),
        Case(([1, 4],), note="no common factor, yet holes: pixels 3 and 7 of 11 are never reached"),
        Case(([1, 3],), {"kernel_size": 2}, note="no holes with k = 3, holes with k = 2"),
        Case(([1, 1],), note="no dilation at all"),
        Case(([1],), {"kernel_size": 1}, note="a 1 x 1 field has no room for holes"),
        Case(([1, 4],), {"kernel_size": 5}, note="holes with k = 3, none with k = 5"),
        *_rate_error_cases(),
    ],
    mistakes=[
        Mistake("kernel_size ignored (always 3)",
                "The taps of each layer, and so the holes, depend on kernel_size.",
                lambda rates, kernel_size=3: convlab.has_gridding(rates, 3)),
        Mistake("any rate > 1 taken as gridding",
                "Dilation alone does not leave holes: [1, 2, 3] reaches every pixel. Look for a "
                "pixel of the R x R field with no path.",
                lambda rates, kernel_size=3: any(r > 1 for r in rates)),
        Mistake("common factor > 1 used instead of looking for holes",
                "A common factor g > 1 does leave holes, but so can rates without one ([1, 4] "
                "never reaches pixels 3 and 7 of its 11-pixel field): look for a zero in the "
                "dependency map.",
                lambda rates, kernel_size=3: _gcd(rates) > 1),
    ],
))


# --- shared_inputs ----------------------------------------------------------------------------

def _shared(rates, kernel_size=3, offset=1, *, combine="and", wrap=False, counts=False):
    """shared_inputs with the overlap computed a known wrong way."""
    grid = convlab.dependency_map(rates, kernel_size)
    if not counts:
        grid = grid > 0
    o, r = abs(offset), grid.shape[1]
    if wrap:
        return int((grid & grid.roll(o, 1)).sum())
    if counts:
        return int((grid[:, o:] * grid[:, :r - o]).sum()) if o < r else 0
    both = int((grid[:, o:] & grid[:, :r - o]).sum()) if o < r else 0
    if combine == "or":  # the union of the two fields
        return 2 * int(grid.sum()) - both
    return both


def _signed_offset(rates, kernel_size=3, offset=1):
    """shared_inputs that slices with the offset as given: a negative one reads the wrong
    columns (or cannot broadcast, and raises)."""
    grid = convlab.dependency_map(rates, kernel_size) > 0
    r = grid.shape[1]
    return int((grid[:, offset:] & grid[:, :r - offset]).sum()) if offset < r else 0


def _shared_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda rates, kernel_size=3, offset=1: _shared(
        rates, kernel_size, offset, **wrong))


register(Exercise(
    name="shared_inputs",
    uses=("dependency_map",),  # the overlap of two shifted supports is left
    assignment=A,
    errors=ERRORS["shared_inputs"],
    reference=convlab.shared_inputs,
    returns="int",
    visible_cases=lambda: [
        Case(([1],), {"offset": 1}, note="two 3 x 3 windows one column apart: 6 pixels"),
        Case(([2, 2, 2],), {"offset": 1}, note="neighbours share nothing"),
        Case(([2, 2, 2], 3, 2), note="outputs 2 apart share a lot"),
        Case(([1, 2, 3],), {"offset": 3}),
        Case(([1, 3], 2, 4)),
        Case(([1, 3], 2), {"offset": -1}, note="negative offset: the other output is on the left"),
        Case(([1, 2, 5],), {"offset": -3}),
        Case(([2],), {"offset": 5}, note="offset >= R: nothing in common"),
        Case(([1, 2],), note="offset left at its default, 1"),
        *_rate_error_cases(),
    ],
    mistakes=[
        Mistake("kernel_size ignored (always 3)", "R = 1 + (kernel_size - 1) * sum(rates).",
                lambda rates, kernel_size=3, offset=1: convlab.shared_inputs(rates, 3, offset)),
        Mistake("negative offset used as it is (|offset| needed)",
                "Outputs -o and +o columns apart share as much: slice with abs(offset).",
                _signed_offset),
        Mistake("offset ignored (always 1)", "The two outputs are `offset` columns apart.",
                lambda rates, kernel_size=3, offset=1: convlab.shared_inputs(rates, kernel_size, 1)),
        Mistake("offset multiplied by the last rate",
                "The convs have stride 1: outputs `offset` apart have fields `offset` input pixels "
                "apart, whatever the rates.",
                lambda rates, kernel_size=3, offset=1: convlab.shared_inputs(
                    rates, kernel_size, offset * rates[-1])),
        Mistake("dense field assumed: R * (R - |offset|)",
                "Count only the pixels each output really reads (the nonzero entries of the "
                "dependency map), not the whole R x R square: with gridding most of it is holes.",
                lambda rates, kernel_size=3, offset=1: _field(rates, kernel_size) * max(
                    _field(rates, kernel_size) - abs(offset), 0)),
        _shared_mistake("path counts multiplied instead of pixels counted",
                        "Count input pixels both outputs depend on (both maps > 0), not products "
                        "of path counts.", counts=True),
        _shared_mistake("union instead of intersection",
                        "Shared inputs are read by BOTH outputs: the intersection of the two fields.",
                        combine="or"),
        _shared_mistake("shift wraps around (torch.roll)",
                        "torch.roll brings the columns that fall off one side back on the other; "
                        "the shifted field must lose them (slice, or pad with zeros).", wrap=True),
    ],
))


# --- effective_receptive_field ------------------------------------------------------------------

def _erf(model, input_shape, *, signed=False, abs_after_sum=False, normalise="sum",
         centre="output", target="centre", out_channels="sum", in_channels="sum", eval_mode=True):
    """The effective receptive field with one step done a known wrong way (keyword flags)."""
    c, h, w = input_shape
    if eval_mode:
        model.eval()
    param = next(model.parameters())
    x = torch.ones(1, c, h, w, dtype=param.dtype, device=param.device, requires_grad=True)
    out = model(x)
    ho, wo = out.shape[2:]
    i, j = {"output": (ho // 2, wo // 2), "input": (h // 2, w // 2),
            "floor": ((ho - 1) // 2, (wo - 1) // 2)}[centre]
    if i >= ho or j >= wo:
        raise IndexError("centre outside the output")
    picked = out[0, :, i, j] if target == "centre" else out[0]
    picked = picked[:1] if out_channels == "first" else picked
    (grad,) = torch.autograd.grad(picked.sum(), x)
    grad = grad[0]
    if in_channels == "first":
        grad = grad[:1]
    if signed:
        grad = grad.sum(0)
    elif abs_after_sum:
        grad = grad.sum(0).abs()
    else:
        grad = grad.abs().sum(0)
    if normalise == "sum":
        return grad / grad.sum()
    if normalise == "max":
        return grad / grad.max()
    return grad


def _erf_mistake(name, hint, **wrong):
    return Mistake(name, hint, lambda model, input_shape: _erf(model, input_shape, **wrong))


def _conv(c_in, c_out, k=3, dilation=1, padding=0, stride=1):
    return (c_in, c_out, k, dilation, padding, stride)


def _ones_stack(rates):
    """Single-channel all-ones convs with "same" padding, no bias: the ERF is the
    dependency map, normalised."""
    layers = [_conv(1, 1, 3, r, r) for r in rates]
    weights = []
    for _ in rates:
        weights += [torch.ones(1, 1, 3, 3), torch.zeros(1)]
    return layers, weights


def _erf_cases() -> list[Case]:
    ones_layers, ones_weights = _ones_stack([2, 2, 2])
    zero_layers = [_conv(1, 2, 3, 1, 1), "relu", _conv(2, 1, 3, 2, 2)]
    zero_weights = [torch.zeros(2, 1, 3, 3), torch.ones(2), torch.zeros(1, 2, 3, 3), torch.zeros(1)]
    return [
        Case(([_conv(1, 1, 3, 1, 1), "relu", _conv(1, 1, 3, 2, 2)], (1, 9, 9)), {"seed": 1},
             note="random weights, 'same' padding: output 9 x 9, centre (4, 4)"),
        Case(([_conv(2, 3, 3), "relu", _conv(3, 2, 3)], (2, 12, 11)), {"seed": 2},
             note="2 input and 2 output channels, no padding: output 8 x 7, centre (4, 3)"),
        Case(([_conv(1, 2, 3, 2, 2), "batchnorm", "relu", _conv(2, 1, 3, 1, 1)], (1, 10, 10)),
             {"seed": 3}, note="BatchNorm: eval mode matters"),
        Case((ones_layers, (1, 15, 15), ones_weights),
             note="all-ones weights, rates [2, 2, 2]: the normalised dependency map"),
        Case(([_conv(3, 2, 3, 1, 0, 2), "relu", _conv(2, 2, 3, 1, 1)], (3, 11, 9)), {"seed": 5},
             note="stride 2, 3 input channels"),
        Case(([_conv(2, 2, 3, 2, 2), "relu", _conv(2, 1, 3, 1, 0)], (2, 9, 10),
              [randn(2, 2, 3, 3, seed=40), randn(2, seed=41), randn(1, 2, 3, 3, seed=42),
               randn(1, seed=43)]),
             note="float64 weights: the input takes the parameters' dtype"),
        Case(([_conv(1, 1, 3, 1, 1)], (1, 9)), **_error("effective_receptive_field", 0)),
        Case(([_conv(1, 1, 3, 1, 1)], (1, 0, 5)), **_error("effective_receptive_field", 1)),
        Case(([_conv(1, 2, 3, 1, 1), "flatten"], (1, 5, 5)), **_error("effective_receptive_field", 2)),
        # all-zero weights: no path from the input to the centre output
        Case((zero_layers, (1, 7, 7), zero_weights), **_error("effective_receptive_field", 3)),
    ]


register(Exercise(
    name="effective_receptive_field",
    assignment=A,
    errors=ERRORS["effective_receptive_field"],
    reference=convlab.effective_receptive_field,
    adapter="erf_of_described_model",
    visible_cases=_erf_cases,
    # float32 models: a correct answer may sum in another order than the reference.
    rtol=1e-4,
    atol=1e-7,
    mistakes=[
        _erf_mistake("gradient of channel 0 only instead of the sum over output channels",
                     "Differentiate the SUM over the output channels of the centre output.",
                     out_channels="first"),
        _erf_mistake("input channel 0 only instead of the sum over input channels",
                     "Take abs, then sum over all input channels.", in_channels="first"),
        _erf_mistake("abs taken after summing over input channels",
                     "Take the absolute value of each channel's gradient first, then sum over the "
                     "channels: gradients of opposite sign must not cancel.", abs_after_sum=True),
        _erf_mistake("model left in training mode (call model.eval())",
                     "Put the model in eval mode first: in training mode BatchNorm normalises with "
                     "the statistics of the input itself.", eval_mode=False),
        _erf_mistake("centre taken at ((Ho-1)//2, (Wo-1)//2)",
                     "The centre output is at (Ho // 2, Wo // 2) of the OUTPUT.", centre="floor"),
        _erf_mistake("centre taken at the input's (H//2, W//2) instead of the output's",
                     "Without padding (or with stride) the output is smaller than the input: use "
                     "(Ho // 2, Wo // 2) of the model's output.", centre="input"),
        _erf_mistake("gradient of the sum of all outputs instead of the centre one",
                     "Differentiate only the centre output (summed over channels), not every output.",
                     target="all"),
        _erf_mistake("not normalised",
                     "Divide by the sum so the map sums to 1.", normalise="none"),
        _erf_mistake("normalised by the maximum instead of the sum",
                     "Divide by the sum (the map is a distribution), not by the maximum.",
                     normalise="max"),
        _erf_mistake("no abs (signed gradient)",
                     "Take the absolute value of the gradient before summing and normalising.",
                     signed=True),
    ],
))
