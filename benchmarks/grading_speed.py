"""How fast ``convlab grade`` grades: one full submission, then a class of 20 on 1 and 2 workers.

    .venv/bin/python benchmarks/grading_speed.py [--students 20] [--out benchmarks/GRADING.md]

Every number is the wall-clock time of a whole ``convlab grade`` run, as an instructor
waits for it: course setup (nbgrader generate_assignment into a scratch gradebook),
starting the worker processes, nbgrader autograde + the trusted grader + feedback for each
student and assignment, and writing the outputs. The "fixed cost" row is that run on a
class whose only student submitted nothing, so nothing is autograded.

The class is built from the example students (autograder/examples), cycling through the
kinds a real class has: full solutions, classic mistakes, untouched stubs, noisy right
answers, stripped metadata.
"""
from __future__ import annotations

import argparse
import datetime
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from autograder.cli import grade
from autograder.examples.build import build, course_notebooks
from convlab.cli import repo_root

CLASS_KINDS = ["perfect", "mistakes", "untouched", "noisy", "stripped"]


def _class(source: Path, dest: Path, size: int) -> Path:
    """``size`` students, copies of the example kinds in turn."""
    for i in range(size):
        kind = CLASS_KINDS[i % len(CLASS_KINDS)]
        shutil.copytree(source / kind, dest / f"{kind}_{i:02d}")
    return dest


def _timed(submissions: Path, out: Path, workers: int) -> float:
    start = time.perf_counter()
    grade(submissions, out, workers, progress=io.StringIO(), report=io.StringIO())
    return time.perf_counter() - start


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--out", type=Path, default=repo_root() / "benchmarks" / "GRADING.md")
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

        fixed = _timed(single("empty_folder"), tmp / "out-fixed", 1)
        results.append(("fixed cost (1 student, nothing submitted)", 1, 1, fixed))
        print(f"fixed cost: {fixed:.1f} s", flush=True)
        one = _timed(single("perfect"), tmp / "out-one", 1)
        results.append((f"1 full submission ({', '.join(assignments)})", 1, 1, one))
        print(f"one full submission: {one:.1f} s", flush=True)
        klass = _class(tmp / "examples", tmp / "class", args.students)
        for workers in (1, 2):
            seconds = _timed(klass, tmp / f"out-class-{workers}", workers)
            results.append((f"class of {args.students}", args.students, workers, seconds))
            print(f"{args.students} students, {workers} worker(s): {seconds:.1f} s", flush=True)

    lines = [
        "# Grading speed",
        "",
        f"Measured {datetime.date.today()} by `benchmarks/grading_speed.py` on: {_machine()}.",
        "Other processes shared the machine; times are single runs, wall clock, for a whole",
        "`convlab grade` (setup, workers, nbgrader autograde + trusted grader + feedback, outputs).",
        "",
        "| run | students | workers | seconds | seconds per student | students per minute |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, students, workers, seconds in results:
        lines.append(f"| {label} | {students} | {workers} | {seconds:.1f} | "
                     f"{seconds / students:.1f} | {60 * students / seconds:.1f} |")
    speedup = results[2][3] / results[3][3]
    lines += ["", f"Speed-up of 2 workers over 1 on the class: {speedup:.2f}x.", ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
