"""Assignment 05: Hybrid Dilated Convolution (Wang et al., "Understanding Convolution for
Semantic Segmentation", WACV 2018).

The paper's rule: with M_i the largest distance between two nonzero taps the stack can
still fill in at layer i, a schedule is gridding-free when M_2 <= K.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .shapes import check_int, check_rates

__all__ = ["hdc_max_distances", "satisfies_hdc", "hdc_search", "HDCBlock", "ASPP", "multigrid_rates",
           "RELEASED_SCHEDULES"]

# The dilation rates of the 3x3 convs in the authors' released ResNet-101-DUC-HDC
# (TuSimple-DUC, tusimple_duc/networks/resnet.py, get_resnet_hdc): the 23 bottleneck
# blocks of res4 cycle through the group 1, 2, 5, 9 (the first block keeps 2), and the
# three blocks of res5 use 5, 9, 17.
RELEASED_SCHEDULES = {
    "res4": [2, 2, 5, 9] + [1, 2, 5, 9] * 4 + [1, 2, 5],
    "res5": [5, 9, 17],
}


def hdc_max_distances(rates) -> list[int]:
    """[M_1, ..., M_n]: M_n = r_n, M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i)."""
    rates = check_rates(rates)
    distances = [rates[-1]]
    for r in reversed(rates[:-1]):
        m = distances[0]
        distances.insert(0, max(m - 2 * r, m - 2 * (m - r), r))
    return distances


def satisfies_hdc(rates, kernel_size: int = 3) -> bool:
    """The paper's goal M_2 <= K."""
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    rates = check_rates(rates)
    if len(rates) < 2:
        raise ValueError(f"the HDC rule needs at least 2 rates, got {list(rates)!r}")
    return hdc_max_distances(rates)[1] <= kernel_size


def hdc_search(num_layers: int, kernel_size: int = 3, max_rate: int = 9) -> list[tuple]:
    """All non-decreasing schedules (1, r_2, ..., r_n), r_i <= max_rate, with M_2 <= K; sorted."""
    num_layers = check_int(num_layers, "num_layers", 2)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    max_rate = check_int(max_rate, "max_rate", 1)
    tails = itertools.combinations_with_replacement(range(1, max_rate + 1), num_layers - 1)
    return sorted((1, *tail) for tail in tails if satisfies_hdc((1, *tail), kernel_size))


class HDCBlock(nn.Module):
    """Dilated conv + BatchNorm + ReLU for each rate, "same" padding, then a residual add.

    out = x + body(x), body = [Conv2d(C, C, k, dilation=r, padding=r(k-1)/2) -> BatchNorm2d(C)
    -> ReLU] for each rate r in order. ValueError for channels < 1, an even or non-positive
    kernel_size, empty rates or a rate < 1.
    """

    def __init__(self, channels: int, rates, kernel_size: int = 3):
        super().__init__()
        channels = check_int(channels, "channels", 1)
        kernel_size = check_int(kernel_size, "kernel_size", 1)
        if kernel_size % 2 == 0:
            # "same" padding of an even kernel is lopsided (torch puts the odd pixel after):
            # the block is only defined for odd kernels, like the paper's 3x3.
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        rates = check_rates(rates)
        self.rates = tuple(rates)
        layers = []
        for rate in rates:
            layers += [
                nn.Conv2d(channels, channels, kernel_size, padding="same", dilation=rate, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def multigrid_rates(output_stride: int, multi_grid=(1, 2, 4), block: int = 4) -> list[int]:
    """DeepLab v3's multi-grid (Chen et al., 2017, section 3.2): the dilation rates of the
    three 3x3 convs of ResNet block ``block``.

    Past the output stride, a block keeps its resolution and dilates instead: block 4 at
    output stride 16 (rate 2), blocks 3 and 4 at 8 (rates 2 and 4), each replica beyond
    block 4 doubling again: base rate 2 ** (block - 3) * 16 / output_stride. The unit rates
    ``multi_grid`` multiply it: output stride 16, (1, 2, 4) gives (2, 4, 8).
    """
    output_stride = check_int(output_stride, "output_stride", 1)
    if output_stride not in (8, 16):
        raise ValueError(f"output_stride must be 8 or 16 (DeepLab v3), got {output_stride}")
    block = check_int(block, "block", 3)  # blocks 1 and 2 are never dilated
    units = check_rates(multi_grid)
    base = 2 ** (block - 3) * 16 // output_stride
    return [base * unit for unit in units]


class ASPP(nn.Module):
    """DeepLab v3's atrous spatial pyramid pooling (Chen et al., 2017, section 3.3).

    Branches, each a conv -> BatchNorm2d -> ReLU to ``out_channels``, created and
    concatenated in this order: a 1x1 conv; one 3x3 conv per rate with dilation = padding
    = rate (so every branch keeps H x W); the image-pooling branch (global average pool,
    1x1 conv, upsampled bilinearly back to H x W: the image's context in every pixel).
    Then a 1x1 projection + BatchNorm2d + ReLU to ``out_channels``: (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, rates=(6, 12, 18)):
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", 1)
        out_channels = check_int(out_channels, "out_channels", 1)
        self.rates = tuple(check_rates(rates))

        def stage(c_in, kernel_size=1, rate=1):
            # No conv bias: the BatchNorm after it has its own shift.
            return nn.Sequential(nn.Conv2d(c_in, out_channels, kernel_size, padding=rate * (kernel_size // 2),
                                           dilation=rate, bias=False),
                                 nn.BatchNorm2d(out_channels), nn.ReLU())

        self.branches = nn.ModuleList([stage(in_channels)] + [stage(in_channels, 3, r) for r in self.rates])
        self.pooling = stage(in_channels)
        self.project = stage((len(self.rates) + 2) * out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        features = [branch(x) for branch in self.branches]
        pooled = self.pooling(x.mean((2, 3), keepdim=True))
        features.append(F.interpolate(pooled, size=size, mode="bilinear", align_corners=False))
        return self.project(torch.cat(features, dim=1))
