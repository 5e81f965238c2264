"""Grading workers with a budget (``autograder.run.workers``), with light work (``pool_jobs``):
each item ends with an outcome, over-budget items are killed with everything they started,
a retry never gets a new budget, and an interrupted run leaves no process behind."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import pool_jobs
from autograder.run.workers import Budget, descendants, run_bounded

SPAWN = multiprocessing.get_context("spawn")  # light workers: no torch, no nbgrader


def _run(items, seconds=4.0, memory_mb=300, processes=2, work=pool_jobs.work, **kwargs):
    return run_bounded(items, work, processes=processes, seconds=lambda item: seconds,
                       memory_mb=memory_mb, context=SPAWN, **kwargs)


def test_every_item_ends_with_its_own_outcome_and_the_run_goes_on(tmp_path):
    items = [("ok", 1), ("sleep", 60), ("hog", 700), ("raise", "boom"), ("exit", 3), ("ok", 5)]
    before = set(descendants(os.getpid()))  # what other tests in this process left running
    start = time.monotonic()
    found = _run(items, start=pool_jobs.start, initargs=(str(tmp_path),))
    assert time.monotonic() - start < 30
    assert [f.kind for f in found] == ["done", "timeout", "memory", "error", "died", "done"]
    assert found[0].value == 2 and found[5].value == 10
    assert found[3].detail == "RuntimeError: boom"
    assert 4 <= found[1].seconds < 6
    # killed workers were replaced: more workers started than run at once
    assert len(list(tmp_path.glob("worker-*"))) >= 4
    # What may outlive the run: multiprocessing's helpers, and the grading sandbox's spare
    # (autograder.sandbox.host._SPARE) that earlier tests in this process started.
    allowed = ("resource_tracker", "forkserver", "convlab-runtime-")
    left = {p: Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")
            for p in set(descendants(os.getpid())) - before}
    assert all(any(word in cmdline for word in allowed) for cmdline in left.values()), left


def test_a_retry_gets_what_is_left_of_the_budget_not_a_new_one():
    found = _run([("x", 1.5)], seconds=4.0, processes=1, work=pool_jobs.sleep_then_exit)
    # died at 1.5 s, retried with 2.5 s left, died again: about 3 s in all, never 2 x 4 s
    assert found[0].kind == "died" and 2.5 < found[0].seconds <= 4.0


def test_a_process_that_leaves_its_worker_is_killed_with_it(tmp_path):
    flag = tmp_path / "survivor-started"
    found = _run([("survivor", str(flag))], seconds=3.0, processes=1)
    assert found[0].kind == "timeout" and flag.exists()
    left = [p for p in descendants(os.getpid())
            if "sleep(600)" in Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")]
    assert left == []


def test_budget_rejects_nonsense():
    with pytest.raises(ValueError, match="positive"):
        Budget(seconds=0)
    with pytest.raises(ValueError, match="memory"):
        Budget(memory_mb=-1)


_INTERRUPTED = textwrap.dedent('''
    import signal, sys, tempfile
    # As at a terminal: a shell starts background jobs (`make test &`) with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path.insert(0, {tests!r})
    import multiprocessing, pool_jobs
    from autograder.pipeline import _interruptible
    from autograder.run.workers import run_bounded

    if __name__ == "__main__":
        with _interruptible():
            try:
                with tempfile.TemporaryDirectory(prefix="convlab-grade-") as scratch:
                    print("running", flush=True)
                    run_bounded([("survivor", scratch + "/flag")] * 2, pool_jobs.work, processes=2,
                                seconds=lambda item: 600, memory_mb=0,
                                context=multiprocessing.get_context("spawn"))
            except KeyboardInterrupt:
                sys.exit(130)
''')


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_leaves_no_process_and_no_temporary_folder(tmp_path, signum):
    marker = f"convlab-test-{os.getpid()}-{signum}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "CONVLAB_TEST_MARKER": marker}
    script = _INTERRUPTED.format(tests=str(Path(__file__).parent))
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "running"
    deadline = time.monotonic() + 60
    while not list(tmp.glob("convlab-grade-*/flag")) and time.monotonic() < deadline:
        time.sleep(0.2)  # the survivors are up
    time.sleep(0.5)
    process.send_signal(signum)
    assert process.wait(timeout=180) == 130  # generous: a loaded machine starts workers slowly
    time.sleep(0.5)
    ours = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                ours.append(entry.name)
        except OSError:
            continue
    assert ours == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("convlab-")] == []


def test_memory_counts_every_process_under_the_worker():
    import budget_jobs

    # The worker stays small; the helper process it starts holds 100 or 400 MiB.
    start = time.monotonic()
    found = _run([("hog", 100), ("hog", 400)], seconds=20.0, memory_mb=300, processes=1,
                 work=budget_jobs.child_hog)
    assert [f.kind for f in found] == ["done", "memory"]
    assert found[0].value == 100
    assert "every process under it" in found[1].detail
    assert time.monotonic() - start < 20  # caught while it held the memory, not at the deadline
