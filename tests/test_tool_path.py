"""nbgrader makes a new gradebook by running the `alembic` program by name. The formgrader
(`make lab`), `nbgrader autograde` and `convlab` must find the venv's own, activated or not:
without it the formgrader's Manual Grading page stays on "Loading" (a server error)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convlab.cli import repo_root

ROOT = repo_root()
BARE = os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir())

# One interpreter (imports are slow): for each way in, PATH as a shell without the venv
# activated has it, then that way's set-up, then a new gradebook (what the formgrader's
# API and `nbgrader autograde` open first).
SCRIPT = """
import json, os, sys
from nbgrader.api import Gradebook
from traitlets.config.loader import PyFileConfigLoader
import convlab.cli

def load(path):
    folder, name = os.path.split(path)
    return lambda: PyFileConfigLoader(name, path=folder).load_config()

ways = {"nothing": lambda: None,
        "jupyter_server_config": load(sys.argv[2]),
        "nbgrader_config": load(sys.argv[3]),
        "convlab": convlab.cli.environment_first_on_path}
result = {}
for name, setup in ways.items():
    os.environ["PATH"] = sys.argv[1]
    setup()
    try:
        Gradebook("sqlite:///" + os.path.abspath(name + ".db")).close()
        result[name] = "ok"
    except Exception as exc:
        result[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(result))
"""


def test_the_course_configs_and_convlab_find_the_venvs_alembic_on_a_bare_path(tmp_path):
    if shutil.which("alembic", path=BARE):
        pytest.skip("this machine has an alembic outside the venv: nothing to show")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, BARE, str(ROOT / "autograder" / "jupyter_server_config.py"),
         str(ROOT / "nbgrader_config.py")],
        env={**os.environ, "PATH": BARE}, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The control: the failure the three set-ups remove.
    assert "alembic" in result.pop("nothing")
    # The Jupyter server of `make lab` loads the first config, nbgrader (formgrader,
    # autograde, generate_assignment) the second; `convlab` calls the third.
    assert result == {"jupyter_server_config": "ok", "nbgrader_config": "ok", "convlab": "ok"}


def test_every_make_recipe_has_the_venv_first_on_path():
    if shutil.which("make") is None:
        pytest.skip("no make")
    done = subprocess.run(["make", "-s", "--no-print-directory", "--eval",
                           "convlab-show-path: ; @echo $$PATH", "convlab-show-path"],
                          cwd=ROOT, env={**os.environ, "PATH": BARE + os.pathsep + os.environ["PATH"]},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().split(os.pathsep)[0] == str(ROOT / ".venv" / "bin")
