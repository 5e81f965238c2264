"""Processes for the gradebook tests (``test_gradebook_db.py``), run as
``python tests/gradebook_writers.py DB_URL GO_FILE STUDENT...``: waits for GO_FILE (so that
several writers start together), then records each student's submission, one line each."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ASSIGNMENT = "01_convolution"
TIMESTAMP = "2026-12-01 10:00:00 UTC"
POINTS = {"conv_a": 2.0, "conv_b": 3.0, "conv_c": 1.0}


def grades(student: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Scores that differ per student, so a grade written under another's name would show."""
    seed = sum(map(ord, student))
    return {ASSIGNMENT: {cell: (float((seed + i) % (int(points) + 1)), points)
                         for i, (cell, points) in enumerate(POINTS.items())}}


def main(db_url: str, go: str, *students: str) -> None:
    from autograder.outputs.gradebook import GradebookWriter  # imported before the start

    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go")
        time.sleep(0.005)
    with GradebookWriter(db_url) as writer:
        for student in students:
            outcome = writer.record(ASSIGNMENT, student, TIMESTAMP, grades(student))
            print(student, outcome, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
