"""``convlab generate``: the student notebooks (notebooks/<id>/) from solutions/<id>/ with
nbgrader. The library's side of the course: the grader's demo calls it too, through this
module, never through the command line (convlab.cli)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .course import ASSIGNMENTS, environment_first_on_path, repo_root

__all__ = ["generate"]


def generate(ids=ASSIGNMENTS, root: Path | None = None, *, use_db: bool = True) -> None:
    """Regenerate notebooks/<id>/ from solutions/<id>/ with nbgrader, and the gradebook
    with them (``nbgrader autograde`` skips a notebook its gradebook does not know).

    nbgrader writes into a temporary release folder; only once it succeeded are the
    files copied over the committed ones, so a failure (a gradebook whose submissions
    the new source would orphan, a broken solution notebook) leaves notebooks/ as it
    was (``generate_assignment --force`` in place removes the folder first).
    RuntimeError, with nbgrader's words, when it fails."""
    import shutil
    import tempfile

    root = Path(root or repo_root())
    env = dict(os.environ)
    environment_first_on_path(env)
    for assignment in ids:
        with tempfile.TemporaryDirectory(prefix="convlab-generate-") as scratch:
            command = [sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
                       "--force", f"--CourseDirectory.release_directory={scratch}"]
            if not use_db:
                command.append("--no-db")
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
            made = Path(scratch) / assignment
            if done.returncode != 0 or not any(made.glob("*.ipynb")):
                said = (done.stdout + done.stderr).strip().splitlines()
                raise RuntimeError(f"nbgrader generate_assignment {assignment} failed; the "
                                   f"student notebooks were left as they were:\n"
                                   + "\n".join(said[-15:]))
            release = _release_folder(root) / assignment
            release.mkdir(parents=True, exist_ok=True)
            shutil.copytree(made, release, dirs_exist_ok=True)
        print(f"generated {release}" + ("" if use_db else " (gradebook not updated: --no-db)"))


def _release_folder(root: Path) -> Path:
    """Where the course's nbgrader config puts student notebooks (notebooks/)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    base = Path(config.CourseDirectory.get("root", root))
    return base / config.CourseDirectory.get("release_directory", "release")
