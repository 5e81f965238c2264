"""One budget for everything a notebook costs (issue 14, item 4).

* the workers' watchdog counts the memory of the grading process and of every process
  under it (tests/test_workers.py with a light helper process; here, a real sandbox's
  child holding memory under ``nbgrader autograde``'s worker);
* each CPU sandbox's process tree has an RLIMIT_DATA ceiling set before bwrap starts;
* ``nbgrader autograde`` (``TrustedGrade``) grades each notebook within the same budget as
  ``convlab grade``, with the same message, and goes on to the next notebook;
* where cgroup v2 is delegated, each worker gets a group (memory.max, pids.max) that it
  joins before starting anything, and the kernel's OOM kill there is reported as ``memory``.
"""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import budget_jobs
from autograder.run import cgroups, workers
from autograder.limits import Budget, Limits
from autograder.run.workers import Finished, resident_mb, run_bounded

ROOT = Path(__file__).resolve().parents[1]
SPAWN = multiprocessing.get_context("spawn")  # light workers: no torch


# --- what the watchdog counts -----------------------------------------------------------

def test_resident_memory_counts_what_a_process_holds_not_the_files_it_maps():
    before = resident_mb(os.getpid())
    hoard = b"\x01" * (200 * 2**20)
    assert 190 < resident_mb(os.getpid()) - before < 260
    del hoard
    assert resident_mb(2**22 + 12345) == 0.0  # no such process: nothing, never an error


# --- the sandbox's ceiling ------------------------------------------------------------

def _max_data(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max data size"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    raise AssertionError("no data limit listed")


def test_the_data_ceiling_stops_a_process_of_the_sandbox_tree():
    from autograder.sandbox import host

    ceiling = host._data_ceiling(Limits(memory_mb=64), cuda=False)
    mib = 64 + host._DATA_HEADROOM_MB
    grow = ("import resource, sys\nprint(resource.getrlimit(resource.RLIMIT_DATA)[0] >> 20)\n"
            "try:\n    b = bytearray(int(sys.argv[1]) * 2**20)\n"
            "except MemoryError:\n    sys.exit(3)\n")
    over = subprocess.run([sys.executable, "-c", grow, str(mib + 64)], preexec_fn=ceiling,
                          capture_output=True, text=True)
    under = subprocess.run([sys.executable, "-c", grow, "64"], preexec_fn=ceiling,
                           capture_output=True, text=True)
    assert (over.returncode, over.stdout) == (3, f"{mib}\n")
    assert (under.returncode, under.stdout) == (0, f"{mib}\n")
    assert host._data_ceiling(Limits(), cuda=True) is None  # CUDA's mappings: not measured


@pytest.mark.slow
def test_every_process_of_a_started_sandbox_has_the_ceiling():
    from autograder.sandbox import host
    from autograder.sandbox.launcher import isolation_problem

    limits = Limits(memory_mb=300, startup_seconds=120)
    supervisor = host._Supervisor(limits, isolation_problem() is None, cuda=False).wait_ready()
    try:
        tree = [supervisor.proc.pid, *workers.descendants(supervisor.proc.pid)]
        assert len(tree) >= 2  # bwrap (or the plain supervisor) and what it runs
        ceiling = (300 + host._DATA_HEADROOM_MB) * 2**20
        assert {_max_data(pid) for pid in tree} == {ceiling}
    finally:
        supervisor.kill()


# --- nbgrader autograde: the same budget ---------------------------------------------

_SOLUTIONS = ROOT / "solutions" / "01_convolution" / "01_convolution.ipynb"
_POINTS = {"test_conv_output_size": 2.0}


def _notebook(prefix: str = ""):
    """The solution notebook, ``prefix`` run at the top of the graded answer's cell."""
    nb = nbformat.read(_SOLUTIONS, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "conv_output_size":
            cell.source = prefix + cell.source
    return nb


def _graded(grader, nb) -> tuple[float, str]:
    """Run the preprocessor as nbgrader autograde does; the test cell's score and message."""
    from autograder.run.job import cell_message, cell_record
    from autograder.judge.hidden_cases import SeedKey
    from autograder.judge.preprocessor import TestCell

    grader.test_cells = lambda resources: [TestCell(g, p, "") for g, p in _POINTS.items()]
    key = SeedKey.for_submission("01_convolution", "ada", "1")
    grader.seed_key = lambda resources, nb=None: key
    resources = {"nbgrader": {"assignment": "01_convolution", "notebook": "01_convolution",
                              "student": "ada", "db_url": None}}
    nb, _ = grader.preprocess(nb, resources)
    [cell] = [c for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade_id") == "test_conv_output_size"]
    return float(cell_record(cell)["score"]), cell_message(cell)


def _convlab_grade_says(kind: str, budget: Budget, tmp_path: Path) -> str:
    """What ``convlab grade`` writes for a notebook that ended ``kind``."""
    from autograder.run.job import GradingJob
    from autograder.run.pool import outcome
    from autograder.run.workspace import TestCell

    job = GradingJob("ada", "01_convolution", {},
                     {"01_convolution": tuple(TestCell(g, p) for g, p in _POINTS.items())})
    return outcome(job, Finished(kind), budget).cells[0].message


def test_the_preprocessor_budget_defaults_are_convlab_grades():
    from autograder.judge.preprocessor import TrustedGrade

    assert TrustedGrade().budget() == Budget()
    configured = TrustedGrade(notebook_budget_seconds=5, notebook_memory_mb=700)
    assert configured.budget() == Budget(5, 700)


@pytest.mark.slow
def test_autograde_stops_a_looping_notebook_at_its_budget_and_grades_the_next(tmp_path):
    from autograder.judge.preprocessor import TrustedGrade

    grader = TrustedGrade(notebook_budget_seconds=3)
    start = time.monotonic()
    score, message = _graded(grader, _notebook("while True:\n    pass\n"))
    assert time.monotonic() - start < 9  # the budget, not the sandbox's 10 s per cell
    assert (score, message) == (0.0, _convlab_grade_says("timeout", grader.budget(), tmp_path))
    assert "budget of 3 s per notebook" in message
    grader.notebook_budget_seconds = 120  # the next notebook: graded as usual
    assert _graded(grader, _notebook())[0] == 2.0


@pytest.mark.slow
def test_autograde_stops_a_notebook_holding_too_much_memory_and_grades_the_next(tmp_path):
    from autograder.judge.preprocessor import TrustedGrade

    # The forked worker counts this process's memory (shared pages), its sandbox's
    # supervisor and child ~450 MiB more: 700 MiB over this process holds the answer
    # that holds 900 MiB, never the solution.
    memory = int(resident_mb(os.getpid())) + 700
    grader = TrustedGrade(notebook_memory_mb=memory)
    hog = "import time\nhoard = b'\\x01' * (900 * 2**20)\ntime.sleep(8)\n"
    score, message = _graded(grader, _notebook(hog))
    assert (score, message) == (0.0, _convlab_grade_says("memory", grader.budget(), tmp_path))
    assert f"memory budget of {memory} MiB per notebook" in message
    assert _graded(grader, _notebook())[0] == 2.0  # the same budget holds the solution


# --- cgroup v2 where delegated ----------------------------------------------------------

def _fake_cgroup(tmp_path: Path, enabled: str) -> tuple[Path, str]:
    mount = tmp_path / "cgroup"
    own = mount / "grader.service"
    own.mkdir(parents=True)
    (own / "cgroup.subtree_control").write_text(enabled + "\n")
    return mount, "/grader.service"


def test_a_cgroup_is_used_only_where_memory_and_pids_are_delegated(tmp_path):
    mount, own = _fake_cgroup(tmp_path, "cpu io memory pids")
    assert cgroups.delegated(mount, own) == mount / "grader.service"
    assert cgroups.delegated(*_fake_cgroup(tmp_path / "b", "cpu memory")) is None
    assert cgroups.delegated(tmp_path / "nowhere", "/") is None
    info = tmp_path / "mountinfo"
    info.write_text("30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                    "31 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n")
    assert cgroups._mount(str(info)) == Path("/sys/fs/cgroup/unified")
    listing = tmp_path / "cgroup-of-self"
    listing.write_text("4:memory:/x\n0::/user.slice/grader\n")
    assert cgroups._own(str(listing)) == "/user.slice/grader"


def test_a_worker_joins_its_group_and_an_oom_kill_there_is_memory(tmp_path, monkeypatch):
    mount, own = _fake_cgroup(tmp_path, "memory pids")
    base = mount / "grader.service"
    monkeypatch.setattr(cgroups, "delegated", lambda: base)
    found = run_bounded([("oom", str(base)), ("ok", 4)], budget_jobs.fake_oom, processes=1,
                        seconds=lambda item: 30, memory_mb=300, context=SPAWN)
    assert [f.kind for f in found] == ["memory", "done"]
    assert "the kernel stopped it" in found[0].detail
    groups = sorted(base.glob("convlab-worker-*"))
    assert len(groups) == 2  # a fresh worker, a fresh group (a real cgroup would be removed)
    for group in groups:
        assert (group / "memory.max").read_text() == str(300 * 2**20)
        assert (group / "pids.max").read_text() == str(cgroups.TASKS)
        assert (group / "cgroup.procs").read_text() == "0"  # the worker put itself in


def test_a_group_reads_the_kernels_oom_events(tmp_path):
    group = cgroups.Group(tmp_path, "g", 100)
    assert not group.oom_killed()
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not group.oom_killed()  # memory.max reached, nothing killed: not over
    (group.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_killed()
    with pytest.raises(ValueError, match="positive"):
        cgroups.Group(tmp_path, "h", 0)


def _parallel_ops(_):
    import torch

    a = torch.randn(1000, 1000)
    return float((a @ a).sum() + torch.randn(2 * 10**6).exp().sum())


def test_a_forked_grading_worker_survives_its_parents_thread_pool():
    import torch

    from autograder.judge.preprocessor import _forked_worker

    a = torch.randn(1000, 1000)  # this process's OpenMP pool runs before the fork
    (a @ a).sum() + torch.randn(2 * 10**6).exp().sum()
    found = run_bounded([None], _parallel_ops, processes=1, seconds=lambda _: 30, memory_mb=0,
                        context=multiprocessing.get_context("fork"), start=_forked_worker)
    assert found[0].kind == "done", found


@pytest.mark.parametrize("jobs, workers, spare", [(1, 1, False), (2, 2, False), (3, 2, True)])
def test_a_worker_starts_a_spare_sandbox_only_where_it_may_grade_a_second_job(monkeypatch, tmp_path, jobs,
                                                                               workers, spare):
    # A spare sandbox costs seconds of CPU to start: thrown away where no worker grades a
    # second job, started where one may (the next student's then starts at once).
    import logging
    import signal
    import tempfile
    import warnings

    from autograder.run import pool

    seen = {}
    monkeypatch.setattr(pool, "run_bounded", lambda jobs, work, **kw: seen.update(kw) or [])
    pool.LocalExecutor(workers, course_root=tmp_path).map(jobs=[object()] * jobs)
    *initargs, flag = seen["initargs"]
    assert flag is spare
    # What the worker's set-up makes of it (its process-wide settings kept out of this one).
    for module, name in ((signal, "signal"), (warnings, "simplefilter"), (logging, "disable")):
        monkeypatch.setattr(module, name, lambda *a, **k: None)
    monkeypatch.setattr(pool, "install_worker", lambda *a: None)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("CONVLAB_SANDBOX_SPARE", raising=False)
    (tmp_path / "scratch").mkdir()
    pool._start_worker(tmp_path, None, tmp_path / "scratch", flag)
    assert (os.environ.get("CONVLAB_SANDBOX_SPARE", "1") != "0") is spare
