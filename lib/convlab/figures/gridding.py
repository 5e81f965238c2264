"""Figures for 04_gridding: dependency maps, shared inputs, the phase view, and effective
receptive fields.

Each plot takes the student's function where the notebook has one (``dependency_map_fn``,
``shared_fn``, ``erf_fn``; the reference when None) and returns its axes; the numbers it
draws come from small public helpers (``sample_photo``, ``phase_split``, ``phase_merge``,
``dilated_conv_by_phases``, ``average_erf``) so the tests can check the numbers, not
the pixels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..models import DilatedStack
from ..receptive import dependency_map, effective_receptive_field, shared_inputs
from ..shapes import check_int, check_rates
from .arithmetic import CENTRE_COLOUR, HOLE_COLOUR

__all__ = [
    "average_erf",
    "dilated_conv_by_phases",
    "phase_merge",
    "phase_split",
    "plot_dependency_maps",
    "plot_erfs",
    "plot_phase_perturbation",
    "plot_phases",
    "plot_shared_fields",
    "plot_shared_vs_offset",
    "sample_photo",
]

# Colours of the two outputs' fields and of their overlap.
LEFT_COLOUR, RIGHT_COLOUR, BOTH_COLOUR = "#6baed6", "#fd8d3c", "#54278f"


def _subplots(nrows, ncols, figsize, **kw):
    import matplotlib.pyplot as plt  # only here: importing the module must not pick a backend

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **kw)
    return fig, axes


def _draw_counts(ax, counts: np.ndarray, title: str, annotate: bool):
    import matplotlib

    top = max(int(counts.max()), 1)
    colours = matplotlib.colormaps["Blues"].with_extremes(bad=HOLE_COLOUR)
    ax.imshow(np.ma.masked_equal(counts, 0), cmap=colours, vmin=-0.2 * top, vmax=top,
              interpolation="nearest")
    size = counts.shape[0]
    if size <= 40:  # cell borders help count; beyond that they turn the image grey
        ax.set_xticks(np.arange(-0.5, size), minor=True)
        ax.set_yticks(np.arange(-0.5, size), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    centre = size // 2
    if annotate:
        # The centre cell outlined, not crossed: a marker on it would cover its count.
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((centre - 0.5, centre - 0.5), 1, 1, fill=False, ec=CENTRE_COLOUR,
                               lw=2, zorder=3))
    else:
        ax.plot(centre, centre, marker="+", color=CENTRE_COLOUR, markersize=8, mew=1.5)
    if annotate:
        for (r, c), v in np.ndenumerate(counts):
            if v:
                ax.text(c, r, str(v), ha="center", va="center", fontsize=6,
                        color="white" if v > 0.6 * top else "black")
    ax.set_title(title, fontsize=9)


def plot_dependency_maps(schedules, kernel_size=3, dependency_map_fn=None, annotate=None):
    """One heat map per schedule of ``dependency_map_fn(rates, kernel_size)``: the number of
    paths from each input pixel to the centre output (outlined in yellow, or a yellow +
    where the counts are not printed); holes (no path) in red. The
    titles give R, the coverage and the number of holes. Returns the axes."""
    fn = dependency_map_fn or dependency_map
    schedules = [check_rates(r) for r in schedules]
    fig, axes = _subplots(1, len(schedules), (4.2 * len(schedules), 4.4))
    for ax, rates in zip(axes[0], schedules):
        counts = fn(rates, kernel_size).cpu().numpy()
        holes = int((counts == 0).sum())
        show = annotate if annotate is not None else counts.shape[0] <= 15
        _draw_counts(ax, counts, f"rates {rates}, k={kernel_size}: R = {counts.shape[0]}\n"
                     f"coverage {1 - holes / counts.size:.1%}, "
                     + (f"{holes} holes (red)" if holes else "no holes"), show)
    fig.tight_layout()
    return axes[0]


def plot_shared_fields(rates, offset=1, kernel_size=3, ax=None):
    """The fields of two outputs ``offset`` apart in one row, on one canvas: pixels only the
    left output reads, only the right one, and both (dark). Returns the axes."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    rates = check_rates(rates)
    offset = abs(check_int(offset, "offset", -(10**6)))
    reached = (dependency_map(rates, kernel_size) > 0).numpy()
    size = reached.shape[0]
    left = np.pad(reached, ((0, 0), (0, offset)))
    right = np.pad(reached, ((0, 0), (offset, 0)))
    kind = left * 1 + right * 2  # 0 none, 1 left, 2 right, 3 both
    if ax is None:
        ax = _subplots(1, 1, (0.28 * (size + offset) + 1.5, 0.28 * size + 1.2))[1][0, 0]
    cmap = ListedColormap(["white", LEFT_COLOUR, RIGHT_COLOUR, BOTH_COLOUR])
    ax.imshow(kind, cmap=cmap, vmin=-0.5, vmax=3.5, interpolation="nearest")
    ax.set_xticks(np.arange(-0.5, size + offset), minor=True)
    ax.set_yticks(np.arange(-0.5, size), minor=True)
    ax.grid(which="minor", color="#dddddd", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    both = int((kind == 3).sum())
    ax.set_title(f"rates {rates}: outputs {offset} apart share {both} of {int(reached.sum())} inputs",
                 fontsize=9)
    ax.legend(handles=[Patch(color=LEFT_COLOUR, label="left output only"),
                       Patch(color=RIGHT_COLOUR, label="right output only"),
                       Patch(color=BOTH_COLOUR, label="both")],
              loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, fontsize=8, frameon=False)
    return ax


def plot_shared_vs_offset(schedules, max_offset=8, kernel_size=3, shared_fn=None, ax=None):
    """Inputs shared by two outputs ``offset`` apart, as a fraction of what one output
    reads, for offsets 0..max_offset: with a common factor g the curve drops to 0 at every
    offset that is not a multiple of g. Returns the axes."""
    fn = shared_fn or shared_inputs
    offsets = np.arange(0, max_offset + 1)
    own = ax is None
    if own:
        ax = _subplots(1, 1, (7.2, 3.6))[1][0, 0]
    # Schedules can give the same curve (any two hole-free fields of one size do): each
    # gets its own marker and dash, and is shifted a little sideways, so none hides
    # another; the markers shrink from the first to the last, drawn on top.
    styles = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."), ("v", (0, (5, 1, 1, 1)))]
    count = len(schedules)
    for i, rates in enumerate(schedules):
        total = fn(rates, kernel_size, 0)
        marker, dash = styles[i % len(styles)]
        shift = 0.09 * (i - (count - 1) / 2)
        ax.plot(offsets + shift, [fn(rates, kernel_size, int(o)) / total for o in offsets],
                marker=marker, linestyle=dash, markersize=max(7 - 1.0 * i, 3.5), lw=1.4,
                label=f"{list(rates)}")
    ax.set_xlabel("offset between the two outputs (pixels, same row; schedules shifted a "
                  "little apart)", fontsize=9)
    ax.set_ylabel("shared inputs / inputs of one output")
    ax.set_xticks(offsets)
    ax.grid(alpha=0.3)
    ax.legend(title="rates", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("How much two outputs see in common", fontsize=10)
    if own:
        ax.figure.tight_layout()
    return ax


# --- the phase view ---------------------------------------------------------------------------

def sample_photo(size: int = 128) -> torch.Tensor:
    """Grace Hopper's portrait, shipped with matplotlib (no download): (size, size)
    float32 grey levels in [0, 1], the face cropped to a square and area-downsampled."""
    import matplotlib.pyplot as plt
    from matplotlib import cbook

    size = check_int(size, "size", 8)
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        rgb = plt.imread(file, format="jpg")
    grey = torch.from_numpy(np.asarray(rgb, dtype=np.float32)[..., :3].mean(-1) / 255.0)
    h, w = grey.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = grey[top:top + side, left:left + side]
    return F.interpolate(square[None, None], size=(size, size), mode="area")[0, 0]


def phase_split(x: torch.Tensor, rate: int) -> torch.Tensor:
    """(..., H, W) with H, W divisible by ``rate`` -> (rate, rate, ..., H/rate, W/rate):
    entry [i, j] is the sub-grid of pixels (i + rate*a, j + rate*b)."""
    rate = check_int(rate, "rate", 1)
    h, w = x.shape[-2:]
    if h % rate or w % rate:
        raise ValueError(f"H and W ({h}, {w}) must be divisible by the rate {rate}")
    return torch.stack([torch.stack([x[..., i::rate, j::rate] for j in range(rate)]) for i in range(rate)])


def phase_merge(phases: torch.Tensor) -> torch.Tensor:
    """The inverse of ``phase_split``: interleave (rate, rate, ..., h, w) sub-grids back."""
    rate = phases.shape[0]
    *lead, h, w = phases.shape[2:]
    out = phases.new_zeros(*lead, h * rate, w * rate)
    for i in range(rate):
        for j in range(rate):
            out[..., i::rate, j::rate] = phases[i, j]
    return out


def dilated_conv_by_phases(x: torch.Tensor, weight: torch.Tensor, rate: int) -> torch.Tensor:
    """A stride-1, rate-``rate`` convolution with "same" zero padding, computed as rate^2
    independent *undilated* convolutions, one per phase sub-grid, then interleaved (Wang &
    Ji, 2018). ``x`` (N, C, H, W) with H, W divisible by the rate; odd square kernel."""
    k = weight.shape[-1]
    phases = phase_split(x, rate)
    out = torch.stack([torch.stack([F.conv2d(phases[i, j], weight, padding=k // 2)
                                    for j in range(rate)]) for i in range(rate)])
    return phase_merge(out)


def _edge_kernel(dtype=torch.float32) -> torch.Tensor:
    # A Laplacian: it responds to structure, so each phase's output shows the image.
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=dtype)[None, None]


def plot_phases(image: torch.Tensor, rate: int = 2):
    """The phase view on a photograph: the image, its rate^2 phase sub-grids, the
    rate-``rate`` dilated conv (a Laplacian) computed directly, and the same computed as
    rate^2 small convs on the sub-grids and interleaved. Returns the axes."""
    x = image[None, None].float()
    weight = _edge_kernel()
    k = weight.shape[-1]
    direct = F.conv2d(x, weight, padding=rate * (k // 2), dilation=rate)[0, 0]
    by_phases = dilated_conv_by_phases(x, weight, rate)[0, 0]
    phases = phase_split(image, rate)
    fig, axes = _subplots(2, rate * rate, (2.3 * rate * rate, 4.9))
    for index in range(rate * rate):
        i, j = divmod(index, rate)
        ax = axes[0, index]
        ax.imshow(phases[i, j].numpy(), cmap="gray")
        ax.set_title(f"phase ({i}, {j}): pixels ({i}+{rate}a, {j}+{rate}b)", fontsize=8)
    axes[1, 0].imshow(image.numpy(), cmap="gray")
    axes[1, 0].set_title(f"the photo, {tuple(image.shape)}", fontsize=8)
    limit = float(direct.abs().quantile(0.99))
    axes[1, 1].imshow(direct.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[1, 1].set_title(f"dilated conv, rate {rate}", fontsize=8)
    if rate * rate > 2:
        axes[1, 2].imshow(by_phases.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
        diff = float((direct - by_phases).abs().max())
        axes[1, 2].set_title(f"{rate * rate} small convs, interleaved\n(max difference {diff:.1e})",
                             fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[1, 3:]:
        ax.axis("off")
    fig.tight_layout()
    return axes


def plot_phase_perturbation(image: torch.Tensor, rates=(2, 2, 2), phase=(0, 0), seed: int = 0):
    """Perturb only the input pixels of one phase (add noise to every pixel (i + g a,
    j + g b)) and show which outputs of a random stack of "same"-padded dilated convs
    change. With g = gcd(rates) > 1 only the outputs of that same phase move: the g^2
    phases never talk to each other. Returns the axes."""
    import math

    rates = check_rates(rates)
    g = math.gcd(*rates)
    torch.manual_seed(seed)
    stack = DilatedStack(rates, channels=4).eval()
    x = image[None, None].float()
    noise = torch.zeros_like(x)
    i, j = phase
    step = max(g, 2)  # with g = 1 still perturb a 1/4 lattice, to show that it spreads
    noise[..., i::step, j::step] = 0.5 * torch.randn_like(noise[..., i::step, j::step])
    with torch.no_grad():
        change = (stack(x + noise) - stack(x))[0, 0].abs()
    fig, axes = _subplots(1, 3, (11.0, 3.9))
    axes[0, 0].imshow((x + noise)[0, 0].numpy(), cmap="gray")
    axes[0, 0].set_title(f"input, phase ({i}, {j}) of a {step}x{step} lattice perturbed", fontsize=9)
    # Changed is black, unchanged white, with fixed limits: an all-True image must not be
    # autoscaled onto the bottom of the colour map (white, as if nothing changed).
    changed = (change > 1e-6).float().numpy()
    axes[0, 1].imshow(changed, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    axes[0, 1].set_title(f"outputs that change (black), rates {rates}", fontsize=9)
    axes[0, 2].imshow(changed[:12, :12], cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    axes[0, 2].set_title(f"top-left 12 x 12 of the middle panel\n"
                         f"{float((change > 1e-6).float().mean()):.0%} of the outputs changed", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return axes[0]


# --- effective receptive fields ---------------------------------------------------------------

def average_erf(rates, size: int = 33, seeds=range(4), channels: int = 8, erf_fn=None) -> torch.Tensor:
    """The effective receptive field (Luo et al., 2016) of a randomly initialised
    ``DilatedStack(rates)`` ("same" padding, ReLU between layers, PyTorch's default
    initialisation), averaged over one model per seed: (size, size), sums to 1."""
    fn = erf_fn or effective_receptive_field
    total = torch.zeros(size, size, dtype=torch.float64)
    seeds = list(seeds)
    for seed in seeds:
        torch.manual_seed(seed)
        model = DilatedStack(rates, channels=channels)
        total += fn(model, (1, size, size)).detach().double().cpu()
    return total / len(seeds)


def plot_erfs(schedules, size: int = 33, seeds=range(4), erf_fn=None, log: bool = False):
    """ERF heat maps of random stacks, one per schedule, each with its theoretical
    receptive field outlined; ``log`` shows log10 so the faint tails stay visible.
    Returns the axes and the maps."""
    from matplotlib.patches import Rectangle

    maps = [average_erf(rates, size, seeds, erf_fn=erf_fn) for rates in schedules]
    fig, axes = _subplots(1, len(maps), (3.8 * len(maps), 4.0))
    for ax, rates, erf in zip(axes[0], schedules, maps):
        shown = torch.log10(erf.clamp_min(1e-8)) if log else erf
        ax.imshow(shown.numpy(), cmap="magma", vmin=-6 if log else 0, interpolation="nearest")
        r = 1 + 2 * sum(rates)
        half = r // 2
        c = size // 2
        ax.add_patch(Rectangle((c - half - 0.5, c - half - 0.5), r, r, fill=False, ec="#41b6c4",
                               lw=1.5, ls="--"))
        q = r // 4  # the central square of half the side: a quarter of the area
        central = float(erf[c - q:c + q + 1, c - q:c + q + 1].sum())
        ax.set_title(f"rates {list(rates)}: theoretical RF {r}x{r}\n"
                     f"{central:.0%} of the weight in the central {2 * q + 1}x{2 * q + 1}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return axes[0], maps
