"""Math in feedback pages and the formgrader, rendered with no network.

nbconvert's and nbgrader's templates load MathJax from a CDN: a feedback page opened from
the disk (file://) on a machine without network, or behind a policy that blocks the CDN,
shows raw TeX. The MathJax 2.7 that ``jupyter-server-mathjax`` ships (a dependency) is
used instead:

* feedback pages (``feedback/<student>/<assignment>/<notebook>.html``, from nbgrader's
  GenerateFeedback or ``convlab grade``) load ``../../mathjax/MathJax.js``: ``install``
  copies the files MathJax needs into ``feedback/mathjax/`` (``InstallMathJax``, in the
  feedback preprocessors, for nbgrader's path; ``convlab grade`` for its DIR/feedback);
* the formgrader loads it from the Jupyter server itself
  (``<base_url>/static/jupyter_server_mathjax/MathJax.js``, the extension's handler).

The pages' Content-Security-Policy (safe_html.csp_meta) allows scripts from 'self' only;
MathJax is configured by a plain inline script (allowed by its hash), not by a
``text/x-mathjax-config`` block, which MathJax would have to eval.

A student's folder handed back alone (``nbgrader release_feedback`` copies one
assignment's folder) lacks ``../../mathjax``: its math then shows as TeX source.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

__all__ = ["FOLDER", "FEEDBACK_URL", "CONFIG", "source", "install", "InstallMathJax"]

FOLDER = "mathjax"
CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# From feedback/<student>/<assignment>/<notebook>.html to feedback/mathjax/.
FEEDBACK_URL = f"../../{FOLDER}/MathJax.js?config={CONFIG}"
# What the pages never load (accessibility extensions, SVG fonts: HTML-CSS output is
# used; other languages than English): 10 MB of the package's 12.
_LEFT_OUT = ("extensions/a11y", "jax/output/SVG")
_MARKER = ".convlab-mathjax"


def source() -> Path:
    """MathJax's folder in the installed jupyter-server-mathjax."""
    try:
        from jupyter_server_mathjax.app import STATIC_ASSETS_PATH
    except ImportError:
        raise RuntimeError("jupyter-server-mathjax is not installed (a dependency of convlab: "
                           "`make venv` installs it)") from None
    return Path(STATIC_ASSETS_PATH)


def _ignore(root: Path):
    def ignore(folder, names):
        relative = Path(folder).relative_to(root)
        skipped = {n for n in names if (relative / n).as_posix() in _LEFT_OUT}
        if relative.as_posix() == "localization":
            skipped |= {n for n in names if n != "en"}
        return skipped
    return ignore


def install(feedback_root) -> Path:
    """MathJax's files in ``feedback_root/mathjax`` (once: a marker says it is complete)."""
    target = Path(feedback_root) / FOLDER
    if (target / _MARKER).is_file():
        return target
    root = source()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root, partial, ignore=_ignore(root))
    (partial / _MARKER).write_text("MathJax from jupyter-server-mathjax\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    return target


class InstallMathJax(NbGraderPreprocessor):
    """In GenerateFeedback's preprocessors: the feedback folder gets MathJax's files
    beside the pages that load them (an NbGraderPreprocessor: enabled where nbgrader
    registers it, as nbconvert's plain Preprocessor is not)."""

    def preprocess(self, nb, resources):
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(parent=self)
        install(Path(coursedir.root) / coursedir.feedback_directory)
        return nb, resources
