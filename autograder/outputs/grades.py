"""grades.csv: one row per student, assignment and test cell (the course contract's columns),
and the typed row the reports read."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..safe_text import csv_cell

__all__ = ["COLUMNS", "Row", "rows_of", "write_csv", "write_table", "read_grades", "number"]

COLUMNS = ("student_id", "assignment", "grade_id", "score", "max_score", "message")


@dataclass(frozen=True)
class Row:
    student_id: str
    assignment: str
    grade_id: str
    score: float
    max_score: float
    message: str
    # The grader's typed verdict (grader.STATUSES) and the named mistakes: what reports
    # decide on. Not in grades.csv, whose columns are the course contract's.
    status: str = ""
    mistakes: tuple[str, ...] = ()
    # The public part of the hidden cases' key (timestamp | code digest): with the course
    # secret, student and assignment it says which cases this row was graded on.
    attempt: str = ""


def rows_of(result, note: str = "") -> list[Row]:
    """The rows of one job's result (autograder.run.job.JobResult); ``note`` (the late
    policy's line for a late submission) follows each row's message."""
    def message(text: str) -> str:
        return f"{text} [{note}]" if note else text

    return [Row(result.student, result.assignment, c.grade_id, c.score, c.max_score,
                message(c.message), c.status, c.mistakes, c.attempt) for c in result.cells]


def number(value: float) -> str:
    return format(round(value, 4), "g")


def write_table(path, header, lines) -> Path:
    """A CSV file of ``header`` and ``lines``, written whole or not at all (a reader never
    sees half of one: it is written beside, then moved over). Cells are the caller's to
    make safe (``csv_cell`` for anything a student wrote)."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(lines)
    partial.replace(path)
    return path


def write_csv(rows: list[Row], path: Path) -> None:
    # Ids and messages quote students: no cell may start a spreadsheet formula.
    write_table(path, COLUMNS, ([csv_cell(row.student_id), csv_cell(row.assignment),
                                 csv_cell(row.grade_id), number(row.score),
                                 number(row.max_score), csv_cell(row.message)] for row in rows))


def read_grades(path: Path) -> list[Row]:
    """The rows of a grades.csv written by ``convlab grade``."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [Row(r["student_id"], r["assignment"], r["grade_id"], float(r["score"]),
                    float(r["max_score"]), r["message"]) for r in csv.DictReader(handle)]
