"""Hidden cases of 01_convolution."""
from __future__ import annotations

import torch

from convlab.checks.core import Case
from convlab.checks.standard import ERR_4D, ERR_CHANNELS, ERR_INPUT, ERR_PADDED, ERR_STRIDE

from . import Draw, call, generator


@generator("conv_output_size")
def _conv_output_size(draw: Draw) -> list[Case]:
    cases = []
    while len(cases) < 26:
        n, k, s, p = draw.int(1, 40), draw.int(1, 9), draw.int(1, 5), draw.int(0, 4)
        if k <= n + 2 * p:
            cases.append(call(draw, (n, k), [("stride", s, 1), ("padding", p, 0)]))
    for _ in range(4):
        n, p = draw.int(1, 6), draw.int(0, 1)
        k = n + 2 * p + draw.int(1, 3)
        cases.append(call(draw, (n, k), [("stride", draw.int(1, 3), 1), ("padding", p, 0)],
                           raises=ValueError, note=ERR_PADDED))
    for stride in (0, -draw.int(1, 3)):
        cases.append(Case((draw.int(3, 9), draw.int(1, 3)), {"stride": stride}, raises=ValueError,
                          note=ERR_STRIDE))
    return cases


@generator("corr2d")
def _corr2d(draw: Draw) -> list[Case]:
    cases = []
    for i in range(22):
        h, w = draw.int(1, 12), draw.int(1, 12)
        kh, kw = draw.int(1, min(h, 5)), draw.int(1, min(w, 5))
        if i % 7 == 6:
            kh, kw = h, w  # one window: a single output value
        dtype = draw.dtype()
        cases.append(Case((draw.tensor(h, w, dtype=dtype), draw.tensor(kh, kw, dtype=dtype))))
    # Inputs that are views, not contiguous: a transposed image, a transposed kernel.
    h, w = draw.int(4, 9), draw.int(4, 9)
    cases.append(Case((draw.tensor(w, h).t(), draw.tensor(draw.int(1, 3), draw.int(2, 3)))))
    cases.append(Case((draw.tensor(h, w), draw.tensor(draw.int(2, 3), draw.int(1, 3)).t())))
    for _ in range(3):
        h, w = draw.int(2, 6), draw.int(2, 6)
        big = (h + draw.int(1, 2), draw.int(1, w)) if draw.chance(0.5) else (draw.int(1, h), w + 1)
        cases.append(Case((draw.tensor(h, w), draw.tensor(*big)), raises=ValueError, note=ERR_INPUT))
    return cases


def _conv2d_cases(draw: Draw, count: int) -> list[Case]:
    """Batched multi-channel conv2d calls: (x, weight, bias=None, stride=1, padding=0)."""
    cases = []
    while len(cases) < count:
        n, c_in, c_out = draw.int(1, 2), draw.int(1, 4), draw.int(1, 4)
        if not cases:  # in every draw: C_in = C_out, where swapped weight axes give values
            c_in = c_out = draw.int(2, 4)
        h, w = draw.int(3, 12), draw.int(3, 12)
        kh, kw = draw.int(1, 5), draw.int(1, 5)
        stride, padding = draw.choice([1, 1, 2, 3]), draw.choice([0, 0, 1, 2])
        if kh > h + 2 * padding or kw > w + 2 * padding:
            continue
        dtype = draw.dtype()
        bias = draw.tensor(c_out, dtype=dtype) if draw.chance(0.5) else None
        cases.append(call(draw, (draw.tensor(n, c_in, h, w, dtype=dtype), draw.tensor(c_out, c_in, kh, kw, dtype=dtype)),
                           [("bias", bias, None), ("stride", stride, 1), ("padding", padding, 0)]))
    # A channels-last input (a view with other strides), as torch's own models may pass.
    c_in = draw.int(2, 3)
    x = draw.tensor(2, c_in, draw.int(4, 8), draw.int(4, 8)).to(memory_format=torch.channels_last)
    cases.append(Case((x, draw.tensor(draw.int(1, 3), c_in, 3, 2)), {"padding": draw.int(0, 1)}))
    # A kernel larger than the input but not than the padded input: valid.
    h, c_in = draw.int(1, 3), draw.int(1, 2)
    cases.append(Case((draw.tensor(1, c_in, h, h + 2), draw.tensor(2, c_in, h + 2, 3)), {"padding": 1}))
    for _ in range(2):
        h, w = draw.int(2, 5), draw.int(2, 5)
        c_in = draw.int(1, 3)
        cases.append(Case((draw.tensor(1, c_in, h, w), draw.tensor(2, c_in, h + 1, w)),
                          raises=ValueError, note=ERR_PADDED))
    for _ in range(2):
        c_in = draw.int(1, 3)
        cases.append(Case((draw.tensor(1, c_in, 5, 5), draw.tensor(2, c_in + draw.int(1, 2), 3, 3)),
                          raises=ValueError, note=ERR_CHANNELS))
    return cases


@generator("im2col")
def _im2col(draw: Draw) -> list[Case]:
    cases = []
    while len(cases) < 22:
        n, c, h, w = draw.int(1, 2), draw.int(1, 4), draw.int(2, 12), draw.int(2, 12)
        kh, kw = draw.int(1, 4), draw.int(1, 4)
        stride, padding = draw.choice([1, 1, 2, 3]), draw.choice([0, 0, 1, 2])
        if kh > h + 2 * padding or kw > w + 2 * padding:
            continue
        kernel_size = kh if kh == kw and draw.chance(0.5) else (kh, kw)
        cases.append(call(draw, (draw.tensor(n, c, h, w, dtype=draw.dtype()), kernel_size),
                           [("stride", stride, 1), ("padding", padding, 0)]))
    # A kernel larger than the input but not than the padded input: valid.
    h = draw.int(1, 3)
    cases.append(Case((draw.tensor(1, 2, h, h + 3), (h + 2, 2)), {"padding": 1}))
    # A channels-last input (a view with other strides).
    x = draw.tensor(2, draw.int(2, 3), draw.int(4, 8), draw.int(4, 8)).to(memory_format=torch.channels_last)
    cases.append(Case((x, (2, 3))))
    cases.append(Case((draw.tensor(1, 2, 3, 4), (4, 2)), raises=ValueError, note=ERR_PADDED))
    cases.append(Case((draw.tensor(2, 1, 3, 3), 5), {"padding": 0}, raises=ValueError, note=ERR_PADDED))
    cases.append(Case((draw.tensor(2, 5, 5), 2), raises=ValueError, note=ERR_4D))
    return cases


@generator("conv2d_loops")
def _conv2d_loops(draw: Draw) -> list[Case]:
    return _conv2d_cases(draw, 22)


@generator("conv2d_im2col")
def _conv2d_im2col(draw: Draw) -> list[Case]:
    return _conv2d_cases(draw, 22)
