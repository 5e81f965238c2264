"""Shared fixtures for the whole test suite.

``device``: every test that takes it runs once per device, cpu always and cuda where
one is present (skipped, not silently dropped, where it is not). Session-scoped so
hypothesis tests can use it without a function-scoped-fixture health check.
"""
import os
import sys
import tempfile
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # figures are drawn off-screen, in every test process


def _test_secret() -> str:
    """A course secret for the tests (``autograder.secret``): outside the repository, the
    same bytes in every xdist worker and every subprocess (they inherit the variable), so
    that hidden cases agree between the grader and the tests; never the instructor's own."""
    folder = Path(tempfile.gettempdir()) / f"convlab-test-secret-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "course_secret"
    if not path.exists():
        partial = folder / f".secret.{os.getpid()}"
        partial.write_text("c0ffee" * 8 + "\n")  # 192 bits, fixed: tests are reproducible
        partial.chmod(0o600)
        partial.replace(path)
    return str(path)


os.environ["CONVLAB_SECRET_FILE"] = _test_secret()

_CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.cuda,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ],
)


@pytest.fixture(scope="session", params=["cpu", _CUDA])
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _close_figures():
    """Every figure a test opened is closed after it (matplotlib keeps them otherwise)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
