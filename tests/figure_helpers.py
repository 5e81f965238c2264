"""What a figure test looks at: what was drawn, as the reader sees it (texts that fit and
do not overlap, lines that are not hidden, axes that are not empty)."""
from __future__ import annotations

import itertools

import numpy as np


def drawn_texts(fig):
    """(text, window extent) of every non-empty text that drawing the figure draws (tick
    labels outside the view are made but not drawn)."""
    from matplotlib.text import Text

    drawn = []
    original = Text.draw

    def spy(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    Text.draw = spy
    try:
        fig.canvas.draw()
    finally:
        Text.draw = original
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]


def overlap(a, b) -> bool:
    """Two window extents share more than half a pixel each way."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > 0.5 and height > 0.5


def assert_texts_fit_and_do_not_overlap(fig):
    """Every text lies inside the figure and no two texts share a pixel."""
    texts = drawn_texts(fig)
    assert texts
    box = fig.bbox
    for text, extent in texts:
        assert (extent.x0 >= box.x0 - 0.5 and extent.y0 >= box.y0 - 0.5
                and extent.x1 <= box.x1 + 0.5 and extent.y1 <= box.y1 + 0.5), f"{text!r} is cut off"
    for (a, ea), (b, eb) in itertools.combinations(texts, 2):
        assert not overlap(ea, eb), f"{a!r} and {b!r} overlap"


def rendered_pixels(fig) -> np.ndarray:
    """The figure as drawn: (H, W, 3) floats in [0, 1]."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0


def pixels_of_colour(fig, colour, tolerance=0.04) -> int:
    """How many pixels of the drawn figure have ``colour`` (any matplotlib colour)."""
    from matplotlib.colors import to_rgb

    image = rendered_pixels(fig)
    return int((np.abs(image - np.asarray(to_rgb(colour))).max(-1) <= tolerance).sum())


def is_empty(ax) -> bool:
    """A frame drawn with nothing in it: a visible axes, axis on, without any image,
    line, collection, patch, text or table (one switched off draws nothing at all)."""
    return bool(ax.get_visible() and ax.axison and not (
        ax.images or ax.lines or ax.collections or ax.patches or ax.texts or ax.tables or ax.artists))
