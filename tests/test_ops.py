"""The reference library's tensor ops against torch.nn.functional.

Every op is run on randomized valid configurations (non-square inputs and kernels,
strides, paddings, dilations, output paddings, ints and pairs, batched and unbatched)
in float64 and compared over the full tensor: the forward result and the gradients
with respect to input, weight and bias. Loop-based ops are also compared with their
vectorized twins. Everything runs once per device (see conftest.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

import convlab

# Small on purpose: a few dozen shapes per op find every indexing bug we have seen,
# and the whole library suite must stay within a few minutes on 2 cores.
FAST = settings(max_examples=40, deadline=None)
LOOPS = settings(max_examples=20, deadline=None)  # Python loops over pixels: slower

DTYPE = torch.float64


# --------------------------------------------------------------------------- helpers


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _int_or_pair(draw, values: tuple[int, int]):
    """Present per-axis values as an int where both agree and hypothesis says so."""
    if values[0] == values[1] and draw(st.booleans()):
        return values[0]
    return values


def _two_distinct(draw, lo: int, hi: int) -> tuple[int, int]:
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(lo, hi - 1))
    return a, b + (b >= a)  # b != a, uniform over the rest


def _randn(shape, generator, device, requires_grad=True):
    t = torch.randn(shape, dtype=DTYPE, generator=generator).to(device)
    return t.requires_grad_(requires_grad)


def assert_matches(ours, theirs, inputs: dict[str, torch.Tensor], generator):
    """Same forward (dtype, device, values) and same gradients w.r.t. every input."""
    got, want = ours(**inputs), theirs(**inputs)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.device == want.device, (got.device, want.device)
    assert_close(got, want)
    grad_out = torch.randn(want.shape, dtype=want.dtype, generator=generator).to(want.device)
    names = [k for k, v in inputs.items() if v is not None and v.requires_grad]
    leaves = [inputs[k] for k in names]
    got_grads = torch.autograd.grad(got, leaves, grad_out)
    want_grads = torch.autograd.grad(want, leaves, grad_out)
    for name, g, w in zip(names, got_grads, want_grads):
        assert_close(g, w, msg=lambda m, name=name: f"gradient w.r.t. {name}: {m}")


@dataclass
class Conv:
    """One random conv problem; ``arrays`` builds its tensors on a device."""

    n: int
    c_in: int
    c_out: int
    size: tuple[int, int]
    kernel: tuple[int, int]
    stride: object
    padding: object
    dilation: object
    output_padding: object
    batched: bool
    bias: bool
    seed: int
    transposed: bool

    def arrays(self, device):
        g = torch.Generator().manual_seed(self.seed)
        x_shape = ((self.n,) if self.batched else ()) + (self.c_in, *self.size)
        w_shape = (self.c_in, self.c_out) if self.transposed else (self.c_out, self.c_in)
        inputs = {
            "x": _randn(x_shape, g, device),
            "weight": _randn(w_shape + self.kernel, g, device),
            "bias": _randn((self.c_out,), g, device) if self.bias else None,
        }
        return inputs, g


@st.composite
def convs(draw, dilation=True, output_padding=False, transposed=False, batched=None):
    """Valid F.conv2d / F.conv_transpose2d problems, H != W and kh != kw."""
    kernel = _two_distinct(draw, 1, 4)
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    dil = tuple(draw(st.integers(1, 3)) for _ in range(2)) if dilation else (1, 1)
    extent = tuple(d * (k - 1) + 1 for d, k in zip(dil, kernel))
    if transposed:
        # output_padding must be smaller than stride or dilation (torch's rule).
        op = (
            tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dil))
            if output_padding
            else (0, 0)
        )
        size = _two_distinct(draw, 1, 5)
        # padding may crop at most all but one output pixel
        full = tuple((i - 1) * s + e + o for i, s, e, o in zip(size, stride, extent, op))
        padding = tuple(draw(st.integers(0, min(2, (f - 1) // 2))) for f in full)
    else:
        op = (0, 0)
        padding = tuple(draw(st.integers(0, 2)) for _ in range(2))
        lows = [max(1, e - 2 * p) for e, p in zip(extent, padding)]
        h = draw(st.integers(lows[0], lows[0] + 5))
        w = draw(st.integers(lows[1], lows[1] + 5))
        size = (h, w if w != h else w + 1)
    return Conv(
        n=draw(st.integers(1, 2)),
        c_in=draw(st.integers(1, 3)),
        c_out=draw(st.integers(1, 3)),
        size=size,
        kernel=kernel,
        stride=_int_or_pair(draw, stride),
        padding=_int_or_pair(draw, padding),
        dilation=_int_or_pair(draw, dil),
        output_padding=_int_or_pair(draw, op),
        batched=draw(st.booleans()) if batched is None else batched,
        bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
        transposed=transposed,
    )


# ----------------------------------------------------------------- direct convolution


@FAST
@given(conv=convs())
def test_conv2d_matches_torch(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(stride=conv.stride, padding=conv.padding, dilation=conv.dilation)
    assert_matches(
        lambda x, weight, bias: convlab.conv2d(x, weight, bias, **args),
        lambda x, weight, bias: F.conv2d(x, weight, bias, **args),
        inputs,
        g,
    )


@FAST
@given(conv=convs())
def test_conv2d_dilated_matches_torch(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(stride=conv.stride, padding=conv.padding, dilation=conv.dilation)
    assert_matches(
        lambda x, weight, bias: convlab.conv2d_dilated(x, weight, bias, **args),
        lambda x, weight, bias: F.conv2d(x, weight, bias, **args),
        inputs,
        g,
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("mode", ["same", "valid", "SAME"])
@pytest.mark.parametrize("kernel, dilation", [((3, 2), 1), ((2, 4), (2, 1)), ((1, 3), 3)])
def test_conv2d_string_padding_matches_torch(mode, kernel, dilation, device):
    g = torch.Generator().manual_seed(0)
    inputs = {
        "x": _randn((2, 3, 9, 7), g, device),
        "weight": _randn((4, 3, *kernel), g, device),
        "bias": _randn((4,), g, device),
    }
    assert_matches(
        lambda x, weight, bias: convlab.conv2d(x, weight, bias, padding=mode, dilation=dilation),
        lambda x, weight, bias: F.conv2d(x, weight, bias, padding=mode.lower(), dilation=dilation),
        inputs,
        g,
    )


@FAST
@given(conv=convs(dilation=False))
def test_conv2d_im2col_matches_torch(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(stride=conv.stride, padding=conv.padding)
    assert_matches(
        lambda x, weight, bias: convlab.conv2d_im2col(x, weight, bias, **args),
        lambda x, weight, bias: F.conv2d(x, weight, bias, **args),
        inputs,
        g,
    )


@LOOPS
@given(conv=convs(dilation=False))
def test_conv2d_loops_matches_torch_and_im2col_twin(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(stride=conv.stride, padding=conv.padding)
    loops = lambda x, weight, bias: convlab.conv2d_loops(x, weight, bias, **args)  # noqa: E731
    assert_matches(loops, lambda x, weight, bias: F.conv2d(x, weight, bias, **args), inputs, g)
    assert_matches(
        loops, lambda x, weight, bias: convlab.conv2d_im2col(x, weight, bias, **args), inputs, g
    )


@LOOPS
@given(
    size=st.tuples(st.integers(3, 7), st.integers(3, 7)).filter(lambda s: s[0] != s[1]),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)).filter(lambda k: k[0] != k[1]),
    seed=st.integers(0, 2**31 - 1),
)
def test_corr2d_matches_torch_and_conv2d_twin(size, kernel, seed, device):
    g = torch.Generator().manual_seed(seed)
    inputs = {"x": _randn(size, g, device), "kernel": _randn(kernel, g, device)}

    def torch_corr(x, kernel):
        return F.conv2d(x[None, None], kernel[None, None])[0, 0]

    def twin(x, kernel):
        return convlab.conv2d(x[None, None], kernel[None, None])[0, 0]

    assert_matches(convlab.corr2d, torch_corr, inputs, g)
    assert_matches(convlab.corr2d, twin, inputs, g)


@FAST
@given(conv=convs(dilation=False, batched=True), kernel_as_int=st.booleans())
def test_im2col_matches_unfold(conv, kernel_as_int, device):
    inputs, g = conv.arrays(device)
    kernel = min(conv.kernel) if kernel_as_int else conv.kernel  # the input fits either
    assert_matches(
        lambda x: convlab.im2col(x, kernel, conv.stride, conv.padding),
        lambda x: F.unfold(x, kernel, padding=conv.padding, stride=conv.stride),
        {"x": inputs["x"]},
        g,
    )


# -------------------------------------------------------------- transposed convolution


@FAST
@given(conv=convs(output_padding=True, transposed=True))
def test_conv_transpose2d_matches_torch(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(
        stride=conv.stride,
        padding=conv.padding,
        output_padding=conv.output_padding,
        dilation=conv.dilation,
    )
    assert_matches(
        lambda x, weight, bias: convlab.conv_transpose2d(x, weight, bias, **args),
        lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, **args),
        inputs,
        g,
    )


@pytest.mark.parametrize("stride, dilation", [(2, 2), (3, 3), ((2, 3), (4, 1)), (1, 2)])
def test_conv_transpose2d_output_phases_no_tap_reaches(stride, dilation, device):
    # Dilation a multiple of the stride leaves whole rows / columns that only the bias reaches.
    g = torch.Generator().manual_seed(3)
    inputs = {
        "x": _randn((2, 3, 4, 5), g, device),
        "weight": _randn((3, 2, 3, 2), g, device),
        "bias": _randn((2,), g, device),
    }
    args = dict(stride=stride, padding=1, dilation=dilation)
    assert_matches(
        lambda x, weight, bias: convlab.conv_transpose2d(x, weight, bias, **args),
        lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, **args),
        inputs,
        g,
    )


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_strided_views_and_channels_last_inputs(transposed, device):
    g = torch.Generator().manual_seed(1)
    base = _randn((2, 7, 6, 3), g, device, requires_grad=False)  # NHWC
    weight = _randn((3, 2, 3, 2) if transposed else (2, 3, 3, 2), g, device, requires_grad=False)
    ours, theirs = (
        (convlab.conv_transpose2d, F.conv_transpose2d) if transposed else (convlab.conv2d, F.conv2d)
    )
    args = dict(stride=2, padding=1, dilation=(1, 2))
    for x in (
        base.permute(0, 3, 1, 2),  # non-contiguous view
        base.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last),
        base.permute(0, 3, 1, 2)[:, :, ::2, 1:],  # strided slice
    ):
        assert_close(ours(x, weight, **args), theirs(x, weight, **args))


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_double_backward(transposed, device):
    g = torch.Generator().manual_seed(2)
    x = _randn((2, 2, 4, 5), g, device)
    weight = _randn((2, 3, 2, 3) if transposed else (3, 2, 2, 3), g, device)
    bias = _randn((3,), g, device)
    if transposed:
        args = dict(stride=(2, 1), padding=(0, 1), output_padding=(1, 0), dilation=(1, 2))
        fn = lambda x, w, b: convlab.conv_transpose2d(x, w, b, **args)  # noqa: E731
    else:
        fn = lambda x, w, b: convlab.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2))  # noqa: E731
    assert torch.autograd.gradgradcheck(fn, (x, weight, bias))


@LOOPS
@given(conv=convs(dilation=False, output_padding=True, transposed=True))
def test_conv_transpose2d_scatter_matches_torch_and_via_conv_twin(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(stride=conv.stride, padding=conv.padding, output_padding=conv.output_padding)

    def scatter(x, weight, bias):
        return convlab.conv_transpose2d_scatter(x, weight, bias, **args)

    def twin(x, weight, bias):
        return convlab.conv_transpose2d_via_conv(x, weight, bias, **args)

    assert_matches(scatter, lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, **args), inputs, g)
    assert_matches(scatter, twin, inputs, g)


@FAST
@given(conv=convs(dilation=False, output_padding=True, transposed=True))
def test_conv_transpose2d_via_conv_matches_torch(conv, device):
    inputs, g = conv.arrays(device)
    args = dict(stride=conv.stride, padding=conv.padding, output_padding=conv.output_padding)
    assert_matches(
        lambda x, weight, bias: convlab.conv_transpose2d_via_conv(x, weight, bias, **args),
        lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, **args),
        inputs,
        g,
    )


@FAST
@given(conv=convs(dilation=False, batched=True))
def test_conv2d_backward_equals_autograd(conv, device):
    inputs, g = conv.arrays(device)
    x, weight = inputs["x"], inputs["weight"]
    bias = torch.zeros(conv.c_out, dtype=DTYPE, device=device, requires_grad=True)
    out = F.conv2d(x, weight, bias, stride=conv.stride, padding=conv.padding)
    grad_out = torch.randn(out.shape, dtype=DTYPE, generator=g).to(device)
    want = torch.autograd.grad(out, (x, weight, bias), grad_out)
    got = convlab.conv2d_backward(x.detach(), weight.detach(), grad_out, conv.stride, conv.padding)
    for name, a, b in zip(("grad_x", "grad_weight", "grad_bias"), got, want):
        assert a.dtype == b.dtype and a.device == b.device
        assert_close(a, b, msg=lambda m, name=name: f"{name}: {m}")


def test_conv2d_backward_where_the_stride_skips_the_last_rows(device):
    # The forward never reads the last (7 + 2 - 3) mod 4 = 2 padded rows (one of them
    # padding, one row of x) nor the last (6 - 2) mod 3 = 1 column: their input gradient
    # is 0, and output_padding keeps them in grad_x.
    x = torch.randn(2, 3, 7, 6, dtype=DTYPE, device=device, requires_grad=True)
    weight = torch.randn(2, 3, 3, 2, dtype=DTYPE, device=device, requires_grad=True)
    out = F.conv2d(x, weight, stride=(4, 3), padding=(1, 0))
    grad_out = torch.randn_like(out)
    grad_x, grad_weight, grad_bias = convlab.conv2d_backward(
        x.detach(), weight.detach(), grad_out, (4, 3), (1, 0))
    want_x, want_w = torch.autograd.grad(out, (x, weight), grad_out)
    assert grad_x.shape == x.shape and bool((grad_x[:, :, :, -1] == 0).all())
    assert bool((grad_x[:, :, -1] == 0).all()) and bool((grad_x[:, :, -2] != 0).any())
    assert_close(grad_x, want_x)
    assert_close(grad_weight, want_w)
    assert_close(grad_bias, grad_out.sum((0, 2, 3)))


@FAST
@given(
    size=st.tuples(st.integers(3, 6), st.integers(3, 6)).filter(lambda s: s[0] != s[1]),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)).filter(lambda k: k[0] != k[1]),
    seed=st.integers(0, 2**31 - 1),
)
def test_conv_matrix_is_conv_and_its_transpose_is_conv_transpose(size, kernel, seed, device):
    g = torch.Generator().manual_seed(seed)
    kernel_t = _randn(kernel, g, device)
    x = _randn(size, g, device, requires_grad=False)
    out_shape = (size[0] - kernel[0] + 1, size[1] - kernel[1] + 1)
    y = _randn(out_shape, g, device, requires_grad=False)

    matrix = convlab.conv_matrix(kernel_t, size)
    assert matrix.shape == (out_shape[0] * out_shape[1], size[0] * size[1])
    assert matrix.dtype == DTYPE and matrix.device == device
    assert_close(matrix @ x.flatten(), convlab.corr2d(x, kernel_t).flatten())
    assert_close(matrix @ x.flatten(), F.conv2d(x[None, None], kernel_t[None, None]).flatten())
    assert_close(
        matrix.T @ y.flatten(), F.conv_transpose2d(y[None, None], kernel_t[None, None]).flatten()
    )
    # Differentiable in the kernel: same weight gradient as a real conv.
    assert_matches(
        lambda kernel: (convlab.conv_matrix(kernel, size) @ x.flatten()).reshape(out_shape),
        lambda kernel: F.conv2d(x[None, None], kernel[None, None])[0, 0],
        {"kernel": kernel_t},
        g,
    )


@FAST
@given(
    stride=st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    size=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    seed=st.integers(0, 2**31 - 1),
)
def test_insert_zeros_matches_a_strided_one_by_one_transposed_conv(stride, size, seed, device):
    g = torch.Generator().manual_seed(seed)
    x = _randn((2, 3, *size), g, device)
    # A 1x1 transposed conv with weight 1 per channel puts x[y, x] at (y*s, x*s), zeros between.
    ones = torch.ones(3, 1, 1, 1, dtype=DTYPE, device=device)
    assert_matches(
        lambda x: convlab.insert_zeros(x, stride),
        lambda x: F.conv_transpose2d(x, ones, stride=stride, groups=3),
        {"x": x},
        g,
    )
    sh, sw = _pair(stride)
    assert convlab.insert_zeros(x, stride).shape == (2, 3, (size[0] - 1) * sh + 1, (size[1] - 1) * sw + 1)


@FAST
@given(
    k=st.integers(1, 6),
    stride=st.integers(1, 4),
    n=st.integers(1, 7),
)
def test_overlap_counts_matches_brute_force_and_a_transposed_conv_of_ones(k, stride, n):
    counts = [0] * ((n - 1) * stride + k)
    for pixel in range(n):
        for tap in range(k):
            counts[pixel * stride + tap] += 1
    got = convlab.overlap_counts(k, stride, n)
    assert got.dtype == torch.int64 and got.dim() == 1
    assert got.tolist() == counts
    ones = F.conv_transpose1d(
        torch.ones(1, 1, n, dtype=DTYPE), torch.ones(1, 1, k, dtype=DTYPE), stride=stride
    )
    assert_close(got, ones[0, 0].to(torch.int64))


def test_overlap_counts_literal_checkerboard():
    # k=3, s=2: taps overlap on every other pixel (Odena et al.'s checkerboard).
    assert convlab.overlap_counts(3, 2, 4).tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]
    assert convlab.overlap_counts(4, 2, 3).tolist() == [1, 1, 2, 2, 2, 2, 1, 1]


# ------------------------------------------------------------------ atrous convolution


@FAST
@given(conv=convs())
def test_dilate_kernel_conv_equals_dilated_conv(conv, device):
    inputs, g = conv.arrays(device)
    weight = inputs["weight"]
    dilated = convlab.dilate_kernel(weight, conv.dilation)
    dh, dw = _pair(conv.dilation)
    kh, kw = conv.kernel
    assert dilated.shape == (*weight.shape[:2], dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    assert_close(dilated[:, :, ::dh, ::dw], weight)
    assert_close(dilated.abs().sum(), weight.abs().sum())  # everything else is zero
    args = dict(stride=conv.stride, padding=conv.padding)
    assert_matches(
        lambda x, weight, bias: F.conv2d(x, convlab.dilate_kernel(weight, conv.dilation), bias, **args),
        lambda x, weight, bias: F.conv2d(x, weight, bias, dilation=conv.dilation, **args),
        inputs,
        g,
    )


def test_space_to_batch_literal_tensorflow_order():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    expected = torch.tensor(
        [
            [[[0.0, 2.0], [8.0, 10.0]]],  # phase (0, 0)
            [[[1.0, 3.0], [9.0, 11.0]]],  # phase (0, 1)
            [[[4.0, 6.0], [12.0, 14.0]]],  # phase (1, 0)
            [[[5.0, 7.0], [13.0, 15.0]]],  # phase (1, 1)
        ]
    )
    assert_close(convlab.space_to_batch(x, 2), expected)
    assert_close(convlab.batch_to_space(expected, 2), x)


@FAST
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 2),
    rate=st.integers(1, 3),
    blocks=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    seed=st.integers(0, 2**31 - 1),
)
def test_space_to_batch_order_and_round_trip(n, c, rate, blocks, seed, device):
    g = torch.Generator().manual_seed(seed)
    x = _randn((n, c, blocks[0] * rate, blocks[1] * rate), g, device, requires_grad=False)
    out = convlab.space_to_batch(x, rate)
    assert out.shape == (rate * rate * n, c, blocks[0], blocks[1])
    assert out.dtype == x.dtype and out.device == x.device
    for i in range(rate):
        for j in range(rate):
            for image in range(n):
                assert_close(out[(i * rate + j) * n + image], x[image, :, i::rate, j::rate])
    assert_close(convlab.batch_to_space(out, rate), x)
    y = _randn(tuple(out.shape), g, device, requires_grad=False)
    assert_close(convlab.space_to_batch(convlab.batch_to_space(y, rate), rate), y)


def _tf_same(n: int, k: int, rate: int) -> tuple[int, int]:
    # Stride 1: output n, so the dilated kernel needs rate*(k-1) extra pixels; TF puts
    # the odd one after.
    total = rate * (k - 1)
    return total // 2, total - total // 2


@FAST
@given(
    n=st.integers(1, 2),
    size=st.tuples(st.integers(1, 7), st.integers(1, 7)).filter(lambda s: s[0] != s[1]),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)).filter(lambda k: k[0] != k[1]),
    channels=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    rate=st.integers(1, 3),
    padding=st.sampled_from(["SAME", "VALID", "same", "valid"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_atrous_conv2d_matches_dilated_conv_with_tf_padding(
    n, size, kernel, channels, rate, padding, seed, device
):
    extent = [rate * (k - 1) + 1 for k in kernel]
    if padding.upper() == "VALID" and (extent[0] > size[0] or extent[1] > size[1]):
        size = (size[0] + extent[0], size[1] + extent[1])  # make the filter fit
    g = torch.Generator().manual_seed(seed)
    inputs = {
        "value": _randn((n, *size, channels[0]), g, device),
        "filters": _randn((*kernel, *channels), g, device),
    }

    def reference(value, filters):
        x = value.permute(0, 3, 1, 2)
        if padding.upper() == "SAME":
            top, bottom = _tf_same(size[0], kernel[0], rate)
            left, right = _tf_same(size[1], kernel[1], rate)
            x = F.pad(x, (left, right, top, bottom))
        # contiguous(): torch's CPU conv backward rejects a permuted weight
        out = F.conv2d(x, filters.permute(3, 2, 0, 1).contiguous(), dilation=rate)
        return out.permute(0, 2, 3, 1)

    assert_matches(
        lambda value, filters: convlab.atrous_conv2d(value, filters, rate, padding),
        reference,
        inputs,
        g,
    )


def _seed_image():
    # value[0, h, w, c] = w + 1: every row of both channels is [1, 2, 3, 4].
    return torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1).expand(1, 4, 4, 2).contiguous()


@FAST
@given(
    n=st.integers(1, 2), c_in=st.integers(1, 3), c_out=st.integers(1, 3), length=st.integers(1, 12),
    k=st.integers(1, 4), dilation=st.integers(1, 4), bias=st.booleans(), seed=st.integers(0, 2**31 - 1),
)
def test_causal_conv1d_is_a_left_padded_dilated_conv1d(n, c_in, c_out, length, k, dilation, bias, seed, device):
    g = torch.Generator().manual_seed(seed)
    x = _randn((n, c_in, length), g, device)
    weight = _randn((c_out, c_in, k), g, device)
    b = _randn((c_out,), g, device) if bias else None
    assert_matches(
        lambda x, weight, bias: convlab.causal_conv1d(x, weight, bias, dilation),
        lambda x, weight, bias: F.conv1d(F.pad(x, ((k - 1) * dilation, 0)), weight, bias, dilation=dilation),
        {"x": x, "weight": weight, "bias": b},
        g,
    )


def test_causal_conv1d_never_looks_ahead(device):
    # Changing input t changes outputs t, t+d, ..., t+(k-1)d only.
    x = torch.randn(1, 2, 20, dtype=DTYPE, device=device)
    weight = torch.randn(3, 2, 3, dtype=DTYPE, device=device)
    before = convlab.causal_conv1d(x, weight, dilation=4)
    x[0, :, 9] += 1.0
    changed = (convlab.causal_conv1d(x, weight, dilation=4) != before).any(1)[0]
    assert changed.nonzero().flatten().tolist() == [9, 13, 17]


@pytest.mark.parametrize("kernel_size, rates, stacks, expected", [
    (2, [2**i for i in range(10)], 1, 1024),  # WaveNet: 1, 2, ..., 512
    (2, [2**i for i in range(10)], 3, 3070),
    (3, [1, 2, 4], 2, 29),
    (1, [5, 7], 4, 1),
])
def test_wavenet_receptive_field_published_numbers(kernel_size, rates, stacks, expected):
    assert convlab.wavenet_receptive_field(kernel_size, rates, stacks) == expected
    # The same number as the general formula, for stacks * len(rates) stride-1 layers.
    layers = [(kernel_size, 1, r) for r in rates] * stacks
    assert convlab.receptive_field(layers) == expected


@pytest.mark.parametrize(
    "rate, padding, expected_rows",
    [
        # Worked by hand: each output sums the pixels under the (dilated) 3x3 window,
        # over 2 channels; zero padding contributes nothing.
        (2, "SAME", [[16, 24, 16, 24]] * 4),
        (1, "SAME", [[12, 24, 36, 28], [18, 36, 54, 42], [18, 36, 54, 42], [12, 24, 36, 28]]),
        (1, "VALID", [[36, 54], [36, 54]]),
    ],
)
def test_atrous_conv2d_seed_example(rate, padding, expected_rows, device):
    value = _seed_image().to(device)
    filters = torch.ones(3, 3, 2, 5, device=device)
    out = convlab.atrous_conv2d(value, filters, rate, padding)
    rows = torch.tensor(expected_rows, dtype=torch.float32, device=device)
    expected = rows[None, :, :, None].expand(1, *rows.shape, 5)  # same in all 5 channels
    assert out.shape == expected.shape
    assert_close(out, expected)


def test_atrous_conv2d_seed_example_rate_2_valid_raises():
    with pytest.raises(ValueError, match="does not fit"):
        convlab.atrous_conv2d(_seed_image(), torch.ones(3, 3, 2, 5), 2, "VALID")


# ------------------------------------------------------------- dtype and device kept


def _float32_calls(device):
    t = lambda *shape: torch.randn(*shape, device=device)  # noqa: E731
    x, w, wt = t(2, 3, 6, 5), t(4, 3, 3, 2), t(3, 4, 3, 2)
    return {
        "conv2d": lambda: convlab.conv2d(x, w, t(4), stride=2, padding=1, dilation=2),
        "conv2d unbatched": lambda: convlab.conv2d(x[0], w),
        "conv2d_dilated": lambda: convlab.conv2d_dilated(x, w, dilation=2),
        "conv2d_im2col": lambda: convlab.conv2d_im2col(x, w, t(4), padding=1),
        "conv2d_loops": lambda: convlab.conv2d_loops(x, w, t(4), stride=2),
        "corr2d": lambda: convlab.corr2d(x[0, 0], w[0, 0]),
        "im2col": lambda: convlab.im2col(x, 3),
        "conv_transpose2d": lambda: convlab.conv_transpose2d(x, wt, t(4), stride=2, output_padding=1),
        "conv_transpose2d unbatched": lambda: convlab.conv_transpose2d(x[0], wt),
        "conv_transpose2d_scatter": lambda: convlab.conv_transpose2d_scatter(x, wt, stride=2),
        "conv_transpose2d_via_conv": lambda: convlab.conv_transpose2d_via_conv(x, wt, stride=2),
        "conv_matrix": lambda: convlab.conv_matrix(w[0, 0], (5, 4)),
        "insert_zeros": lambda: convlab.insert_zeros(x, 2),
        "causal_conv1d": lambda: convlab.causal_conv1d(x[:, :, 0], w[:, :, 0], t(4), dilation=2),
        "conv2d_backward": lambda: convlab.conv2d_backward(x, w, t(2, 4, 2, 2), stride=2)[0],
        "dilate_kernel": lambda: convlab.dilate_kernel(w, 2),
        "space_to_batch": lambda: convlab.space_to_batch(t(1, 2, 4, 6), 2),
        "batch_to_space": lambda: convlab.batch_to_space(t(4, 2, 2, 3), 2),
        "atrous_conv2d": lambda: convlab.atrous_conv2d(t(1, 5, 6, 3), t(3, 2, 3, 4), 2, "SAME"),
    }


@pytest.mark.parametrize("name", list(_float32_calls("cpu")))
def test_output_keeps_float32_and_device(name, device):
    out = _float32_calls(device)[name]()
    assert out.dtype == torch.float32
    assert out.device.type == device.type
