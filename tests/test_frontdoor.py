"""The README's commands are the product's front door: keep them true."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import convlab

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_makefile_has_the_three_commands_and_ci_runs_make_test():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lab", "demo", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks `{target}`"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    for command in ("make lab", "make demo", "make test"):
        assert command in readme


def test_every_contract_name_imports_from_convlab():
    for names in convlab.EXERCISES.values():
        for name in names:
            assert callable(getattr(convlab, name)), name


def test_convlab_command_is_installed():
    result = subprocess.run([BIN / "convlab", "--help"], capture_output=True, text=True, check=True)
    for sub in ("grade", "demo", "generate"):
        assert sub in result.stdout


def test_jupyterlab_has_nbgrader_enabled():
    result = subprocess.run([BIN / "jupyter", "server", "extension", "list"],
                            capture_output=True, text=True, check=True)
    listing = result.stdout + result.stderr
    assert re.search(r"nbgrader\.server_extensions\.formgrader\s.*enabled", listing)
    labext = subprocess.run([BIN / "jupyter", "labextension", "list"],
                            capture_output=True, text=True, check=True)
    assert re.search(r"@jupyter/nbgrader.*enabled", labext.stdout + labext.stderr)


def test_nbgrader_reads_the_course_config_from_the_repo_root():
    code = (
        "from nbgrader.apps import NbGraderAPI\n"
        "from traitlets.config import Config\n"
        "from nbgrader.coursedir import CourseDirectory\n"
        "from nbgrader.apps.baseapp import NbGrader\n"
        "app = NbGrader(); app.load_config_file(); cd = CourseDirectory(config=app.config)\n"
        "print(cd.source_directory, cd.release_directory, cd.course_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["solutions", "notebooks", "convlab"]
