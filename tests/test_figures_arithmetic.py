"""Conv-arithmetic figures: the drawn geometry is checked against the convolution ops
themselves (one-hot inputs), the drawn artists against the geometry, and the animations
for frame counts, inline HTML and speed."""
from __future__ import annotations

import time

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes

import convlab
from convlab.figures import arithmetic as A


def _pair(t):
    return t if isinstance(t, tuple) else (t, t)


def _dependencies(out: torch.Tensor, width: int, y: int, x: int) -> set:
    """Input cells whose one-hot input (batch index = flat cell index) changes output (y, x)."""
    return {divmod(n, width) for n in torch.nonzero(out[:, 0, y, x]).flatten().tolist()}


def _one_hot(h, w):
    return torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)


# Hand-picked cases cover what random draws rarely hit: non-square everything, a cropped
# (negative p') stretched input, output_padding with and without stride.
CONV_CASES = [
    dict(i=5, k=3, s=2, p=1, d=1),
    dict(i=4, k=3, s=1, p=0, d=1),
    dict(i=(7, 5), k=(3, 2), s=(1, 2), p=(1, 0), d=(2, 1)),
    dict(i=6, k=2, s=3, p=2, d=2),
]
TRANSPOSED_CASES = [
    dict(i=3, k=3, s=2, p=1, output_padding=1, d=1),
    dict(i=2, k=3, s=1, p=0, output_padding=0, d=1),
    dict(i=4, k=3, s=2, p=3, output_padding=1, d=1),  # p' = -1: cropped
    dict(i=(3, 2), k=(2, 3), s=(3, 1), p=(0, 1), output_padding=(2, 0), d=(1, 2)),
]


def _check_conv_frames(params):
    h, w = _pair(params["i"])
    frames = A.conv_frames(**params)
    weight = torch.ones(1, 1, *_pair(params["k"]), dtype=torch.float64)
    out = convlab.conv2d(_one_hot(h, w), weight, stride=params["s"], padding=params["p"],
                         dilation=params["d"])
    ho, wo = out.shape[-2:]
    assert len(frames) == ho * wo
    assert [f.output for f in frames] == [(y, x) for y in range(ho) for x in range(wo)]
    for f in frames:
        assert set(f.inputs) == _dependencies(out, w, *f.output), f.output
        assert len(f.taps) == weight.shape[-2] * weight.shape[-1]


def _check_transposed_frames(params):
    h, w = _pair(params["i"])
    frames = A.transposed_frames(**params)
    weight = torch.ones(1, 1, *_pair(params["k"]), dtype=torch.float64)
    out = convlab.conv_transpose2d(
        _one_hot(h, w), weight, stride=params["s"], padding=params["p"],
        output_padding=params["output_padding"], dilation=params["d"],
    )
    ho, wo = out.shape[-2:]
    assert len(frames) == ho * wo
    for f in frames:
        assert set(f.inputs) == _dependencies(out, w, *f.output), f.output


@pytest.mark.parametrize("params", CONV_CASES)
def test_conv_frames_cover_exactly_the_inputs_each_output_depends_on(params):
    _check_conv_frames(params)


@pytest.mark.parametrize("params", TRANSPOSED_CASES)
def test_transposed_frames_cover_exactly_the_inputs_each_output_depends_on(params):
    _check_transposed_frames(params)


small = st.integers(1, 3)
dims = st.tuples(st.integers(1, 6), st.integers(1, 6))


@settings(max_examples=30, deadline=None)
@given(i=dims, k=st.tuples(small, small), s=st.tuples(small, small),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)), d=st.tuples(small, small))
def test_conv_frames_random(i, k, s, p, d):
    try:
        A.conv_geometry(i, k, s, p, d)
    except ValueError:
        # Our refusal must match torch's: the dilated kernel does not fit.
        with pytest.raises(RuntimeError):
            F.conv2d(torch.zeros(1, 1, *i), torch.zeros(1, 1, *k), stride=s, padding=p, dilation=d)
        return
    _check_conv_frames(dict(i=i, k=k, s=s, p=p, d=d))


@settings(max_examples=30, deadline=None)
@given(i=dims, k=st.tuples(small, small), s=st.tuples(small, small),
       p=st.tuples(st.integers(0, 3), st.integers(0, 3)), op=st.tuples(small, small),
       d=st.tuples(small, small))
def test_transposed_frames_random(i, k, s, p, op, d):
    op = (op[0] - 1, op[1] - 1)
    try:
        A.transposed_geometry(i, k, s, p, op, d)
    except ValueError:
        with pytest.raises(RuntimeError):
            F.conv_transpose2d(torch.zeros(1, 1, *i), torch.zeros(1, 1, *k), stride=s,
                               padding=p, output_padding=op, dilation=d)
        return
    _check_transposed_frames(dict(i=i, k=k, s=s, p=p, output_padding=op, d=d))


@pytest.mark.parametrize(
    "make, params, reference",
    [(A.conv_geometry, c, "conv") for c in CONV_CASES]
    + [(A.transposed_geometry, c, "transposed") for c in TRANSPOSED_CASES],
)
def test_drawn_values_sum_to_torchs_output(make, params, reference):
    geometry = make(**params)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(geometry.input_shape, generator=gen, dtype=torch.float64)
    weight = torch.randn(geometry.kernel_size, generator=gen, dtype=torch.float64)
    grid = geometry.grid_values(x)
    kernel = geometry.direct_kernel(weight).flatten()
    drawn = torch.zeros(geometry.output_shape, dtype=torch.float64)
    for f in geometry.frames():
        rows, cols = zip(*f.taps)
        drawn[f.output] = (grid[list(rows), list(cols)] * kernel).sum()
    if reference == "conv":
        expected = F.conv2d(x[None, None], weight[None, None], stride=params["s"],
                            padding=params["p"], dilation=params["d"])[0, 0]
    else:
        expected = F.conv_transpose2d(
            x[None, None], weight[None, None], stride=params["s"], padding=params["p"],
            output_padding=params["output_padding"], dilation=params["d"],
        )[0, 0]
    torch.testing.assert_close(drawn, expected)
    torch.testing.assert_close(geometry.output_values(x, weight), expected)


def test_transposed_grid_is_the_stretched_padded_input():
    # i=3, k=3, s=2, p=1, output_padding=1: (3-1)*2+1 = 5 stretched, + 2*(3-1-1) + 1 = 8.
    g = A.transposed_geometry(3, 3, 2, 1, output_padding=1)
    assert g.grid_shape == (8, 8)
    assert g.output_shape == (convlab.conv_transpose_output_size(3, 3, 2, 1, 1),) * 2 == (6, 6)
    g = A.transposed_geometry((2, 4), (3, 2), (3, 2), (0, 1), output_padding=(1, 0))
    # rows: (2-1)*3+1 + 2*(3-1-0) + 1 = 9; cols: (4-1)*2+1 + 2*(2-1-1) + 0 = 7
    assert g.grid_shape == (9, 7)
    kinds = [g.cell_kind(r, c) for r in range(9) for c in range(7)]
    assert kinds.count("input") == 2 * 4
    assert kinds.count("zero") == 4 * 7 - 2 * 4  # the stretched input minus its inputs
    assert kinds.count("pad") == 9 * 7 - 4 * 7


def test_grid_values_put_inputs_between_inserted_zeros():
    g = A.transposed_geometry(2, 2, 3, 0)  # stretched [a 0 0 b], padded by 1
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    expected = torch.zeros(6, 6)
    expected[1, 1], expected[1, 4], expected[4, 1], expected[4, 4] = 1, 2, 3, 4
    torch.testing.assert_close(g.grid_values(x), expected)


def _gids(ax) -> dict:
    """Drawn cells by kind: grid cells live in one collection per kind, the moving
    kernel and output highlight are single patches."""
    counts: dict = {}
    for artist in ax.collections + ax.patches:
        n = len(artist.get_paths()) if hasattr(artist, "get_paths") else 1
        counts[artist.get_gid()] = counts.get(artist.get_gid(), 0) + n
    return counts


def test_draw_conv_step_draws_grid_kernel_and_output():
    fig, (ax_in, ax_out) = plt.subplots(1, 2)
    frame = A.draw_conv_step(ax_in, ax_out, 5, 3, 2, 1, step=4, values=True)
    assert isinstance(frame, A.ConvFrame)
    assert frame.output == (1, 1)
    assert _gids(ax_in) == {"input": 25, "pad": 7 * 7 - 25, "tap": 9, "window": 1}
    assert _gids(ax_out) == {"output": 9, "current": 1}
    # The current output's number is the library's: 5 outputs shown so far, the last bold.
    x, weight = A._default_values(A.conv_geometry(5, 3, 2, 1), None, None)
    expected = convlab.conv2d(x[None, None], weight[None, None], stride=2, padding=1)[0, 0]
    bold = [t.get_text() for t in ax_out.texts if t.get_fontweight() == "bold"]
    assert bold == [str(int(expected[1, 1]))]
    assert len(ax_out.texts) == 5
    assert "k=3" in ax_in.get_title(loc="left")


def test_draw_transposed_step_draws_the_stretched_grid_and_both_parameter_sets():
    fig, (ax_in, ax_out) = plt.subplots(1, 2)
    frame = A.draw_transposed_step(ax_in, ax_out, 3, 3, 2, 1, output_padding=1, step=7)
    assert frame.output == (1, 1)
    assert _gids(ax_in) == {"input": 9, "zero": 25 - 9, "pad": 64 - 25, "tap": 9, "window": 1}
    assert _gids(ax_out) == {"output": 36, "current": 1}
    title = ax_in.get_title(loc="left")
    for label in ("output_padding=1", "i'=(i−1)s+1=5", "s'=1", "p'=k−1−p=1", "= 6"):
        assert label in title


def test_without_axes_a_new_figure_holds_both_grids_at_one_scale():
    before = len(plt.get_fignums())
    A.draw_transposed_step(None, None, 2, 3, 2, step=3)
    assert len(plt.get_fignums()) == before + 1
    ax_in, ax_out = plt.gcf().axes
    # grid 7x7, output 5x5: equal data-to-pixel scale on both axes.
    scale = [ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0]
             for ax in (ax_in, ax_out)]
    assert scale[0] == pytest.approx(scale[1])
    assert _gids(ax_out) == {"output": 25, "current": 1}


def test_redrawing_on_the_same_axes_replaces_the_drawing():
    fig, (ax_in, ax_out) = plt.subplots(1, 2)
    A.draw_conv_step(ax_in, ax_out, 4, 2)
    A.draw_conv_step(ax_in, ax_out, 4, 2, step=8)
    assert _gids(ax_in) == {"input": 16, "tap": 4, "window": 1}


def test_dilated_window_spans_the_holes():
    fig, (ax_in, ax_out) = plt.subplots(1, 2)
    A.draw_conv_step(ax_in, ax_out, 7, 3, d=3)
    window = next(p for p in ax_in.patches if p.get_gid() == "window")
    assert (window.get_width(), window.get_height()) == (7, 7)
    assert _gids(ax_in)["tap"] == 9


def test_animation_has_one_frame_per_output_and_renders_inline():
    anim = A.animate_conv(5, 3, 2, 1)
    assert isinstance(anim, A.ConvAnimation)
    assert len(anim) == anim.num_frames == 9
    before = plt.get_fignums()
    start = time.perf_counter()
    html = anim._repr_html_()
    elapsed = time.perf_counter() - start
    assert "new Animation" in html
    assert html.count("data:image/png;base64") == 9
    assert elapsed < 5, f"rendering 9 frames took {elapsed:.1f} s"
    assert plt.get_fignums() == before  # no pyplot figure, so no static duplicate inline


def test_animation_caps_frames_evenly_over_the_sweep():
    anim = A.animate_transposed(8, 3, 2, 1, output_padding=1, max_frames=10)
    assert anim.geometry.num_outputs == 16 * 16
    assert anim.steps[0] == 0 and anim.steps[-1] == 255
    assert len(anim) == len(set(anim.steps)) == 10


def test_animation_saves_gif_and_html(tmp_path):
    anim = A.animate_transposed(2, 2, 2, values=True, max_frames=3)
    assert anim.save(tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"
    assert "new Animation" in anim.save(tmp_path / "a.html").read_text()
    with pytest.raises(ValueError, match="gif"):
        anim.save(tmp_path / "a.mp4")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: A.conv_geometry(3, 5), "larger than the padded input"),
        (lambda: A.conv_geometry(5, 3, d=3), "dilation 3 spans 7"),
        (lambda: A.conv_geometry((5, 2), (1, 3)), "width"),
        (lambda: A.conv_geometry(5, 3, p=-1), "padding p must be >= 0"),
        (lambda: A.conv_geometry(5, 2.0), "must be an int"),
        (lambda: A.transposed_geometry(3, 3, 2, output_padding=2), "output_padding"),
        (lambda: A.transposed_geometry(1, 1, 1, p=1), "crops the whole output"),
        (lambda: A.animate_transposed(3, 3, s=1, output_padding=1), "output_padding"),
        (lambda: A.animate_conv(3, 4), "larger than the padded input"),
        (lambda: A.animate_conv(3, 2, x=torch.zeros(2, 2)), r"x must have shape \(3, 3\)"),
        (lambda: A.animate_conv(3, 2, max_frames=0), "max_frames"),
        (lambda: A.draw_conv_step(*plt.subplots(1, 2)[1], 3, 2, step=4), r"\[0, 4\)"),
        (lambda: A.draw_conv_step(*plt.subplots(1, 2)[1], 3, 2, weight=torch.ones(3, 3)),
         "weight must have shape"),
        (lambda: A.draw_conv_step(plt.subplots()[1], None, 3, 2), "both ax_in and ax_out"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_receptive_field_growth_plots_the_librarys_numbers():
    ax = A.plot_receptive_field_growth(5)
    assert isinstance(ax, Axes)
    exponential, linear = (line.get_ydata().tolist() for line in ax.get_lines())
    assert linear == [3, 5, 7, 9, 11]
    assert exponential == [3, 7, 15, 31, 63]
    assert exponential[-1] == convlab.receptive_field([(3, 1, 2**j) for j in range(5)])


def test_dependency_map_shows_holes_and_coverage():
    fig, ax = plt.subplots()
    assert A.plot_dependency_map([2, 2, 2], ax=ax) is ax
    image = ax.images[0].get_array()
    counts = convlab.dependency_map([2, 2, 2])
    assert image.mask.tolist() == (counts == 0).tolist()  # holes masked: the "bad" colour
    assert image.filled(0).tolist() == counts.tolist()
    assert f"{convlab.coverage([2, 2, 2]):.1%}" in ax.get_title()
    assert "no holes" in A.plot_dependency_map([1, 2, 3]).get_title()


def test_all_is_accurate():
    public = {n for n, v in vars(A).items() if not n.startswith("_") and getattr(
        v, "__module__", None) == A.__name__}
    assert set(A.__all__) == public


@pytest.mark.parametrize("params", [dict(i=7, k=3, s=1, p=2, d=2), dict(i=(9, 6), k=(2, 3), s=(2, 1), p=(1, 0), d=(3, 2))])
def test_dilated_animation_shades_in_every_frame_the_inputs_the_output_depends_on(params):
    # Each frame of the dilated sweep shades k x k taps, d apart: exactly the grid cells of
    # the inputs (and padding) that torch's dilated conv reads for that frame's output.
    anim = A.animate_conv(params["i"], params["k"], params["s"], params["p"], params["d"], max_frames=100)
    (h, w), (ph, pw) = _pair(params["i"]), _pair(params["p"])
    out = F.conv2d(_one_hot(h, w), torch.ones(1, 1, *_pair(params["k"]), dtype=torch.float64),
                   stride=params["s"], padding=params["p"], dilation=params["d"])
    assert len(anim) == out.shape[2] * out.shape[3]
    ax_in = anim.figure.axes[0]
    for step in anim.steps:
        frame = anim._stage.show(step)
        shaded = sorted((round(p.get_y() - anim._stage.off_in), round(p.get_x()))
                        for p in ax_in.patches if p.get_gid() == "tap")
        assert shaded == sorted(frame.taps)
        inputs = {(r - ph, c - pw) for r, c in shaded if 0 <= r - ph < h and 0 <= c - pw < w}
        assert inputs == _dependencies(out, w, *frame.output)
        rows = sorted({r for r, _ in shaded})
        assert all(b - a == _pair(params["d"])[0] for a, b in zip(rows, rows[1:]))
