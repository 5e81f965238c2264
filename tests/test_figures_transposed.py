"""The figures of 02_transposed draw what they claim: the numbers behind each picture."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import matplotlib.pyplot as plt
import numpy as np

import convlab
from convlab import figures
from convlab.figures import transposed as fig02


@pytest.mark.parametrize("k,s", [(3, 2), (4, 2), (5, 3), (2, 3), (3, 1)])
def test_checkerboard_is_the_outer_product_of_overlap_counts(k, s):
    x = torch.ones(1, 1, 5, dtype=torch.float64)
    counts = F.conv_transpose1d(x, torch.ones(1, 1, k, dtype=torch.float64), stride=s)[0, 0]
    torch.testing.assert_close(figures.checkerboard(k, s, 5), torch.outer(counts, counts))


@pytest.mark.parametrize("k,s", [(3, 2), (4, 2), (5, 2), (2, 2), (1, 2), (6, 3)])
def test_upsample_transposed_gives_exactly_n_times_s(k, s):
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    w = torch.randn(3, 4, k, k, dtype=torch.float64)
    out = figures.upsample_transposed(x, w, s)
    assert out.shape == (2, 4, 5 * s, 7 * s)
    padding, output_padding = fig02._transposed_padding(k, s)
    torch.testing.assert_close(out, F.conv_transpose2d(x, w, stride=s, padding=padding,
                                                       output_padding=output_padding))


def test_resize_conv_keeps_a_constant_image_constant_inside():
    w = torch.rand(1, 1, 3, 3, dtype=torch.float64)
    out = figures.upsample_resize_conv(torch.ones(1, 1, 6, 6, dtype=torch.float64), w, 2)
    assert out.shape == (1, 1, 12, 12)
    inner = out[0, 0, 1:-1, 1:-1]
    torch.testing.assert_close(inner, torch.full_like(inner, float(w.sum())))
    nearest = F.interpolate(torch.ones(1, 1, 6, 6, dtype=torch.float64), scale_factor=2)
    torch.testing.assert_close(out, F.conv2d(nearest, w, padding=1))


def test_transposed_k3_s2_of_a_constant_is_not_constant():
    out = figures.upsample_transposed(torch.ones(1, 1, 6, 6, dtype=torch.float64),
                                      torch.ones(1, 1, 3, 3, dtype=torch.float64), 2)
    inner = out[0, 0, 2:-2, 2:-2]
    assert set(inner.unique().tolist()) == {1.0, 2.0, 4.0}


def test_conv_matrix_figure_shows_c_and_its_transpose():
    kernel = torch.arange(1.0, 10.0).reshape(3, 3)
    fig = figures.plot_conv_matrix(kernel, (4, 4))
    left, right = fig.axes
    c = left.images[0].get_array()
    assert c.shape == (4, 16) and right.images[0].get_array().shape == (16, 4)
    assert (right.images[0].get_array() == c.T).all()


def test_conv_matrix_figure_draws_the_given_function():
    calls = []

    def spy(kernel, shape):
        calls.append(shape)
        return torch.zeros(4, 16)

    figures.plot_conv_matrix(torch.ones(3, 3), (4, 4), conv_matrix_fn=spy)
    assert calls == [(4, 4)]


def test_scatter_figure_sum_is_the_transposed_conv():
    x = torch.tensor([[1.0, -1.0], [2.0, 0.5]])
    k = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    fig = figures.plot_scatter(x, k, stride=2, padding=1, output_padding=1)
    assert len(fig.axes) == 5
    total = torch.tensor(fig.axes[-1].images[0].get_array().data)
    full = F.conv_transpose2d(x[None, None], k[None, None], stride=2, output_padding=1)[0, 0]
    torch.testing.assert_close(total.float(), full)
    # The kept part, cropped by padding 1, is F.conv_transpose2d with padding.
    kept = F.conv_transpose2d(x[None, None], k[None, None], stride=2, padding=1, output_padding=1)
    torch.testing.assert_close(total[1:-1, 1:-1].float(), kept[0, 0])


def test_scatter_figure_refuses_large_inputs():
    with pytest.raises(ValueError):
        figures.plot_scatter(torch.ones(4, 4), torch.ones(3, 3))


def test_output_padding_figure_needs_sizes_with_one_output_length():
    fig = figures.plot_output_padding(3, 2, 1, (7, 8))
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "output_padding=0" in titles[0] and "output_padding=1" in titles[1]
    with pytest.raises(ValueError, match="different output lengths"):
        figures.plot_output_padding(3, 2, 1, (7, 9))


def test_overlap_figure_draws_the_counts_it_is_given():
    fig = figures.plot_overlap_counts(configs=((3, 2),), n=4,
                                      counts_fn=lambda k, s, n: torch.tensor([5, 6, 7]))
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [5, 6, 7]


def test_upsampling_comparison_has_one_panel_per_method_and_input():
    fig = figures.plot_upsampling_comparison(n=8, border=2)
    assert len(fig.axes) == 9
    resize_constant = fig.axes[2].images[0].get_array()
    assert resize_constant.max() - resize_constant.min() < 1e-12
    transposed_constant = fig.axes[0].images[0].get_array()
    assert transposed_constant.max() - transposed_constant.min() > 0.5


def test_gradient_figure_draws_c_and_the_input_gradient_matrix_its_transpose():
    kernel = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 3.0, 4.0]], dtype=torch.float64)
    fig = figures.plot_gradient_is_transpose(kernel, (4, 5))
    left, right = (ax.images[0].get_array() for ax in fig.axes)
    c = convlab.conv_matrix(kernel, (4, 5)).numpy()
    assert left.shape == (3 * 3, 4 * 5) and np.array_equal(left, c)
    assert np.array_equal(right, c.T)
    assert "G = C^T" in fig.axes[1].get_title()
    plt.close(fig)


def test_input_gradient_matrix_is_autograds_and_takes_a_notebooks_backward():
    kernel = torch.randn(2, 3, dtype=torch.float64)
    g = figures.input_gradient_matrix(kernel, (4, 4))
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(x, kernel[None, None])
    for j in range(y.numel()):
        (column,) = torch.autograd.grad(y.flatten()[j], x, retain_graph=True)
        torch.testing.assert_close(g[:, j], column.flatten())
    mine = figures.input_gradient_matrix(kernel, (4, 4), convlab.conv2d_backward)
    torch.testing.assert_close(mine, g)
    # A backward with the kernel unflipped draws a matrix that is not C^T, and says so.
    unflipped = lambda x, w, g, stride=1, padding=0: convlab.conv2d_backward(x, w.flip(2, 3), g)  # noqa: E731
    fig = figures.plot_gradient_is_transpose(kernel, (4, 4), conv2d_backward_fn=unflipped)
    assert "!= C^T" in fig.axes[1].get_title()
    plt.close(fig)
