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
