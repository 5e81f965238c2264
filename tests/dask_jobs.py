"""Work for the Dask executor's tests (``test_dask.py``): importable by the cluster's worker
processes, light (no torch), each job a (what, argument) pair."""
from __future__ import annotations

import os
import time


def work(job):
    what, argument = job
    if what == "square":  # argument: (value, seconds to take)
        value, seconds = argument
        time.sleep(seconds)
        return value * value
    if what == "die once":  # argument: (marker file, value); the first attempt kills its worker
        marker, value = argument
        if not os.path.exists(marker):
            with open(marker, "w") as handle:
                handle.write(str(os.getpid()))
            os._exit(7)
        return ("retried", value, os.getpid())
    if what == "die":  # every attempt kills its worker; argument: a file counting attempts
        with open(argument, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        os._exit(9)
    if what == "raise":
        raise RuntimeError(argument)
    if what == "environment":
        return {name: value for name, value in os.environ.items() if name.startswith("CONVLAB")}
    if what == "pid":  # argument: a folder where each attempt leaves its worker's pid, and sleeps
        folder, seconds = argument
        with open(os.path.join(folder, f"pid-{os.getpid()}"), "w") as handle:
            handle.write("up")
        time.sleep(seconds)
        return os.getpid()
    if what == "child":  # a process of its own, as nbgrader's budgeted grading starts one
        import multiprocessing

        child = multiprocessing.get_context("spawn").Process(target=os._exit, args=(argument,))
        child.start()
        child.join()
        return child.exitcode
    if what == "crowd":  # how many tasks this job's worker holds (itself included), mid-job
        from distributed import get_worker

        time.sleep(argument)
        held = ("ready", "executing", "constrained", "waiting", "fetch", "flight")
        return sum(task.state in held for task in get_worker().state.tasks.values())
    raise ValueError(f"unknown work {what!r}")


def lost(job, why):
    return ("lost", job[0], why)


def secret_variable():
    """What a worker process holds in the secret's variable (run outside any task)."""
    return os.environ.get("CONVLAB_SECRET_FILE")
