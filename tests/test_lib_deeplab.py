"""DeepLab v3's pieces in the reference library (05_hdc): multi-grid rates, read against
the paper's numbers and the HDC rule."""
from __future__ import annotations

import pytest

import convlab


@pytest.mark.parametrize("output_stride, multi_grid, block, expected", [
    (16, (1, 2, 4), 4, [2, 4, 8]),      # the paper: "2 * (1, 2, 4) = (2, 4, 8)" in block4
    (8, (1, 2, 4), 4, [4, 8, 16]),      # twice the rates at output stride 8
    (16, (1, 1, 1), 4, [2, 2, 2]),
    (16, (1, 2, 1), 5, [4, 8, 4]),      # a replica of block4 beyond it doubles the base
    (8, (1, 2, 4), 7, [32, 64, 128]),
    (16, (1, 2, 4), 3, [1, 2, 4]),      # block3 at 16 is not dilated: the unit rates alone
    (8, (2,), 3, [4]),
])
def test_multigrid_rates_are_the_base_rate_times_the_unit_rates(output_stride, multi_grid, block, expected):
    assert convlab.multigrid_rates(output_stride, multi_grid, block) == expected
    assert all(type(r) is int for r in convlab.multigrid_rates(output_stride, multi_grid, block))


def test_multigrid_rates_of_deeplab_grid_by_the_hdc_rule():
    # Every multi-grid schedule is its unit rates times a base rate of at least 2: a common
    # factor, so the HDC rule finds M_2 > 3 for (1, 2, 4) and the unit rates alone pass.
    assert convlab.hdc_max_distances(convlab.multigrid_rates(16)) == [2, 4, 8]
    assert not convlab.satisfies_hdc(convlab.multigrid_rates(16))
    assert convlab.satisfies_hdc(convlab.multigrid_rates(16, block=3))


# --- ASPP -----------------------------------------------------------------------------------

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.testing import assert_close  # noqa: E402


def _stage(stage, x, training):
    conv, norm = stage[0], stage[1]
    out = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding, dilation=conv.dilation)
    out = F.batch_norm(out, norm.running_mean.clone(), norm.running_var.clone(), norm.weight, norm.bias,
                       training=training, eps=norm.eps)
    return F.relu(out)


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("in_channels, out_channels, rates, size", [
    (3, 4, (6, 12, 18), (13, 10)),   # DeepLab v3's rates on a map smaller than the largest
    (2, 3, (1, 2), (7, 9)),
    (1, 2, (3,), (5, 5)),
])
def test_aspp_is_its_branches_concatenated_and_projected(in_channels, out_channels, rates, size, training, device):
    torch.manual_seed(0)
    aspp = convlab.ASPP(in_channels, out_channels, rates).double().to(device)
    _randomise(aspp, 1)
    aspp.train(training)
    x = torch.randn(2, in_channels, *size, dtype=torch.float64, device=device)
    with torch.no_grad():
        got = aspp(x)
        branches = [_stage(aspp.branches[0], x, training)]
        for rate, stage in zip(rates, aspp.branches[1:]):
            assert stage[0].kernel_size == (3, 3) and stage[0].dilation == (rate, rate)
            branches.append(_stage(stage, x, training))
        pooled = _stage(aspp.pooling, x.mean((2, 3), keepdim=True), training)
        branches.append(pooled.expand(-1, -1, *size))  # bilinear from 1 x 1: the same value everywhere
        want = _stage(aspp.project, torch.cat(branches, 1), training)
    assert got.shape == (2, out_channels, *size)
    assert_close(got, want)
    assert [m.kernel_size for m in aspp.modules() if isinstance(m, torch.nn.Conv2d)] == (
        [(1, 1)] + [(3, 3)] * len(rates) + [(1, 1), (1, 1)])  # the order the check relies on


def test_aspp_image_pooling_gives_every_pixel_the_whole_image():
    # Changing one corner pixel changes the output at the far corner, beyond every
    # dilated branch's reach: only the image-pooling branch carries it there.
    aspp = convlab.ASPP(1, 2, (1,)).double().eval()
    _randomise(aspp, 2)
    x = torch.randn(1, 1, 12, 12, dtype=torch.float64)
    with torch.no_grad():
        before = aspp(x)
        x[0, 0, 0, 0] += 5.0
        after = aspp(x)
    assert not torch.equal(before[..., -1, -1], after[..., -1, -1])
