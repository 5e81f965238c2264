"""Receptive fields, the gridding effect and HDC (assignments 03-05), checked against
brute force: autograd through real stacks of all-ones dilated convolutions counts the
paths exactly in float64, so it is an independent oracle for the closed forms."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.testing import assert_close

import convlab
from convlab.models import DilatedStack

SMALL = settings(max_examples=25, deadline=None)

rate_lists = st.lists(st.integers(1, 4), min_size=1, max_size=3)
kernel_sizes = st.integers(2, 4)


def footprint(rates, kernel_size, input_hw, output_yx=None):
    """d(output at output_yx) / d(input) through stride-1, unpadded all-ones dilated
    convs: the number of paths from every input pixel (float64, exact integers)."""
    x = torch.zeros(1, 1, *input_hw, dtype=torch.float64, requires_grad=True)
    out = x
    ones = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    for rate in rates:
        out = F.conv2d(out, ones, dilation=rate)
    y, x_ = output_yx if output_yx is not None else (0, 0)
    (grad,) = torch.autograd.grad(out[0, 0, y, x_], x)
    return grad[0, 0]


def field_size(rates, kernel_size=3):
    return 1 + (kernel_size - 1) * sum(rates)


# -------------------------------------------------------------------- dependency map


@SMALL
@given(rates=rate_lists, kernel_size=kernel_sizes)
def test_dependency_map_equals_autograd_path_counts(rates, kernel_size):
    size = field_size(rates, kernel_size)
    got = convlab.dependency_map(rates, kernel_size)
    assert got.dtype == torch.int64
    assert got.shape == (size, size)
    brute = footprint(rates, kernel_size, (size, size))
    assert torch.equal(brute, brute.round()), "path counts are integers"
    assert torch.equal(got, brute.round().to(torch.int64))


def test_dependency_map_literal_single_layer_and_two_layers():
    assert torch.equal(convlab.dependency_map([1]), torch.ones(3, 3, dtype=torch.int64))
    # Two 3x3 layers: 1-D paths [1, 2, 3, 2, 1], the map is their outer product.
    paths = torch.tensor([1, 2, 3, 2, 1])
    assert torch.equal(convlab.dependency_map([1, 1]), torch.outer(paths, paths))
    # Rate 2 after rate 1... the classic hole pattern of [2, 2]: odd offsets unreached.
    holes = convlab.dependency_map([2, 2])
    assert holes.shape == (9, 9)
    assert (holes[1::2, :] == 0).all() and (holes[:, 1::2] == 0).all()
    assert (holes[::2, ::2] > 0).all()


# ------------------------------------------------------------ coverage and gridding


def test_coverage_of_2_2_2_is_49_over_169():
    assert convlab.coverage([2, 2, 2]) == 49 / 169


@pytest.mark.parametrize(
    "rates, gridding",
    [([2, 2, 2], True), ([1, 2, 5], False), ([1, 2, 3], False), ([1, 1, 1], False), ([2], True),
     ([1, 2, 9], True), ([3, 3], True)],
)
def test_has_gridding(rates, gridding):
    assert convlab.has_gridding(rates) is gridding


@SMALL
@given(rates=rate_lists, kernel_size=kernel_sizes)
def test_coverage_and_gridding_agree_with_brute_force(rates, kernel_size):
    size = field_size(rates, kernel_size)
    reached = footprint(rates, kernel_size, (size, size)) > 0
    assert convlab.coverage(rates, kernel_size) == reached.sum().item() / size**2
    assert convlab.has_gridding(rates, kernel_size) is (not bool(reached.all()))


@SMALL
@given(rates=rate_lists, kernel_size=kernel_sizes, offset=st.integers(-5, 12))
def test_shared_inputs_equals_brute_force_overlap(rates, kernel_size, offset):
    size = field_size(rates, kernel_size)
    shift = abs(offset)
    width = size + shift  # room for both outputs' fields side by side
    left = footprint(rates, kernel_size, (size, width), (0, 0)) > 0
    right = footprint(rates, kernel_size, (size, width), (0, shift)) > 0
    assert convlab.shared_inputs(rates, kernel_size, offset) == int((left & right).sum())


def test_shared_inputs_literal():
    assert convlab.shared_inputs([1], offset=1) == 6  # two 3x3 windows, one column apart
    assert convlab.shared_inputs([1], offset=0) == 9
    assert convlab.shared_inputs([1], offset=3) == 0
    assert convlab.shared_inputs([2, 2, 2], offset=1) == 0  # neighbours share nothing: gridding


# ---------------------------------------------------------- effective receptive field


@pytest.mark.parametrize("rates", [[1, 2, 5], [2, 2, 2], [1, 1], [3]])
@pytest.mark.parametrize("margin", [(0, 0), (4, 2)])
def test_effective_receptive_field_of_all_ones_stack_is_normalised_dependency_map(rates, margin):
    size = field_size(rates)
    h, w = size + margin[0], size + margin[1]
    model = DilatedStack(rates, ones=True).double()
    erf = convlab.effective_receptive_field(model, (1, h, w))
    assert erf.shape == (h, w)
    deps = convlab.dependency_map(rates).double()
    expected = torch.zeros(h, w, dtype=torch.float64)
    top, left = h // 2 - size // 2, w // 2 - size // 2  # centred on output (H//2, W//2)
    expected[top : top + size, left : left + size] = deps / deps.sum()
    assert_close(erf, expected)
    assert model.training, "the model's train/eval mode is restored"


def test_effective_receptive_field_sums_over_channels_and_uses_abs():
    model = torch.nn.Conv2d(2, 3, 3, padding=1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.arange(-27.0, 27.0).reshape(3, 2, 3, 3))
    erf = convlab.effective_receptive_field(model, (2, 5, 5))
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = model.weight.detach().sum(0).abs().sum(0)  # d/dx of the channel sum
    assert_close(erf, expected / expected.sum())


# ----------------------------------------------------------------------------- HDC


@pytest.mark.parametrize(
    "rates, distances",
    [
        ([1, 2, 5], [1, 2, 5]),
        ([1, 2, 9], [3, 5, 9]),  # M_2 = max(9-4, 9-14, 2) = 5; M_1 = max(5-2, 5-8, 1) = 3
        ([2, 4, 6], [2, 4, 6]),  # M_2 = max(6-8, 6-4, 4) = 4; M_1 = max(4-4, 4-4, 2) = 2
        ([1, 2, 3], [1, 2, 3]),
        ([3, 3, 3], [3, 3, 3]),
        ([1, 3], [1, 3]),
        ([5], [5]),
        ([1, 1, 9, 9], [5, 7, 9, 9]),  # M_3 = 9; M_2 = max(9-2, 9-16, 1) = 7; M_1 = 5
    ],
)
def test_hdc_max_distances_literal(rates, distances):
    assert convlab.hdc_max_distances(rates) == distances


def test_hdc_max_distances_follows_the_recursion():
    # M_3 = 7; M_2 = max(7 - 2*1, 7 - 2*(7-1), 1) = 5; M_1 = max(5 - 2*2, 5 - 2*(5-2), 2) = 2
    assert convlab.hdc_max_distances([2, 1, 7]) == [2, 5, 7]


@pytest.mark.parametrize(
    "rates, ok",
    [([1, 2, 5], True), ([1, 2, 9], False), ([2, 4, 6], False), ([1, 2, 3], True), ([1, 3], True),
     ([1, 4], False)],
)
def test_satisfies_hdc(rates, ok):
    assert convlab.satisfies_hdc(rates) is ok


def test_satisfies_hdc_kernel_size_moves_the_bound():
    assert not convlab.satisfies_hdc([1, 2, 9])
    assert convlab.satisfies_hdc([1, 2, 9], kernel_size=5)  # M_2 = 5 <= 5


@pytest.mark.parametrize("num_layers, kernel_size, max_rate", [(2, 3, 9), (3, 3, 9), (3, 5, 6), (4, 3, 5)])
def test_hdc_search_sorted_non_decreasing_all_satisfy_and_complete(num_layers, kernel_size, max_rate):
    found = convlab.hdc_search(num_layers, kernel_size, max_rate)
    assert found == sorted(found)
    assert len(set(found)) == len(found)
    for schedule in found:
        assert isinstance(schedule, tuple) and len(schedule) == num_layers
        assert schedule[0] == 1
        assert all(a <= b for a, b in zip(schedule, schedule[1:]))
        assert max(schedule) <= max_rate
        assert convlab.satisfies_hdc(schedule, kernel_size)
    # Nothing left out: every other non-decreasing schedule from 1 fails the rule.
    for tail in itertools.combinations_with_replacement(range(1, max_rate + 1), num_layers - 1):
        schedule = (1, *tail)
        assert (schedule in found) is convlab.satisfies_hdc(schedule, kernel_size)


def test_hdc_search_literal_two_layers():
    assert convlab.hdc_search(2, 3, 9) == [(1, 1), (1, 2), (1, 3)]
    assert (1, 2, 5) in convlab.hdc_search(3) and (1, 2, 9) not in convlab.hdc_search(3)


@pytest.mark.parametrize("kernel_size", [3, 1, 5])
@pytest.mark.parametrize("rates", [[1, 2, 5], [2], [1, 3]])
def test_hdc_block_preserves_shape_and_is_residual(kernel_size, rates):
    torch.manual_seed(0)
    block = convlab.HDCBlock(4, rates, kernel_size).eval()
    x = torch.randn(2, 4, 11, 8)
    out = block(x)
    assert out.shape == x.shape
    assert_close(out - x, block.body(x))  # a residual: x plus what the body adds
    # With every BatchNorm's affine part zeroed the body adds nothing: out == x.
    for module in block.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)
    assert_close(block(x), x)
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.dilation for c in convs] == [(r, r) for r in rates]
    assert all(c.kernel_size == (kernel_size, kernel_size) for c in convs)


@pytest.mark.parametrize("kernel_size", [2, 4])
def test_hdc_block_refuses_even_kernels(kernel_size):
    # 05_hdc defines the block for odd kernels only: an even kernel has no centred
    # "same" padding (torch would pad one pixel more after than before).
    with pytest.raises(ValueError, match="odd"):
        convlab.HDCBlock(4, [1, 2], kernel_size)


# --------------------------------------------------------------- receptive_field


@pytest.mark.parametrize(
    "layers, size",
    [
        ([], 1),
        ([(3, 1, 1)], 3),
        ([(3, 1, 1)] * 3, 7),  # VGG: three 3x3 convs see 7x7
        ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], 15),  # exponential growth
        ([(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)], 31),
        ([(3, 2, 1), (3, 2, 1)], 7),  # 1 + 2 + 2*2
        ([(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1), (3, 1, 1)], 14),  # conv conv pool conv conv
        ([(7, 2, 1), (3, 2, 1), (3, 1, 1)], 19),  # ResNet stem: 7/2, pool 3/2, 3x3: 1+6+2*2+4*2
        ([(11, 4, 1), (3, 2, 1), (5, 1, 1)], 51),  # AlexNet conv1, pool1, conv2: 1+10+4*2+8*4
    ],
)
def test_receptive_field_classic_stacks(layers, size):
    assert convlab.receptive_field(layers) == size


layers_strategy = st.lists(
    st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4
)


@SMALL
@given(layers=layers_strategy)
def test_receptive_field_equals_autograd_footprint(layers):
    size = convlab.receptive_field(layers)
    x = torch.zeros(1, 1, size + 8, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s, d in layers:
        out = F.conv1d(out, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    (grad,) = torch.autograd.grad(out[0, 0, 0], x)
    reached = grad[0, 0].nonzero().flatten()
    assert reached[0].item() == 0
    assert reached[-1].item() + 1 == size


def test_effective_receptive_field_leaves_parameter_gradients_alone():
    model = DilatedStack([1, 2])
    convlab.effective_receptive_field(model, (1, 9, 9))
    assert all(p.grad is None for p in model.parameters())
