"""The README's screenshots (taken by the browser tests, `make screenshots`): every one
it shows exists, is a PNG of the tests' width and stays small."""
from __future__ import annotations

import re

from browser_helpers import ROOT, WIDTH

SHOTS = {"notebook", "animation", "slider", "failing-check", "formgrader", "feedback", "report"}


def test_the_readme_shows_each_screenshot_and_each_exists_small():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"!\[[^\]]+\]\(docs/screenshots/([\w-]+)\.png\)", readme))
    assert shown == SHOTS
    for name in SHOTS:
        data = (ROOT / "docs" / "screenshots" / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width = int.from_bytes(data[16:20], "big")
        assert width <= WIDTH and len(data) < 200_000, (name, width, len(data))
