"""``convlab grade`` and ``convlab demo`` as the command line calls them (the library's `convlab`
parses the arguments): the wiring of isolation, executor and exit status around
``autograder.pipeline.grade``."""
from __future__ import annotations

import os
import sys

from .intake import DEFAULT_NAMED_REGEXP
from .safe_text import terminal

__all__ = ["grade_command", "demo_command", "executor_for"]


def executor_for(scheduler: str | None, workers: int):
    """The executor ``--scheduler`` names and the work it runs per job: (None, grade_job)
    for the local pool (``grade`` makes it); else the Dask executor at that address
    ("local": a LocalCluster of ``workers`` processes on loopback), each task grading one
    job within its budget on the worker's machine."""
    from .run.job import grade_job, lost

    if not scheduler:
        return None, grade_job
    try:
        from .run.executors import DaskExecutor
    except ImportError as exc:
        raise ValueError(f"--scheduler needs the Dask executor (autograder/run/executors.py "
                         f"and the distributed package): {exc}") from None
    from .run.pool import grade_within_budget, prepare_remote_worker

    address = None if scheduler == "local" else scheduler
    return (DaskExecutor(address, n_workers=workers, lost=lost, setup=prepare_remote_worker),
            grade_within_budget)


def grade_command(submissions: str, out: str, workers: int = 1,
                  named_regexp: str | None = None, similarity_threshold: float | None = None,
                  no_isolation: bool = False, scheduler: str | None = None,
                  force: bool = False, db_url: str | None = None) -> int:
    """``convlab grade``: exit 0 when every submission was graded, 2 on bad arguments or
    where no sandbox can be made (unless ``no_isolation``), 130 when interrupted (Ctrl-C)."""
    from . import startup  # noqa: F401  (before nbgrader: see autograder/startup.py)
    from .pipeline import grade
    from .sandbox import HOW_TO_ISOLATE, isolation_problem, isolation_waived

    if no_isolation:
        os.environ["CONVLAB_NO_ISOLATION"] = "1"  # the workers and nbgrader inherit it
        print("convlab grade: grading WITHOUT isolation (--no-isolation): every score is marked so.",
              file=sys.stderr)
    elif not isolation_waived() and (problem := isolation_problem()) is not None:
        print(terminal(f"convlab grade: refusing to grade: {problem}. {HOW_TO_ISOLATE}"),
              file=sys.stderr)
        return 2
    try:
        executor, work = executor_for(scheduler, workers)
        grade(submissions, out, workers, named_regexp=named_regexp or DEFAULT_NAMED_REGEXP,
              similarity_threshold=similarity_threshold, executor=executor, work=work,
              force=force, db_url=db_url)
    except ValueError as exc:
        print(terminal(f"convlab grade: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nconvlab grade: interrupted; {out} was left as it was", file=sys.stderr)
        return 130
    return 0


def demo_command() -> int:
    from .demo import main

    return main()
