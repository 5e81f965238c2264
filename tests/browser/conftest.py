"""Fixtures of the browser tests: one chromium and one student JupyterLab per session.

The student's JupyterLab is the course archive's own: `convlab release` builds it,
its `start.py` opens it. Only the install is shortened: instead of the minutes
`start.py` spends downloading PyTorch into the archive's .venv, the .venv it would make
is made here in a second, holding the archive's wheel and seeing this environment's
dependencies (torch, JupyterLab, nbgrader, ipywidgets) by a plain path entry, which runs
no .pth file of this environment (the editable install of the repository's convlab
stays out: the kernel imports the student build, as in the archive).
"""
from __future__ import annotations

import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from browser_helpers import Browser, Server, free_port, lab_environment, need_browser, server_args
from student_build import install_student_build

@pytest.fixture(scope="session")
def browser():
    need_browser()
    chromium = Browser()
    yield chromium
    chromium.close()


def _student_venv(course: Path) -> None:
    """The archive's .venv as start.py leaves it after installing, without the download."""
    env = course / ".venv"
    install_student_build(course, env)
    # JupyterLab's assets, its extensions (nbgrader's Validate button, the widgets) and the
    # server extensions enabled, where pip would have put them in this .venv.
    for part in ("share/jupyter", "etc/jupyter"):
        (env / part).parent.mkdir(parents=True, exist_ok=True)
        (env / part).symlink_to(Path(sys.prefix) / part)
    (env / ".convlab-installed").touch()  # start.py's stamp: installed, newer than the wheel


@pytest.fixture(scope="session")
def student_lab(browser, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("student-lab")
    archive = tmp / "course.zip"
    subprocess.run([str(Path(sys.executable).parent / "convlab"), "release", "--out", str(archive)],
                   check=True, capture_output=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp / "unpacked")
    (course,) = (tmp / "unpacked").iterdir()
    _student_venv(course)
    server = Server([sys.executable, "start.py", *server_args(free_port())], cwd=course,
                    env=lab_environment(tmp), log=tmp / "server.log")
    yield types.SimpleNamespace(server=server, course=course)
    server.stop()
