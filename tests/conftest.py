"""Shared fixtures for the whole test suite.

``device``: every test that takes it runs once per device, cpu always and cuda where
one is present (skipped, not silently dropped, where it is not). Session-scoped so
hypothesis tests can use it without a function-scoped-fixture health check.
"""
import os
import sys
import tempfile
from pathlib import Path

# One compute thread per test process, set before torch is imported: `make test` runs two
# xdist workers on two cores, and each one's OpenMP threads spinning against the other's
# made the small-tensor tests four times slower (test_checks_hdc: 42 s -> 11 s). Subprocesses
# (kernels, `convlab grade`) inherit it; the sandbox sets its own.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import matplotlib  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

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


# --- per-assignment markers: `pytest -m a03` runs one notebook's slice ----------------------

# Files about one notebook as a whole (its checks, figures, library pieces).
_FILE_ASSIGNMENTS = {
    "test_checks_standard.py": "01_convolution", "test_figures_convolution.py": "01_convolution",
    "test_checks_transposed.py": "02_transposed", "test_figures_transposed.py": "02_transposed",
    "test_checks_atrous.py": "03_atrous", "test_figures_atrous.py": "03_atrous",
    "test_checks_gridding.py": "04_gridding", "test_figures_gridding.py": "04_gridding",
    "test_checks_hdc.py": "05_hdc", "test_lib_hdc_experiment.py": "05_hdc", "test_lib_deeplab.py": "05_hdc",
}


def assignment_marker(assignment: str) -> str:
    """"01_convolution" -> "a01": the marker of an assignment's tests (pyproject.toml)."""
    return "a" + assignment.split("_", 1)[0]


def _assignments_of_words() -> dict[str, set[str]]:
    """Assignment id, exercise name and example student -> the assignments it is about."""
    import convlab
    from autograder.examples.build import load_students

    words = {}
    for assignment, exercises in convlab.EXERCISES.items():
        for word in (assignment, *exercises):
            words.setdefault(word, set()).add(assignment)
    owner = {e: a for a, exercises in convlab.EXERCISES.items() for e in exercises}
    for name, student in load_students().items():
        words.setdefault(name, set()).update(
            {owner[e] for e in (*student.answers, *student.expect) if e in owner} | set(student.edits))
    return words


def pytest_collection_modifyitems(config, items):
    """Marks each test with the assignments it is about (a01 .. a05): by its file, or by
    the assignment, exercise or example student among its parameters. A test about the
    course as a whole (the sandbox, the command line) has none and runs with no -m."""
    words = _assignments_of_words()
    for item in items:
        found = set()
        if item.path.name in _FILE_ASSIGNMENTS:
            found.add(_FILE_ASSIGNMENTS[item.path.name])
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            values = [v for v in callspec.params.values() if isinstance(v, str)]
            for value in [*values, *callspec.id.split("-")]:
                found |= words.get(value, set())
        for assignment in sorted(found):
            item.add_marker(assignment_marker(assignment))
