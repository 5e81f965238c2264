"""How fast ``convlab grade`` grades: one full submission, then a class of 20 on 1 and 2 workers.

    .venv/bin/python benchmarks/grading_speed.py [--students 20] [--out benchmarks/RESULTS.md]

The results replace the "Grading speed" section of the output file (between its
marker comments), or are appended to it when it has none.

Every number is the wall-clock time of a whole ``convlab grade`` command, run as a fresh
process, as an instructor waits for it: Python start-up and imports, course setup (nbgrader
generate_assignment into a scratch gradebook), starting the worker processes, nbgrader
autograde + the trusted grader + feedback for each student and assignment, and writing the
outputs. The "fixed cost" row is that command on a class whose only student submitted
nothing, so nothing is autograded.

The class is built from the example students (autograder/examples), cycling through the
kinds a real class has: full solutions, classic mistakes, untouched stubs, noisy right
answers, stripped metadata.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.examples.build import build, course_notebooks
from convlab.cli import repo_root

CLASS_KINDS = ["perfect", "mistakes", "untouched", "noisy", "stripped"]


def _class(source: Path, dest: Path, size: int) -> Path:
    """``size`` students, copies of the example kinds in turn."""
    for i in range(size):
        kind = CLASS_KINDS[i % len(CLASS_KINDS)]
        shutil.copytree(source / kind, dest / f"{kind}_{i:02d}")
    return dest


def _busy() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def _timed(submissions: Path, out: Path, workers: int) -> tuple[float, float, float]:
    """(wall seconds, the machine's 1-minute load average just before, the fraction of
    the machine's CPU time that was busy during the run, whoever used it)."""
    load, (busy, total) = os.getloadavg()[0], _busy()
    start = time.perf_counter()
    subprocess.run([Path(sys.executable).parent / "convlab", "grade", submissions, "--out", out,
                    "--workers", str(workers)], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    busy_after, total_after = _busy()
    return seconds, load, (busy_after - busy) / max(total_after - total, 1)


def _machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import nbgrader
    import torch

    return (f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"nbgrader {nbgrader.__version__}")


BEGIN, END = "<!-- grading-speed: begin -->", "<!-- grading-speed: end -->"


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) into ``path`` in
    place of the previous one, so the other benchmarks' results beside it stay as they are."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--out", type=Path, default=repo_root() / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    assignments = list(course_notebooks(repo_root()))
    results = []
    with tempfile.TemporaryDirectory(prefix="convlab-bench-") as tmp:
        tmp = Path(tmp)
        build(tmp / "examples", CLASS_KINDS + ["empty_folder"])

        def single(kind):
            folder = tmp / f"one-{kind}"
            shutil.copytree(tmp / "examples" / kind, folder / kind)
            return folder

        runs = [("fixed cost (1 student, nothing submitted)", single("empty_folder"), 1, 1),
                (f"1 full submission ({', '.join(assignments)})", single("perfect"), 1, 1)]
        klass = _class(tmp / "examples", tmp / "class", args.students)
        runs += [(f"class of {args.students}", klass, args.students, w) for w in (1, 2)]
        for i, (label, folder, students, workers) in enumerate(runs):
            seconds, load, busy = _timed(folder, tmp / f"out-{i}", workers)
            results.append((label, students, workers, seconds, load, busy))
            print(f"{label}, {workers} worker(s): {seconds:.1f} s (load before {load:.1f}, "
                  f"machine busy {busy:.0%})", flush=True)

    lines = [
        BEGIN,
        "## Grading speed",
        "",
        f"Measured {datetime.date.today()} by `benchmarks/grading_speed.py` on: {_machine()}.",
        "",
        "Each row is one `convlab grade` command, wall clock, start-up to outputs. Other",
        "processes shared the machine: \"load\" is its 1-minute load average just before the run",
        "(2.0 = both cores already busy) and \"busy\" the share of its CPU time in use during the",
        "run, by anyone; a second worker only helps while a core is free.",
        "",
        "| run | students | workers | seconds | seconds per student | students per minute | load | busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, students, workers, seconds, load, busy in results:
        lines.append(f"| {label} | {students} | {workers} | {seconds:.1f} | {seconds / students:.1f} "
                     f"| {60 * students / seconds:.1f} | {load:.1f} | {busy:.0%} |")
    speedup = results[2][3] / results[3][3]
    lines += ["", f"Speed-up of 2 workers over 1 on the class: {speedup:.2f}x.", END]
    write_section(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
