"""One cgroup (v2) per grading worker, where the machine lets the grader make them: the
kernel then counts and caps the memory and the tasks of the worker and of everything it
starts (its sandboxes' bwrap, supervisor and children, a reference runner) as one.

autograder.run.workers uses it where ``delegated()`` finds the grader's own cgroup in a
cgroup v2 hierarchy that it may write and whose ``cgroup.subtree_control`` enables the
memory and pids controllers (a delegated subtree: systemd's ``Delegate=yes``, a container
given its own cgroup namespace). Elsewhere (cgroup v1, a hybrid whose v2 part has no
controllers, no permission) ``delegated()`` is None and the workers' watchdog alone does
the accounting (autograder.run.workers: resident memory summed over the worker's tree).
"""
from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path

__all__ = ["Group", "delegated", "TASKS"]

# Tasks (processes and threads) one worker's group may hold: a fork bomb stops here. Generous,
# for torch starts a thread per core in the worker and in each supervisor.
TASKS = 4096
_NEEDED = {"memory", "pids"}


def _mount(mountinfo: str = "/proc/self/mountinfo") -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (the first such mount), or None."""
    try:
        with open(mountinfo) as handle:
            for line in handle:
                # "id parent major:minor root mount-point options ... - fstype source ..."
                head, _, tail = line.partition(" - ")
                if tail.split(" ", 1)[0] == "cgroup2":
                    return Path(head.split()[4].replace("\\040", " "))
    except OSError:
        pass
    return None


def _own(cgroup: str = "/proc/self/cgroup") -> str | None:
    """This process's cgroup v2 path ("/..." from the "0::" line), or None."""
    try:
        with open(cgroup) as handle:
            for line in handle:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def delegated(mount: Path | None = None, own: str | None = None) -> Path | None:
    """The cgroup under which the grader may make one per worker: its own, where that is a
    cgroup v2 it may write with memory and pids in ``cgroup.subtree_control``; else None."""
    mount = mount if mount is not None else _mount()
    own = own if own is not None else _own()
    if mount is None or own is None:
        return None
    base = Path(mount) / own.lstrip("/")
    try:
        enabled = set((base / "cgroup.subtree_control").read_text().split())
    except OSError:
        return None
    if not _NEEDED <= enabled or not os.access(base, os.W_OK | os.X_OK):
        return None
    return base


def _write(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


class Group:
    """A cgroup for one worker and what it starts: ``memory.max`` at ``memory_mb`` (no swap
    beyond it), ``pids.max`` at ``tasks``, and the whole group killed at once when the kernel
    finds it out of memory (``memory.oom.group``), so that no half of a notebook's processes
    goes on without the other. ``join`` is called by the worker itself before it starts
    anything: every process it starts is born in the group."""

    def __init__(self, base: Path, name: str, memory_mb: float, tasks: int = TASKS):
        if not memory_mb > 0:
            raise ValueError(f"a group's memory must be positive, got {memory_mb} MiB")
        self.path = Path(base) / name
        self.path.mkdir()
        try:
            _write(self.path / "memory.max", str(int(memory_mb * 2**20)))
            _write(self.path / "pids.max", str(int(tasks)))
        except OSError:
            self.remove()
            raise
        for control, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            with contextlib.suppress(OSError):  # older kernels, or no swap accounting
                _write(self.path / control, value)

    def join(self) -> None:
        """Put the calling process in the group (before it starts any other)."""
        _write(self.path / "cgroup.procs", "0")

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for its memory."""
        try:
            events = (self.path / "memory.events").read_text().split("\n")
        except OSError:
            return False
        for line in events:
            name, _, count = line.partition(" ")
            if name in ("oom_kill", "oom_group_kill") and count.strip().isdigit():
                if int(count) > 0:
                    return True
        return False

    def remove(self) -> None:
        """Kill what is left in the group (``cgroup.kill``, Linux 5.14) and remove it."""
        with contextlib.suppress(OSError):
            if (self.path / "cgroup.kill").exists():
                _write(self.path / "cgroup.kill", "1")
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno != errno.EBUSY:  # not a cgroup (a test's folder) or not ours
                    return
                time.sleep(0.05)  # its last tasks are still exiting
