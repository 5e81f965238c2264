"""The course's registry: its assignments, the exercises of each, and the course folder.

One module that both the library's command line (convlab.cli) and the grader
(autograder) import: neither imports the other for these, so no import circle runs
between them (tests/test_layout.py). No torch, nothing heavy: anything may import it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["EXERCISES", "ASSIGNMENTS", "repo_root", "environment_first_on_path"]

# Exercise names per assignment, in notebook order: the contract's table.
EXERCISES = {
    "01_convolution": ["conv_output_size", "corr2d", "conv2d_loops", "im2col", "conv2d_im2col"],
    "02_transposed": [
        "conv_transpose_output_size",
        "conv_matrix",
        "conv_transpose2d_scatter",
        "insert_zeros",
        "conv_transpose2d_via_conv",
        "keras_deconv_output_length",
        "overlap_counts",
        "conv2d_backward",
    ],
    "03_atrous": [
        "effective_kernel_size",
        "dilate_kernel",
        "conv2d_dilated",
        "space_to_batch",
        "batch_to_space",
        "atrous_conv2d",
        "receptive_field",
        "causal_conv1d",
        "wavenet_receptive_field",
    ],
    "04_gridding": [
        "dependency_map",
        "coverage",
        "has_gridding",
        "shared_inputs",
        "effective_receptive_field",
    ],
    "05_hdc": ["hdc_max_distances", "satisfies_hdc", "hdc_search", "HDCBlock", "ASPP", "multigrid_rates"],
}

# Every assignment, in course order: derived from the one table of exercises (the
# checks' REGISTRY, the hidden cases and the notebooks' grade_ids are tested against it),
# so a new assignment is an entry there, not here.
ASSIGNMENTS = tuple(EXERCISES)


def repo_root() -> Path:
    """The course folder: the checkout this package was installed from."""
    return Path(__file__).resolve().parents[2]


def environment_first_on_path(environ=os.environ) -> None:
    """Put this interpreter's bin folder first on PATH (idempotent). nbgrader runs
    programs of its environment by name (``alembic`` when it makes a gradebook): without
    this, a venv's ``convlab`` or ``jupyter`` called by path, not activated, fails there."""
    here = os.path.dirname(sys.executable)
    entries = environ.get("PATH", "").split(os.pathsep) if environ.get("PATH") else []
    if entries[:1] != [here]:
        environ["PATH"] = os.pathsep.join([here, *(e for e in entries if e != here)])
