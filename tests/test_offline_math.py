"""Feedback pages render math with no network (autograder/outputs/offline_math.py), and show the
late policy's line (autograder/score/lateness.py), as nbgrader's GenerateFeedback makes them."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import nbformat
import pytest

from autograder.outputs.offline_math import CONFIG, FEEDBACK_URL, install
from convlab.cli import repo_root

ROOT = repo_root()


def test_install_copies_what_mathjax_loads_and_leaves_the_rest(tmp_path):
    target = install(tmp_path / "feedback")
    for needed in ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", "config/Safe.js",
                   "extensions/Safe.js", "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js",
                   "jax/input/TeX/config.js", "localization/en",
                   "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff"):
        assert (target / needed).exists(), needed
    for left_out in ("extensions/a11y", "jax/output/SVG", "localization/fr"):
        assert not (target / left_out).exists(), left_out
    assert sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) < 4_000_000
    (target / "MathJax.js").write_text("kept")  # installed once: not copied again
    assert install(tmp_path / "feedback") == target
    assert (target / "MathJax.js").read_text() == "kept"


def test_the_course_config_loads_mathjax_from_beside_the_feedback():
    from autograder.run.workspace import course_config

    config, _ = course_config(ROOT)
    assert config.HTMLExporter.mathjax_url == FEEDBACK_URL
    assert not urlsplit(FEEDBACK_URL).scheme and CONFIG in FEEDBACK_URL
    assert "autograder.outputs.offline_math.InstallMathJax" in config.GenerateFeedback.preprocessors
    formgrade = (ROOT / "autograder/templates/convlab/nbgrader_formgrade.html.j2").read_text()
    assert "/static/jupyter_server_mathjax/MathJax.js" in formgrade
    assert "{{ mathjax(" not in formgrade


@pytest.mark.slow
def test_feedback_math_is_local_and_lateness_is_shown(tmp_path):
    from nbgrader.api import Gradebook

    from autograder.run.workspace import Course, Workspace

    course = Course.load(ROOT, ["01_convolution"])
    ws = Workspace(ROOT, tmp_path / "course", course.template.gradebook)
    ws.config.LatePolicy.due_dates = {"01_convolution": "2027-01-15 23:59:00 UTC"}
    ws.config.LatePolicy.method = "per_hour"
    ws.config.LatePolicy.rate = 0.1
    ws.config.LatePolicy.cap = 0.5
    ws.config.LatePolicy.extensions_file = str(tmp_path / "extensions.csv")
    target = ws.folder("submitted", "ann", "01_convolution")
    target.mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb", as_version=4)
    nbformat.write(nb, target / "01_convolution.ipynb")
    (target / "timestamp.txt").write_text("2027-01-16 01:00:00 UTC\n")  # 1 h 1 min late
    assert ws.autograde("01_convolution", "ann")["success"]
    with Gradebook(f"sqlite:///{ws.gradebook}") as gradebook:
        assert gradebook.find_submission("01_convolution", "ann").total_seconds_late == 3660
        grade = gradebook.find_grade("reflection_1", "01_convolution", "01_convolution", "ann")
        grade.manual_score = 1.5
        gradebook.db.commit()
    assert ws.feedback("01_convolution", "ann")["success"]
    page_path = ws.folder("feedback", "ann", "01_convolution") / "01_convolution.html"
    page = page_path.read_text()

    scripts = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", page)
    assert scripts, "the page loads MathJax"
    for src in scripts:
        assert not urlsplit(src).scheme and not src.startswith("//"), src
        local = Path(urlsplit(urljoin(page_path.as_uri(), src)).path)
        assert local.is_file(), local
    assert not re.search(r"https?://[^\"' ]*mathjax", page, re.I)
    assert "text/x-mathjax-config" not in page  # no eval needed: the CSP allows none
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"|content="([^"]+)" '
                    r'http-equiv="Content-Security-Policy"', page)
    assert csp and "script-src 'self'" in (csp.group(1) or csp.group(2))

    # The policy applied to the current score (1.5 given by hand): two started hours, 20 %.
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert ("Submitted 2027-01-16 01:00:00+00:00, due 2027-01-15 23:59:00+00:00: 1 h 1 min "
            "late, late penalty 0.3 points.") in text
    assert "Late submission penalty (Score: -0.3)" in text
