"""The figures of 04_gridding draw what they claim: the numbers behind each picture."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import convlab
from convlab import figures


def test_sample_photo_is_the_shipped_portrait_in_grey_levels():
    photo = figures.sample_photo(64)
    assert photo.shape == (64, 64) and photo.dtype == torch.float32
    assert 0 <= float(photo.min()) < 0.2 and 0.8 < float(photo.max()) <= 1
    assert float(photo.std()) > 0.1  # a picture, not a flat field


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_phase_split_and_merge_are_inverse_and_put_pixel_i_j_in_phase_i_mod_r(rate):
    x = torch.arange(2 * 6 * 6, dtype=torch.float64).reshape(2, 6, 6)
    phases = figures.phase_split(x, rate)
    assert phases.shape == (rate, rate, 2, 6 // rate, 6 // rate)
    assert phases[rate - 1, 0, 1, 1, 0] == x[1, rate + rate - 1, 0]
    assert torch.equal(figures.phase_merge(phases), x)
    with pytest.raises(ValueError):
        figures.phase_split(torch.zeros(5, 6), 2)


@pytest.mark.parametrize("rate", [1, 2, 4])
def test_dilated_conv_is_rate_squared_undilated_convs_on_the_phases(rate):
    g = torch.Generator().manual_seed(rate)
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(figures.dilated_conv_by_phases(x, w, rate),
                               F.conv2d(x, w, padding=rate, dilation=rate))


def test_average_erf_of_an_even_schedule_lives_on_one_phase_and_sums_to_one():
    erf = figures.average_erf([2, 2, 2], size=17, seeds=range(2))
    assert erf.shape == (17, 17)
    torch.testing.assert_close(erf.sum(), torch.tensor(1.0, dtype=torch.float64))
    c = 8
    odd = torch.ones(17, 17, dtype=torch.bool)
    odd[c % 2::2, c % 2::2] = False  # the phase of the centre
    assert erf[odd].abs().max() == 0
    assert (erf[c - 6:c + 7:2, c - 6:c + 7:2] > 0).all()


def test_plots_use_the_functions_they_are_given():
    calls = []

    def spy_map(rates, kernel_size=3):
        calls.append(("map", list(rates)))
        return convlab.dependency_map(rates, kernel_size)

    def spy_shared(rates, kernel_size=3, offset=1):
        calls.append(("shared", offset))
        return convlab.shared_inputs(rates, kernel_size, offset)

    axes = figures.plot_dependency_maps([[2, 2, 2], [1, 2, 3]], dependency_map_fn=spy_map)
    assert len(axes) == 2 and "120 holes" in axes[0].get_title() and "no holes" in axes[1].get_title()
    figures.plot_shared_vs_offset([[2, 2, 2]], max_offset=3, shared_fn=spy_shared)
    assert ("map", [2, 2, 2]) in calls and [c[1] for c in calls if c[0] == "shared"] == [0, 0, 1, 2, 3]
    ax = figures.plot_shared_fields([2, 2, 2], offset=1)
    assert "share 0 of 49" in ax.get_title()


def test_phase_perturbation_of_an_even_stack_moves_exactly_one_phase():
    axes = figures.plot_phase_perturbation(figures.sample_photo(32), rates=(2, 2))
    changed = axes[1].images[0].get_array()
    assert changed[0::2, 0::2].all() and not changed[1::2].any() and not changed[:, 1::2].any()


def test_plot_phases_and_erfs_run():
    axes = figures.plot_phases(figures.sample_photo(32), rate=2)
    assert "max difference 0.0e+00" in axes[1, 2].get_title()
    _, maps = figures.plot_erfs([[1, 1], [2, 2]], size=11, seeds=range(1))
    assert len(maps) == 2 and all(abs(float(m.sum()) - 1) < 1e-6 for m in maps)


def _rendered(image):
    """The RGBA colour each pixel of an AxesImage is drawn with (its norm, then its map)."""
    import numpy as np

    return np.asarray(image.to_rgba(image.get_array(), norm=True))


@pytest.mark.parametrize("rates", [(1, 2, 3), (2, 2, 2)])
def test_phase_perturbation_draws_changed_outputs_black_and_the_rest_white(rates):
    # With [1, 2, 3] every output changes: an all-True image once came out all white.
    axes = figures.plot_phase_perturbation(figures.sample_photo(32), rates=rates)
    for ax in axes[1:]:
        image = ax.images[0]
        changed = image.get_array().astype(bool)
        colours = _rendered(image)[..., :3]
        assert changed.any()
        assert (colours[changed] < 0.05).all(), "a changed output is not drawn black"
        assert (colours[~changed] > 0.95).all(), "an unchanged output is not drawn white"
    if rates == (1, 2, 3):
        assert axes[1].images[0].get_array().all()


def test_every_schedule_of_the_shared_inputs_plot_stays_visible():
    # [1]*6 and [1, 2, 3] share exactly as much at every offset: drawn alike, the first
    # hid under the second (four legend entries, three lines).
    from matplotlib.colors import to_hex

    from figure_helpers import pixels_of_colour

    ax = figures.plot_shared_vs_offset([[1, 1, 1, 1, 1, 1], [2, 2, 2], [1, 2, 3], [4, 4, 4]], max_offset=10)
    lines = ax.get_lines()
    assert len(lines) == 4 and len({to_hex(l.get_color()) for l in lines}) == 4
    assert len({(l.get_marker(), str(l.get_linestyle())) for l in lines}) == 4
    ax.get_legend().remove()  # its samples would show every colour whatever the plot hides
    for line in lines:
        seen = pixels_of_colour(ax.figure, line.get_color())
        assert seen > 40, f"the line of {line.get_label()} is hidden ({seen} pixels of its colour)"


@pytest.mark.parametrize("draw", ["plot_dependency_maps", "plot_dependency_map"])
def test_the_centre_count_of_a_dependency_map_is_not_covered(draw):
    from figure_helpers import overlap

    if draw == "plot_dependency_maps":
        axes = figures.plot_dependency_maps([[2, 2, 2], [1, 2, 3]])
    else:  # the conv-arithmetic module's single map
        axes = [figures.plot_dependency_map(rates) for rates in ([2, 2, 2], [1, 2, 3])]
    fig = axes[0].figure
    for ax, centre in zip(axes, ("49", "9")):
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        size = ax.images[0].get_array().shape[0]
        text = next(t for t in ax.texts if t.get_position() == (size // 2, size // 2))
        assert text.get_text() == centre
        box = text.get_window_extent(renderer)
        for line in ax.lines:
            assert not overlap(line.get_window_extent(renderer), box), "a marker covers the centre count"
        marks = [p for p in ax.patches if p.get_zorder() >= text.get_zorder() or p.get_fill()]
        assert marks, "the centre is not marked"
        for patch in marks:  # an outline around the cell, its stroke clear of the number
            assert not patch.get_fill()
            outer = patch.get_window_extent(renderer)
            stroke = patch.get_linewidth() * fig.dpi / 72
            assert (outer.x0 + stroke <= box.x0 and box.x1 <= outer.x1 - stroke
                    and outer.y0 + stroke <= box.y0 and box.y1 <= outer.y1 - stroke)
