"""Grading one submission as a pure job: a student's notebooks (their bytes), the
assignment, the submission's seeds and the budget in; typed results and feedback pages out.

``grade_job`` runs in any process (a local worker, a Dask worker on another machine): it
never sees the course secret (the job carries the seeds of this submission only,
``hidden_cases.SeedTable``) nor a path of the coordinating machine. It grades in a scratch
nbgrader course of its own process (``Workspace``, made from the package's course files),
with nbgrader's own Autograde and GenerateFeedback converters configured exactly as
``nbgrader autograde`` at the course root is, and never raises: whatever goes wrong, every
test cell of the assignment gets a result, 0 with a message saying why.
"""
from __future__ import annotations

import atexit
import dataclasses
import html
import json
import re
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..limits import Budget
from ..scrub import clip_error, scrub
from .workspace import Course, TestCell, Workspace, project_root

__all__ = ["GradingJob", "CellResult", "JobResult", "grade_job", "lost", "problem_page",
           "install_worker", "read_results", "cell_message", "cell_record", "NOT_SUBMITTED",
           "REFUSED"]

# Statuses of a student who handed nothing in for an assignment (reports leave them out
# of the class's means), and of one whose files were all refused at intake.
NOT_SUBMITTED = "not_submitted"
REFUSED = "refused"


@dataclass(frozen=True)
class GradingJob:
    """One student's submission of one assignment, all a worker needs to grade it."""

    student: str
    assignment: str
    notebooks: dict[str, bytes]              # notebook name -> the submitted .ipynb's bytes
    tests: dict[str, tuple[TestCell, ...]]   # every notebook of the assignment -> its test cells
    timestamp: str | None = None             # nbgrader's timestamp.txt, validated
    seeds: dict = field(default_factory=dict)  # notebook name -> hidden_cases.SeedTable
    submitted: bool = True                   # False: no folder for this assignment at all
    others: tuple[str, ...] = ()             # every .ipynb name in the folder (for messages)
    refused: tuple[str, ...] = ()            # why intake refused files of this student
    budget: Budget = Budget()                # per notebook, applied by the executor


@dataclass(frozen=True)
class CellResult:
    """One test cell's verdict: the grader's typed record (grader.CellGrade), as graded."""

    grade_id: str
    score: float
    max_score: float
    status: str
    message: str
    mistakes: tuple[str, ...] = ()
    attempt: str = ""  # the public part of the hidden cases' key (timestamp | code digest)


@dataclass(frozen=True)
class JobResult:
    student: str
    assignment: str
    cells: tuple[CellResult, ...]            # every test cell of the assignment, in order
    feedback: dict[str, str]                 # notebook name -> its feedback page (HTML)
    seconds: float
    problems: tuple[str, ...] = ()           # why a notebook scored 0 without being graded
    # False: the job was not finished (over its budget, its worker lost, our failure), so
    # its zeros are not a verdict to keep: a resumed run grades it again (run/resume.py).
    complete: bool = True

    def to_json(self) -> bytes:
        """The result as the ledger keeps it (JSON only: nothing in it is ever executed)."""
        document = dataclasses.asdict(self)
        return json.dumps(document, sort_keys=True, allow_nan=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> "JobResult":
        document = json.loads(data.decode("utf-8"))
        cells = tuple(CellResult(**{**cell, "mistakes": tuple(cell["mistakes"])})
                      for cell in document.pop("cells"))
        return cls(**{**document, "cells": cells, "problems": tuple(document["problems"])})


# --- what a job costs when it cannot be graded -------------------------------------------

def problem_page(student: str, assignment: str, notebook: str, tests, problem: str) -> str:
    """The feedback page of a notebook that was not graded (every value escaped)."""
    from ..safe_html import PAGE_CSP

    rows = "".join(f"<tr><td>{html.escape(t.grade_id)}</td><td>0 / {t.points:g}</td></tr>"
                   for t in tests)
    title = html.escape(f"{assignment} / {notebook}: feedback for {student}")
    # Everything is escaped; the policy forbids scripts should a future edit forget to.
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{PAGE_CSP}\">"
            f"<title>{title}</title></head>\n"
            f"<body><h1>{title}</h1>\n<p>{html.escape(problem)}</p>\n"
            f"<p>So every exercise of this notebook scores 0.</p>\n"
            f"<table><tr><th>test</th><th>score</th></tr>{rows}</table>\n</body></html>\n")


def lost(job: GradingJob, why: str, seconds: float = 0.0) -> JobResult:
    """Zero results and problem pages for a job that could not be finished."""
    problem = f"The autograder failed on this submission ({why})."
    cells = tuple(CellResult(t.grade_id, 0.0, t.points, "error", problem)
                  for tests in job.tests.values() for t in tests)
    pages = {nb: problem_page(job.student, job.assignment, nb, tests, problem)
             for nb, tests in job.tests.items()}
    return JobResult(job.student, job.assignment, cells, pages, seconds, (why,), complete=False)


# --- the worker's scratch course -----------------------------------------------------------

# The process's scratch course: made once, used by every job this process grades.
_STATE: dict[str, Workspace] = {}


def install_worker(course_root: Path, scratch: Path, gradebook: Path | None = None) -> None:
    """Make this process's scratch course under ``scratch`` (a copy of ``gradebook``, the
    template's, where the executor has one; else ``grade_job`` makes its own course)."""
    if gradebook is None:
        gradebook = Course.load(course_root).template.gradebook
    _STATE["workspace"] = Workspace(course_root, Path(scratch) / "course", gradebook)


def _workspace() -> Workspace:
    """The process's scratch course; a process no executor set up (a Dask worker, a test)
    makes its own from the package's course files, removed when the process ends."""
    if "workspace" not in _STATE:
        scratch = Path(tempfile.mkdtemp(prefix="convlab-worker-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        install_worker(project_root(), scratch)
    return _STATE["workspace"]


# --- reading the grader's verdicts --------------------------------------------------------

def cell_message(cell) -> str:
    """What the trusted grader printed in a test cell (the feedback shows it)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts).strip()


def cell_record(cell) -> dict:
    """The trusted grader's typed record in a test cell (preprocessor.GRADE_MIME), or {}."""
    from ..judge.preprocessor import GRADE_MIME

    for output in cell.get("outputs", []):
        if output.output_type == "execute_result" and GRADE_MIME in output.get("data", {}):
            record = output["data"][GRADE_MIME]
            return record if isinstance(record, dict) else {}
    return {}


def read_results(notebook, tests) -> list[CellResult]:
    """Each test cell's result from an autograded notebook: the score, status and mistakes
    of the grader's typed record (the one store of a score; nbgrader's gradebook gets
    the same number from it), the message it printed."""
    found = {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
             if cell.cell_type == "code" and "grade_id" in cell.metadata.get("nbgrader", {})}
    results = []
    for test in tests:
        cell = found.get(test.grade_id)
        if cell is None:
            results.append(CellResult(test.grade_id, 0.0, test.points, "missing",
                                      "This test cell is missing from the notebook."))
            continue
        record = cell_record(cell)
        results.append(CellResult(test.grade_id, float(record.get("score", 0.0)), test.points,
                                  str(record.get("status", "error")), cell_message(cell),
                                  tuple(str(m) for m in record.get("mistakes", ())),
                                  str(record.get("attempt", ""))))
    return results


# --- grading ---------------------------------------------------------------------------------

def grade_job(job: GradingJob) -> JobResult:
    """Grade one student's assignment: a result for every test cell, a feedback page for
    every notebook. Never raises (our bug or a hostile notebook: the student is graded)."""
    start = time.perf_counter()
    try:
        return _grade(job, start)
    except Exception as exc:  # noqa: BLE001
        why = scrub(clip_error(f"{type(exc).__name__}: {exc}"), 400)
        return lost(job, why, time.perf_counter() - start)


def _unreadable(data: bytes) -> str | None:
    """Why ``data`` is not a notebook nbgrader can read, or None."""
    try:
        # Not nbformat.validate: a notebook with a structural slip (a code cell without
        # outputs, ...) is still the student's work, and nbgrader reads it.
        nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001  (any reason is the student's: in the message)
        text = str(exc).strip().splitlines()
        return scrub(f"{type(exc).__name__}: {text[0] if text else ''}", 200)
    return None


def _diagnose(job: GradingJob) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Split the assignment's notebooks into gradable ones and those with a problem (with
    the results' status where it is not "error")."""
    gradable, problems, statuses = [], {}, {}
    for notebook in job.tests:
        if not job.submitted:
            if job.refused:
                problems[notebook] = (f"No submission for {job.assignment} could be graded: "
                                      + "; ".join(job.refused))
                statuses[notebook] = REFUSED
            else:
                problems[notebook] = f"No submission for {job.assignment}."
                statuses[notebook] = NOT_SUBMITTED
        elif notebook not in job.notebooks:
            others = [name for name in job.others if name != f"{notebook}.ipynb"]
            found = f" (found {', '.join(others)}: keep the notebook's name)" if others else ""
            problems[notebook] = f"No {notebook}.ipynb was submitted{found}."
        elif (reason := _unreadable(job.notebooks[notebook])) is not None:
            problems[notebook] = f"{notebook}.ipynb is not a readable Jupyter notebook ({reason})."
        else:
            gradable.append(notebook)
    return gradable, problems, statuses


_EXCEPTION_LINE = re.compile(r"^\s*([\w.]+(Error|Exception|Exit|Interrupt)): .*")


def _failure(result: dict) -> str:
    """The exception behind a failed nbgrader run: the last one its log shows, other
    than nbgrader's "see the above traceback"."""
    lines = [line.strip() for line in (result.get("log", "") + result.get("error", "")).splitlines()
             if _EXCEPTION_LINE.match(line) and "NbGraderException" not in line]
    return scrub(clip_error(lines[-1]), 400) if lines else "see nbgrader's log"


def _autograde(ws: Workspace, job: GradingJob, gradable: list[str], problems: dict[str, str],
               feedback: dict[str, str]) -> list[CellResult]:
    """Run nbgrader on the gradable notebooks; failures become problems."""
    submitted = ws.folder("submitted", job.student, job.assignment)
    submitted.mkdir(parents=True)
    for notebook in gradable:
        (submitted / f"{notebook}.ipynb").write_bytes(job.notebooks[notebook])
    if job.timestamp is not None:  # the attempt, as `nbgrader autograde` reads it
        (submitted / "timestamp.txt").write_text(job.timestamp)
    # This submission's seeds, for TrustedGrade (never the secret: see preprocessor.seed_key).
    ws.config.TrustedGrade.seed_tables = dict(job.seeds)
    try:
        result = ws.autograde(job.assignment, job.student)
    finally:
        ws.config.TrustedGrade.seed_tables = {}
    if not result["success"]:
        for notebook in gradable:
            problems[notebook] = f"The autograder failed on this notebook ({_failure(result)})."
        return []
    ws.feedback(job.assignment, job.student)
    cells = []
    for notebook in gradable:
        autograded = ws.folder("autograded", job.student, job.assignment) / f"{notebook}.ipynb"
        cells += read_results(nbformat.read(autograded, as_version=4), job.tests[notebook])
        page = ws.folder("feedback", job.student, job.assignment) / f"{notebook}.html"
        if page.is_file():
            feedback[notebook] = page.read_text(encoding="utf-8")
    return cells


def _grade(job: GradingJob, start: float) -> JobResult:
    gradable, problems, statuses = _diagnose(job)
    cells: list[CellResult] = []
    feedback: dict[str, str] = {}
    if gradable:
        ws = _workspace()
        try:
            cells = _autograde(ws, job, gradable, problems, feedback)
        except Exception:  # noqa: BLE001  (nbgrader or the grader broke: still graded)
            last = scrub(clip_error(traceback.format_exc().strip().splitlines()[-1]), 400)
            problems.update({nb: f"The autograder failed on this notebook ({last})." for nb in gradable})
            cells, feedback = [], {}
        finally:
            ws.forget(job.student)
    graded = {cell.grade_id for cell in cells}
    for notebook, problem in problems.items():
        for test in job.tests[notebook]:
            if test.grade_id not in graded:
                cells.append(CellResult(test.grade_id, 0.0, test.points,
                                        statuses.get(notebook, "error"), problem))
        feedback.setdefault(notebook, problem_page(job.student, job.assignment, notebook,
                                                   job.tests[notebook], problem))
    order = [t.grade_id for tests in job.tests.values() for t in tests]
    cells.sort(key=lambda cell: order.index(cell.grade_id))
    return JobResult(job.student, job.assignment, tuple(cells), feedback,
                     time.perf_counter() - start, tuple(problems.values()))
