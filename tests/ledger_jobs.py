"""Processes for the ledger tests (``test_ledger.py``): run as
``python tests/ledger_jobs.py WHAT LEDGER ...``; light (no torch, no nbgrader)."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.run.ledger import Ledger, job_key  # noqa: E402

SEED = "5eed" * 16
CODE = "c0de" * 16


def key(student: str) -> str:
    return job_key({"01_convolution": f"notebook of {student}".encode()}, SEED, CODE,
                   "01_convolution", student)


def payload(student: str, size: int = 0) -> bytes:
    """A result whose every byte is determined by the student: a torn write would show."""
    filler = hashlib.sha256(student.encode()).hexdigest() * (size // 64 + 1)
    return json.dumps({"student": student, "score": len(student), "feedback": filler[:size]}
                      ).encode()


def main(what: str, path: str, *args: str) -> None:
    with Ledger(path) as ledger:
        if what == "put":  # put STUDENT... and say so
            for student in args:
                ledger.put(key(student), payload(student))
        elif what == "forever":  # put big results until killed, one line per commit
            size = int(args[0])
            index = 0
            while True:
                student = f"s{index}"
                ledger.put(key(student), payload(student, size))
                print(student, flush=True)
                index += 1
        elif what == "run":  # a resumable run: grade each student the ledger lacks
            graded_log, students = Path(args[0]), args[1:]
            for student in students:
                if ledger.get(key(student)) is not None:
                    continue
                with open(graded_log, "a") as log:
                    log.write(student + "\n")
                ledger.put(key(student), payload(student, 100_000))
                print(student, flush=True)
        else:
            raise ValueError(what)


if __name__ == "__main__":
    main(*sys.argv[1:])
