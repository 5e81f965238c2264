"""Incremental, resumable grading: run only the jobs whose result is not already known.

Every job has a key (``ledger.job_key``): its notebooks' bytes, its timestamp, a digest of
the course secret (never the secret), its budget and a digest of the grading code. The
ledger (``DIR/ledger.db``) maps keys to finished results, committed one by one as each job
ends, so

* a regrade grades only the submissions whose content, seed or grading code changed;
* a run that was killed starts again where it stopped: at most the jobs in flight are
  graded again, and none is lost;
* ``force`` grades everything again (and replaces what the ledger held).

A result that is not a verdict (``JobResult.complete`` is False: over its budget, its
worker lost) is never kept, so the next run tries that job again.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from .job import GradingJob, JobResult, grade_job
from .ledger import Ledger, grading_code_digest, job_key, seed_digest

__all__ = ["job_keys", "run_resumable"]


def job_keys(jobs: Sequence[GradingJob], secret: bytes) -> list[str]:
    """Each job's ledger key."""
    seeds, code = seed_digest(secret), grading_code_digest()
    return [job_key(job.notebooks, seeds, code, job.assignment, job.student,
                    timestamp=job.timestamp,
                    limits={**dataclasses.asdict(job.budget), "submitted": job.submitted,
                            "refused": list(job.refused), "others": list(job.others)})
            for job in jobs]


def run_resumable(executor, jobs: Sequence[GradingJob], keys: Sequence[str], ledger: Ledger, *,
                  force: bool = False, on_result: Callable[[int, JobResult], None] | None = None,
                  work: Callable = grade_job) -> tuple[list[JobResult], int]:
    """The result of every job, in job order, and how many were graded in this run: known
    results come from ``ledger`` (unless ``force``), the others from ``executor``, each
    kept in the ledger as it arrives. A job without a notebook never reaches ``executor``
    (nor ``work``): ``grade_job`` makes its result in this process. ``on_result(index,
    result)`` sees every result, the known ones first."""
    known = {} if force else ledger.get_many(keys)
    results: list[JobResult | None] = [None] * len(jobs)
    todo, runs = [], 0
    for index, key in enumerate(keys):
        if key in known:
            results[index] = JobResult.from_json(known[key])
            if on_result is not None:
                on_result(index, results[index])
        elif not jobs[index].notebooks:
            # No notebook to run (nothing handed in, only misnamed or refused files): no
            # student code, so no worker nor sandbox; its zeros and pages are made here,
            # by grade_job as a worker would, and a class with nothing to run starts none.
            results[index] = grade_job(jobs[index])
            if results[index].complete:
                ledger.put(key, results[index].to_json())
            runs += 1
            if on_result is not None:
                on_result(index, results[index])
        else:
            todo.append(index)

    def finished(position: int, result: JobResult) -> None:
        index = todo[position]
        if result.complete:
            ledger.put(keys[index], result.to_json())
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    if todo:
        graded = executor.map(work, [jobs[index] for index in todo], finished)
        for position, result in zip(todo, graded):
            results[position] = result
    ledger.forget_except(keys)
    return results, runs + len(todo)
