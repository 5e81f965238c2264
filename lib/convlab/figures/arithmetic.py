"""Conv-arithmetic figures in the style of Dumoulin & Visin (2016), "A guide to convolution
arithmetic for deep learning": a blue input grid with dashed padding cells, the kernel's
taps shaded on it (holes left unshaded when dilated), and the cyan output grid with the
cell the kernel writes.

A transposed convolution is drawn the way the guide draws it: as the equivalent direct
convolution (stride 1, flipped kernel) over the *stretched* input, i.e. ``s - 1`` zeros
inserted between input cells, ``d(k - 1) - p`` padding around it (negative = cropped) and
``output_padding`` more at the bottom / right.

Every number comes from the library: sizes from ``convlab.shapes``, drawn values from
``convlab.conv2d`` / ``convlab.conv_transpose2d``. The geometry (which grid cells the
kernel covers for each output cell) is pure and exposed as ``conv_frames`` /
``transposed_frames`` so it can be tested against the ops themselves.
"""
from __future__ import annotations

import pathlib
from typing import NamedTuple

import matplotlib
import numpy as np
import torch
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..ops import conv2d, conv_transpose2d
from ..receptive import coverage, dependency_map, receptive_field
from ..shapes import (
    as_pair,
    check_int,
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
)

__all__ = [
    "ConvGeometry",
    "ConvFrame",
    "ConvAnimation",
    "conv_geometry",
    "transposed_geometry",
    "conv_frames",
    "transposed_frames",
    "draw_conv_step",
    "draw_transposed_step",
    "animate_conv",
    "animate_transposed",
    "plot_receptive_field_growth",
    "plot_dependency_map",
]

# Colours after Dumoulin & Visin: blue input, darker blue kernel shading, cyan output.
INPUT_FACE, INPUT_EDGE = "#9ecae1", "#2c5d87"
PAD_FACE, ZERO_FACE, EMPTY_EDGE, ZERO_TEXT = "#ffffff", "#ececec", "#8a8a8a", "#6b6b6b"
TAP_FACE, WINDOW_EDGE = "#08519c", "#08306b"
OUTPUT_FACE, OUTPUT_EDGE, CURRENT_FACE = "#b9eee4", "#2a8c7e", "#1f9e89"
HOLE_COLOUR = "#e34a33"
# The centre output's mark on a dependency map: yellow, seen on the blues and the red holes.
CENTRE_COLOUR = "#fdd835"
DASHES = (0, (3, 2))

# The guide's worked example of a discrete convolution uses this kernel; reuse it when it fits.
_GUIDE_KERNEL = [[0.0, 1.0, 2.0], [2.0, 2.0, 0.0], [0.0, 1.0, 2.0]]


# --------------------------------------------------------------------------- geometry


class _Axis(NamedTuple):
    """One spatial axis of the drawn grid and of the direct conv that sweeps it."""

    source: tuple[int, ...]  # input index shown in each grid cell, -1 where the cell is a zero
    inside: tuple[bool, ...]  # the cell lies within the (stretched) input, not in the padding
    kernel: int
    stride: int
    dilation: int
    out: int

    def taps(self, o: int) -> list[int]:
        return [o * self.stride + j * self.dilation for j in range(self.kernel)]


class ConvFrame(NamedTuple):
    """One step of a sweep: the output cell written and the grid cells under the kernel.

    ``taps`` lists the kernel's grid cells (r, c) in the kernel's row-major order;
    ``inputs`` lists the input cells (row, col of the unpadded input) those taps land on,
    in the same order, i.e. exactly the inputs output ``output`` depends on.
    """

    output: tuple[int, int]
    taps: tuple[tuple[int, int], ...]
    inputs: tuple[tuple[int, int], ...]


class ConvGeometry:
    """A direct convolution over a drawn grid: the padded input, or for a transposed
    conv the padded, zero-stretched input. Build it with ``conv_geometry`` or
    ``transposed_geometry``."""

    def __init__(self, transposed: bool, params: dict, rows: _Axis, cols: _Axis):
        self.transposed = transposed
        self.params = params  # the caller's parameters, each as an (h, w) pair
        self.rows, self.cols = rows, cols

    @property
    def input_shape(self) -> tuple[int, int]:
        return self.params["i"]

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (len(self.rows.source), len(self.cols.source))

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.rows.out, self.cols.out)

    @property
    def kernel_size(self) -> tuple[int, int]:
        return (self.rows.kernel, self.cols.kernel)

    @property
    def num_outputs(self) -> int:
        return self.rows.out * self.cols.out

    def cell_kind(self, r: int, c: int) -> str:
        """'input' (shows an input value), 'zero' (inserted between inputs) or 'pad'."""
        if self.rows.source[r] >= 0 and self.cols.source[c] >= 0:
            return "input"
        if self.rows.inside[r] and self.cols.inside[c]:
            return "zero"
        return "pad"

    def frame(self, step: int) -> ConvFrame:
        """The ``step``-th output cell in row-major order and what the kernel covers."""
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int, got {step!r}")
        if not 0 <= step < self.num_outputs:
            raise ValueError(f"step must be in [0, {self.num_outputs}), got {step}")
        y, x = divmod(int(step), self.cols.out)
        taps = tuple((r, c) for r in self.rows.taps(y) for c in self.cols.taps(x))
        inputs = tuple(
            (self.rows.source[r], self.cols.source[c])
            for r, c in taps
            if self.rows.source[r] >= 0 and self.cols.source[c] >= 0
        )
        return ConvFrame((y, x), taps, inputs)

    def frames(self) -> list[ConvFrame]:
        return [self.frame(step) for step in range(self.num_outputs)]

    def grid_values(self, x: torch.Tensor) -> torch.Tensor:
        """The drawn grid filled from the (H, W) input ``x``: zeros off the input cells."""
        x = _as_plane(x, self.input_shape, "x")
        rows = torch.tensor(self.rows.source)
        cols = torch.tensor(self.cols.source)
        grid = x[rows.clamp(min=0)][:, cols.clamp(min=0)]
        keep = (rows >= 0)[:, None] & (cols >= 0)[None, :]
        return torch.where(keep, grid, torch.zeros((), dtype=x.dtype))

    def direct_kernel(self, weight: torch.Tensor) -> torch.Tensor:
        """The kernel the drawn direct conv applies: flipped for a transposed conv."""
        weight = _as_plane(weight, self.kernel_size, "weight")
        return weight.flip(0, 1) if self.transposed else weight

    def output_values(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The (Ho, Wo) output, computed by ``convlab.conv2d`` / ``convlab.conv_transpose2d``."""
        x = _as_plane(x, self.input_shape, "x")[None, None]
        weight = _as_plane(weight, self.kernel_size, "weight").to(x.dtype)[None, None]
        p = self.params
        if self.transposed:
            out = conv_transpose2d(
                x, weight, stride=p["s"], padding=p["p"],
                output_padding=p["output_padding"], dilation=p["d"],
            )
        else:
            out = conv2d(x, weight, stride=p["s"], padding=p["p"], dilation=p["d"])
        return out[0, 0]

    def _stretched(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """A transposed conv's stretched input size (i-1)s+1 and its padding d(k-1)-p."""
        p = self.params
        stretched = tuple((i - 1) * s + 1 for i, s in zip(p["i"], p["s"]))
        pad = tuple(d * (k - 1) - q for k, q, d in zip(p["k"], p["p"], p["d"]))
        return stretched, pad

    def title(self) -> str:
        p = self.params
        dilation = "" if p["d"] == (1, 1) else f", d={_fmt(p['d'])}"
        if not self.transposed:
            k_term = "k" if p["d"] == (1, 1) else "d(k−1) − 1"
            return (
                f"convolution: i={_fmt(p['i'])}, k={_fmt(p['k'])}, s={_fmt(p['s'])}, "
                f"p={_fmt(p['p'])}{dilation}\n"
                f"o = ⌊(i + 2p − {k_term}) / s⌋ + 1 = {_fmt(self.output_shape)}"
            )
        stretched, pad = self._stretched()
        pad_formula = "k−1−p" if p["d"] == (1, 1) else "d(k−1)−p"
        extra = "" if p["output_padding"] == (0, 0) else (
            f" (+{_fmt(p['output_padding'])} bottom/right)"
        )
        d_term = "k − 1" if p["d"] == (1, 1) else "d(k − 1)"
        return (
            f"transposed convolution: i={_fmt(p['i'])}, k={_fmt(p['k'])}, s={_fmt(p['s'])}, "
            f"p={_fmt(p['p'])}, output_padding={_fmt(p['output_padding'])}{dilation}\n"
            f"≡ convolution: i'=(i−1)s+1={_fmt(stretched)}, k={_fmt(p['k'])}, s'=1, "
            f"p'={pad_formula}={_fmt(pad)}{extra}{dilation}, flipped kernel\n"
            f"o = (i − 1)s − 2p + {d_term} + output_padding + 1 = {_fmt(self.output_shape)}"
        )

    def captions(self) -> tuple[str, str]:
        p = self.params
        if self.transposed:
            name = "stretched input"
            shown, pad = self._stretched()
            pads = list(pad) + [q + op for q, op in zip(pad, p["output_padding"])]
        else:
            name, shown, pads = "input", p["i"], list(p["p"])
        if all(pad == 0 for pad in pads):
            change = ""
        elif all(pad >= 0 for pad in pads):
            change = f", padded to {_shape(self.grid_shape)}"
        elif all(pad <= 0 for pad in pads):
            change = f", cropped to {_shape(self.grid_shape)}"
        else:
            change = f", padded / cropped to {_shape(self.grid_shape)}"
        return f"{name} {_shape(shown)}{change}", f"output {_shape(self.output_shape)}"


def _fmt(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def _shape(pair) -> str:
    return f"{pair[0]}×{pair[1]}"


def _as_plane(t, shape, name) -> torch.Tensor:
    t = torch.as_tensor(t)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    return t


def _pairs(**named) -> dict:
    minimum = {"i": 1, "k": 1, "s": 1, "p": 0, "d": 1, "output_padding": 0}
    names = {"i": "input size i", "k": "kernel size k", "s": "stride s", "p": "padding p",
             "d": "dilation d", "output_padding": "output_padding"}
    return {key: as_pair(value, names[key], minimum[key]) for key, value in named.items()}


def _direct_axis(n, k, s, p, d, axis) -> _Axis:
    extent = effective_kernel_size(k, d)
    try:
        out = conv_output_size(n, extent, s, p)
    except ValueError as err:
        spans = f" (kernel {k} with dilation {d} spans {extent})" if d > 1 else ""
        raise ValueError(f"{axis}: {err}{spans}") from None
    source = tuple(g - p if p <= g < p + n else -1 for g in range(n + 2 * p))
    return _Axis(source, tuple(v >= 0 for v in source), k, s, d, out)


def _transposed_axis(n, k, s, p, op, d, axis) -> _Axis:
    try:
        out = conv_transpose_output_size(n, k, s, p, op, d)
    except ValueError as err:
        raise ValueError(f"{axis}: {err}") from None
    stretched = (n - 1) * s + 1
    pad = d * (k - 1) - p  # negative: the stretched input is cropped instead
    # Grid cell g shows position g - pad of the stretched input.
    positions = range(-pad, stretched + pad + op)
    source = tuple(z // s if 0 <= z < stretched and z % s == 0 else -1 for z in positions)
    inside = tuple(0 <= z < stretched for z in positions)
    return _Axis(source, inside, k, 1, d, out)


def conv_geometry(i, k, s=1, p=0, d=1) -> ConvGeometry:
    """Geometry of a direct convolution; every argument is an int or an (h, w) pair.

    ValueError when the (dilated) kernel is larger than the padded input."""
    params = _pairs(i=i, k=k, s=s, p=p, d=d)
    axes = [
        _direct_axis(*(params[key][a] for key in "iksp"), params["d"][a], name)
        for a, name in enumerate(("height", "width"))
    ]
    return ConvGeometry(False, params, *axes)


def transposed_geometry(i, k, s=1, p=0, output_padding=0, d=1) -> ConvGeometry:
    """Geometry of a transposed convolution as the equivalent direct one (stride 1) over
    the stretched, padded input: (i-1)s+1 + 2(d(k-1)-p) + output_padding cells per axis.

    ValueError when output_padding is not smaller than stride or dilation, or the
    padding crops the whole output."""
    params = _pairs(i=i, k=k, s=s, p=p, output_padding=output_padding, d=d)
    axes = [
        _transposed_axis(
            *(params[key][a] for key in ("i", "k", "s", "p", "output_padding", "d")), name
        )
        for a, name in enumerate(("height", "width"))
    ]
    return ConvGeometry(True, params, *axes)


def conv_frames(i, k, s=1, p=0, d=1) -> list[ConvFrame]:
    """One ``ConvFrame`` per output cell (row-major) of a direct convolution."""
    return conv_geometry(i, k, s, p, d).frames()


def transposed_frames(i, k, s=1, p=0, output_padding=0, d=1) -> list[ConvFrame]:
    """One ``ConvFrame`` per output cell (row-major) of a transposed convolution, drawn as
    its equivalent direct convolution over the stretched input."""
    return transposed_geometry(i, k, s, p, output_padding, d).frames()


# --------------------------------------------------------------------------- drawing


def _default_values(geometry: ConvGeometry, x, weight):
    # Small integers keep every printed number short and every sum exact.
    gen = torch.Generator().manual_seed(0)
    if x is None:
        x = torch.randint(0, 4, geometry.input_shape, generator=gen).float()
    if weight is None:
        if geometry.kernel_size == (3, 3):
            weight = torch.tensor(_GUIDE_KERNEL)
        else:
            weight = torch.randint(0, 3, geometry.kernel_size, generator=gen).float()
    x = _as_plane(x, geometry.input_shape, "x")
    weight = _as_plane(weight, geometry.kernel_size, "weight").to(x.dtype)
    return x, weight


def _number(v: float) -> str:
    return str(int(round(v))) if float(v).is_integer() else f"{v:.3g}"


class _Stage:
    """Draws one geometry on two axes: the grids once, then the kernel at a chosen step."""

    def __init__(self, ax_in, ax_out, geometry: ConvGeometry, values: bool, x, weight):
        self.ax_in, self.ax_out, self.g = ax_in, ax_out, geometry
        self.dynamic: list = []
        self.values = None
        if values or x is not None or weight is not None:
            x, weight = _default_values(geometry, x, weight)
            self.values = (
                geometry.grid_values(x).tolist(),
                geometry.direct_kernel(weight).tolist(),
                geometry.output_values(x, weight).tolist(),
            )
        hg, _ = geometry.grid_shape
        ho, _ = geometry.output_shape
        height = max(hg, ho)
        # Centre the shorter grid vertically so both read at the same scale side by side.
        self.off_in, self.off_out = (height - hg) / 2, (height - ho) / 2
        self.height = height

    def _fontsize(self, ax, ncols) -> float:
        fig = ax.figure
        box = ax.get_position()
        w_pt = box.width * fig.get_figwidth() * 72
        h_pt = box.height * fig.get_figheight() * 72
        cell = min(w_pt / ncols, h_pt / self.height)
        return float(np.clip(0.4 * cell, 4.0, 13.0))

    def draw_static(self):
        g = self.g
        hg, wg = g.grid_shape
        ho, wo = g.output_shape
        for ax, width in ((self.ax_in, wg), (self.ax_out, wo)):
            ax.cla()
            ax.set_xlim(-0.1, width + 0.1)
            ax.set_ylim(self.height + 0.1, -0.1)  # row 0 on top, as in an image
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        self.font_in = self._fontsize(self.ax_in, wg)
        self.font_out = self._fontsize(self.ax_out, wo)
        # One collection per kind of cell: a single artist draws far faster per frame
        # than hundreds of patches.
        cells: dict = {"pad": [], "zero": [], "input": []}  # inputs' solid edges on top
        for r in range(hg):
            for c in range(wg):
                kind = g.cell_kind(r, c)
                cells[kind].append(Rectangle((c, r + self.off_in), 1, 1))
                if self.values is not None:
                    self.ax_in.text(
                        c + 0.5, r + self.off_in + 0.45, _number(self.values[0][r][c]),
                        ha="center", va="center", fontsize=self.font_in,
                        color="black" if kind == "input" else ZERO_TEXT, zorder=5,
                    )
        styles = {
            "input": dict(facecolor=INPUT_FACE, edgecolor=INPUT_EDGE, linestyle="-"),
            "zero": dict(facecolor=ZERO_FACE, edgecolor=EMPTY_EDGE, linestyle=DASHES),
            "pad": dict(facecolor=PAD_FACE, edgecolor=EMPTY_EDGE, linestyle=DASHES),
        }
        for kind, patches in cells.items():
            if patches:
                self.ax_in.add_collection(PatchCollection(
                    patches, lw=1, gid=kind, zorder=1, **styles[kind]
                ), autolim=False)
        outputs = [Rectangle((x, y + self.off_out), 1, 1) for y in range(ho) for x in range(wo)]
        self.ax_out.add_collection(PatchCollection(
            outputs, lw=1, gid="output", zorder=1, facecolor=OUTPUT_FACE, edgecolor=OUTPUT_EDGE,
        ), autolim=False)
        self.ax_in.set_title(g.title(), loc="left", fontsize=9)
        cap_in, cap_out = g.captions()
        self.ax_in.set_xlabel(cap_in, fontsize=9)
        self.ax_out.set_xlabel(cap_out, fontsize=9)

    def show(self, step: int) -> ConvFrame:
        frame = self.g.frame(step)
        for artist in self.dynamic:
            artist.remove()
        add_in, add_out = self.ax_in.add_patch, self.ax_out.add_patch
        dyn = []
        for r, c in frame.taps:
            dyn.append(add_in(Rectangle(
                (c, r + self.off_in), 1, 1, facecolor=TAP_FACE, alpha=0.45, lw=0, gid="tap",
                zorder=2,
            )))
        # The window outline spans the holes too, so dilation shows as unshaded cells in it.
        (r0, c0), (r1, c1) = frame.taps[0], frame.taps[-1]
        dyn.append(add_in(Rectangle(
            (c0, r0 + self.off_in), c1 - c0 + 1, r1 - r0 + 1, fill=False,
            edgecolor=WINDOW_EDGE, lw=2.2, gid="window", zorder=3,
        )))
        y, x = frame.output
        dyn.append(add_out(Rectangle(
            (x, y + self.off_out), 1, 1, facecolor=CURRENT_FACE, edgecolor=OUTPUT_EDGE,
            lw=1.5, gid="current", zorder=2,
        )))
        if self.values is not None:
            _, kernel, out = self.values
            kw = self.g.kernel_size[1]
            small = max(self.font_in * 0.6, 4.0)
            for t, (r, c) in enumerate(frame.taps):
                dyn.append(self.ax_in.text(
                    c + 0.95, r + self.off_in + 0.97, _number(kernel[t // kw][t % kw]),
                    ha="right", va="bottom", fontsize=small, color="white", weight="bold",
                    zorder=5,
                ))
            # Outputs appear once the sweep has reached them.
            wo = self.g.output_shape[1]
            for index in range(step + 1):
                oy, ox = divmod(index, wo)
                dyn.append(self.ax_out.text(
                    ox + 0.5, oy + self.off_out + 0.5, _number(out[oy][ox]),
                    ha="center", va="center", fontsize=self.font_out,
                    weight="bold" if index == step else "normal", zorder=5,
                ))
        self.dynamic = dyn
        return frame


def _side_by_side(fig, geometry: ConvGeometry):
    """Size ``fig`` and add the input and output axes at one scale for both grids.

    The axes are placed by hand, in inches: a layout engine would re-run on every frame
    of an animation and cost more than drawing it."""
    hg, wg = geometry.grid_shape
    ho, wo = geometry.output_shape
    height = max(hg, ho) + 0.2  # the axes limits leave 0.1 cell around the grids
    wg, wo = wg + 0.2, wo + 0.2
    cell = min(0.45, 8.0 / (wg + wo), 6.0 / height)
    title = geometry.title().split("\n")
    side, gap, bottom = 0.2, max(0.6, 2 * cell), 0.35
    top = 0.2 * len(title) + 0.2
    title_width = 0.075 * max(len(line) for line in title)  # ~9 pt sans-serif
    width = max(2 * side + cell * (wg + wo) + gap, 2 * side + title_width)
    fig_h = bottom + cell * height + top
    fig.set_size_inches(width, fig_h)
    # The title is left-aligned on the input axes and may run past them to the right.
    ax_in = fig.add_axes([side / width, bottom / fig_h, cell * wg / width, cell * height / fig_h])
    ax_out = fig.add_axes([(side + cell * wg + gap) / width, bottom / fig_h, cell * wo / width,
                           cell * height / fig_h])
    return ax_in, ax_out


def _draw_step(ax_in, ax_out, geometry, step, values, x, weight) -> ConvFrame:
    if (ax_in is None) != (ax_out is None):
        raise ValueError("pass both ax_in and ax_out, or neither for a new figure")
    geometry.frame(step)  # a bad step fails before anything is drawn
    if ax_in is None:
        import matplotlib.pyplot as plt  # a pyplot figure, so Jupyter shows it inline

        ax_in, ax_out = _side_by_side(plt.figure(), geometry)
    stage = _Stage(ax_in, ax_out, geometry, values, x, weight)
    stage.draw_static()
    return stage.show(step)


def draw_conv_step(ax_in, ax_out, i, k, s=1, p=0, d=1, step=0, values=False, x=None, weight=None):
    """Draw frame ``step`` (row-major output index) of a direct convolution.

    Clears ``ax_in`` / ``ax_out`` (``None, None``: a new pyplot figure with both grids at
    one scale) and draws the input with its padding on ``ax_in``, the kernel's taps
    shaded, and the output on ``ax_out`` with the written cell highlighted. With
    ``values=True`` (or an (H, W) ``x`` / (kh, kw) ``weight``) the cells show input
    values, kernel taps (small, bottom right) and the outputs computed so far by
    ``convlab.conv2d``. Returns the drawn ``ConvFrame``.
    """
    return _draw_step(ax_in, ax_out, conv_geometry(i, k, s, p, d), step, values, x, weight)


def draw_transposed_step(
    ax_in, ax_out, i, k, s=1, p=0, output_padding=0, d=1, step=0, values=False, x=None,
    weight=None,
):
    """Draw frame ``step`` of a transposed convolution as Dumoulin & Visin do: the
    equivalent stride-1 convolution over the stretched input (``s - 1`` zeros between
    inputs, shaded grey; ``d(k-1) - p`` dashed padding around, ``output_padding`` more at
    the bottom / right). The title gives both parameter sets. With values, the taps show
    the *flipped* kernel and the outputs come from ``convlab.conv_transpose2d``.
    Axes as ``draw_conv_step``. Returns the drawn ``ConvFrame``.
    """
    geometry = transposed_geometry(i, k, s, p, output_padding, d)
    return _draw_step(ax_in, ax_out, geometry, step, values, x, weight)


# --------------------------------------------------------------------------- animation


def _steps(num_outputs: int, max_frames: int) -> list[int]:
    if num_outputs <= max_frames:
        return list(range(num_outputs))
    # Evenly spaced over the sweep, first and last included; the spacing is >= 1, so
    # rounding keeps them distinct.
    return [int(v) for v in np.linspace(0, num_outputs - 1, max_frames).round()]


class ConvAnimation:
    """A sweep of the kernel over the grid; displays inline in Jupyter as a JS player.

    The figure is one pyplot does not know about, so Jupyter never shows a static copy
    next to the player; ``figure`` is the first frame as a still. The ``FuncAnimation``
    is made on first use (``animation``, ``_repr_html_``, ``save``), so an animation
    never shown does not warn that it was deleted without rendering. ``steps`` are the
    output indices shown, one per frame (all outputs, or ``max_frames`` evenly spaced).
    """

    def __init__(self, geometry: ConvGeometry, *, interval, max_frames, values, x, weight, dpi):
        self.geometry = geometry
        self.interval = check_int(interval, "interval", 1)
        self.steps = _steps(geometry.num_outputs, check_int(max_frames, "max_frames", 1))
        self.dpi = check_int(dpi, "dpi", 10)
        self._options = (values, x, weight)
        # Build the stage now so bad x / weight fail at the call, not at display time.
        self._figure, self._stage = self._make_figure()
        self._animation = None
        self._html = None

    @property
    def num_frames(self) -> int:
        return len(self.steps)

    def __len__(self) -> int:
        return self.num_frames

    def _make_figure(self):
        fig = Figure(dpi=self.dpi)
        stage = _Stage(*_side_by_side(fig, self.geometry), self.geometry, *self._options)
        stage.draw_static()
        stage.show(self.steps[0])  # so ``figure`` alone is a usable still
        return fig, stage

    @property
    def figure(self) -> Figure:
        return self._figure

    @property
    def animation(self) -> FuncAnimation:
        if self._animation is None:
            self._animation = FuncAnimation(
                self._figure,
                lambda n: self._stage.show(self.steps[n]),
                frames=self.num_frames,
                interval=self.interval,
                repeat=True,
            )
        return self._animation

    def to_jshtml(self) -> str:
        if self._html is None:
            self._html = self.animation.to_jshtml(default_mode="loop")
        return self._html

    def _repr_html_(self) -> str:
        return self.to_jshtml()

    def save(self, path, fps=None) -> pathlib.Path:
        """Write a ``.gif`` (Pillow, no ffmpeg needed) or a standalone ``.html`` player."""
        path = pathlib.Path(path)
        suffix = path.suffix.lower()
        if suffix == ".html":
            path.write_text(self.to_jshtml())
        elif suffix == ".gif":
            fps = fps if fps is not None else max(1, round(1000 / self.interval))
            self.animation.save(path, writer=PillowWriter(fps=fps), dpi=self.dpi)
        else:
            raise ValueError(f"can save .gif or .html, not {path.name!r}")
        return path


def animate_conv(
    i, k, s=1, p=0, d=1, interval=600, max_frames=48, values=False, x=None, weight=None, dpi=80
) -> ConvAnimation:
    """Animate a direct convolution: one frame per output cell (at most ``max_frames``).
    Arguments as ``draw_conv_step``; ``interval`` is ms per frame."""
    return ConvAnimation(
        conv_geometry(i, k, s, p, d), interval=interval, max_frames=max_frames,
        values=values, x=x, weight=weight, dpi=dpi,
    )


def animate_transposed(
    i, k, s=1, p=0, output_padding=0, d=1, interval=600, max_frames=48, values=False,
    x=None, weight=None, dpi=80,
) -> ConvAnimation:
    """Animate a transposed convolution as its equivalent direct convolution over the
    stretched input. Arguments as ``draw_transposed_step``."""
    return ConvAnimation(
        transposed_geometry(i, k, s, p, output_padding, d), interval=interval,
        max_frames=max_frames, values=values, x=x, weight=weight, dpi=dpi,
    )


# --------------------------------------------------------------------------- receptive fields


def _axes(ax, figsize):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    return plt.subplots(figsize=figsize)[1]


def plot_receptive_field_growth(num_layers, kernel_size=3, ax=None, log=False):
    """Receptive field of a stack of ``num_layers`` stride-1 k x k convs: dilation 1
    everywhere (linear growth, 1 + L(k-1)) vs dilations 1, 2, 4, ... (exponential,
    2^(L+1) - 1 for k = 3), both from ``convlab.receptive_field``. Returns the axes."""
    num_layers = check_int(num_layers, "num_layers", 1)
    kernel_size = check_int(kernel_size, "kernel_size", 2)
    depth = np.arange(1, num_layers + 1)
    linear = [receptive_field([(kernel_size, 1, 1)] * n) for n in depth]
    exponential = [receptive_field([(kernel_size, 1, 2**j) for j in range(n)]) for n in depth]
    ax = _axes(ax, (5.5, 3.8))
    ax.plot(depth, exponential, "o-", color=TAP_FACE, label="dilations 1, 2, 4, … (exponential)")
    ax.plot(depth, linear, "s-", color=CURRENT_FACE, label="dilation 1 (linear)")
    for series in (linear, exponential):
        ax.annotate(str(series[-1]), (depth[-1], series[-1]), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=9)
    if log:
        ax.set_yscale("log", base=2)
    ax.set_xticks(depth)
    ax.set_xlabel("number of layers")
    ax.set_ylabel("receptive field (pixels per side)")
    ax.set_title(f"Receptive field of stacked {kernel_size}×{kernel_size} convolutions, stride 1")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_dependency_map(rates, kernel_size=3, ax=None, annotate=None, cmap="Blues"):
    """Image of ``convlab.dependency_map(rates, kernel_size)``: how many paths lead from
    each input pixel to the centre output. Holes (0 paths) are drawn in red; the title
    gives the receptive field and ``convlab.coverage``. ``annotate`` writes the counts in
    the cells (default: when the map is at most 15 wide). Returns the axes."""
    rates = list(rates)
    counts = dependency_map(rates, kernel_size).numpy()
    size = counts.shape[0]
    holes = int((counts == 0).sum())
    ax = _axes(ax, (4.8, 4.8))
    image = np.ma.masked_equal(counts, 0)
    colours = matplotlib.colormaps[cmap].with_extremes(bad=HOLE_COLOUR)
    top = counts.max()
    # vmin below 0 keeps a count of 1 visibly blue rather than white.
    ax.imshow(image, cmap=colours, vmin=-0.2 * top, vmax=top, interpolation="nearest")
    if size <= 40:  # cell borders help count; beyond that they turn the image grey
        ax.set_xticks(np.arange(-0.5, size), minor=True)
        ax.set_yticks(np.arange(-0.5, size), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    centre = size // 2
    if annotate is None:
        annotate = size <= 15
    if annotate:  # outlined, not crossed: a marker would cover the centre's count
        ax.add_patch(Rectangle((centre - 0.5, centre - 0.5), 1, 1, fill=False, ec=CENTRE_COLOUR,
                               lw=2, zorder=3))
    else:
        ax.plot(centre, centre, marker="+", color=CENTRE_COLOUR, markersize=8, mew=1.5)
    if annotate:
        for (r, c), v in np.ndenumerate(counts):
            if v:  # holes speak through their colour
                ax.text(c, r, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 * top else "black")
    rates_text = ", ".join(str(r) for r in rates)
    ax.set_title(
        f"rates [{rates_text}], k={kernel_size}: receptive field {size}×{size}\n"
        f"coverage {coverage(rates, kernel_size):.1%}, "
        + (f"{holes} holes (red)" if holes else "no holes"),
        fontsize=10,
    )
    return ax
