"""``convlab generate``: the student notebooks and nbgrader's gradebook kept in step, and a
failed generation never costs a committed notebook. Runs nbgrader in a scratch course
(the repository's config pointed at a temporary folder), without the venv on PATH."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from convlab.cli import generate, repo_root

ROOT = repo_root()
ASSIGNMENT = "01_convolution"


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.CourseDirectory.release_directory = 'release'\n")
    return course


@pytest.fixture
def bare_path(monkeypatch):
    """PATH as an instructor's shell has it when the venv is not activated."""
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir()))


@pytest.mark.slow
def test_generate_writes_the_notebook_and_the_gradebook_knows_it(tmp_path, bare_path):
    from nbgrader.api import Gradebook

    course = _course(tmp_path)
    generate([ASSIGNMENT], root=course)
    released = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert released.is_file()
    assert json.loads(released.read_text()) == json.loads(
        (ROOT / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_notebook(ASSIGNMENT, ASSIGNMENT)
        assert {c.name for c in notebook.grade_cells} >= {"test_corr2d", "test_im2col"}


@pytest.mark.slow
def test_a_failed_generation_leaves_the_committed_notebook_as_it_was(tmp_path, bare_path):
    course = _course(tmp_path)
    source = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = json.loads(source.read_text())
    graded = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    graded[1]["metadata"]["nbgrader"]["grade_id"] = graded[0]["metadata"]["nbgrader"]["grade_id"]
    source.write_text(json.dumps(nb))  # two cells with one grade_id: nbgrader refuses
    committed = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    committed.parent.mkdir(parents=True)
    committed.write_text("the committed student notebook")
    with pytest.raises(RuntimeError, match="left as they were"):
        generate([ASSIGNMENT], root=course)
    assert committed.read_text() == "the committed student notebook"


def test_the_environment_goes_first_on_path_once():
    from convlab.cli import environment_first_on_path

    env = {"PATH": "/usr/bin:/bin"}
    environment_first_on_path(env)
    here = os.path.dirname(sys.executable)
    assert env["PATH"] == f"{here}:/usr/bin:/bin"
    environment_first_on_path(env)
    assert env["PATH"] == f"{here}:/usr/bin:/bin"
