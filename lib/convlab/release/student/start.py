#!/usr/bin/env python3
"""Install the course (first time) and open it in JupyterLab:  python3 start.py

    python3 start.py                 install into .venv here if needed, then open JupyterLab
    python3 start.py --install-only  only install
"""
import glob
import os
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = os.path.join(HERE, ".venv")
PYTHON = os.path.join(ENV, "Scripts" if os.name == "nt" else "bin", "python")
STAMP = os.path.join(ENV, ".convlab-installed")
LAB_SETTINGS = os.path.join(HERE, "lab-settings")


def main(argv):
    if sys.version_info < (3, 11):
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wheels = sorted(glob.glob(os.path.join(HERE, "wheels", "convlab-*.whl")))
    if not wheels:
        sys.exit("wheels/convlab-*.whl is missing: unpack the whole course archive.")
    if not os.path.exists(PYTHON):
        print("Creating the virtual environment .venv ...")
        venv.create(ENV, with_pip=True)
    if not os.path.exists(STAMP) or os.path.getmtime(STAMP) < os.path.getmtime(wheels[-1]):
        print("Installing convlab, PyTorch, matplotlib and JupyterLab (first time: a few minutes) ...")
        subprocess.check_call([PYTHON, "-m", "pip", "install", "--upgrade", wheels[-1]])
        open(STAMP, "w").close()
    if "--install-only" in argv:
        return 0
    # No news feed and no "get notified about Jupyter news?" pop-up (lab-settings/overrides.json).
    return subprocess.call([PYTHON, "-m", "jupyterlab", f"--ServerApp.root_dir={HERE}",
                            "--LabApp.default_url=/lab/tree/notebooks", "--LabApp.news_url=None",
                            f"--LabApp.app_settings_dir={LAB_SETTINGS}"]
                           + [a for a in argv if a != "--install-only"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
