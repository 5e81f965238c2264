"""Figures for 02_transposed: the matrix view, the scatter view, output_padding, and
checkerboard artifacts (Odena, Dumoulin & Olah, 2016, "Deconvolution and Checkerboard
Artifacts", Distill) with resize-then-convolve as the fix.

Every number drawn comes from the library (``convlab.conv_matrix``,
``convlab.conv_transpose2d``, ``convlab.overlap_counts``, ...); a notebook may pass its
own implementation through the ``*_fn`` arguments to see its result drawn. The zero
insertion view is ``convlab.figures.draw_transposed_step`` / ``animate_transposed``.
Each ``plot_*`` returns its matplotlib Figure.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ops import conv2d, conv_transpose2d
from ..shapes import check_int, conv_output_size, conv_transpose_output_size
from ..transposed import conv_matrix, overlap_counts
from .arithmetic import EMPTY_EDGE, INPUT_EDGE, INPUT_FACE, OUTPUT_EDGE, OUTPUT_FACE, TAP_FACE

__all__ = [
    "plot_conv_matrix",
    "input_gradient_matrix",
    "plot_gradient_is_transpose",
    "plot_scatter",
    "plot_output_padding",
    "plot_overlap_counts",
    "checkerboard",
    "plot_checkerboard",
    "upsample_transposed",
    "upsample_resize_conv",
    "plot_upsampling_comparison",
]


def _subplots(nrows, ncols, figsize, **kw):
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)
    return fig, axes


def _number(v: float) -> str:
    return str(int(round(v))) if float(v).is_integer() else f"{v:.2g}"


def _heatmap(ax, values: torch.Tensor, title: str, annotate: bool = True, cmap="Blues",
             vmin=None, vmax=None):
    """An image of a 2-D tensor with one grid cell per entry (numbers written in)."""
    data = values.detach().to("cpu", torch.float64).numpy()
    ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    rows, cols = data.shape
    ax.set_xticks(np.arange(cols))
    ax.set_yticks(np.arange(rows))
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6)
    ax.tick_params(which="both", length=0, labelsize=7)
    ax.set_title(title, fontsize=9)
    if annotate:
        span = max(abs(v) for v in (vmin, vmax) if v is not None) if vmax is not None else (
            np.nanmax(np.abs(data)) or 1.0)
        for (r, c), v in np.ndenumerate(data):
            if v != 0:
                ax.text(c, r, _number(v), ha="center", va="center", fontsize=7,
                        color="white" if abs(v) > 0.6 * span else "black")


# --------------------------------------------------------------------------- the matrix view


def plot_conv_matrix(kernel: torch.Tensor, input_shape, conv_matrix_fn=None):
    """C (one row per output pixel, one column per input pixel) and its transpose C^T.

    Conv is y = C x; the transposed conv is C^T y: the same numbers, read by column."""
    conv_matrix_fn = conv_matrix if conv_matrix_fn is None else conv_matrix_fn
    matrix = conv_matrix_fn(kernel, input_shape)
    rows, cols = matrix.shape
    fig, axes = _subplots(1, 2, (1.5 + 0.34 * (cols + rows), 0.34 * cols + 1.4),
                          gridspec_kw={"width_ratios": [cols, rows]})
    h, w = input_shape
    ho, wo = h - kernel.shape[0] + 1, w - kernel.shape[1] + 1
    _heatmap(axes[0, 0], matrix, f"C: {rows} x {cols}\nconv: y = C x  ({h}x{w} -> {ho}x{wo})")
    _heatmap(axes[0, 1], matrix.T, f"C^T: {cols} x {rows}\ntransposed: x' = C^T y")
    axes[0, 0].set_xlabel("input pixel (row-major)", fontsize=8)
    axes[0, 0].set_ylabel("output pixel", fontsize=8)
    axes[0, 1].set_xlabel("output pixel of the conv", fontsize=8)
    fig.tight_layout()
    return fig


def input_gradient_matrix(kernel: torch.Tensor, input_shape, conv2d_backward_fn=None) -> torch.Tensor:
    """The (H*W, Ho*Wo) matrix of the map dL/dy -> dL/dx of a 1-channel, stride-1 conv.

    Column j is the input gradient when dL/dy is the j-th output basis image (1 at output
    pixel j, 0 elsewhere): by default the transposed convolution of that image with the
    kernel; ``conv2d_backward_fn`` (a notebook's ``conv2d_backward``) computes it instead.
    """
    h, w = input_shape
    h, w = check_int(h, "input_shape", 1), check_int(w, "input_shape", 1)
    kh, kw = kernel.shape
    ho, wo = conv_output_size(h, kh), conv_output_size(w, kw)
    basis = torch.eye(ho * wo, dtype=kernel.dtype, device=kernel.device).reshape(ho * wo, 1, ho, wo)
    weight = kernel[None, None]
    if conv2d_backward_fn is None:
        grads = conv_transpose2d(basis, weight)
    else:
        grads = conv2d_backward_fn(kernel.new_zeros((ho * wo, 1, h, w)), weight, basis)[0]
    return grads.reshape(ho * wo, h * w).T


def plot_gradient_is_transpose(kernel: torch.Tensor, input_shape, conv_matrix_fn=None,
                               conv2d_backward_fn=None):
    """C, the matrix of the conv, beside the matrix of its input-gradient map: the same
    numbers, transposed. Backpropagating through y = C x multiplies dL/dy by C^T, and C^T is
    a transposed convolution."""
    conv_matrix_fn = conv_matrix if conv_matrix_fn is None else conv_matrix_fn
    matrix = conv_matrix_fn(kernel, input_shape)
    gradient = input_gradient_matrix(kernel, input_shape, conv2d_backward_fn)
    rows, cols = matrix.shape
    fig, axes = _subplots(1, 2, (1.5 + 0.34 * (cols + rows), 0.34 * cols + 1.4),
                          gridspec_kw={"width_ratios": [cols, rows]})
    _heatmap(axes[0, 0], matrix, f"C: {rows} x {cols}\nforward: y = C x")
    same = "= C^T" if torch.equal(gradient, matrix.T) else "!= C^T"
    _heatmap(axes[0, 1], gradient, f"input gradient: {cols} x {rows}\ndL/dx = G dL/dy, G {same}")
    axes[0, 0].set_xlabel("input pixel (row-major)", fontsize=8)
    axes[0, 0].set_ylabel("output pixel", fontsize=8)
    axes[0, 1].set_xlabel("output pixel (basis image of dL/dy)", fontsize=8)
    axes[0, 1].set_ylabel("input pixel", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the scatter view


def plot_scatter(x: torch.Tensor, kernel: torch.Tensor, stride: int = 2, padding: int = 0,
                 output_padding: int = 0):
    """Transposed conv of a small (H, W) input by a (kh, kw) kernel, one panel per input
    pixel: pixel (i, j) adds x[i, j] * kernel at rows i*s.., columns j*s... The last
    panel is their sum; a dashed box marks what padding / output_padding keep."""
    if x.dim() != 2 or kernel.dim() != 2 or x.numel() > 9:
        raise ValueError("plot_scatter draws a 2-D input of at most 9 pixels and a 2-D kernel")
    stride = check_int(stride, "stride", 1)
    h, w = x.shape
    kh, kw = kernel.shape
    full_h, full_w = (h - 1) * stride + kh + output_padding, (w - 1) * stride + kw + output_padding
    stamps = []
    for i in range(h):
        for j in range(w):
            canvas = x.new_zeros(full_h, full_w)
            canvas[i * stride:i * stride + kh, j * stride:j * stride + kw] = x[i, j] * kernel
            stamps.append(((i, j), canvas))
    total = sum(canvas for _, canvas in stamps)
    # The library's transposed conv, uncropped, is the sum of the stamps.
    check = conv_transpose2d(x[None, None], kernel[None, None], stride=stride,
                             output_padding=output_padding)[0, 0]
    torch.testing.assert_close(total, check)
    span = float(total.abs().max()) or 1.0
    fig, axes = _subplots(1, len(stamps) + 1, (2.2 * (len(stamps) + 1), 2.6))
    for ax, ((i, j), canvas) in zip(axes[0], stamps):
        _heatmap(ax, canvas, f"x[{i},{j}] = {_number(float(x[i, j]))}\nadds x[{i},{j}]·kernel "
                 f"at ({i * stride}, {j * stride})", cmap="RdBu_r", vmin=-span, vmax=span)
    ax = axes[0, -1]
    _heatmap(ax, total, f"sum (stride {stride})", cmap="RdBu_r", vmin=-span, vmax=span)
    if padding or output_padding:
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((padding - 0.5, padding - 0.5), full_w - 2 * padding,
                               full_h - 2 * padding, fill=False, lw=2, ls="--", ec="black"))
        ax.set_title(f"sum; dashed: output\n(padding {padding}, output_padding {output_padding})",
                     fontsize=9)
    for a in axes[0]:
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- output_padding


def plot_output_padding(k: int = 3, stride: int = 2, padding: int = 1, sizes=(7, 8)):
    """Two input lengths, one conv output length: the windows of a 1-D conv over each.

    Both rows give the same output length, so the transposed conv cannot know which to
    return: output_padding picks the larger one."""
    outs = [conv_output_size(n, k, stride, padding) for n in sizes]
    if len(set(outs)) != 1:
        raise ValueError(f"the sizes {sizes} give different output lengths {outs}")
    fig, axes = _subplots(len(sizes), 1, (0.55 * (max(sizes) + 2 * padding) + 1.5,
                                          1.6 * len(sizes)))
    from matplotlib.patches import Rectangle

    for ax, n in zip(axes[:, 0], sizes):
        for c in range(-padding, n + padding):
            real = 0 <= c < n
            ax.add_patch(Rectangle((c, 0), 1, 1, facecolor=INPUT_FACE if real else "white",
                                   edgecolor=INPUT_EDGE if real else EMPTY_EDGE,
                                   ls="-" if real else "--"))
            ax.text(c + 0.5, 0.5, str(c) if real else "0", ha="center", va="center", fontsize=8,
                    color="black" if real else EMPTY_EDGE)
        for o in range(outs[0]):
            start = o * stride - padding
            y = 1.15 + 0.28 * (o % 2)
            ax.plot([start + 0.1, start + k - 0.1], [y, y], color=TAP_FACE, lw=3,
                    solid_capstyle="butt")
            ax.text(start + k / 2, y + 0.05, f"out {o}", ha="center", va="bottom", fontsize=7,
                    color=TAP_FACE)
        back = conv_transpose_output_size(outs[0], k, stride, padding)
        ax.set_title(f"n = {n}: conv(k={k}, s={stride}, p={padding}) gives {outs[0]} outputs; "
                     f"the transposed conv gives back {n} with output_padding={n - back}",
                     fontsize=9, loc="left")
        ax.set_xlim(-padding - 0.2, max(sizes) + padding + 0.2)
        ax.set_ylim(-0.1, 1.9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- checkerboard


def plot_overlap_counts(configs=((3, 2), (4, 2), (5, 2), (3, 1)), n: int = 8, counts_fn=None):
    """Bars of overlap_counts(k, s, n) for each (k, s): flat where s divides k."""
    counts_fn = overlap_counts if counts_fn is None else counts_fn
    fig, axes = _subplots(1, len(configs), (3.2 * len(configs), 2.6), sharey=True)
    for ax, (k, s) in zip(axes[0], configs):
        counts = counts_fn(k, s, n)
        even = k % s == 0
        ax.bar(np.arange(len(counts)), counts.numpy(), color=OUTPUT_FACE if even else TAP_FACE,
               edgecolor=OUTPUT_EDGE)
        ax.set_title(f"k={k}, s={s}: " + ("even" if even else "uneven"), fontsize=9)
        ax.set_xlabel("output position", fontsize=8)
    axes[0, 0].set_ylabel("kernel taps landing there", fontsize=8)
    fig.suptitle(f"1-D transposed conv of {n} inputs: how many taps reach each output", fontsize=10)
    fig.tight_layout()
    return fig


def checkerboard(k: int, stride: int, n: int = 6) -> torch.Tensor:
    """Transposed conv of an all-ones n x n image with an all-ones k x k kernel: the 2-D
    overlap pattern, outer(overlap_counts, overlap_counts)."""
    ones = torch.ones(1, 1, n, n, dtype=torch.float64)
    return conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64), stride=stride)[0, 0]


def plot_checkerboard(configs=((3, 2), (4, 2)), n: int = 6):
    """``checkerboard(k, s, n)`` side by side, counts written in."""
    fig, axes = _subplots(1, len(configs), (4.2 * len(configs), 4.2))
    for ax, (k, s) in zip(axes[0], configs):
        image = checkerboard(k, s, n)
        _heatmap(ax, image, f"ones({n}x{n}) transposed-conv ones({k}x{k}), stride {s}",
                 vmin=0, vmax=float(image.max()))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _transposed_padding(k: int, stride: int) -> tuple[int, int]:
    """(padding, output_padding) that make a transposed conv output exactly n*s long."""
    excess = k - stride  # the full output is (n-1)s + k = ns + (k - s)
    padding = max(-(-excess // 2), 0)
    return padding, 2 * padding - excess


def upsample_transposed(x: torch.Tensor, weight: torch.Tensor, stride: int = 2) -> torch.Tensor:
    """Upsample (N, C, H, W) by ``stride`` with a transposed conv (weight (C, C_out, k, k)),
    padded so the output is exactly (H*s, W*s)."""
    padding, output_padding = _transposed_padding(weight.shape[-1], stride)
    return conv_transpose2d(x, weight, stride=stride, padding=padding,
                            output_padding=output_padding)


def upsample_resize_conv(x: torch.Tensor, weight: torch.Tensor, scale: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by ``scale``, then a stride-1 'same' conv (weight
    (C_out, C, k, k)): every output pixel sees the same number of taps."""
    big = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    return conv2d(big, weight, padding="same")


def _smooth_image(n: int) -> torch.Tensor:
    t = torch.linspace(-1, 1, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return (torch.exp(-3 * (xx**2 + yy**2)) + 0.3 * xx)[None, None]


def plot_upsampling_comparison(n: int = 12, seed: int = 0, border: int = 2):
    """Rows: a constant image with a box kernel, a constant image with a random positive
    kernel, a smooth image with a box kernel. Columns: transposed conv k=3 s=2, transposed
    conv k=4 s=2, nearest x2 then a 3x3 conv. ``border`` pixels are cut from each side
    (zero padding darkens every method's border alike)."""
    g = torch.Generator().manual_seed(seed)
    random3 = torch.rand(3, 3, generator=g, dtype=torch.float64) + 0.5
    random4 = torch.rand(4, 4, generator=g, dtype=torch.float64) + 0.5
    box = {3: torch.ones(3, 3, dtype=torch.float64), 4: torch.ones(4, 4, dtype=torch.float64)}
    constant = torch.ones(1, 1, n, n, dtype=torch.float64)
    rows = [
        ("constant image, box kernel", constant, box[3], box[4]),
        ("constant image, random kernel", constant, random3, random4),
        ("smooth image, box kernel", _smooth_image(n), box[3], box[4]),
    ]
    columns = [
        # The kernel's mean gain is taps-per-output / k^2; normalise so all are comparable.
        ("transposed conv k=3, s=2", lambda img, k3, k4: upsample_transposed(
            img, (k3 * 4 / k3.sum())[None, None], 2)),
        ("transposed conv k=4, s=2", lambda img, k3, k4: upsample_transposed(
            img, (k4 * 4 / k4.sum())[None, None], 2)),
        ("nearest x2, then 3x3 conv", lambda img, k3, k4: upsample_resize_conv(
            img, (k3 / k3.sum())[None, None], 2)),
    ]
    fig, axes = _subplots(len(rows), len(columns), (3.3 * len(columns), 3.2 * len(rows)))
    for r, (label, image, k3, k4) in enumerate(rows):
        outputs = [fn(image, k3, k4)[0, 0, border:-border, border:-border] for _, fn in columns]
        lo = min(float(o.min()) for o in outputs)
        hi = max(float(o.max()) for o in outputs)
        for c, ((title, _), out) in enumerate(zip(columns, outputs)):
            ax = axes[r, c]
            ax.imshow(out.numpy(), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            # On a constant image any spread in the interior is an artifact.
            spread = f"\nmax - min = {float(out.max() - out.min()):.2f}" if r < 2 else ""
            ax.set_title(title + spread, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(f"Upsampling a {n}x{n} image x2 (interior shown, {border}-pixel border cut)",
                 fontsize=10)
    fig.tight_layout()
    return fig
