"""The student build of the course installed as the archive installs it, in seconds: a
fresh venv holding the archive's wheel, seeing this environment's dependencies (torch,
JupyterLab, nbgrader, ipywidgets) by a plain path entry. A plain entry runs no .pth file
of this environment, so the editable install of the repository's convlab stays out: what
imports `convlab` there gets the student build."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path


def install_student_build(course: Path, env: Path) -> tuple[Path, Path]:
    """A venv at ``env`` with ``course``'s wheel (``course/wheels/convlab-*.whl``);
    returns its python and its site-packages folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_course_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((course / "wheels").glob("convlab-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    return python, site
