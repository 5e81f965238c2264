"""Hidden cases of 02_transposed."""
from __future__ import annotations

from convlab.checks.core import Case
from convlab.checks.transposed import (ERR_4D, ERR_COUNTS, ERR_CROP, ERR_GRAD_SHAPE, ERR_INPUT, ERR_MODE,
                                       ERR_OP, ERR_OP_SIZE, ERR_PADDED, ERR_STRIDE)

from . import Draw, call, catching, generator


@generator("conv_transpose_output_size")
def _conv_transpose_output_size(draw: Draw) -> list[Case]:
    cases = []
    while len(cases) < 26:
        n, k, s, d = draw.int(1, 12), draw.int(1, 6), draw.int(1, 4), draw.choice([1, 1, 2, 3])
        op = draw.int(0, max(s, d) - 1)
        p = draw.int(0, 3)
        if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1:
            cases.append(call(draw, (n, k), [("stride", s, 1), ("padding", p, 0),
                                              ("output_padding", op, 0), ("dilation", d, 1)]))
    for _ in range(3):
        s, d = draw.int(1, 3), draw.int(1, 2)
        cases.append(Case((draw.int(2, 6), draw.int(1, 4)),
                          {"stride": s, "output_padding": max(s, d) + draw.int(0, 1), "dilation": d},
                          raises=ValueError, note=ERR_OP_SIZE))
    cases.append(Case((1, 2), {"padding": 2}, raises=ValueError, note=ERR_CROP))
    # Cropped to exactly nothing: size 0 is no output either.
    n, s = draw.int(1, 4), draw.int(1, 3)
    k = 2 + ((n - 1) * s) % 2  # (n - 1) s + k even: padding half of it leaves 0
    cases.append(Case((n, k), {"stride": s, "padding": ((n - 1) * s + k) // 2},
                      raises=ValueError, note=ERR_CROP))
    return cases


@generator("keras_deconv_output_length")
def _keras_deconv_output_length(draw: Draw) -> list[Case]:
    def inferred(padding):
        return lambda: call(draw, (draw.int(1, 16), draw.int(1, 5), padding, draw.int(2, 5)),
                            [("output_padding", None, None), ("dilation", draw.choice([1, 2]), 1)])

    # In every draw, the inferred length (output_padding=None) of 'valid' with a kernel
    # shorter than the stride, and of 'same' (n*s, not the formula).
    cases = [catching(draw, "keras_deconv_output_length", "'valid': max(k - s, 0) dropped", inferred("valid")),
             catching(draw, "keras_deconv_output_length",
                      "'same' with output_padding=None computed by the formula", inferred("same"))]
    for _ in range(26):
        length = None if draw.chance(0.1) else draw.int(1, 16)
        padding = draw.choice(["same", "valid", "full"])
        output_padding = None if draw.chance(0.5) else draw.int(0, 2)
        cases.append(call(draw, (length, draw.int(1, 6), padding, draw.int(1, 4)),
                           [("output_padding", output_padding, None),
                            ("dilation", draw.choice([1, 1, 2, 3]), 1)]))
    # output_padding=0 given is not output_padding=None: the explicit formula applies.
    cases.append(Case((draw.int(2, 8), 3, "same", 2), {"output_padding": 0}))
    for mode in ("causal", "SAMEISH"):
        cases.append(Case((draw.int(2, 8), 3, mode, 2), raises=ValueError, note=ERR_MODE))
    return cases


@generator("overlap_counts")
def _overlap_counts(draw: Draw) -> list[Case]:
    cases = [Case((draw.int(1, 7), draw.int(1, 4), draw.int(1, 9))) for _ in range(20)]
    cases += [Case((0, 2, 4), raises=ValueError, note=ERR_COUNTS),
              Case((3, 0, 4), raises=ValueError, note=ERR_COUNTS),
              Case((3, 2, 0), raises=ValueError, note=ERR_COUNTS)]
    return cases


@generator("conv_matrix")
def _conv_matrix(draw: Draw) -> list[Case]:
    cases = []
    for _ in range(18):
        h, w = draw.int(1, 7), draw.int(1, 7)
        kh, kw = draw.int(1, h), draw.int(1, w)
        cases.append(Case((draw.tensor(kh, kw, dtype=draw.dtype()), (h, w))))
    cases.append(Case((draw.tensor(3, 2), (2, 4)), raises=ValueError, note=ERR_INPUT))
    cases.append(Case((draw.tensor(2, 5), (3, 4)), raises=ValueError, note=ERR_INPUT))
    return cases


def _transposed_cases(draw: Draw, count: int) -> list[Case]:
    """(x, weight, bias=None, stride=1, padding=0, output_padding=0), weight (C_in, C_out, kh, kw)."""
    cases = []
    while len(cases) < count:
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 3), draw.int(1, 3)
        h, w = draw.int(1, 6), draw.int(1, 6)
        kh, kw = draw.int(1, 4), draw.int(1, 4)
        stride = draw.choice([1, 2, 2, 3])
        padding = draw.choice([0, 0, 1, 2])
        output_padding = draw.int(0, stride - 1)
        if not cases:  # in every draw: padding and output_padding together, a kernel of 2+,
            # C_in = C_out (where weight axes not swapped give values, not an error)
            stride, padding, kh, kw = draw.int(2, 3), draw.int(1, 2), draw.int(2, 4), draw.int(2, 4)
            c_in = c_out = draw.int(2, 3)
            output_padding, h, w = draw.int(1, stride - 1), draw.int(2, 6), draw.int(2, 6)
        if min((h - 1) * stride + kh, (w - 1) * stride + kw) + output_padding - 2 * padding < 1:
            continue
        dtype = draw.dtype()
        bias = draw.tensor(c_out, dtype=dtype) if draw.chance(0.5) else None
        cases.append(call(draw, (draw.tensor(n, c_in, h, w, dtype=dtype), draw.tensor(c_in, c_out, kh, kw, dtype=dtype)),
                           [("bias", bias, None), ("stride", stride, 1), ("padding", padding, 0),
                            ("output_padding", output_padding, 0)]))
    stride = draw.int(1, 3)
    cases.append(Case((draw.tensor(1, 2, 3, 3), draw.tensor(2, 2, 3, 3)),
                      {"stride": stride, "output_padding": stride}, raises=ValueError, note=ERR_OP))
    cases.append(Case((draw.tensor(1, 2, 2, 2), draw.tensor(2, 2, 2, 2)),
                      {"padding": 2 + draw.int(0, 1)}, raises=ValueError, note=ERR_CROP))
    # Cropped to exactly nothing: (1 - 1) s + 2 - 2 * 1 = 0 rows and columns.
    cases.append(Case((draw.tensor(1, 2, 1, 1), draw.tensor(2, 1, 2, 2)),
                      {"stride": draw.int(1, 3), "padding": 1}, raises=ValueError, note=ERR_CROP))
    return cases


@generator("insert_zeros")
def _insert_zeros(draw: Draw) -> list[Case]:
    cases = [Case((draw.tensor(draw.int(1, 2), draw.int(1, 4), draw.int(1, 8), draw.int(1, 8),
                               dtype=draw.dtype()), draw.int(1, 4))) for _ in range(20)]
    cases.append(Case((draw.tensor(1, 2, 3, 3), 0), raises=ValueError, note=ERR_STRIDE))
    cases.append(Case((draw.tensor(3, 4), 2), raises=ValueError, note=ERR_4D))
    return cases


@generator("conv_transpose2d_scatter")
def _conv_transpose2d_scatter(draw: Draw) -> list[Case]:
    return _transposed_cases(draw, 21)


@generator("conv_transpose2d_via_conv")
def _conv_transpose2d_via_conv(draw: Draw) -> list[Case]:
    return _transposed_cases(draw, 21)


@generator("conv2d_backward")
def _conv2d_backward(draw: Draw) -> list[Case]:
    """(x, weight, grad_out, stride=1, padding=0); grad_out of conv2d's output shape."""
    cases = []
    while len(cases) < 22:
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 3), draw.int(1, 3)
        h, w, kh, kw = draw.int(1, 8), draw.int(1, 8), draw.int(1, 4), draw.int(1, 4)
        stride, padding = draw.choice([1, 1, 2, 3]), draw.choice([0, 0, 1, 2])
        if kh > h + 2 * padding or kw > w + 2 * padding:
            continue
        ho, wo = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
        dtype = draw.dtype()
        cases.append(call(draw, (draw.tensor(n, c_in, h, w, dtype=dtype),
                                 draw.tensor(c_out, c_in, kh, kw, dtype=dtype),
                                 draw.tensor(n, c_out, ho, wo, dtype=dtype)),
                          [("stride", stride, 1), ("padding", padding, 0)]))
    # grad_out one row short, or with the input's channels instead of the weight's C_out.
    stride = draw.int(1, 2)
    ho = (6 - 3) // stride + 1
    cases.append(Case((draw.tensor(1, 2, 6, 6), draw.tensor(3, 2, 3, 3), draw.tensor(1, 3, ho - 1, ho)),
                      {"stride": stride}, raises=ValueError, note=ERR_GRAD_SHAPE))
    cases.append(Case((draw.tensor(2, 2, 5, 5), draw.tensor(3, 2, 3, 3), draw.tensor(2, 2, 3, 3)),
                      raises=ValueError, note=ERR_GRAD_SHAPE))
    padding = draw.int(0, 1)
    cases.append(Case((draw.tensor(1, 2, 2, 2), draw.tensor(3, 2, 3 + 2 * padding, 3 + 2 * padding),
                       draw.tensor(1, 3, 1, 1)), {"padding": padding}, raises=ValueError, note=ERR_PADDED))
    return cases
