"""Figures for 03_atrous: the two views of a dilated convolution (holes in the kernel,
phases of the input), TensorFlow's seed example, and receptive fields of real models.

Every number drawn comes from the library (``convlab.dilate_kernel``,
``convlab.space_to_batch``, ``convlab.atrous_conv2d``, ``convlab.receptive_field``); a
notebook may pass its own implementation through the ``*_fn`` arguments to see its result
drawn. Linear vs exponential receptive-field growth is ``plot_receptive_field_growth`` and
the conv-arithmetic picture of a dilated kernel is ``draw_conv_step(..., d=2)``, both in
``convlab.figures.arithmetic``. Each ``plot_*`` returns its matplotlib Figure.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..atrous import atrous_conv2d, dilate_kernel, space_to_batch
from ..receptive import receptive_field
from ..shapes import check_int
from .arithmetic import HOLE_COLOUR, INPUT_EDGE, OUTPUT_EDGE, TAP_FACE

__all__ = [
    "plot_dilated_kernels",
    "plot_space_to_batch",
    "seed_image",
    "plot_seed_example",
    "layers_of",
    "unet_stage_layers",
    "plot_unet_receptive_fields",
]

# One colour per phase (i, j), for up to 4 x 4 phases.
_PHASE_COLOURS = ["#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9", "#fee391",
                  "#a1d99b", "#9ecae1", "#fdae6b", "#bcbddc", "#fc9272", "#bdbdbd", "#fec44f",
                  "#74c476", "#6baed6"]


def _subplots(nrows, ncols, figsize, **kw):
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)
    return fig, axes


def _number(v: float) -> str:
    return str(int(round(v))) if float(v).is_integer() else f"{v:.2g}"


def _grid(ax, rows: int, cols: int, title: str):
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xticks(np.arange(cols))
    ax.set_yticks(np.arange(rows))
    ax.tick_params(length=0, labelsize=7)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)


def _cells(ax, values: np.ndarray, faces, edge=INPUT_EDGE, texts=None, colour="black"):
    """Squares at every (r, c) with face colour faces[r][c] and the value (or texts[r][c])
    written in."""
    from matplotlib.patches import Rectangle

    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            face = faces[r][c]
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=face, edgecolor=edge, lw=0.8))
            text = _number(values[r, c]) if texts is None else texts[r][c]
            if text:
                ax.text(c, r, text, ha="center", va="center", fontsize=7, color=colour)


# --------------------------------------------------------------------------- holes in the kernel


def plot_dilated_kernels(kernel: torch.Tensor, rates=(1, 2, 3), dilate_fn=None):
    """A (kh, kw) kernel dilated at each rate: the taps (blue, with their values) and the
    d - 1 holes between them (light grey). Same parameters, a field d(k - 1) + 1 wide."""
    dilate_fn = dilate_kernel if dilate_fn is None else dilate_fn
    if not isinstance(kernel, torch.Tensor) or kernel.dim() != 2:
        raise ValueError("kernel must be a 2-D (kh, kw) tensor")
    rates = [check_int(r, "rate", 1) for r in rates]
    dilated = [dilate_fn(kernel[None, None], r)[0, 0].detach().cpu().double().numpy() for r in rates]
    widths = [d.shape[1] for d in dilated]
    fig, axes = _subplots(1, len(rates), (0.45 * sum(widths) + 1.2 * len(rates), 0.45 * max(widths) + 1.2),
                          gridspec_kw={"width_ratios": widths})
    for ax, rate, values in zip(axes[0], rates, dilated):
        rows, cols = values.shape
        tap = np.zeros((rows, cols), dtype=bool)
        tap[::rate, ::rate] = True
        faces = [[TAP_FACE if tap[r, c] else "#f4f4f4" for c in range(cols)] for r in range(rows)]
        texts = [[_number(values[r, c]) if tap[r, c] else "" for c in range(cols)] for r in range(rows)]
        _cells(ax, values, faces, texts=texts, colour="white")
        _grid(ax, rows, cols, f"rate {rate}: {kernel.shape[0]}×{kernel.shape[1]} taps, "
                              f"{rows}×{cols} extent")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- phases of the input


def plot_space_to_batch(x: torch.Tensor, rate: int, s2b_fn=None):
    """An (H, W) image coloured by phase (i, j) = (row mod rate, column mod rate), and the
    rate*rate phase images ``space_to_batch`` makes of it, each titled with its batch index
    (i*rate + j)*N + n (N = 1 here). A rate-r dilated conv of the image is an ordinary conv
    of each phase image."""
    s2b_fn = space_to_batch if s2b_fn is None else s2b_fn
    rate = check_int(rate, "rate", 1)
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError("x must be a 2-D (H, W) tensor")
    if rate > 4:
        raise ValueError("plot_space_to_batch draws rates up to 4")
    h, w = x.shape
    values = x.detach().cpu().double().numpy()
    batch = s2b_fn(x[None, None], rate)[:, 0].detach().cpu().double().numpy()
    colour = lambda i, j: _PHASE_COLOURS[(i % rate) * rate + j % rate]  # noqa: E731
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    fig = plt.figure(figsize=(0.42 * w + 0.5 * w + 2.5, 0.42 * h + 1.6))
    grid = fig.add_gridspec(rate, 2 * rate, width_ratios=[w / rate] * rate + [w / rate] * rate)
    ax = fig.add_subplot(grid[:, :rate])
    _cells(ax, values, [[colour(r, c) for c in range(w)] for r in range(h)])
    _grid(ax, h, w, f"input {h}×{w}, coloured by phase (row mod {rate}, column mod {rate})")
    for i in range(rate):
        for j in range(rate):
            sub = fig.add_subplot(grid[i, rate + j])
            phase = batch[i * rate + j]
            _cells(sub, phase, [[colour(i, j)] * phase.shape[1] for _ in range(phase.shape[0])])
            _grid(sub, *phase.shape, f"batch {i * rate + j}: phase ({i}, {j})")
            sub.set_xticks([])
            sub.set_yticks([])
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the seed example


def seed_image() -> torch.Tensor:
    """The seed's input: a (1, 4, 4, 2) NHWC image whose rows are all [1, 2, 3, 4]."""
    return torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 4, 1).expand(1, 4, 4, 2).contiguous()


def plot_seed_example(atrous_fn=None):
    """TensorFlow's atrous_conv2d example: the 4×4 two-channel input and output channel 0
    of a 3×3×2×5 filter of ones at rate 1 SAME, rate 1 VALID and rate 2 SAME; rate 2 VALID
    has no output (the 5×5 dilated filter does not fit), and the panel says so."""
    atrous_fn = atrous_conv2d if atrous_fn is None else atrous_fn
    value, filters = seed_image(), torch.ones(3, 3, 2, 5)
    runs = [(1, "SAME"), (1, "VALID"), (2, "SAME"), (2, "VALID")]
    fig, axes = _subplots(1, 5, (13, 3.2))
    image = value[0, :, :, 0].numpy()
    _cells(axes[0, 0], image, [["#9ecae1"] * 4 for _ in range(4)])
    _grid(axes[0, 0], 4, 4, "input, both channels:\nrows [1, 2, 3, 4]")
    for ax, (rate, padding) in zip(axes[0, 1:], runs):
        try:
            out = atrous_fn(value, filters, rate, padding)[0, :, :, 0].detach().cpu().double().numpy()
        except ValueError as error:
            ax.set_axis_off()
            ax.set_title(f"rate {rate}, {padding}", fontsize=9)
            ax.text(0.5, 0.5, "ValueError:\n" + _wrap(str(error), 28), ha="center", va="center",
                    fontsize=8, color=HOLE_COLOUR, transform=ax.transAxes)
            continue
        rows, cols = out.shape
        _cells(ax, out, [["#b9eee4"] * cols for _ in range(rows)], edge=OUTPUT_EDGE)
        _grid(ax, rows, cols, f"rate {rate}, {padding}: {rows}×{cols}")
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


# --------------------------------------------------------------------------- receptive fields of models


def layers_of(module: nn.Module) -> list[tuple[int, int, int]]:
    """(kernel_size, stride, dilation) of every Conv2d and pooling layer of ``module``, in
    the order they were registered (the order of a plain feed-forward path), read along
    the height. Other layers (ReLU, BatchNorm, ...) do not change the receptive field."""
    layers = []
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            layers.append((layer.kernel_size[0], layer.stride[0], layer.dilation[0]))
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            k, s = layer.kernel_size, layer.stride
            d = getattr(layer, "dilation", 1)
            first = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
            layers.append((first(k), first(s), first(d)))
    return layers


def unet_stage_layers(model) -> dict[str, list[tuple[int, int, int]]]:
    """The layers from the input to the output of each encoder stage of a
    ``convlab.models.UNet`` (enc1 ... enc5, pooling between the first four)."""
    stages, path = {}, []
    for name in ("enc1", "enc2", "enc3", "enc4", "enc5"):
        path = path + layers_of(getattr(model, name))
        stages[name] = list(path)
        if name in ("enc1", "enc2", "enc3"):
            path = path + layers_of(model.pool)
    return stages


def plot_unet_receptive_fields(models: dict, field_fn=None, image_size: int | None = None):
    """Receptive field at the output of each encoder stage, one line per model
    (``{"label": UNet, ...}``), from ``receptive_field`` of the stage's layers; a dashed
    line marks ``image_size`` when given."""
    field_fn = receptive_field if field_fn is None else field_fn
    fig, axes = _subplots(1, 1, (6.4, 4.0))
    ax = axes[0, 0]
    markers = ["o-", "s-", "^-", "d-"]
    per_stage: dict[int, list[int]] = {}
    for (label, model), marker in zip(models.items(), markers):
        stages = unet_stage_layers(model)
        sizes = [field_fn(layers) for layers in stages.values()]
        ax.plot(range(1, len(sizes) + 1), sizes, marker, label=label)
        for x, size in enumerate(sizes, 1):
            per_stage.setdefault(x, []).append(size)
    # One label per distinct value of a stage (equal fields would print on top of each
    # other): the largest above-left of its point, the others below-right, clear of the
    # lines that rise to the right.
    for x, sizes in per_stage.items():
        for rank, size in enumerate(sorted(set(sizes), reverse=True)):
            above = rank == 0
            ax.annotate(str(size), (x, size), xytext=(-5, 5) if above else (5, -5),
                        textcoords="offset points", fontsize=8, ha="right" if above else "left",
                        va="bottom" if above else "top")
    if image_size is not None:
        ax.axhline(image_size, color="grey", ls="--", lw=1)
        ax.annotate(f"image {image_size} px", (1, image_size), xytext=(0, 3),
                    textcoords="offset points", va="bottom", fontsize=8, color="grey")
    # Room for the labels beside the first and last points, and above the highest.
    ax.set_xlim(0.5, len(per_stage) + 0.5)
    ax.set_ylim(top=max(max(v) for v in per_stage.values()) * 1.12)
    ax.set_xticks(range(1, 6))
    ax.set_xticklabels([f"enc{i}" for i in range(1, 6)])
    ax.set_xlabel("encoder stage (output of its two convs)")
    ax.set_ylabel("receptive field (pixels per side)")
    ax.set_title("U-Net encoder: receptive field per stage")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.9))
    fig.tight_layout()
    return fig
