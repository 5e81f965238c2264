"""Figures for 01_convolution: the kernel flip, padding and stride in one dimension,
TensorFlow's SAME padding, channels, and the im2col column matrix.

Every number drawn comes from the library (``convlab.corr2d``, ``convlab.conv2d``,
``convlab.im2col``, ``convlab.same_padding``, ``convlab.tf_same_padding``); where a
notebook has the student's own version, it passes it through the ``*_fn`` argument to
see its result drawn. Each ``plot_*`` returns its matplotlib Figure. The sliding-window
pictures and animations are ``convlab.figures.draw_conv_step`` / ``animate_conv``.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ops import conv2d
from ..shapes import as_pair, check_int, same_padding, tf_same_padding
from ..standard import corr2d, im2col
from .arithmetic import (
    EMPTY_EDGE,
    HOLE_COLOUR,
    INPUT_EDGE,
    INPUT_FACE,
    OUTPUT_EDGE,
    OUTPUT_FACE,
    PAD_FACE,
)

# The window being read and what it writes: a warm colour that stands out on the blues.
HIGHLIGHT = "#e6550d"

__all__ = [
    "plot_corr_vs_conv",
    "plot_windows_1d",
    "plot_padding_modes",
    "plot_tf_same_padding",
    "plot_channels",
    "plot_im2col",
    "plot_timings",
]


def _subplots(nrows, ncols, figsize, **kw):
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    return plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)


def _figure(figsize):
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize)


def _number(v: float) -> str:
    return str(int(round(v))) if float(v).is_integer() else f"{v:.2g}"


def _plane(t, name: str, dims: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dim() != dims:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a {dims}-D tensor, got {shape}")
    return t.detach().to("cpu", torch.float64)


def _heatmap(ax, values: torch.Tensor, title: str = "", cmap="Blues", annotate=True,
             vmin=None, vmax=None):
    """One cell per entry, numbers written in (white on dark cells)."""
    data = values.detach().to("cpu", torch.float64).numpy()
    if vmin is None:
        vmin, vmax = float(data.min()), float(data.max())
        if vmin == vmax:
            vmin, vmax = vmin - 1, vmax + 1
    image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    rows, cols = data.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="both", length=0, labelsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    if annotate:
        for (r, c), v in np.ndenumerate(data):
            ax.text(c, r, _number(v), ha="center", va="center", fontsize=8,
                    color=_text_colour(image.cmap(image.norm(v))))
    return image


def _text_colour(rgba) -> str:
    """White on dark cells, black on light ones."""
    red, green, blue = rgba[:3]
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"


def _outline(ax, top: int, left: int, height: int, width: int, colour=HIGHLIGHT, lw=2.5):
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False,
                           edgecolor=colour, linewidth=lw))


# --------------------------------------------------------------------------- the kernel flip


def plot_corr_vs_conv(x, kernel, corr2d_fn=None):
    """Cross-correlation and true convolution of the same (H, W) ``x`` and (kh, kw)
    ``kernel``, side by side: x, K, x ⋆ K, flip(K), x ∗ K = x ⋆ flip(K). The first
    window and the outputs it makes are outlined. ``corr2d_fn`` (default
    ``convlab.corr2d``) computes both outputs."""
    x, kernel = _plane(x, "x", 2), _plane(kernel, "kernel", 2)
    corr2d_fn = corr2d_fn or corr2d
    flipped = kernel.flip(0, 1)
    panels = [
        (x, r"input $x$", "Blues"),
        (kernel, r"kernel $K$", "Oranges"),
        (corr2d_fn(x, kernel), "cross-correlation\n" r"$x \star K$ (what conv layers do)", "BuGn"),
        (flipped, r"$\mathrm{flip}(K)$" "\n(rotated 180°)", "Oranges"),
        (corr2d_fn(x, flipped), "convolution\n" r"$x * K = x \star \mathrm{flip}(K)$", "BuGn"),
    ]
    widths = [p[0].shape[1] for p in panels]
    fig, axes = _subplots(1, 5, (2.2 + 0.55 * sum(widths), 2.6), gridspec_kw={"width_ratios": widths})
    kh, kw = kernel.shape
    for ax, (values, title, cmap) in zip(axes[0], panels):
        _heatmap(ax, values, title, cmap)
    _outline(axes[0, 0], 0, 0, kh, kw)
    _outline(axes[0, 2], 0, 0, 1, 1)
    _outline(axes[0, 4], 0, 0, 1, 1)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- one dimension


def _padding_pair(padding) -> tuple[int, int]:
    if isinstance(padding, (tuple, list)):
        return as_pair(padding, "padding", 0)
    p = check_int(padding, "padding", 0)
    return (p, p)


def plot_windows_1d(n, k, stride=1, padding=0, ax=None, title=None):
    """The windows of a 1-D convolution over ``n`` inputs: the input row (padding
    dashed, ``padding`` an int or a (before, after) pair), then one bar per output
    under the cells it reads. Cells no window reaches, dropped by the floor in
    floor((n + pad - k) / s) + 1, are hatched red. Cells sit at x = their input index
    (padding at negative x / x >= n), so figures with different padding line up.
    Returns the Figure."""
    n = check_int(n, "n", 1)
    k = check_int(k, "k", 1)
    stride = check_int(stride, "stride", 1)
    before, after = _padding_pair(padding)
    total = before + n + after
    if k > total:
        raise ValueError(f"kernel size {k} is larger than the padded input {total}")
    outputs = (total - k) // stride + 1
    if ax is None:
        fig, axes = _subplots(1, 1, (0.42 * total + 1.6, 0.75 + 0.22 * outputs))
        ax = axes[0, 0]
    from matplotlib.patches import Rectangle

    reached = (outputs - 1) * stride + k  # padded cells [0, reached) are read by some window
    for cell in range(total):
        inside = before <= cell < before + n
        unread = cell >= reached
        ax.add_patch(Rectangle(
            (cell - before, 0), 1, 1, facecolor=INPUT_FACE if inside else PAD_FACE,
            edgecolor=HOLE_COLOUR if unread else (INPUT_EDGE if inside else EMPTY_EDGE),
            hatch="///" if unread else None, linestyle="-" if inside else "--", linewidth=1,
        ))
        ax.text(cell - before + 0.5, 0.5, str(cell - before) if inside else "0", ha="center",
                va="center", fontsize=8, color="black" if inside else EMPTY_EDGE)
    for o in range(outputs):
        y = -0.1 - 0.3 * (o + 1)
        ax.add_patch(Rectangle((o * stride - before + 0.06, y), k - 0.12, 0.22, facecolor=OUTPUT_FACE,
                               edgecolor=OUTPUT_EDGE, linewidth=1))
        ax.text(-before - 0.2, y + 0.11, f"out {o}", ha="right", va="center", fontsize=7)
    ax.set_xlim(-before - 1.5, n + after + 0.1)
    ax.set_ylim(-0.25 - 0.3 * outputs, 1.1)
    ax.set_aspect("equal")
    ax.axis("off")
    if title is None:
        pad = f"{before}" if before == after else f"({before}, {after})"
        title = f"n={n}, k={k}, s={stride}, padding={pad}: {outputs} outputs"
    if reached < total:
        title += " (hatched: read by no window)"
    ax.set_title(title, fontsize=9, loc="left")
    return ax.figure


def _stack_1d(n, k, rows):
    """One plot_windows_1d per (stride, (before, after), title) row, on a shared x range."""
    most_before = max(pad[0] for _, pad, _ in rows)
    most_after = max(pad[1] for _, pad, _ in rows)
    most_outputs = max((n + sum(pad) - k) // stride + 1 for stride, pad, _ in rows)
    # Same data range and same box for every row: one cell is the same size everywhere.
    fig, axes = _subplots(len(rows), 1, (max(6.5, 0.42 * (n + most_before + most_after) + 1.8),
                                         len(rows) * (0.75 + 0.22 * most_outputs)))
    for ax, (stride, pad, title) in zip(axes[:, 0], rows):
        plot_windows_1d(n, k, stride, pad, ax=ax, title=title)
        ax.set_xlim(-most_before - 1.5, n + most_after + 0.1)
        ax.set_ylim(-0.25 - 0.3 * most_outputs, 1.1)
    fig.tight_layout()
    return fig


def plot_padding_modes(n, k):
    """Valid, same and full padding of ``n`` inputs by a kernel of size ``k``, stride 1:
    output lengths n - k + 1, n and n + k - 1. Same padding comes from
    ``convlab.same_padding`` (the odd pixel after, for an even k)."""
    n, k = check_int(n, "n", 1), check_int(k, "k", 1)
    if k > n:
        raise ValueError(f"kernel size {k} is larger than the input {n}: no valid output")
    same = same_padding(k)
    return _stack_1d(n, k, [
        (1, (0, 0), f"valid: no padding, {n} − {k} + 1 = {n - k + 1} outputs"),
        (1, same, f"same: padding {same} (before, after), {n} outputs"),
        (1, (k - 1, k - 1), f"full: padding k − 1 = {k - 1} on both sides, {n} + {k} − 1 = {n + k - 1} outputs"),
    ])


def plot_tf_same_padding(n, k, stride):
    """TensorFlow's SAME padding (``convlab.tf_same_padding``: ceil(n / s) outputs, the
    odd pixel after) above torch's symmetric ``padding=k // 2``: with stride > 1 the
    windows can start at different pixels, so the outputs differ."""
    n, k, stride = check_int(n, "n", 1), check_int(k, "k", 1), check_int(stride, "stride", 1)
    tf_pad = tf_same_padding(n, k, stride)
    torch_pad = k // 2
    return _stack_1d(n, k, [
        (stride, tf_pad, f"TensorFlow SAME, stride {stride}: padding {tf_pad} (before, after), "
                         f"ceil({n} / {stride}) = {-(-n // stride)} outputs"),
        (stride, (torch_pad, torch_pad), f"torch padding=k//2={torch_pad}, stride {stride}: "
                                         f"{(n + 2 * torch_pad - k) // stride + 1} outputs"),
    ])


# --------------------------------------------------------------------------- channels


def plot_channels(x, weight, bias=None, conv_fn=None):
    """How channels combine, for one image ``x`` (C_in, H, W) and ``weight``
    (C_out, C_in, kh, kw): the input channels on top, then one row per output channel
    with its C_in kernel slices (each under the channel it reads) and the output,
    y[o] = bias[o] + sum over c of x[c] ⋆ weight[o, c]. ``conv_fn`` (default
    ``convlab.conv2d``) takes batched NCHW input."""
    x, weight = _plane(x, "x", 3), _plane(weight, "weight", 4)
    c_out, c_in = weight.shape[:2]
    if x.shape[0] != c_in:
        raise ValueError(f"x has {x.shape[0]} channels but weight expects {c_in}")
    bias_cpu = None if bias is None else _plane(bias, "bias", 1)
    out = (conv_fn or conv2d)(x[None], weight, bias_cpu)[0]
    fig, axes = _subplots(c_out + 1, c_in + 2, (1.9 * (c_in + 2), 1.9 * (c_out + 1)),
                          gridspec_kw={"width_ratios": [1] * c_in + [0.5, 1]})
    for ax in axes.flat:
        ax.axis("off")
    span_x, span_w, span_o = (float(t.abs().max()) or 1.0 for t in (x, weight, out))
    # Numbers fit in the kernel cells only when they are short.
    short = bool((weight == weight.round()).all()) and span_w < 100
    for c in range(c_in):
        _heatmap(axes[0, c], x[c], f"input channel $x_{c}$", "RdBu_r", annotate=False,
                 vmin=-span_x, vmax=span_x)
    axes[0, c_in + 1].text(0.5, 0.5, r"$y_o = b_o + \sum_c x_c \star w_{o,c}$", ha="center", va="center",
                           fontsize=11, transform=axes[0, c_in + 1].transAxes)
    for o in range(c_out):
        for c in range(c_in):
            _heatmap(axes[o + 1, c], weight[o, c], f"$w_{{{o},{c}}}$", "PuOr_r", annotate=short,
                     vmin=-span_w, vmax=span_w)
        plus = r"$\sum_c$" if bias is None else r"$\sum_c + b_%d$" % o
        axes[o + 1, c_in].text(0.5, 0.5, plus + "\n→", ha="center", va="center", fontsize=11,
                               transform=axes[o + 1, c_in].transAxes)
        b = "" if bias is None else f", $b_{o}$ = {float(bias_cpu[o]):.3g}"
        _heatmap(axes[o + 1, c_in + 1], out[o], f"output $y_{o}${b}", "RdBu_r", annotate=False,
                 vmin=-span_o, vmax=span_o)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- im2col


_CHANNEL_CMAPS = ("Blues", "Oranges", "Greens", "Purples")


def plot_im2col(x, kernel_size, stride=1, padding=0, column=0, im2col_fn=None):
    """The column matrix of one image ``x`` (C, H, W): the (padded) input channels with
    the window of column ``column`` outlined, and the (C*kh*kw, L) matrix
    ``im2col_fn(x[None], ...)[0]`` (default ``convlab.im2col``) with that column
    outlined, each channel's block of rows in that channel's colour. Rows are
    channel-major, (c, i, j); columns are output positions (y, x) in row-major order."""
    x = _plane(x, "x", 3)
    (kh, kw), (sh, sw) = as_pair(kernel_size, "kernel_size", 1), as_pair(stride, "stride", 1)
    ph, pw = as_pair(padding, "padding", 0)
    # stride and padding as the caller gave them: a student's im2col takes ints.
    cols = _plane((im2col_fn or im2col)(x[None], kernel_size, stride, padding)[0], "im2col result", 2)
    c, taps = x.shape[0], kh * kw
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    ho, wo = (padded.shape[1] - kh) // sh + 1, (padded.shape[2] - kw) // sw + 1
    if tuple(cols.shape) != (c * taps, ho * wo):
        raise ValueError(f"im2col gave shape {tuple(cols.shape)}, expected {(c * taps, ho * wo)}")
    column = check_int(column, "column", 0)
    if column >= ho * wo:
        raise ValueError(f"column must be below L = {ho * wo}, got {column}")
    y, x_pos = divmod(column, wo)
    low, high = float(x.min()), float(x.max())
    fig = _figure((2.0 + 0.5 * (padded.shape[2] + ho * wo), 1.0 + 0.42 * max(c * taps, c * padded.shape[1])))
    grid = fig.add_gridspec(c, 2, width_ratios=[padded.shape[2], ho * wo + 2.5])
    for ch in range(c):
        ax = fig.add_subplot(grid[ch, 0])
        cmap = _CHANNEL_CMAPS[ch % len(_CHANNEL_CMAPS)]
        _heatmap(ax, padded[ch], f"channel {ch}" + (" (padded)" if ph or pw else ""), cmap, vmin=low, vmax=high)
        _outline(ax, y * sh, x_pos * sw, kh, kw)
    ax = fig.add_subplot(grid[:, 1])
    for ch in range(c):  # each channel's rows in its colour
        block = torch.full_like(cols, float("nan"))
        block[ch * taps:(ch + 1) * taps] = cols[ch * taps:(ch + 1) * taps]
        image = _heatmap(ax, block, cmap=_CHANNEL_CMAPS[ch % len(_CHANNEL_CMAPS)], vmin=low, vmax=high,
                         annotate=False)
        for (r, q), v in np.ndenumerate(cols[ch * taps:(ch + 1) * taps].numpy()):
            ax.text(q, ch * taps + r, _number(v), ha="center", va="center", fontsize=8,
                    color=_text_colour(image.cmap(image.norm(v))))
    ax.set_title(f"im2col: ({c}·{kh}·{kw}, {ho}·{wo}) = {tuple(cols.shape)}", fontsize=9)
    _outline(ax, 0, column, c * taps, 1)
    ax.set_yticks(range(c * taps))
    ax.set_yticklabels([f"c{ch} ({i},{j})" for ch in range(c) for i in range(kh) for j in range(kw)])
    ax.set_xticks(range(ho * wo))
    ax.set_xticklabels([f"({r},{q})" for r in range(ho) for q in range(wo)], rotation=90)
    ax.set_xlabel("column = output position (y, x)", fontsize=8)
    ax.set_ylabel("row = (channel, tap i, tap j)", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- timing


def plot_timings(timings, ax=None):
    """Horizontal bars of ``timings`` ({label: seconds}), log scale, labelled in ms."""
    if not timings:
        raise ValueError("timings is empty")
    if ax is None:
        ax = _subplots(1, 1, (6, 0.45 * len(timings) + 0.8))[1][0, 0]
    labels = list(timings)
    seconds = [float(timings[label]) for label in labels]
    ax.barh(range(len(labels)), seconds, color=OUTPUT_FACE, edgecolor=OUTPUT_EDGE)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds per call (log scale)")
    for row, s in enumerate(seconds):
        ax.text(s, row, f" {s * 1e3:.3g} ms", va="center", fontsize=8)
    ax.set_xlim(min(seconds) / 2, max(seconds) * 8)
    ax.figure.tight_layout()
    return ax.figure
