"""Grading speed per notebook, two checkouts side by side (issue 14, item 7).

    .venv/bin/python benchmarks/grading_side_by_side.py OLD_ROOT [NEW_ROOT] [--rounds 2]

Each root is a checkout with its own ``.venv`` (``make venv`` there): its own ``convlab``
grades its own solution notebooks, so each side runs exactly its own code. For every
assignment, the ``perfect`` example student's submission of that one notebook is graded by
``convlab grade --workers 1`` of each side, then the empty submission (the fixed cost of a
run: start-up and course setup). The runs are interleaved (old, new, then new, old in the
next round) so that a change in the machine's load falls on both sides alike.

Per run: the wall clock, and the CPU time of the command and of every process under it
(its workers, sandboxes and kernels): counted by the kernel in a cgroup v1 cpuacct group
of the benchmark's own where it may make one, else polled every 0.1 s (which misses what
it cannot see). The CPU time is what other users of a shared machine inflate least. Prints a markdown table of the medians.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

_BUILD = ("import sys; from autograder.examples.build import build; "
          "build(sys.argv[1], ['perfect', 'empty_folder'])")


def _build(root: Path, dest: Path) -> dict[str, Path]:
    """One folder per run: the perfect student's single notebook, per assignment, and the
    empty submission; built from ``root``'s own notebooks by ``root``'s own package."""
    examples = dest / "examples"
    subprocess.run([root / ".venv" / "bin" / "python", "-c", _BUILD, examples], cwd=root, check=True)
    runs = {}
    for assignment in sorted(p.name for p in (examples / "perfect").iterdir() if p.is_dir()):
        folder = dest / assignment / "perfect"
        folder.mkdir(parents=True)
        shutil.copytree(examples / "perfect" / assignment, folder / assignment)
        runs[assignment] = dest / assignment
    (dest / "empty" / "empty_folder").mkdir(parents=True)
    runs["(nothing submitted)"] = dest / "empty"
    return runs


def _tree_cpu(process: subprocess.Popen) -> float:
    """Poll the CPU time of ``process`` and of every descendant it has (its workers, their
    bubblewrap sandboxes and kernels, which are not all waited for by the command itself,
    so its rusage misses them) until it ends: each process's last reading, summed."""
    seen = {}
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                times = p.cpu_times()
                seen[(p.pid, p.create_time())] = times.user + times.system
            except psutil.Error:
                pass
        time.sleep(0.1)
    return sum(seen.values())


def _cpu_group() -> Path | None:
    """A cgroup v1 cpuacct group of this benchmark's own, where the machine lets it make
    one: the kernel then counts the CPU time of every process a run starts, whatever it
    does (a sandbox in its own PID namespace, a process no one waits for)."""
    base = Path("/sys/fs/cgroup/cpuacct")
    group = base / f"convlab-side-by-side-{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        (group / "cpuacct.usage").read_text()
    except OSError:
        return None
    return group


def _check_graded(root: Path, submissions: Path, out: Path) -> None:
    """A run that graded nothing is no timing: the ``perfect`` student must score every
    point (a grader that failed, whose workers could not start, exits 0 with zeros)."""
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lost = [r for r in rows if r["student_id"] == "perfect" and float(r["score"]) != float(r["max_score"])]
    if lost:
        raise RuntimeError(f"{root}: convlab grade {submissions}: the perfect student lost points: "
                           f"{lost[0]['grade_id']}: {lost[0]['message'][:300]}")


def _timed(root: Path, submissions: Path, out: Path, group: Path | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and all its descendants: counted by the
    kernel in ``group``, else polled)."""
    def join_group():
        (group / "cgroup.procs").write_text(str(os.getpid()))

    before = int((group / "cpuacct.usage").read_text()) if group else 0
    start = time.perf_counter()
    # Run from a folder of neither checkout: a grader run from inside the other checkout
    # imports that checkout's package in its workers ('' on their sys.path), and fails.
    process = subprocess.Popen([root / ".venv" / "bin" / "convlab", "grade", submissions,
                                "--out", out, "--workers", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=submissions,
                               preexec_fn=join_group if group else None)
    polled = _tree_cpu(process)
    failed = process.wait()
    wall = time.perf_counter() - start
    if failed:
        raise RuntimeError(f"{root}: convlab grade {submissions} failed: {process.stderr.read()[-2000:]}")
    _check_graded(root, submissions, out)
    if group is None:
        return wall, polled
    time.sleep(0.5)  # what the command left behind winds down
    return wall, (int((group / "cpuacct.usage").read_text()) - before) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[1])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sides = {"old": args.old.resolve(), "new": args.new.resolve()}
    times = {}  # (label, side) -> [(wall, cpu)]
    group = _cpu_group()
    print(f"CPU time: {'cgroup ' + str(group) if group else 'polled'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="convlab-side-by-side-") as tmp:
        runs = {side: _build(root, Path(tmp) / side) for side, root in sides.items()}
        labels = [label for label in runs["new"] if label in runs["old"]]
        for r in range(args.rounds):
            order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
            for label in labels:
                for side in order:
                    out = Path(tmp) / f"out-{side}-{r}-{label.strip('()').replace(' ', '_')}"
                    wall, cpu = _timed(sides[side], runs[side][label], out, group)
                    times.setdefault((label, side), []).append((wall, cpu))
                    print(f"round {r + 1} {label} {side}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if group:  # empty once the last run's stragglers have exited
        for _ in range(50):
            with contextlib.suppress(OSError):
                group.rmdir()
                break
            time.sleep(0.2)
    print("\n| notebook | old wall s | new wall s | wall ratio | old CPU s | new CPU s | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        old = [statistics.median(v) for v in zip(*times[(label, "old")])]
        new = [statistics.median(v) for v in zip(*times[(label, "new")])]
        print(f"| {label} | {old[0]:.1f} | {new[0]:.1f} | {new[0] / old[0]:.2f} "
              f"| {old[1]:.1f} | {new[1]:.1f} | {new[1] / old[1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
