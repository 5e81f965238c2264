"""The template course of a ``convlab grade --out DIR`` kept in DIR for the next run.

Preparing the template (``workspace.Course.prepare``: ``nbgrader generate_assignment`` for
every assignment, a gradebook written cell by cell) is the same work in every run of an
unchanged course. DIR/.course-template/<key>/ keeps what it produced: the template's
gradebook (the release's cells as nbgrader recorded them: what Autograde checks a
submission's locked cells against, and what each worker copies) and each assignment's
notebooks and test cells. ``key`` is a digest of everything the template depends on:
the bytes of the course's nbgrader config files and source notebooks, the assignments
asked for, and the grading code with the versions of the packages that grade
(``ledger.grading_code_digest``: nbgrader's among them). Any change makes a new key, so a
stale template is never used; only the newest is kept.

DIR is the instructor's, as its ledger (whose results a run also takes as they are). A
kept template that is incomplete or unreadable (a run killed while writing it, an edit)
is not used: it is prepared again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["FOLDER", "template_key", "restore", "store"]

FOLDER = ".course-template"
_FORMAT = b"convlab-course-template-v1\n"
_GRADEBOOK, _ASSIGNMENTS = "gradebook.db", "assignments.json"


def template_key(root: Path, files, assignment_ids) -> str:
    """The digest of what the template of the course at ``root`` depends on: ``files`` (its
    config files and source notebooks), ``assignment_ids``, the grading code."""
    from .ledger import grading_code_digest

    digest = hashlib.sha256(_FORMAT)
    digest.update(grading_code_digest().encode() + b"\n")
    digest.update(json.dumps(sorted(assignment_ids or ())).encode() + b"\n")
    root = Path(root).resolve()
    for path in sorted(Path(f).resolve() for f in files):
        if path.is_file():
            name = os.fsencode(path.relative_to(root) if path.is_relative_to(root) else path)
            digest.update(name + b"\0" + hashlib.sha256(path.read_bytes()).digest() + b"\n")
    return digest.hexdigest()


def restore(cache: Path, key: str) -> tuple[Path, dict] | None:
    """(the kept gradebook, assignment -> notebook -> [(grade_id, points)]) for ``key``, or
    None where none is kept or what is kept is not whole."""
    from .workspace import TestCell

    folder = Path(cache) / key
    gradebook = folder / _GRADEBOOK
    try:
        if folder.is_symlink() or gradebook.is_symlink() or not gradebook.is_file():
            return None
        document = json.loads((folder / _ASSIGNMENTS).read_text(encoding="utf-8"))
        if document.get("key") != key or document.get("gradebook") != _sha256(gradebook):
            return None
        assignments = {
            str(assignment): {str(notebook): tuple(TestCell(str(grade_id), float(points))
                                                   for grade_id, points in tests)
                              for notebook, tests in notebooks.items()}
            for assignment, notebooks in document["assignments"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return (gradebook, assignments) if assignments else None


def store(cache: Path, key: str, gradebook: Path, assignments: dict) -> None:
    """Keep ``gradebook`` and ``assignments`` under ``key`` in ``cache``, whole or not at all
    (written aside, then renamed), in place of any template kept before."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
    try:
        shutil.copyfile(gradebook, partial / _GRADEBOOK)
        document = {"key": key, "gradebook": _sha256(partial / _GRADEBOOK),
                    "assignments": {a: {nb: [[t.grade_id, t.points] for t in tests]
                                        for nb, tests in notebooks.items()}
                                    for a, notebooks in assignments.items()}}
        (partial / _ASSIGNMENTS).write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
        target = cache / key
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.rename(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    for old in cache.iterdir():  # one course, one template: the others are stale
        if old.name != key:
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
