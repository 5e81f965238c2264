"""Running the grading: one submission is a pure job (``job.GradingJob`` -> ``job.JobResult``,
``job.grade_job``), handed to an executor: ``pool.LocalExecutor`` (worker processes on
this machine, each job within its budget) or a distributed one (``executors``). Every
executor has the same ``map``; the coordinator (autograder.pipeline) does not know which
one runs its jobs."""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

__all__ = ["Executor"]


class Executor(Protocol):
    def map(self, work: Callable, jobs: Sequence, on_result: Callable | None = None) -> list:
        """``work(job)`` for every job; the results in the jobs' order. A job that could not
        be finished (over its budget, its worker lost twice) still gets a result: zero
        scores with the reason (``job.lost``). ``on_result(index, result)`` is called as
        each job ends, in the order they end."""
        ...
