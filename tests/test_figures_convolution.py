"""Figures of 01_convolution: what they draw comes from the library (or the function the
notebook passes in), the 1-D window pictures match the size formulas, bad input is a
ValueError."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import convlab
from convlab import figures


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_corr_vs_conv_draws_both_outputs_from_the_given_function():
    x = torch.arange(16.0).reshape(4, 4)
    kernel = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    calls = []

    def recording_corr2d(a, k):
        calls.append(k.clone())
        return convlab.corr2d(a, k)

    fig = figures.plot_corr_vs_conv(x, kernel, corr2d_fn=recording_corr2d)
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    torch.testing.assert_close(calls[0], kernel.double())
    torch.testing.assert_close(calls[1], kernel.double().flip(0, 1))
    corr, conv = _texts(fig.axes[2]), _texts(fig.axes[4])
    assert corr[0] == "-3" and conv[0] == "13"  # the worked example in the notebook
    expected = F.conv2d(x[None, None], kernel[None, None])[0, 0]
    assert corr == [str(int(v)) for v in expected.flatten().tolist()]


def _bars(ax) -> list[Rectangle]:
    # Output bars sit below the input row (y < 0).
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_y() < 0]


def _cells(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_y() == 0]


@pytest.mark.parametrize("n,k,s,p", [(5, 3, 1, 0), (7, 3, 2, 1), (8, 3, 2, 0), (6, 4, 3, 2), (4, 4, 1, 0)])
def test_windows_1d_draws_one_bar_per_output_where_the_window_is(n, k, s, p):
    fig = figures.plot_windows_1d(n, k, s, p)
    ax = fig.axes[0]
    bars = _bars(ax)
    assert len(bars) == convlab.conv_output_size(n, k, s, p)
    for o, bar in enumerate(bars):
        # Cells sit at x = input index; padding starts at -p.
        assert bar.get_x() == pytest.approx(o * s - p, abs=0.1)
        assert bar.get_width() == pytest.approx(k, abs=0.2)
    assert len(_cells(ax)) == n + 2 * p
    unread = [c for c in _cells(ax) if c.get_hatch()]
    assert len(unread) == (n + 2 * p - k) % s


def test_padding_modes_give_valid_same_full_sizes():
    fig = figures.plot_padding_modes(5, 4)
    counts = [len(_bars(ax)) for ax in fig.axes]
    assert counts == [2, 5, 8]
    same_cells = _cells(fig.axes[1])
    assert min(c.get_x() for c in same_cells) == -1 and max(c.get_x() for c in same_cells) == 6  # (1, 2)


def test_tf_same_padding_figure_uses_the_library_padding():
    fig = figures.plot_tf_same_padding(6, 3, 2)
    tf_ax, torch_ax = fig.axes
    assert "(0, 1)" in tf_ax.get_title(loc="left")
    tf_cells, torch_cells = _cells(tf_ax), _cells(torch_ax)
    assert min(c.get_x() for c in tf_cells) == 0 and max(c.get_x() for c in tf_cells) == 6
    assert min(c.get_x() for c in torch_cells) == -1
    assert [b.get_x() for b in _bars(tf_ax)] != [b.get_x() for b in _bars(torch_ax)]


def test_channels_figure_layout_and_output_from_conv_fn():
    x = torch.randn(3, 6, 6)
    weight = torch.randn(2, 3, 3, 3)
    bias = torch.tensor([1.0, -2.0])
    seen = []

    def conv_fn(a, w, b):
        seen.append((a.shape, w.shape, b))
        return convlab.conv2d(a, w, b)

    fig = figures.plot_channels(x, weight, bias, conv_fn=conv_fn)
    assert len(fig.axes) == (2 + 1) * (3 + 2)
    assert seen[0][0] == (1, 3, 6, 6) and seen[0][2] is not None
    titles = [ax.get_title() for ax in fig.axes]
    assert "output $y_1$, $b_1$ = -2" in titles


def test_im2col_figure_shows_the_column_matrix_of_the_given_function():
    x = torch.arange(2 * 3 * 4.0).reshape(2, 3, 4)
    fig = figures.plot_im2col(x, (2, 3), stride=1, padding=1, column=3, im2col_fn=convlab.im2col)
    matrix_ax = fig.axes[-1]
    cols = F.unfold(x[None], (2, 3), padding=1)[0]
    assert matrix_ax.get_title().endswith(str(tuple(cols.shape)))
    drawn = [float(t) for t in _texts(matrix_ax)]
    assert drawn == cols.flatten().tolist()
    assert len(matrix_ax.get_yticklabels()) == cols.shape[0]


def test_im2col_figure_rejects_a_wrong_shape():
    def wrong(x, kernel_size, stride=1, padding=0):
        return convlab.im2col(x, kernel_size, stride, padding)[:, :-1]

    with pytest.raises(ValueError, match="im2col gave shape"):
        figures.plot_im2col(torch.ones(1, 3, 3), 2, im2col_fn=wrong)


def test_timings_bars_are_the_given_seconds():
    fig = figures.plot_timings({"loops": 0.2, "im2col": 0.002})
    widths = [p.get_width() for p in fig.axes[0].patches]
    assert widths == [0.2, 0.002]
    assert fig.axes[0].get_xscale() == "log"


@pytest.mark.parametrize("call", [
    lambda: figures.plot_windows_1d(3, 5),
    lambda: figures.plot_windows_1d(3, 2, stride=0),
    lambda: figures.plot_padding_modes(2, 3),
    lambda: figures.plot_corr_vs_conv(torch.ones(3), torch.ones(2, 2)),
    lambda: figures.plot_channels(torch.ones(2, 4, 4), torch.ones(1, 3, 2, 2)),
    lambda: figures.plot_im2col(torch.ones(1, 3, 3), 2, column=4),
    lambda: figures.plot_timings({}),
])
def test_bad_input_is_a_value_error(call):
    with pytest.raises(ValueError):
        call()
