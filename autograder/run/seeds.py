"""The seeds of a submission, drawn where the course secret is (the machine that runs
``convlab grade``): the job carries them to a worker that never sees the secret.

They are the seeds ``TrustedGrade.seed_key`` draws under ``nbgrader autograde``, exactly:
the key is the secret with the assignment, the student and the attempt, the attempt being
the submission's timestamp as nbgrader records it and a digest of the notebook's code as
the grader sees it, after nbgrader's sanitize step (which puts back the release's locked
cells). So the coordinator runs that sanitize step here, on the template course, and the
worker checks the digest of what it grades against the one the seeds were drawn for.
"""
from __future__ import annotations

import nbformat

from convlab.checks.core import exercise_of

from ..judge.hidden_cases import SeedKey, SeedTable
from ..judge.preprocessor import code_digest
from .workspace import TestCell, Workspace

__all__ = ["attempt_time", "sanitized", "submission_seeds"]


def attempt_time(timestamp: str | None) -> str:
    """The timestamp as nbgrader's gradebook gives it back (``Submission.timestamp``):
    parsed to naive UTC by nbgrader.utils.parse_utc, then ``isoformat``; "" for none."""
    if not timestamp:
        return ""
    from nbgrader.utils import parse_utc

    return parse_utc(timestamp).isoformat()


def sanitized(template: Workspace, data: bytes, assignment: str, student: str, notebook: str):
    """The notebook as nbgrader's Autograde hands it to TrustedGrade: the configured
    sanitize preprocessors run on it, as Autograde runs them, against ``template``'s
    gradebook (the release's cells)."""
    from nbconvert.exporters import NotebookExporter
    from nbgrader.converters import Autograde

    steps = template.config.Autograde.get("sanitize_preprocessors",
                                          Autograde.sanitize_preprocessors.default_value)
    exporter = NotebookExporter(config=template.config)
    for step in steps:
        exporter.register_preprocessor(step)
    resources = {"unique_key": notebook, "output_files_dir": f"{notebook}_files",
                 "nbgrader": {"student": student, "assignment": assignment, "notebook": notebook,
                              "db_url": template.coursedir.db_url}}
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    output, _ = exporter.from_notebook_node(nb, resources=resources)
    return nbformat.reads(output, as_version=4)


def submission_seeds(template: Workspace, student: str, assignment: str,
                     notebooks: dict[str, bytes], tests: dict[str, tuple[TestCell, ...]],
                     timestamp: str | None, secret_file=None) -> dict[str, SeedTable]:
    """Notebook name -> the seeds grading it may draw, for every readable notebook."""
    seeds = {}
    when = attempt_time(timestamp)
    for notebook, data in notebooks.items():
        if notebook not in tests:
            continue
        try:
            nb = sanitized(template, data, assignment, student, notebook)
        except Exception:  # noqa: BLE001  (nbgrader refuses it too: graded 0, no seed drawn)
            continue
        key = SeedKey.for_submission(assignment, student, f"{when}|{code_digest(nb)}",
                                     secret_file)
        names = [n for n in (exercise_of(t.grade_id) for t in tests[notebook]) if n]
        seeds[notebook] = key.table(names)
    return seeds
