"""Run an expensive grading once per test session, also under pytest-xdist.

A module-scoped fixture runs once per xdist worker that gets one of the module's tests, so
a class graded in a fixture would be graded once per worker. ``once`` makes the first
worker grade into a folder all workers share while the others wait on a lock.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Callable


def once(tmp_path_factory, name: str, compute: Callable[[Path], None]) -> Path:
    """``compute(folder)`` once per session; returns the folder it filled."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            compute(folder)
            (folder / ".done").touch()
    return folder
