"""Processes for the gradebook tests (``test_gradebook_db.py``), run as
``python tests/gradebook_writers.py DB_URL GO_FILE STUDENT...``: waits for GO_FILE (so that
several writers start together), then records each student's submission, one line each;
or ``... resumable DB_URL LEDGER LOG STUDENT...``: a run as ``convlab grade`` makes one,
with a ledger (``autograder.run.ledger``) and the gradebook."""
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


def resumable(db_url: str, ledger_path: str, log: str, *students: str) -> None:
    """Grade each student the ledger lacks: record into the gradebook, then the ledger
    (so the gradebook has whatever the ledger has). A student the ledger has is recorded
    again from the ledger, which changes nothing (a gradebook that lost it gets it back)."""
    import json

    from autograder.outputs.gradebook import GradebookWriter
    from autograder.run.ledger import Ledger, job_key

    keys = {s: job_key({ASSIGNMENT: f"notebook of {s}".encode()}, "5eed" * 16, "c0de" * 16,
                       ASSIGNMENT, s, timestamp=TIMESTAMP) for s in students}
    with Ledger(ledger_path) as ledger, GradebookWriter(db_url) as writer:
        done = ledger.get_many(keys.values())
        for student in students:
            if keys[student] in done:
                stored = json.loads(done[keys[student]])
                outcome = writer.record(ASSIGNMENT, student, TIMESTAMP, stored)
            else:
                with open(log, "a") as handle:
                    handle.write(student + "\n")
                result = grades(student)
                outcome = writer.record(ASSIGNMENT, student, TIMESTAMP, result)
                ledger.put_json(keys[student], result)
            print(student, outcome, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "resumable":
        resumable(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
