"""Figures for 05_hdc: the M recursion against K, the rule next to the brute-force hole
test, and the outputs of the gridding-vs-HDC experiment.

Every number comes from the library (``convlab.hdc_max_distances``,
``convlab.satisfies_hdc``, ``convlab.dependency_map``, ``convlab.experiments``); a
notebook may pass its own implementation through the ``*_fn`` arguments. Each ``plot_*``
returns its matplotlib Figure.
"""
from __future__ import annotations

import numpy as np

from ..hdc import hdc_max_distances, satisfies_hdc
from ..receptive import dependency_map

__all__ = ["plot_max_distances", "plot_rule_vs_holes", "plot_segmentation_outputs", "plot_losses"]

HOLE = "#d62728"
CLASS_COLOURS = ("#f2f2f2", "#7fa7d9", "#e6550d")  # background, box, dot


def _subplots(nrows, ncols, figsize, **kw):
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)
    return fig, axes


def plot_max_distances(schedules, kernel_size: int = 3, distances_fn=None):
    """One panel per schedule: M_1 ... M_n as bars, M_2 highlighted, the goal M_2 <= K as a line."""
    distances_fn = distances_fn or hdc_max_distances
    schedules = [list(s) for s in schedules]
    fig, axes = _subplots(1, len(schedules), (3.2 * len(schedules), 2.9), sharey=True)
    top = max(max(distances_fn(s)) for s in schedules)
    for ax, rates in zip(axes[0], schedules):
        m = distances_fn(rates)
        ok = len(rates) >= 2 and m[1] <= kernel_size
        colours = ["#9ecae1"] * len(m)
        if len(m) >= 2:
            colours[1] = "#31a354" if ok else HOLE
        ax.bar(range(1, len(m) + 1), m, color=colours)
        for i, v in enumerate(m, start=1):
            ax.text(i, v + 0.1, str(v), ha="center", va="bottom", fontsize=9)
        ax.axhline(kernel_size, color="black", ls="--", lw=1)
        ax.text(len(m) + 0.45, kernel_size, f"K={kernel_size}", va="bottom", ha="right", fontsize=8)
        ax.set_xticks(range(1, len(m) + 1), [f"M{i}\nr={r}" for i, r in enumerate(rates, start=1)],
                      fontsize=8)
        ax.set_ylim(0, top * 1.2 + 1)
        ax.set_title(f"{rates}: M_2 {'<=' if ok else '>'} K", fontsize=10,
                     color="#31a354" if ok else HOLE)
    axes[0][0].set_ylabel("max distance M_i")
    fig.tight_layout()
    return fig


def plot_rule_vs_holes(schedules, kernel_size: int = 3, rule_fn=None):
    """The dependency map of each schedule (holes in red), titled with the rule's verdict
    (M_2 <= K) and the brute-force one (any hole inside the receptive field)."""
    rule_fn = rule_fn or satisfies_hdc
    schedules = [list(s) for s in schedules]
    fig, axes = _subplots(1, len(schedules), (3.3 * len(schedules), 3.6))
    for ax, rates in zip(axes[0], schedules):
        counts = dependency_map(rates, kernel_size).numpy()
        reached = counts > 0
        import matplotlib

        # log scale: path counts span orders of magnitude; 0.25 keeps a count of 1 visible.
        shade = 0.25 + 0.75 * np.log1p(counts) / np.log1p(counts.max())
        image = matplotlib.colormaps["Blues"](shade)[..., :3]
        image[~reached] = (0.84, 0.15, 0.16)
        ax.imshow(image, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        rule = rule_fn(rates, kernel_size)
        holes = int((~reached).sum())
        ax.set_title(f"{rates}, K={kernel_size}\nrule M_2<=K: {'pass' if rule else 'fail'}; "
                     f"{'%d holes' % holes if holes else 'no holes'}", fontsize=9)
    fig.tight_layout()
    return fig


def _class_image(labels):
    colours = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)] for c in CLASS_COLOURS])
    return colours[labels.numpy()]


def plot_segmentation_outputs(results, count: int = 3, crop: int | None = None):
    """Rows: held-out images; columns: input, target, then each schedule's prediction
    (title: its rates, per-pixel and dot-class accuracy). ``results`` is what
    ``convlab.experiments.compare_schedules`` returns. ``crop`` shows the top-left
    crop x crop pixels only, to make the dot pattern visible."""
    names = list(results)
    first = results[names[0]]
    images, labels = first.test_images, first.test_labels
    count = min(count, len(images))
    fig, axes = _subplots(count, 2 + len(names), (2.3 * (2 + len(names)), 2.3 * count))
    window = (slice(None), slice(None)) if crop is None else (slice(0, crop), slice(0, crop))
    for row in range(count):
        panels = [("input", images[row, 0][window].numpy(), "gray"),
                  ("target", _class_image(labels[row][window]), None)]
        for name in names:
            result = results[name]
            panels.append((f"{name}\npixel acc {result.accuracy:.1%}, dots {result.class_accuracy[2]:.0%}",
                           _class_image(result.prediction[row][window]), None))
        for ax, (title, image, cmap) in zip(axes[row], panels):
            ax.imshow(image, cmap=cmap, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_losses(results):
    """Training loss per step of each schedule (a running mean over 10 steps)."""
    fig, axes = _subplots(1, 1, (5.5, 3.2))
    ax = axes[0][0]
    for name, result in results.items():
        losses = np.asarray(result.losses)
        smooth = np.convolve(losses, np.ones(10) / 10, mode="valid") if len(losses) >= 10 else losses
        ax.plot(smooth, label=f"{name} ({result.parameters} parameters)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
