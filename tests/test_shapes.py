"""Size formulas: against torch's actual output shapes, against every numbered
relationship of Dumoulin & Visin, "A guide to convolution arithmetic for deep learning"
(2016), against Keras' ``deconv_output_length`` and TensorFlow's SAME padding.

The paper numbers its relationships with one counter: 1-6 convolution, 7 pooling,
8-14 transposed convolution (the transposes of 1-6, with 14 adding the extra ``a``),
15 dilated convolution. Each test below is named after the relationship it checks;
the formula is written out in the test, not taken from the library.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convlab

SHAPES = settings(max_examples=40, deadline=None)

sizes = st.integers(1, 24)
kernels = st.integers(1, 7)
strides = st.integers(1, 4)
paddings = st.integers(0, 4)
dilations = st.integers(1, 3)


# Shapes only: "meta" tensors carry no data, so torch computes no convolution.
def torch_conv_len(i, k, s=1, p=0, d=1):
    x, w = torch.empty(1, 1, i, device="meta"), torch.empty(1, 1, k, device="meta")
    return F.conv1d(x, w, stride=s, padding=p, dilation=d).shape[-1]


def torch_conv_transpose_len(i, k, s=1, p=0, a=0, d=1):
    x, w = torch.empty(1, 1, i, device="meta"), torch.empty(1, 1, k, device="meta")
    return F.conv_transpose1d(x, w, stride=s, padding=p, output_padding=a, dilation=d).shape[-1]


def stretched(i, s):
    """Length of an input of size i with s - 1 zeros inserted between its units."""
    return s * (i - 1) + 1


# ------------------------------------------------------------- against torch's shapes


@SHAPES
@given(
    size=st.tuples(sizes, sizes),
    kernel=st.tuples(kernels, kernels),
    stride=st.tuples(strides, strides),
    padding=st.tuples(paddings, paddings),
    dilation=st.tuples(dilations, dilations),
)
def test_conv_output_size_matches_torch_conv2d_shape(size, kernel, stride, padding, dilation):
    extent = [convlab.effective_kernel_size(k, d) for k, d in zip(kernel, dilation)]
    assume(all(e <= n + 2 * p for e, n, p in zip(extent, size, padding)))
    x = torch.empty(1, 1, *size, device="meta")
    w = torch.empty(1, 1, *kernel, device="meta")
    out = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
    expected = tuple(
        convlab.conv_output_size(n, e, s, p) for n, e, s, p in zip(size, extent, stride, padding)
    )
    assert tuple(out.shape[-2:]) == expected


@SHAPES
@given(
    size=st.tuples(sizes, sizes),
    kernel=st.tuples(kernels, kernels),
    stride=st.tuples(strides, strides),
    padding=st.tuples(paddings, paddings),
    dilation=st.tuples(dilations, dilations),
    data=st.data(),
)
def test_conv_transpose_output_size_matches_torch_shape(size, kernel, stride, padding, dilation, data):
    output_padding = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation)
    )
    args = list(zip(size, kernel, stride, padding, output_padding, dilation))
    uncropped = [(n - 1) * s + d * (k - 1) + a + 1 for n, k, s, p, a, d in args]
    assume(all(u - 2 * p >= 1 for u, (_, _, _, p, _, _) in zip(uncropped, args)))
    x = torch.empty(1, 1, *size, device="meta")
    w = torch.empty(1, 1, *kernel, device="meta")
    out = F.conv_transpose2d(
        x, w, stride=stride, padding=padding, output_padding=output_padding, dilation=dilation
    )
    assert tuple(out.shape[-2:]) == tuple(convlab.conv_transpose_output_size(*a) for a in args)


@SHAPES
@given(k=kernels, d=dilations)
def test_effective_kernel_size(k, d):
    assert convlab.effective_kernel_size(k, d) == k + (k - 1) * (d - 1)
    assert convlab.effective_kernel_size(k, 1) == k


# --------------------------------------------- Dumoulin & Visin: convolution (1-6)


@SHAPES
@given(i=sizes, k=kernels)
def test_relationship_01_no_padding_unit_strides(i, k):
    assume(k <= i)
    o = (i - k) + 1
    assert convlab.conv_output_size(i, k) == o == torch_conv_len(i, k)


@SHAPES
@given(i=sizes, k=kernels, p=paddings)
def test_relationship_02_zero_padding_unit_strides(i, k, p):
    assume(k <= i + 2 * p)
    o = (i - k) + 2 * p + 1
    assert convlab.conv_output_size(i, k, 1, p) == o == torch_conv_len(i, k, 1, p)


@SHAPES
@given(i=sizes, n=st.integers(0, 4))
def test_relationship_03_half_padding(i, n):
    k = 2 * n + 1
    p = k // 2
    assert p == n
    assert convlab.conv_output_size(i, k, 1, p) == i == torch_conv_len(i, k, 1, p)
    assert convlab.same_padding(k) == (n, n)


@SHAPES
@given(i=sizes, k=kernels)
def test_relationship_04_full_padding(i, k):
    o = i + (k - 1)
    assert convlab.conv_output_size(i, k, 1, k - 1) == o == torch_conv_len(i, k, 1, k - 1)


@SHAPES
@given(i=sizes, k=kernels, s=strides)
def test_relationship_05_no_padding_non_unit_strides(i, k, s):
    assume(k <= i)
    o = (i - k) // s + 1
    assert convlab.conv_output_size(i, k, s) == o == torch_conv_len(i, k, s)


@SHAPES
@given(i=sizes, k=kernels, s=strides, p=paddings)
def test_relationship_06_zero_padding_non_unit_strides(i, k, s, p):
    assume(k <= i + 2 * p)
    o = (i + 2 * p - k) // s + 1
    assert convlab.conv_output_size(i, k, s, p) == o == torch_conv_len(i, k, s, p)


def test_relationship_06_figures_share_an_output_size():
    # The paper's figures 2.6 and 2.7: i = 5 and i = 6 (k=3, s=2, p=1) both give o = 3.
    assert convlab.conv_output_size(5, 3, 2, 1) == convlab.conv_output_size(6, 3, 2, 1) == 3


# ------------------------------------------------------ Dumoulin & Visin: pooling (7)


@SHAPES
@given(i=sizes, k=kernels, s=strides)
def test_relationship_07_pooling(i, k, s):
    assume(k <= i)
    o = (i - k) // s + 1
    x = torch.empty(1, 1, i, device="meta")
    assert convlab.conv_output_size(i, k, s) == o
    assert F.max_pool1d(x, k, s).shape[-1] == o
    assert F.avg_pool1d(x, k, s).shape[-1] == o


# ------------------------------------ Dumoulin & Visin: transposed convolution (8-14)
# Each takes a direct convolution (i, k, s, p) with output i' = o, and checks that its
# transpose maps i' back to i: by the paper's formula, by the library's
# conv_transpose_output_size, by torch, and by the paper's equivalent direct
# convolution (stride 1, padding p', on the stretched input where s > 1).


def check_transpose(i, k, s, p, expected, equivalent_padding, a=0):
    i_prime = convlab.conv_output_size(i, k, s, p)
    o_prime = expected(i_prime)
    assert o_prime == i, "the transpose recovers the direct convolution's input size"
    assert convlab.conv_transpose_output_size(i_prime, k, s, p, a) == o_prime
    assert torch_conv_transpose_len(i_prime, k, s, p, a) == o_prime
    # Equivalent direct conv: stride 1 over the stretched input, padded p' on both sides
    # and a more at the end.
    length = stretched(i_prime, s) + 2 * equivalent_padding + a
    assert torch_conv_len(length, k) == o_prime
    if a == 0:
        assert convlab.conv_output_size(stretched(i_prime, s), k, 1, equivalent_padding) == o_prime


@SHAPES
@given(i=sizes, k=kernels)
def test_relationship_08_no_padding_unit_strides_transposed(i, k):
    assume(k <= i)
    check_transpose(i, k, 1, 0, lambda ip: ip + (k - 1), equivalent_padding=k - 1)


@SHAPES
@given(i=sizes, k=kernels, data=st.data())
def test_relationship_09_zero_padding_unit_strides_transposed(i, k, data):
    p = data.draw(st.integers(0, k - 1))
    assume(k <= i + 2 * p)
    check_transpose(i, k, 1, p, lambda ip: ip + (k - 1) - 2 * p, equivalent_padding=k - p - 1)


@SHAPES
@given(i=sizes, n=st.integers(0, 4))
def test_relationship_10_half_padding_transposed(i, n):
    k, p = 2 * n + 1, n
    check_transpose(i, k, 1, p, lambda ip: ip, equivalent_padding=p)


@SHAPES
@given(i=sizes, k=kernels)
def test_relationship_11_full_padding_transposed(i, k):
    check_transpose(i, k, 1, k - 1, lambda ip: ip - (k - 1), equivalent_padding=0)


@SHAPES
@given(k=kernels, s=strides, m=st.integers(0, 6))
def test_relationship_12_no_padding_non_unit_strides_transposed(k, s, m):
    i = k + s * m  # i - k is a multiple of s
    check_transpose(i, k, s, 0, lambda ip: s * (ip - 1) + k, equivalent_padding=k - 1)


@SHAPES
@given(k=kernels, s=strides, m=st.integers(0, 6), data=st.data())
def test_relationship_13_zero_padding_non_unit_strides_transposed(k, s, m, data):
    p = data.draw(st.integers(0, k - 1))
    i = k - 2 * p + s * m  # i + 2p - k is a multiple of s
    assume(i >= 1)
    check_transpose(i, k, s, p, lambda ip: s * (ip - 1) + k - 2 * p, equivalent_padding=k - p - 1)


@SHAPES
@given(i=sizes, k=kernels, s=strides, data=st.data())
def test_relationship_14_zero_padding_non_unit_strides_transposed_odd(i, k, s, data):
    p = data.draw(st.integers(0, k - 1))
    assume(k <= i + 2 * p)
    a = (i + 2 * p - k) % s
    check_transpose(
        i, k, s, p, lambda ip: s * (ip - 1) + a + k - 2 * p, equivalent_padding=k - p - 1, a=a
    )


def test_relationship_14_figure():
    # The paper's figure 4.7: i = 6, k = 3, s = 2, p = 1 -> i' = 3, a = 1, o' = 6.
    assert convlab.conv_output_size(6, 3, 2, 1) == 3
    assert convlab.conv_transpose_output_size(3, 3, 2, 1, output_padding=1) == 6
    assert convlab.conv_transpose_output_size(3, 3, 2, 1, output_padding=0) == 5


# ------------------------------------------------------ Dumoulin & Visin: dilated (15)


@SHAPES
@given(i=sizes, k=kernels, s=strides, p=paddings, d=dilations)
def test_relationship_15_dilated_convolution(i, k, s, p, d):
    o_formula = (i + 2 * p - k - (k - 1) * (d - 1)) / s
    assume(o_formula >= 0)
    o = math.floor(o_formula) + 1
    k_hat = convlab.effective_kernel_size(k, d)
    assert convlab.conv_output_size(i, k_hat, s, p) == o == torch_conv_len(i, k, s, p, d)


def test_relationship_15_figure():
    # The paper's figure 5.1: i = 7, k = 3, d = 2 -> o = 3.
    assert convlab.conv_output_size(7, convlab.effective_kernel_size(3, 2)) == 3


# --------------------------------------------------------- Keras deconv_output_length
# Expected values worked out from the Keras formula (k_eff = k + (k-1)(d-1)):
#   output_padding None: same -> n*s; valid -> n*s + max(k_eff - s, 0);
#                        full -> n*s - (s + k_eff - 2)
#   output_padding given: (n-1)*s + k_eff - 2*pad + output_padding,
#                         pad = k_eff // 2 (same), 0 (valid), k_eff - 1 (full)

KERAS_CASES = [
    # (n, k, padding, stride, output_padding, dilation) -> length
    ((5, 3, "same", 2, None, 1), 10),
    ((5, 3, "valid", 2, None, 1), 11),
    ((5, 3, "full", 2, None, 1), 7),
    ((5, 2, "valid", 3, None, 1), 15),  # k < s: max(k - s, 0) = 0
    ((5, 4, "same", 2, None, 1), 10),
    ((7, 1, "full", 1, None, 1), 7),
    ((4, 3, "same", 2, None, 2), 8),
    ((4, 3, "valid", 2, None, 2), 11),  # k_eff = 5
    ((4, 3, "full", 2, None, 2), 3),
    ((5, 3, "same", 2, 1, 1), 10),
    ((5, 3, "same", 2, 0, 1), 9),
    ((5, 3, "valid", 2, 0, 1), 11),
    ((5, 3, "valid", 2, 1, 1), 12),
    ((5, 3, "full", 2, 0, 1), 7),
    ((5, 4, "same", 2, 0, 1), 8),  # pad = 2
    ((5, 4, "same", 2, 1, 1), 9),
    ((4, 3, "same", 1, 0, 2), 4),  # k_eff = 5, pad = 2
    ((4, 3, "valid", 1, 1, 2), 9),
    ((6, 3, "full", 3, 2, 2), 14),  # k_eff = 5, pad = 4: 15 + 5 - 8 + 2
    ((3, 5, "SAME", 3, None, 1), 9),  # modes are case-insensitive, as in Keras layers
]


@pytest.mark.parametrize("args, expected", KERAS_CASES)
def test_keras_deconv_output_length_literal(args, expected):
    assert convlab.keras_deconv_output_length(*args) == expected


@pytest.mark.parametrize("args, _", [c for c in KERAS_CASES if c[0][4] is not None])
def test_keras_with_output_padding_is_torch_conv_transpose_size(args, _):
    n, k, padding, s, a, d = args
    k_eff = convlab.effective_kernel_size(k, d)
    pad = {"same": k_eff // 2, "valid": 0, "full": k_eff - 1}[padding.lower()]
    expected = convlab.keras_deconv_output_length(n, k, padding, s, a, d)
    assert torch_conv_transpose_len(n, k, s, pad, a, d) == expected
    assert convlab.conv_transpose_output_size(n, k, s, pad, a, d) == expected


@SHAPES
@given(
    n=sizes,
    k=kernels,
    s=strides,
    d=dilations,
    padding=st.sampled_from(["same", "valid", "full"]),
    data=st.data(),
)
def test_keras_with_output_padding_agrees_with_torch(n, k, s, d, padding, data):
    a = data.draw(st.integers(0, max(s, d) - 1))
    k_eff = convlab.effective_kernel_size(k, d)
    pad = {"same": k_eff // 2, "valid": 0, "full": k_eff - 1}[padding]
    length = convlab.keras_deconv_output_length(n, k, padding, s, a, d)
    assert length == (n - 1) * s + k_eff - 2 * pad + a
    assume(length >= 1)
    assert length == torch_conv_transpose_len(n, k, s, pad, a, d)


@pytest.mark.parametrize("padding", ["same", "valid", "full"])
def test_keras_unknown_length_stays_unknown(padding):
    assert convlab.keras_deconv_output_length(None, 3, padding, 2) is None
    assert convlab.keras_deconv_output_length(None, 3, padding, 2, output_padding=1) is None


@SHAPES
@given(n=sizes, k=kernels, s=strides)
def test_keras_same_without_output_padding_upsamples_exactly(n, k, s):
    assert convlab.keras_deconv_output_length(n, k, "same", s) == n * s


# ----------------------------------------------------------- TensorFlow SAME padding


@pytest.mark.parametrize(
    "n, k, s, d, expected",
    [
        (5, 3, 2, 1, (1, 1)),
        (6, 3, 2, 1, (0, 1)),  # asymmetric even for an odd kernel
        (4, 4, 1, 1, (1, 2)),  # even kernel: the odd pixel goes after
        (7, 3, 1, 1, (1, 1)),
        (6, 1, 2, 1, (0, 0)),
        (5, 5, 3, 1, (1, 2)),  # out 2: (2-1)*3 + 5 - 5 = 3
        (10, 3, 4, 1, (0, 1)),  # out 3: (3-1)*4 + 3 - 10 = 1
        (5, 3, 1, 2, (2, 2)),  # dilated: k_eff = 5
        (8, 3, 2, 2, (1, 2)),  # out 4: 6 + 5 - 8 = 3
        (2, 7, 1, 1, (3, 3)),
        (9, 2, 3, 1, (0, 0)),  # out 3 fits without padding
    ],
)
def test_tf_same_padding_literal(n, k, s, d, expected):
    assert convlab.tf_same_padding(n, k, s, d) == expected


@SHAPES
@given(n=sizes, k=kernels, s=strides, d=dilations)
def test_tf_same_padding_gives_ceil_n_over_s_with_least_padding(n, k, s, d):
    before, after = convlab.tf_same_padding(n, k, s, d)
    k_eff = convlab.effective_kernel_size(k, d)
    assert 0 <= before <= after <= before + 1
    out = (n + before + after - k_eff) // s + 1
    assert out == math.ceil(n / s)
    assert torch_conv_len(n + before + after, k, s, 0, d) == math.ceil(n / s)
    if before + after:  # one pixel less would lose the last output (or not fit)
        assert (n + before + after - 1 - k_eff) // s + 1 < out


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("k, d", [(1, 1), (2, 1), (3, 1), (4, 1), (2, 3), (3, 2), (4, 2)])
def test_same_padding_matches_torch_same(k, d):
    before, after = convlab.same_padding(k, d)
    assert before + after == d * (k - 1)
    assert before <= after <= before + 1
    g = torch.Generator().manual_seed(k * 10 + d)
    x = torch.randn(1, 1, 9, dtype=torch.float64, generator=g)
    w = torch.randn(1, 1, k, dtype=torch.float64, generator=g)
    # torch's padding="same" puts the odd pixel after, as TensorFlow does.
    torch.testing.assert_close(
        F.conv1d(F.pad(x, (before, after)), w, dilation=d), F.conv1d(x, w, padding="same", dilation=d)
    )
