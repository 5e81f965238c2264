"""Hidden cases of 03_atrous.

Every ValueError the exercises' texts list (``convlab.checks.atrous.ERRORS``) is drawn
here too, noted with the same words. Shapes and rates are random, but some draws are
steered so that every catalogued mistake shows whatever the seed: N = 2 for the phase
orders, an even kernel with an odd rate for the odd SAME pixel, sizes the rate does not
divide for the rows added before space_to_batch, C_in = C_out for swapped filter axes.
"""
from __future__ import annotations

from convlab.checks.atrous import ERRORS
from convlab.checks.core import Case

from . import Draw, call, generator


def _error(name: str, index: int) -> dict:
    return {"raises": ValueError, "note": ERRORS[name][index]}


@generator("effective_kernel_size")
def _effective_kernel_size(draw: Draw) -> list[Case]:
    cases = [Case((draw.int(2, 9), draw.int(2, 8))) for _ in range(18)]
    cases += [Case((draw.int(1, 9), 1)), Case((1, draw.int(1, 8))), Case((2, draw.int(2, 8))),
              Case((draw.int(4, 9), draw.int(3, 8)))]
    cases += [Case((draw.choice([0, -1, -draw.int(2, 5)]), draw.int(1, 4)), **_error("effective_kernel_size", 0)),
              Case((draw.int(1, 5), draw.choice([0, -1])), **_error("effective_kernel_size", 1))]
    return cases


@generator("dilate_kernel")
def _dilate_kernel(draw: Draw) -> list[Case]:
    cases = []
    for i in range(20):
        shape = (draw.int(1, 3), draw.int(1, 3), draw.int(1, 5), draw.int(1, 5))
        if i < 4:  # at least 2 taps each way and a real dilation: every slip shows
            shape = (*shape[:2], draw.int(2, 4), draw.int(2, 4))
        rate = draw.int(2, 4) if i < 4 else 1 if i == 4 else draw.int(1, 4)  # rate 1: nothing moves
        cases.append(Case((draw.tensor(*shape, dtype=draw.dtype()), rate)))
    # Both: Python's own slicing raises ValueError for a step of 0, not for -1.
    cases.append(Case((draw.tensor(2, 1, 3, 3), 0), **_error("dilate_kernel", 0)))
    cases.append(Case((draw.tensor(2, 1, 3, 3), -draw.int(1, 2)), **_error("dilate_kernel", 0)))
    return cases


@generator("conv2d_dilated")
def _conv2d_dilated(draw: Draw) -> list[Case]:
    cases = []
    while len(cases) < 22:
        i = len(cases)
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 4), draw.int(1, 4)
        h, w = draw.int(3, 12), draw.int(3, 12)
        kh, kw = draw.int(1, 4), draw.int(1, 4)
        stride, padding = draw.choice([1, 1, 2, 3]), draw.choice([0, 0, 1, 2, 3])
        dilation = draw.choice([1, 2, 2, 3, 4])
        if i < 3:  # a real dilation on a real kernel, with padding: the dilation slips show
            kh, kw, dilation, padding = draw.int(2, 3), draw.int(2, 3), draw.int(2, 3), draw.int(1, 2)
            h, w = draw.int(7, 12), draw.int(7, 12)
            if i == 0:  # C_in = C_out: swapped weight axes give values, not an error
                c_in = c_out = draw.int(2, 4)
        elif i == 3:  # dilation 1: a plain convolution
            dilation = 1
        if dilation * (kh - 1) + 1 > h + 2 * padding or dilation * (kw - 1) + 1 > w + 2 * padding:
            continue
        dtype = draw.dtype()
        bias = draw.tensor(c_out, dtype=dtype) if draw.chance(0.5) else None
        cases.append(call(draw, (draw.tensor(n, c_in, h, w, dtype=dtype),
                                 draw.tensor(c_out, c_in, kh, kw, dtype=dtype)),
                          [("bias", bias, None), ("stride", stride, 1), ("padding", padding, 0),
                           ("dilation", dilation, 1)]))
    # The undilated kernel fits; dilated, it does not (along H, then along W).
    d = draw.int(2, 3)
    h = draw.int(3, 2 * d)
    cases.append(Case((draw.tensor(1, 2, h, 9), draw.tensor(2, 2, 3, 1)), {"dilation": d},
                      **_error("conv2d_dilated", 0)))
    cases.append(Case((draw.tensor(1, 1, 8, 3), draw.tensor(1, 1, 1, 3)), {"padding": 0, "dilation": 2},
                      **_error("conv2d_dilated", 0)))
    c_in = draw.int(1, 3)
    cases.append(Case((draw.tensor(1, c_in, 6, 6), draw.tensor(2, c_in + 1, 3, 3)), {"dilation": 2},
                      **_error("conv2d_dilated", 1)))
    cases.append(Case((draw.tensor(1, 2, 6, 6), draw.tensor(2, 2, 3, 3)), {"dilation": draw.choice([0, -1])},
                      **_error("conv2d_dilated", 2)))
    return cases


@generator("space_to_batch")
def _space_to_batch(draw: Draw) -> list[Case]:
    cases = []
    for i in range(20):
        rate = draw.int(2, 4) if i < 4 else 1 if i == 4 else draw.int(1, 4)  # rate 1: nothing moves
        n = 2 if i < 4 else draw.int(1, 3)  # N = 2 tells phase-major from image-major
        shape = (n, draw.int(1, 3), rate * draw.int(1, 3), rate * draw.int(1, 3))
        cases.append(Case((draw.tensor(*shape, dtype=draw.dtype()), rate)))
    rate = draw.int(2, 3)
    cases.append(Case((draw.tensor(1, 2, rate * 2 + 1, rate * 2), rate), **_error("space_to_batch", 0)))
    cases.append(Case((draw.tensor(2, 1, rate * 2, rate * 3 - 1), rate), **_error("space_to_batch", 1)))
    cases.append(Case((draw.tensor(1, 1, 4, 4), draw.choice([0, -1])), **_error("space_to_batch", 2)))
    return cases


@generator("batch_to_space")
def _batch_to_space(draw: Draw) -> list[Case]:
    cases = []
    for i in range(20):
        rate = draw.int(2, 4) if i < 4 else 1 if i == 4 else draw.int(1, 4)
        n = 2 if i < 4 else draw.int(1, 3)
        shape = (rate * rate * n, draw.int(1, 3), draw.int(2, 4) if i < 4 else draw.int(1, 4), draw.int(1, 4))
        cases.append(Case((draw.tensor(*shape, dtype=draw.dtype()), rate)))
    rate = draw.int(2, 3)
    cases.append(Case((draw.tensor(rate * rate + draw.int(1, 3), 1, 2, 2), rate), **_error("batch_to_space", 0)))
    cases.append(Case((draw.tensor(4, 1, 2, 2), draw.choice([0, -1])), **_error("batch_to_space", 1)))
    return cases


@generator("atrous_conv2d")
def _atrous_conv2d(draw: Draw) -> list[Case]:
    cases = []
    while len(cases) < 22:
        i = len(cases)
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 3), draw.int(1, 3)
        h, w = draw.int(2, 11), draw.int(2, 11)
        kh, kw = draw.int(1, 4), draw.int(1, 4)
        rate = draw.choice([1, 2, 2, 3, 4])
        padding = draw.choice(["SAME", "SAME", "VALID"])
        if i == 0:  # an even kernel with an odd rate: the odd SAME pixel has a side
            kh, rate, padding = draw.choice([2, 4]), 3, "SAME"
        elif i == 1:  # rate 2 on an odd size, C_in = C_out: added rows, swapped axes
            h, w, rate, padding = draw.choice([5, 7, 9]), draw.choice([6, 7, 8]), 2, "SAME"
            kh, kw, c_out, c_in = draw.int(2, 3), draw.int(2, 3), 2, 2
        elif i == 2:  # rate 1: an ordinary convolution
            rate = 1
        if padding == "VALID" and (rate * (kh - 1) + 1 > h or rate * (kw - 1) + 1 > w):
            continue
        dtype = draw.dtype()
        cases.append(Case((draw.tensor(n, h, w, c_in, dtype=dtype), draw.tensor(kh, kw, c_in, c_out, dtype=dtype),
                           rate, padding)))
    cases.append(Case((draw.tensor(1, 5, 5, 2), draw.tensor(3, 3, 2, 2), 2, draw.choice(["FULL", "causal"])),
                      **_error("atrous_conv2d", 0)))
    # The seed example's rate 2 VALID, and a filter too wide for its input.
    cases.append(Case((draw.tensor(1, 4, 4, 2), draw.tensor(3, 3, 2, 5), 2, "VALID"), **_error("atrous_conv2d", 1)))
    cases.append(Case((draw.tensor(2, 9, 5, 1), draw.tensor(2, 3, 1, 2), 3, "VALID"), **_error("atrous_conv2d", 1)))
    cases.append(Case((draw.tensor(1, 6, 6, 3), draw.tensor(3, 3, 2, 2), 1, "SAME"), **_error("atrous_conv2d", 2)))
    cases.append(Case((draw.tensor(1, 6, 6, 2), draw.tensor(3, 3, 2, 2), draw.choice([0, -1]), "SAME"),
                      **_error("atrous_conv2d", 3)))
    return cases


def _layer(draw: Draw) -> tuple[int, int, int]:
    return (draw.int(1, 7), draw.int(1, 3), draw.choice([1, 1, 2, 3, 4]))


@generator("receptive_field")
def _receptive_field(draw: Draw) -> list[Case]:
    cases = []
    for i in range(24):
        layers = [_layer(draw) for _ in range(draw.int(0, 6))]
        if i < 3:  # a stride before a dilated layer: every slip shows
            layers = [(draw.int(2, 5), draw.int(2, 3), 1), (draw.int(2, 5), 1, draw.int(2, 4))] + layers[:2]
        cases.append(Case((layers,)))
    for index, broken in enumerate([(draw.choice([0, -1]), 1, 1), (3, draw.choice([0, -1]), 1),
                                    (3, 2, draw.choice([0, -1]))]):
        layers = [_layer(draw) for _ in range(draw.int(0, 2))]
        cases.append(Case((layers + [broken],), **_error("receptive_field", index)))
    return cases


@generator("causal_conv1d")
def _causal_conv1d(draw: Draw) -> list[Case]:
    cases = []
    for i in range(22):
        n, c_in, c_out, length = draw.int(1, 2), draw.int(1, 3), draw.int(1, 3), draw.int(1, 16)
        k, dilation = draw.int(1, 4), draw.int(1, 5)
        if i < 4:  # every slip shows: at least 2 taps, a real dilation, an odd (k-1)d on one
            k, dilation, length = draw.int(2, 4), 2 * draw.int(1, 2) + (i == 0), draw.int(8, 16)
        dtype = draw.dtype()
        bias = draw.tensor(c_out, dtype=dtype) if draw.chance(0.5) else None
        cases.append(call(draw, (draw.tensor(n, c_in, length, dtype=dtype), draw.tensor(c_out, c_in, k, dtype=dtype)),
                          [("bias", bias, None), ("dilation", dilation, 1)]))
    c = draw.int(1, 3)
    cases += [
        Case((draw.tensor(1, c, 6, 2), draw.tensor(2, c, 2)), **_error("causal_conv1d", 0)),
        Case((draw.tensor(1, c, 6), draw.tensor(2, c, 2, 2)), **_error("causal_conv1d", 0)),
        Case((draw.tensor(1, c, 6), draw.tensor(2, c + 1, 2)), **_error("causal_conv1d", 1)),
        Case((draw.tensor(1, c, 6), draw.tensor(2, c, 2)), {"dilation": draw.choice([0, -1])},
             **_error("causal_conv1d", 2)),
    ]
    return cases


@generator("wavenet_receptive_field")
def _wavenet_receptive_field(draw: Draw) -> list[Case]:
    cases = []
    for i in range(22):
        rates = [draw.int(1, 16) for _ in range(draw.int(1, 8))]
        if draw.chance(0.4):  # WaveNet-like: doubling rates from 1
            rates = [2**j for j in range(draw.int(1, 10))]
        k = draw.int(2, 5) if i < 6 else draw.int(1, 5)
        stacks = draw.int(2, 4) if i < 6 else draw.int(1, 4)
        cases.append(call(draw, (k, rates), [("stacks", stacks, 1)]))
    cases += [
        Case((draw.choice([0, -1]), [1, 2]), **_error("wavenet_receptive_field", 0)),
        Case((2, []), **_error("wavenet_receptive_field", 1)),
        Case((2, [1, draw.choice([0, -2]), 4]), **_error("wavenet_receptive_field", 1)),
        Case((2, [1, 2], draw.choice([0, -1])), **_error("wavenet_receptive_field", 2)),
    ]
    return cases
