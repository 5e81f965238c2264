#!/usr/bin/env python3
"""Install the course (first time) and open it in JupyterLab:  python3 start.py

    python3 start.py                 install into .venv here if needed, then open JupyterLab
    python3 start.py --install-only  only install
    python3 start.py --cpu           on Linux: PyTorch's CPU-only build (a much smaller download)
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
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
OPTIONS = ("--install-only", "--cpu")

# What the first install downloads, PyTorch being most of it (README.md says the same).
SIZES = {
    "linux": "about 3 GB (pip's PyTorch for Linux brings NVIDIA's CUDA libraries; "
             "`python3 start.py --cpu` takes the CPU-only build instead, about 0.3 GB)",
    "linux-cpu": "about 0.3 GB (PyTorch's CPU-only build)",
    "darwin": "about 0.2 GB",
    "win32": "about 0.3 GB",
}


def download_size(platform=sys.platform, cpu=False) -> str:
    if platform.startswith("linux"):
        return SIZES["linux-cpu" if cpu else "linux"]
    return SIZES.get(platform, SIZES["win32"])


def jupyter_command(argv, root=None):
    """JupyterLab on the notebooks. Jupyter refuses to run as root (a container, a
    cloud notebook) unless told to: as root it is told."""
    root = (os.geteuid() == 0) if root is None and hasattr(os, "geteuid") else bool(root)
    return ([PYTHON, "-m", "jupyterlab", f"--ServerApp.root_dir={HERE}",
             "--LabApp.default_url=/lab/tree/notebooks",
             # No news feed and no "get notified about Jupyter news?" pop-up (lab-settings/overrides.json).
             "--LabApp.news_url=None", f"--LabApp.app_settings_dir={LAB_SETTINGS}"]
            + (["--allow-root"] if root and "--allow-root" not in argv else [])
            + [a for a in argv if a not in OPTIONS])


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
        cpu = "--cpu" in argv
        print("Installing convlab, PyTorch, matplotlib and JupyterLab (first time: a few minutes; "
              f"the download is {download_size(cpu=cpu)}) ...", flush=True)
        if cpu:
            subprocess.check_call([PYTHON, "-m", "pip", "install", "torch", "--index-url", CPU_INDEX])
        subprocess.check_call([PYTHON, "-m", "pip", "install", "--upgrade", wheels[-1]])
        open(STAMP, "w").close()
    if "--install-only" in argv:
        return 0
    return subprocess.call(jupyter_command(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
