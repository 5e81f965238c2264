"""The local executor: grading jobs on worker processes of this machine, each job within its
budget (autograder.run.workers.run_bounded: wall-clock seconds per notebook, memory of the
worker with every process under it; a worker that dies is replaced and its job retried
once). Workers are forked from a fork server that imported nbgrader and the grader once;
each makes its scratch course (``job.install_worker``) from the coordinator's template."""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Sequence

from ..limits import Budget
from ..scrub import clip_error, scrub
from .workers import Finished, over_budget, run_bounded
from .job import GradingJob, JobResult, grade_job, install_worker, lost
from .workspace import project_root

__all__ = ["LocalExecutor", "start_fork_server", "grade_within_budget", "prepare_remote_worker"]

# Modules every worker needs: the fork server imports them once and forks the workers
# from itself, so a worker starts with nbgrader and torch loaded (a spawned one would
# import them again; a fork of this process would inherit whatever threads it has).
# autograder.startup first: it spares nbgrader's import an unused parser (seconds).
_PRELOAD = ["autograder.startup", "nbgrader.converters", "nbgrader.api", "autograder.run.job",
            "autograder.judge.preprocessor", "autograder.run.workers", "autograder.judge.grader"]

# The fork server listens on a socket under TMPDIR ("pymp-XXXXXXXX/listener-XXXXXXXX"), and
# a socket's path may hold at most 107 bytes (AF_UNIX): a longer TMPDIR spawns the workers.
_SOCKET_PATH_BYTES = 107
_SOCKET_NAME_BYTES = len("/pymp-xxxxxxxx/listener-xxxxxxxx") + 8


def _worker_context():
    room = _SOCKET_PATH_BYTES - len(os.fsencode(tempfile.gettempdir()))
    if "forkserver" not in multiprocessing.get_all_start_methods() or room < _SOCKET_NAME_BYTES:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def start_fork_server() -> None:
    """Start the fork server now (it imports what workers need while the coordinator
    prepares the course)."""
    if _worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _start_worker(course_root: Path, gradebook: Path | None, scratch: Path, spare: bool = True) -> None:
    # Ctrl-C is for the parent, which stops the workers; a worker that caught it would
    # record it as the student's failure and move on to the next student.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stopped by the parent (SIGTERM): unwind, so that the sandbox's exit handlers run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # nbgrader and SQLAlchemy talk a lot; what matters reaches the results and messages.
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    # Every temporary folder this worker and its sandboxes make lies inside the run's
    # scratch folder, which the run removes even when this worker is killed. A worker
    # started as the run ended finds it gone, and stops (mkdir without parents).
    temporary = Path(scratch) / f"tmp-{os.getpid()}"
    temporary.mkdir()
    os.environ["TMPDIR"] = tempfile.tempdir = str(temporary)
    # A spare sandbox (autograder.sandbox.host) is started for this worker's next notebook:
    # where every worker gets one notebook at most, there is none, and the spare's start-up
    # (a torch import, every shared object mapped: seconds of CPU) would be thrown away.
    if not spare:
        os.environ["CONVLAB_SANDBOX_SPARE"] = "0"
    install_worker(course_root, Path(scratch) / f"worker-{os.getpid()}", gradebook)


def outcome(job: GradingJob, finished: Finished, budget: Budget) -> JobResult:
    """The job's result from how its worker ended (workers.Finished)."""
    if finished.kind == "done" and isinstance(finished.value, JobResult):
        return finished.value
    why = over_budget(finished, budget, len(job.tests))  # nbgrader autograde's wording too
    return lost(job, scrub(clip_error(why, 600), 600), finished.seconds)


class LocalExecutor:
    """``workers`` processes on this machine. ``course_root`` and ``gradebook`` (the
    coordinator's template course, copied by each worker) spare every worker a
    generate_assignment; ``start``/``initargs`` replace the worker's set-up (tests)."""

    def __init__(self, workers: int = 1, budget: Budget | None = None, *,
                 course_root: Path | None = None, gradebook: Path | None = None,
                 start: Callable | None = None, initargs: tuple | None = None):
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.budget = budget or Budget()
        self.course_root, self.gradebook = course_root, gradebook
        self.start, self.initargs = start, initargs

    def map(self, work: Callable = grade_job, jobs: Sequence[GradingJob] = (),
            on_result: Callable | None = None) -> list[JobResult]:
        jobs = list(jobs)
        if not jobs:
            return []
        budget = self.budget

        def report(index: int, finished: Finished) -> None:
            if on_result is not None:
                on_result(index, outcome(jobs[index], finished, budget))

        with tempfile.TemporaryDirectory(prefix="convlab-workers-") as scratch:
            if self.start is None:
                from .workspace import project_root

                start = _start_worker
                initargs = (Path(self.course_root or project_root()), self.gradebook, Path(scratch),
                            len(jobs) > self.workers)
            else:
                start, initargs = self.start, self.initargs or ()
            finished = run_bounded(
                jobs, work, processes=min(self.workers, len(jobs)),
                seconds=lambda job: budget.seconds * max(1, len(job.tests)),
                memory_mb=budget.memory_mb, context=_worker_context(), start=start,
                initargs=initargs, report=report, affinity=lambda job: job.student)
        return [outcome(job, done, budget) for job, done in zip(jobs, finished)]


# --- a job on another machine's worker (the Dask executor's work) ---------------------------

def prepare_remote_worker() -> None:
    """Once per remote worker process: the template course (generate_assignment for every
    assignment), which each job's budgeted worker then copies."""
    from .workspace import Course

    Course.load(project_root())


def grade_within_budget(job: GradingJob) -> JobResult:
    """``grade_job`` under the job's own budget, in a worker process of this machine: what
    a Dask task runs, so a notebook costs a remote worker what it costs a local run."""
    from .workspace import Course

    gradebook = Course.load(project_root()).template.gradebook
    return LocalExecutor(1, job.budget, gradebook=gradebook).map(grade_job, [job])[0]
