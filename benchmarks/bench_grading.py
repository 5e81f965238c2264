"""How fast a class is graded: 1 and 2 local workers and a 2-worker Dask cluster, side by side.

    .venv/bin/python benchmarks/bench_grading.py [--submissions 200] [--record benchmarks/RESULTS.md]
    .venv/bin/python benchmarks/bench_grading.py --submissions 5      # a smoke run

A *submission* is one student's notebook for one assignment. The class is built from the
example students (autograder/examples: full solutions, classic mistakes, untouched stubs,
noisy right answers, stripped metadata, in turn), each student submitting all five
assignments (the last one fewer where N is not a multiple of five), each with a
timestamp.txt of its own (the attempt: its hidden cases differ from every other copy's).

Every figure is the wall clock of a whole ``convlab grade`` command, run as a fresh process,
as an instructor waits for it. Per configuration:

* **fixed start-up**: the command on a class whose only student submitted nothing (Python
  start-up, imports, course preparation, workers starting, writing the outputs);
* **seconds per submission**: (the class's time - fixed start-up) / N;
* **scaling efficiency**: the 1-worker run's seconds per submission / (workers x this
  configuration's seconds per submission); 100 % = each worker as fast as one alone;
* **a class of 300 per assignment**: fixed start-up + 300 x seconds per submission x the
  assignment's weight (its mean job time over the mean of all jobs, read from the 1-worker
  run's per-job progress lines).

The Dask cluster is started here on loopback (``dask scheduler`` and ``dask worker
--nworkers 2 --nthreads 1``), once, before its runs, as an instructor keeps one running: its
own start-up is reported on a line of its own, not in the runs'. The runs grade with a
course secret made for the benchmark in its temporary folder, never the instructor's.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from autograder.examples.build import build, course_notebooks
from convlab.cli import repo_root

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_speed import _busy, _machine, write_section  # noqa: E402  (this folder's sibling)

KINDS = ["perfect", "mistakes", "untouched", "noisy", "stripped"]
CLASS_OF = 300
BEGIN, END = "<!-- grading-bench: begin -->", "<!-- grading-bench: end -->"
# `convlab grade`'s progress line: "[ 3/40] student assignment: 12/20  4.1 s ..."
_PROGRESS = re.compile(r"^\[\s*\d+/\d+\]\s+(\S+)\s+(\S+):\s+\S+\s+([\d.]+) s\b")


def make_class(examples: Path, dest: Path, submissions: int, assignments: list[str]) -> Path:
    """``submissions`` student x assignment folders in submitted/ layout under ``dest``."""
    if submissions < 1:
        raise ValueError(f"--submissions must be at least 1, got {submissions}")
    start = datetime.datetime(2026, 1, 5, 9, 0, 0)
    for n in range(submissions):
        student, a = divmod(n, len(assignments))
        kind = KINDS[student % len(KINDS)]
        source = examples / kind / assignments[a]
        target = dest / f"{kind}_{student:03d}" / assignments[a]
        if source.is_dir():
            shutil.copytree(source, target)
        else:  # this example hands nothing in for it: an empty folder, graded as such
            target.mkdir(parents=True)
        stamp = start + datetime.timedelta(minutes=n)
        (target / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
    return dest


def _convlab() -> str:
    return str(Path(sys.executable).parent / "convlab")


def grade_has_scheduler() -> bool:
    """Whether this ``convlab grade`` grades on a Dask cluster (``--scheduler``)."""
    helped = subprocess.run([_convlab(), "grade", "--help"], capture_output=True, text=True)
    return "--scheduler" in helped.stdout


def timed(submissions: Path, out: Path, options: list[str], env: dict) -> dict:
    """One ``convlab grade``: wall seconds, load before, busy share, per-job seconds."""
    load, (busy, total) = os.getloadavg()[0], _busy()
    start = time.perf_counter()
    done = subprocess.run([_convlab(), "grade", str(submissions), "--out", str(out), *options],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    busy_after, total_after = _busy()
    if done.returncode != 0:
        raise RuntimeError(f"convlab grade {' '.join(options)} failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    jobs = [(m.group(2), float(m.group(3))) for line in done.stderr.splitlines()
            if (m := _PROGRESS.match(line))]
    return {"seconds": seconds, "load": load, "jobs": jobs,
            "busy": (busy_after - busy) / max(total_after - total, 1)}


class LoopbackCluster:
    """``dask scheduler`` + ``dask worker --nworkers N --nthreads 1`` on 127.0.0.1."""

    def __init__(self, folder: Path, workers: int, env: dict):
        self.folder, self.workers = folder, workers
        # The workers need no secret (jobs carry seeds); the scheduler gives one retry, as
        # the local pool does.
        self.env = {k: v for k, v in env.items() if k != "CONVLAB_SECRET_FILE"}
        self.env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "1"
        self.env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"  # grading starts processes
        self.processes: list[subprocess.Popen] = []
        self.address = ""
        self.seconds = 0.0

    def __enter__(self) -> "LoopbackCluster":
        from autograder.run.executors import DaskExecutor

        dask = str(Path(sys.executable).parent / "dask")
        info = self.folder / "scheduler.json"
        start = time.perf_counter()
        try:
            # Their HTTP routes (health, metrics) on free loopback ports, not 0.0.0.0:8787.
            quiet = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
            self._start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", *quiet,
                         "--scheduler-file", str(info)])
            deadline = time.monotonic() + 60
            while not info.exists():
                if time.monotonic() > deadline or self.processes[0].poll() is not None:
                    raise RuntimeError("dask scheduler did not start")
                time.sleep(0.1)
            self.address = json.loads(info.read_text())["address"]
            self._start([dask, "worker", self.address, "--host", "127.0.0.1", "--nworkers",
                         str(self.workers), "--nthreads", "1", "--memory-limit", "0", *quiet,
                         "--local-directory", str(self.folder / "dask-workers")])
            with DaskExecutor(self.address) as executor:
                executor.client.wait_for_workers(self.workers, timeout=120)
        except BaseException:
            self.__exit__()
            raise
        self.seconds = time.perf_counter() - start
        return self

    def _start(self, command: list[str]) -> None:
        log = open(self.folder / f"{Path(command[1]).name}-{len(self.processes)}.log", "w")
        self.processes.append(subprocess.Popen(command, env=self.env, stdout=log, stderr=log,
                                               cwd=self.folder))

    def __exit__(self, *exc_info) -> None:
        for process in reversed(self.processes):  # workers first, then the scheduler
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def per_assignment(jobs: list[tuple[str, float]], assignments: list[str]) -> dict[str, float]:
    """Mean seconds of one job per assignment, from a run's progress lines."""
    seen = defaultdict(list)
    for assignment, seconds in jobs:
        seen[assignment].append(seconds)
    return {a: sum(seen[a]) / len(seen[a]) for a in assignments if seen[a]}


def figures(runs: dict, submissions: int) -> dict:
    """Per configuration: fixed, per submission, efficiency (from the runs' seconds)."""
    table = {}
    for name, run in runs.items():
        per = max(run["class"]["seconds"] - run["fixed"]["seconds"], 0.0) / submissions
        table[name] = {"workers": run["workers"], "fixed": run["fixed"]["seconds"],
                       "class": run["class"]["seconds"], "per": per,
                       "load": run["class"]["load"], "busy": run["class"]["busy"]}
    base = table["local, 1 worker"]["per"]
    for row in table.values():
        row["efficiency"] = base / (row["workers"] * row["per"]) if row["per"] > 0 else math.nan
    return table


def estimates(table: dict, job_means: dict[str, float]) -> dict:
    """Seconds for a class of CLASS_OF per assignment, per configuration: its fixed start-up
    and CLASS_OF times its seconds per submission, weighted by how long that assignment's
    jobs took against the mean job (1-worker run; weight 1 where no job times were read)."""
    mean = sum(job_means.values()) / len(job_means) if job_means else 0.0
    weights = {a: s / mean for a, s in job_means.items()} if mean > 0 else {"every assignment": 1.0}
    return {name: {a: row["fixed"] + CLASS_OF * row["per"] * w for a, w in weights.items()}
            for name, row in table.items()}


def report(table: dict, plan: dict, job_means: dict, submissions: int, cluster_seconds,
           skipped: str | None) -> str:
    lines = [
        BEGIN,
        "## Grading speed: local workers and a Dask cluster (issue 17)",
        "",
        f"Measured {datetime.date.today()} by `benchmarks/bench_grading.py --submissions "
        f"{submissions}` on: {_machine()}.",
        "",
        "Each figure is one `convlab grade` command, wall clock, start-up to outputs (see the",
        "script's docstring for how each column is derived). \"load\" is the machine's 1-minute",
        "load average before the class's run, \"busy\" the share of its CPU in use during it.",
        "",
        "| configuration | fixed start-up s | class s | s per submission | scaling efficiency "
        "| load | busy |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in table.items():
        lines.append(f"| {name} | {row['fixed']:.1f} | {row['class']:.1f} | {row['per']:.2f} "
                     f"| {row['efficiency']:.0%} | {row['load']:.1f} | {row['busy']:.0%} |")
    if cluster_seconds is not None:
        lines += ["", f"Starting the loopback Dask cluster (scheduler + 2 workers, once per "
                      f"session, not per run): {cluster_seconds:.1f} s."]
    if skipped:
        lines += ["", f"Dask cluster: not measured ({skipped})."]
    if job_means:
        lines += ["", "Mean seconds of one submission's grading job (1 worker, from the progress "
                      "lines): " + ", ".join(f"{a} {s:.1f}" for a, s in job_means.items()) + "."]
    names = list(next(iter(plan.values())))
    lines += ["", f"Estimated minutes for a class of {CLASS_OF}, per assignment (fixed start-up + "
                  f"{CLASS_OF} x seconds per submission x the assignment's weight):", "",
              "| configuration | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, row in plan.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[a] / 60:.1f}" for a in names) + " |")
    lines.append(END)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200,
                        help="student x assignment submissions in the class (default 200)")
    parser.add_argument("--record", type=Path, default=None,
                        help="put the results in this markdown file (e.g. benchmarks/RESULTS.md)")
    parser.add_argument("--no-dask", action="store_true", help="the local workers only")
    args = parser.parse_args(argv)
    if args.submissions < 1:
        parser.error(f"--submissions must be at least 1, got {args.submissions}")
    assignments = list(course_notebooks(repo_root()))
    with tempfile.TemporaryDirectory(prefix="convlab-bench-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, CONVLAB_SECRET_FILE=str(tmp / "secret" / "course_secret"))
        build(tmp / "examples", KINDS + ["empty_folder"])
        klass = make_class(tmp / "examples", tmp / "class", args.submissions, assignments)
        nothing = tmp / "nothing"
        shutil.copytree(tmp / "examples" / "empty_folder", nothing / "empty_folder")
        print(f"{args.submissions} submissions of {len(list(klass.iterdir()))} students over "
              f"{', '.join(assignments)}", flush=True)

        configurations = [("local, 1 worker", 1, ["--workers", "1"]),
                          ("local, 2 workers", 2, ["--workers", "2"])]
        runs, cluster_seconds, skipped = {}, None, None
        if args.no_dask:
            skipped = "--no-dask"
        elif not grade_has_scheduler():
            skipped = "this `convlab grade` has no --scheduler option yet"

        def measure(name, workers, options):
            runs[name] = {"workers": workers}
            for what, folder in (("fixed", nothing), ("class", klass)):
                runs[name][what] = timed(folder, tmp / f"out-{len(runs)}-{what}", options, env)
                print(f"{name}, {what}: {runs[name][what]['seconds']:.1f} s", flush=True)

        for name, workers, options in configurations:
            measure(name, workers, options)
        if skipped is None:
            with LoopbackCluster(tmp, 2, env) as cluster:
                cluster_seconds = cluster.seconds
                print(f"dask cluster up in {cluster.seconds:.1f} s at {cluster.address}", flush=True)
                measure("Dask cluster on loopback, 2 workers", 2, ["--scheduler", cluster.address])
        else:
            print(f"Dask cluster: not measured ({skipped})", flush=True)

    table = figures(runs, args.submissions)
    one = runs["local, 1 worker"]["class"]
    job_means = per_assignment(one["jobs"], assignments)
    plan = estimates(table, job_means)
    text = report(table, plan, job_means, args.submissions, cluster_seconds, skipped)
    print(text)
    if args.record is not None:
        write_section(args.record, text, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
