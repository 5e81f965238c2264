"""Hidden cases of 04_gridding.

Schedules are drawn so that every kind shows up: with and without a common factor, with
holes and without, a single layer, kernels 1 to 5 (even ones too), offsets beyond the
field and negative ones. The effective receptive field's cases describe a small random
model in plain data (``adapters.erf_of_described_model`` builds it in the sandbox): convs
of random widths, kernels, dilations, paddings and strides, ReLU and BatchNorm between
them, weights from a drawn seed or given explicitly (those cases run on CUDA too).
"""
from __future__ import annotations

from convlab.checks.core import Case
from convlab.checks.gridding import ERRORS, RATE_ERRORS

from . import Draw, call, catching, generator


def _rates(draw: Draw) -> list[int]:
    kind = draw.int(0, 3)
    n = draw.int(1, 4)
    if kind == 0:  # a common factor g > 1
        g = draw.int(2, 3)
        return [g * draw.int(1, 3) for _ in range(n)]
    if kind == 1:  # starts at 1, non-decreasing: the HDC kind of schedule
        rates = [1]
        for _ in range(n - 1):
            rates.append(rates[-1] + draw.int(0, 3))
        return rates
    return [draw.int(1, 6) for _ in range(n)]


def _kernel(draw: Draw) -> int:
    return draw.choice([3, 3, 3, 2, 4, 5, 1])


def _error_cases(draw: Draw, extra=()) -> list[Case]:
    """One of each ValueError the rates-based exercises list, with random surroundings."""
    k = _kernel(draw)
    good = _rates(draw)
    bad = list(good)
    bad.insert(draw.int(0, len(bad)), draw.choice([0, -1, -draw.int(2, 5)]))
    empty, rate, kernel = ({"raises": ValueError, "note": e} for e in RATE_ERRORS)
    return [
        Case(([], k, *extra), **empty),
        Case((bad, k, *extra), **rate),
        Case((good, draw.choice([0, -1, -3]), *extra), **kernel),
    ]


def _schedule(draw: Draw, rates=None, kernel=None) -> Case:
    rates = _rates(draw) if rates is None else rates
    return call(draw, (rates,), [("kernel_size", _kernel(draw) if kernel is None else kernel, 3)])


def _schedule_cases(draw: Draw, count: int) -> list[Case]:
    # In every draw: a schedule with a common factor (the classic gridding one, 2 2 2, in
    # kind), one that starts at 1 and grows (the HDC kind), and all rates 1 (no dilation).
    g, n = draw.int(2, 3), draw.int(2, 4)
    cases = [_schedule(draw, [g] * n),
             _schedule(draw, [1] + sorted(draw.int(2, 6) for _ in range(draw.int(1, 3)))),
             _schedule(draw, [1] * draw.int(1, 4))]
    while len(cases) < count:
        cases.append(_schedule(draw))
    return cases


@generator("dependency_map")
def _dependency_map(draw: Draw) -> list[Case]:
    return _schedule_cases(draw, 22) + _error_cases(draw)


@generator("coverage")
def _coverage(draw: Draw) -> list[Case]:
    return _schedule_cases(draw, 22) + _error_cases(draw)


@generator("has_gridding")
def _has_gridding(draw: Draw) -> list[Case]:
    # In every draw, a case that tells each slip: one where the kernel size decides, one
    # where a common factor and holes disagree.
    cases = [catching(draw, "has_gridding", mistake, lambda: _schedule(draw))
             for mistake in ("kernel_size ignored (always 3)",
                             "common factor > 1 used instead of looking for holes")]
    return cases + _schedule_cases(draw, 22) + _error_cases(draw)


@generator("shared_inputs")
def _shared_inputs(draw: Draw) -> list[Case]:
    def one(negative=False):
        rates, k = _rates(draw), _kernel(draw)
        size = 1 + (k - 1) * sum(rates)
        offset = -draw.int(1, size) if negative else draw.choice(
            [1, 1, 2, draw.int(0, size + 2), -draw.int(1, size)])
        return call(draw, (rates,), [("kernel_size", k, 3), ("offset", offset, 1)])

    # In every draw, a negative offset where slicing with it as given returns a wrong count.
    cases = [catching(draw, "shared_inputs", "negative offset used as it is (|offset| needed)",
                      lambda: one(negative=True))]
    while len(cases) < 22:
        cases.append(one())
    return cases + _error_cases(draw, extra=(draw.int(1, 3),))


# --- effective_receptive_field ------------------------------------------------------------------

def _model(draw: Draw, c_in: int):
    """A random stack: 1-3 convs, ReLU (and sometimes BatchNorm) between them."""
    layers, channels = [], c_in
    for i in range(draw.int(1, 3)):
        if i:
            if draw.chance(0.3):
                layers.append("batchnorm")
            layers.append("relu")
        c_out = draw.int(1, 3)
        k = draw.choice([1, 3, 3, 5, 2])
        dilation = draw.choice([1, 1, 2, 3])
        padding = draw.choice([0, dilation * (k - 1) // 2])
        stride = draw.choice([1, 1, 1, 2])
        layers.append((channels, c_out, k, dilation, padding, stride))
        channels = c_out
    return layers


def _output_size(layers, n):
    for layer in layers:
        if isinstance(layer, tuple):
            _, _, k, d, p, s = layer
            n = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return n


def _weights(draw: Draw, layers):
    weights = []
    for layer in layers:
        if isinstance(layer, tuple):
            c_in, c_out, k = layer[:3]
            weights += [draw.tensor(c_out, c_in, k, k, dtype=draw.dtype()), draw.tensor(c_out, dtype=draw.dtype())]
    # One dtype per model: the first tensor's.
    return [w.to(weights[0].dtype) for w in weights]


def _depends_on_input(case: Case) -> bool:
    from convlab.checks import REGISTRY

    exercise = REGISTRY["effective_receptive_field"]
    try:
        exercise.call(exercise.reference, case)
    except ValueError:
        return False
    return True


@generator("effective_receptive_field")
def _effective_receptive_field(draw: Draw) -> list[Case]:
    def with_batchnorm():
        c, mid = draw.int(1, 3), draw.int(1, 3)
        d = draw.int(1, 2)
        layers = [(c, mid, 3, 1, 1, 1), "batchnorm", "relu", (mid, draw.int(1, 2), 3, d, d, 1)]
        return Case((layers, (c, draw.int(5, 12), draw.int(5, 12))), {"seed": draw.int(0, 10_000)})

    # In every draw, a model with BatchNorm: left in training mode, it gives another map.
    cases = [catching(draw, "effective_receptive_field", "model left in training mode (call model.eval())",
                      with_batchnorm)]
    while len(cases) < 20:
        c = draw.int(1, 3)
        layers = _model(draw, c)
        h, w = draw.int(5, 16), draw.int(5, 16)
        if _output_size(layers, h) < 1 or _output_size(layers, w) < 1:
            continue
        if draw.chance(0.3):
            case = Case((layers, (c, h, w), _weights(draw, layers)))
        else:
            case = Case((layers, (c, h, w)), {"seed": draw.int(0, 10_000)})
        if _depends_on_input(case):  # ReLUs can cut every path: that is an error case
            cases.append(case)
    c = draw.int(1, 3)
    layers = [(c, 2, 3, 1, 1, 1), "relu", (2, 1, 3, draw.int(1, 2), 0, 1)]
    zeros = [t.zero_() if i % 2 == 0 else t for i, t in enumerate(_weights(draw, layers))]
    shape, entry, output, zero = ({"raises": ValueError, "note": e}
                                  for e in ERRORS["effective_receptive_field"])
    cases += [
        Case((layers, (c, 9)), **shape),
        Case((layers, (c, 9, 9, 1)), **shape),
        Case((layers, (c, draw.choice([0, -1]), 9)), **entry),
        Case(([(c, 2, 3, 1, 1, 1), "flatten"], (c, 6, 6)), **output),
        Case((layers, (c, 9, 9), zeros), **zero),  # all-zero weights: no path to the centre
    ]
    return cases
