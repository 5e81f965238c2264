"""Grading workers with a budget: one student's notebook never costs the class more than its
share of time and memory, and nothing a run starts outlives it.

``run_bounded`` hands items (``convlab grade``'s jobs) to worker processes, one at a time
each, and watches every worker from the parent:

* a **wall-clock budget** per item: past it, the worker and every process under it (the
  sandboxes it started included) are killed, the item is reported as ``timeout`` and a
  fresh worker takes the next item;
* a **memory budget**: a worker whose memory, summed with that of every process under it,
  passes ``memory_mb`` is killed the same way (``memory``). The tree is the grader's own
  process (reading or grading an outsized notebook), its sandboxes (bwrap, the supervisor a
  flood of requests would swell, the child running the answers) and any reference runner:
  one account per notebook. Each process counts its resident memory that no file backs
  (``resident_mb``). Where the machine delegates cgroup v2 controllers to the grader
  (autograder.run.cgroups), each worker also gets a cgroup with ``memory.max`` at the budget and
  a ``pids.max``, joined before it starts anything; the kernel's OOM kill there is reported
  as ``memory`` too;
* a worker that **dies** (a crash of the grader, the kernel's OOM killer) costs its item one
  retry in a fresh worker, with what is left of the item's budget, never a new budget: a
  restart does not multiply a notebook's time; dying again reports ``died``;
* an exception in ``work`` is the item's (``error``), never the run's.

Every item ends with an outcome, whatever happened. While ``run_bounded`` runs, the calling
process is a child subreaper (Linux): a process that double-forks away from its worker is
re-parented to us, not to init, so that ``kill_descendants`` finds it. On the way out, by
return, exception or Ctrl-C, every worker and every process under them is killed.
"""
from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable

from . import cgroups
from ..limits import Budget

__all__ = ["Budget", "Finished", "run_bounded", "descendants", "kill_tree", "kill_descendants",
           "subreaper", "rss_mb", "resident_mb", "tree_mb", "watched", "over_budget"]

_POLL = 0.25  # seconds between memory checks
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1
_WATCHED = [False]  # True in a worker of run_bounded: its work is already within a budget
_SERIAL = itertools.count()  # names workers' cgroups


@dataclass
class Finished:
    """How one item ended: ``kind`` is "done" (``value`` is what ``work`` returned),
    "error" (``detail``: the exception, ``work`` raised it), "timeout", "memory" or "died"."""

    kind: str
    value: Any = None
    seconds: float = 0.0
    detail: str = ""


# --- processes -------------------------------------------------------------------------

def _parents() -> dict[int, int]:
    """pid -> parent pid of every process we can see (empty where there is no /proc)."""
    found = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            found[int(entry)] = int(fields[1])
    return found


def _children() -> dict[int, list[int]]:
    """pid -> its children's pids, for every process we can see."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    return children


def descendants(pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """Every process under ``pid`` (children, theirs, ...), parents first. ``children``:
    a snapshot from ``_children()`` (one walk of /proc for several trees)."""
    if children is None:
        children = _children()
    found, queue = [], deque(children.get(pid, []))
    while queue:
        child = queue.popleft()
        if child not in found:
            found.append(child)
            queue.extend(children.get(child, []))
    return found


def _signal(pids, signum) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(pids) -> None:
    """Collect the exit status of those of ``pids`` that are our children (a subreaper
    inherits orphans and would otherwise keep them as zombies)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def kill_tree(pid: int, rounds: int = 3) -> None:
    """SIGKILL ``pid`` and every process under it. They are stopped first, so none forks a
    new one while the tree is walked; a few rounds catch what was being born meanwhile."""
    for _ in range(rounds):
        tree = [pid, *descendants(pid)]
        _signal(tree, signal.SIGSTOP)
        tree = [pid, *descendants(pid)]
        _signal(tree, signal.SIGKILL)
        _reap(tree)
        if not descendants(pid):
            break


def _helpers() -> set[int]:
    """multiprocessing's own helper processes (fork server, resource tracker): not ours."""
    pids = set()
    with contextlib.suppress(Exception):
        from multiprocessing import forkserver, resource_tracker

        pids.add(forkserver._forkserver._forkserver_pid)
        pids.add(resource_tracker._resource_tracker._pid)
    return {pid for pid in pids if pid}


def kill_descendants(keep=(), spare_trees=()) -> None:
    """SIGKILL every process under this one except the processes ``keep``, multiprocessing's
    helpers, and ``spare_trees`` with everything under them. What runs under a helper is
    not spared: the fork server's children are our workers, one of them perhaps started as
    we were interrupted."""
    protected = set(keep) | _helpers() | set(spare_trees)
    for pid in spare_trees:
        protected.update(descendants(pid))
    for _ in range(3):
        doomed = [pid for pid in descendants(os.getpid()) if pid not in protected]
        if not doomed:
            return
        _signal(doomed, signal.SIGSTOP)
        _signal(doomed, signal.SIGKILL)
        _reap(doomed)


@contextlib.contextmanager
def subreaper():
    """Make this process the child subreaper of what it starts, while the block runs."""
    libc = None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        enabled = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        enabled = False
    try:
        yield enabled
    finally:
        if enabled:
            libc.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def resident_mb(pid: int) -> float:
    """Memory ``pid`` holds in RAM that no file backs, in MiB: its anonymous pages (heap,
    stacks, buffers) and shared memory (RssAnon + RssShmem; VmRSS on kernels without them).
    Pages of files (torch's libraries, the page cache) are left out: every Python with torch
    maps the same ~150 MiB of them, and the kernel shares and reclaims them. Pages a forked
    child still shares with its parent count in both (an over-count, never an under-count).
    0 where it cannot be read (the process is gone)."""
    found = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "RssAnon", "RssShmem"):
                    found[name] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    if "RssAnon" in found:
        return (found["RssAnon"] + found.get("RssShmem", 0)) / 1024
    return found.get("VmRSS", 0) / 1024


def tree_mb(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """``resident_mb`` summed over ``pid`` and every process under it."""
    return sum(resident_mb(p) for p in (pid, *descendants(pid, children)))


def watched() -> bool:
    """Whether this process is a worker of ``run_bounded`` (its work already has a budget)."""
    return _WATCHED[0]


def over_budget(finished: Finished, budget: Budget, notebooks: int = 1) -> str:
    """Why an item that did not finish scores 0, for its student: one wording for
    ``convlab grade`` and ``nbgrader autograde``."""
    per = "notebook" if notebooks <= 1 else f"notebook ({notebooks} notebooks)"
    return {
        "timeout": f"grading it took longer than the grader's budget of {budget.seconds:g} s "
                   f"per {per}: code that runs long (sleeps, slow loops) in answer cells is paid "
                   "again for every exercise; every exercise of this notebook scores 0",
        "memory": f"grading it took over the grader's memory budget of {budget.memory_mb} MiB "
                  f"per {per} (the grading process and its sandboxes together: an outsized "
                  "notebook, or answers that hold or send back too much); every exercise of this "
                  "notebook scores 0",
        "died": f"the grading process died twice on it ({finished.detail})",
        "error": f"{finished.detail}",
    }.get(finished.kind, f"{finished.kind}: {finished.detail}")


# --- the worker process --------------------------------------------------------------------

def _worker_main(conn, start: Callable | None, initargs: tuple, work: Callable,
                 group: "cgroups.Group | None" = None) -> None:
    """Start up, say "ready", then grade items until told to stop (None) or the pipe closes."""
    _WATCHED[0] = True
    with contextlib.suppress(OSError, AttributeError):
        # Die with the process that forked us (the fork server, which ends with the run).
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if group is not None:
        # First of all: whatever the worker starts from now on is born in its group. Where
        # the kernel refuses, the parent's watchdog still counts the worker's whole tree.
        with contextlib.suppress(OSError):
            group.join()
    try:
        if start is not None:
            start(*initargs)
    except Exception:
        conn.send(("failed", traceback.format_exc(limit=3)))
        return
    conn.send(("ready", None))
    while True:
        try:
            item = conn.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        index, payload = item
        try:
            message = ("done", index, work(payload))
        except Exception as exc:  # the item's problem, never the worker's
            message = ("error", index, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(message)
        except Exception as exc:  # a result that cannot be sent is still an outcome
            conn.send(("error", index, f"the result could not be sent back ({type(exc).__name__})"))


class _Worker:
    def __init__(self, context, start, initargs, work, memory_mb: float = 0,
                 cgroup_base=None):
        self.group = None
        if cgroup_base is not None and memory_mb:
            with contextlib.suppress(OSError):  # none made: the watchdog alone counts
                name = f"convlab-worker-{os.getpid()}-{next(_SERIAL)}"
                self.group = cgroups.Group(cgroup_base, name, memory_mb)
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_worker_main, daemon=True,
                                       args=(theirs, start, initargs, work, self.group))
        self.process.start()
        theirs.close()
        self.ready = False
        self.item: int | None = None
        self.started = 0.0
        self.deadline = 0.0
        self.affinity = None  # the affinity of the last item it took (see run_bounded)

    @property
    def pid(self) -> int:
        return self.process.pid

    def give(self, index: int, payload, seconds: float) -> bool:
        self.item, self.started = index, time.monotonic()
        self.deadline = self.started + seconds
        try:
            self.conn.send((index, payload))
            return True
        except (OSError, ValueError):  # it just died: the caller finds out from its sentinel
            return False

    def kill(self) -> None:
        # Only while it lives: the pid of a process already reaped may be someone else's.
        if self.process.pid is not None and self.process.exitcode is None:
            kill_tree(self.process.pid)
        self.process.join(timeout=5)
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.group is not None:
            self.group.remove()

    def stop(self) -> None:
        """Ask an idle worker to finish (its exit handlers close its sandboxes), then make
        sure of it."""
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(timeout=10)
        self.kill()


def _pick(queue: deque, worker: _Worker, workers: list, items: list, affinity) -> int:
    """The next item for ``worker``: one with the affinity of its last item, else one no
    other worker has the affinity of, else the first in the queue."""
    if affinity is not None:
        others = {w.affinity for w in workers if w is not worker}
        for wanted in (lambda key: key == worker.affinity, lambda key: key not in others):
            for index in queue:
                if wanted(affinity(items[index])):
                    queue.remove(index)
                    return index
    return queue.popleft()


def run_bounded(items: list, work: Callable, *, processes: int, seconds: Callable[[Any], float],
                memory_mb: float, context, start: Callable | None = None, initargs: tuple = (),
                report: Callable[[int, Finished], None] | None = None,
                affinity: Callable[[Any], Any] | None = None) -> list[Finished]:
    """Run ``work(item)`` for every item on ``processes`` workers (each made by ``context``,
    set up with ``start(*initargs)``), each item within ``seconds(item)`` of wall-clock time
    in total and each worker, with every process under it, within ``memory_mb``; see the
    module's docstring. Items with
    the same ``affinity(item)`` go to the same worker where it can (a student's notebooks:
    their sandbox is reused, autograder.sandbox.host._park)."""
    if processes < 1:
        raise ValueError(f"need at least one worker process, got {processes}")
    results: dict[int, Finished] = {}
    left = {i: float(seconds(item)) for i, item in enumerate(items)}  # budget still unspent
    tries = dict.fromkeys(range(len(items)), 0)
    queue = deque(range(len(items)))
    workers: list[_Worker] = []
    keep = set(descendants(os.getpid()))  # what ran before us is not ours to clean up
    cgroup_base = cgroups.delegated() if memory_mb else None

    def finish(index: int, outcome: Finished) -> None:
        results[index] = outcome
        if report is not None:
            report(index, outcome)

    def lost(worker: _Worker, kind: str, detail: str) -> None:
        """The worker is gone (or killed now): its item is retried or reported."""
        workers.remove(worker)
        if kind == "died" and worker.group is not None and worker.group.oom_killed():
            # The kernel killed the group at its memory.max before the watchdog saw it.
            kind, detail = "memory", f"over {memory_mb:g} MiB (the kernel stopped it)"
        worker.kill()
        # What it left behind (a sandbox re-parented to us) goes too; live workers stay.
        kill_descendants(keep, spare_trees=[w.pid for w in workers])
        index = worker.item
        if index is None:
            if kind == "died" and not worker.ready:
                # Died while starting: no item lost, but the run needs a working worker.
                startup_failures.append(detail)
            return
        spent = time.monotonic() - worker.started
        left[index] -= spent
        if kind == "died" and tries[index] < 2 and left[index] > 1:
            queue.appendleft(index)  # once more, in a fresh worker, with what is left
            return
        finish(index, Finished(kind, None, seconds(items[index]) - left[index], detail))

    startup_failures: list[str] = []
    with subreaper():
        try:
            while queue or any(w.item is not None for w in workers):
                if len(startup_failures) > 3 * processes:
                    # No worker can start: every item left still gets its outcome.
                    for index in queue:
                        finish(index, Finished("died", None, 0.0,
                                               "no grading process could start: " + startup_failures[-1][-300:]))
                    queue.clear()
                    break
                while len(workers) < min(processes, len(queue) + sum(w.item is not None for w in workers)):
                    workers.append(_Worker(context, start, initargs, work, memory_mb, cgroup_base))
                for worker in workers:
                    if worker.ready and worker.item is None and queue:
                        index = _pick(queue, worker, workers, items, affinity)
                        if affinity is not None:
                            worker.affinity = affinity(items[index])
                        tries[index] += 1
                        worker.give(index, items[index], left[index])
                now = time.monotonic()
                busy = [w.deadline - now for w in workers if w.item is not None]
                timeout = max(0.0, min([_POLL, *busy]))
                handles = [w.conn for w in workers] + [w.process.sentinel for w in workers]
                ready = set(wait(handles, timeout=timeout)) if handles else set()
                for worker in list(workers):
                    if worker.conn in ready:
                        try:
                            message = worker.conn.recv()
                        except (EOFError, OSError):
                            lost(worker, "died", "the grading process ended")
                            continue
                        if message[0] == "ready":
                            worker.ready = True
                        elif message[0] == "failed":
                            worker.item = None
                            lost(worker, "died", str(message[1]))
                        else:
                            kind, index, value = message
                            took = time.monotonic() - worker.started
                            worker.item = None
                            if kind == "done":
                                finish(index, Finished("done", value, took))
                            else:
                                finish(index, Finished("error", None, took, str(value)))
                    elif worker.process.sentinel in ready:
                        worker.process.join(timeout=1)
                        lost(worker, "died", f"the grading process ended (exit code {worker.process.exitcode})")
                now = time.monotonic()
                working = [w for w in workers if w.item is not None]
                children = _children() if memory_mb and working else {}  # one walk of /proc for all
                for worker in working:
                    if now > worker.deadline:
                        lost(worker, "timeout", f"over {seconds(items[worker.item]):g} s")
                    elif memory_mb and (used := tree_mb(worker.pid, children)) > memory_mb:
                        lost(worker, "memory", f"{used:.0f} MiB, over {memory_mb:g} MiB (the "
                                               "grading process and every process under it)")
        finally:
            for worker in list(workers):
                if worker.item is None:
                    worker.stop()
                else:
                    worker.kill()
            kill_descendants(keep)
    return [results.get(i) or Finished("died", None, 0.0, "the grading processes could not start")
            for i in range(len(items))]
