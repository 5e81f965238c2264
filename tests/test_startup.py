"""``convlab grade``'s fixed start-up (issue 17, item 5): what a run no longer pays for, each
pinned by what it does (never by a timing).

* a job without a notebook reaches no executor, so no worker, fork server nor sandbox;
* the template course's scratch gradebook is written without fsync (its own folder only);
* the coordinator and the fork server skip jsonschema's unused IRI parsers
  (autograder/startup.py), and notebooks are validated as before;
* the coordinator imports no Dask without --scheduler;
* the copy detection reads no course notebook for an assignment nobody answered.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.outputs.grades import read_grades
from autograder.pipeline import grade
from autograder.run.job import NOT_SUBMITTED
from autograder.run.ledger import Ledger

ASSIGNMENT = "01_convolution"


class NoWorker:
    """An executor a run may not use: every job it is handed is a failure."""

    workers = 1

    def map(self, work, jobs, on_result=None):
        jobs = list(jobs)
        if jobs:
            raise AssertionError(f"{len(jobs)} job(s) sent to an executor: "
                                 f"{[(j.student, j.assignment) for j in jobs]}")
        return []


def _nothing_handed_in(folder: Path) -> Path:
    (folder / "ann").mkdir(parents=True)                     # no assignment folder at all
    (folder / "bob" / ASSIGNMENT).mkdir(parents=True)        # a folder, no notebook in it
    (folder / "bob" / ASSIGNMENT / "notes.txt").write_text("nothing to grade")
    return folder


def test_jobs_without_a_notebook_reach_no_executor_and_are_kept_in_the_ledger(tmp_path):
    submissions = _nothing_handed_in(tmp_path / "submitted")
    out = tmp_path / "out"
    progress = io.StringIO()
    rows = grade(submissions, out, assignment_ids=[ASSIGNMENT], executor=NoWorker(),
                 progress=progress, report=io.StringIO())
    by_student = {}
    for row in rows:
        by_student.setdefault(row.student_id, []).append(row)
    assert sorted(by_student) == ["ann", "bob"]
    assert by_student["ann"] and all(r.score == 0 and r.status == NOT_SUBMITTED
                                     and r.message == f"No submission for {ASSIGNMENT}."
                                     for r in by_student["ann"])
    assert by_student["bob"] and all(r.score == 0 and r.status == "error"
                                     and r.message == f"No {ASSIGNMENT}.ipynb was submitted."
                                     for r in by_student["bob"])
    for student in ("ann", "bob"):
        page = out / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert "scores 0" in page.read_text()
    with Ledger(out / "ledger.db") as ledger:
        assert len(ledger.get_many(_keys(submissions, out))) == 2

    # Run again: both results come from the ledger, still without an executor.
    again = io.StringIO()
    assert grade(submissions, out, assignment_ids=[ASSIGNMENT], executor=NoWorker(),
                 progress=again, report=io.StringIO()) == rows
    assert "2 of 2 submissions unchanged" in again.getvalue()


def _keys(submissions: Path, out: Path) -> list[str]:
    """The ledger keys of the run's jobs, as the pipeline makes them."""
    from autograder.intake import read_submissions
    from autograder.limits import Budget
    from autograder.pipeline import make_jobs
    from autograder.run.resume import job_keys
    from autograder.run.workspace import Course, project_root
    from autograder.secret import course_secret

    course = Course.load(project_root(), [ASSIGNMENT])
    intake = read_submissions(submissions, out.parent / "intake", course.notebook_owners())
    students = sorted(intake.students)
    return job_keys(make_jobs(course, intake, students, [ASSIGNMENT], Budget()), course_secret())


def test_a_class_with_a_notebook_still_goes_to_the_executor(tmp_path):
    """The rule is "no notebook", not "no run": one notebook is one job for the executor."""
    from autograder.run.workspace import project_root

    submissions = _nothing_handed_in(tmp_path / "submitted")
    (submissions / "cy" / ASSIGNMENT).mkdir(parents=True)
    released = project_root() / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    (submissions / "cy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(released.read_bytes())
    with pytest.raises(AssertionError, match=r"1 job\(s\) sent to an executor: \[\('cy'"):
        grade(submissions, tmp_path / "out", assignment_ids=[ASSIGNMENT], executor=NoWorker(),
              progress=io.StringIO(), report=io.StringIO())


def test_the_fork_server_is_started_early_only_where_there_is_a_notebook(tmp_path):
    import zipfile

    from autograder.pipeline import _has_notebooks

    submissions = _nothing_handed_in(tmp_path / "submitted")
    assert not _has_notebooks(submissions)
    (submissions / "ann" / "x").mkdir()
    (submissions / "ann" / "x" / "mine.IPYNB").write_text("{}")
    assert _has_notebooks(submissions)
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("readme.txt", "nothing")
    assert not _has_notebooks(tmp_path / "empty.zip")
    with zipfile.ZipFile(tmp_path / "lms.zip", "w") as archive:
        archive.writestr("hw1_ann_attempt_2024-03-01-10-00-00_01_convolution.ipynb", "{}")
    assert _has_notebooks(tmp_path / "lms.zip")


def test_the_coordinator_of_an_empty_class_starts_no_worker_and_imports_no_dask(tmp_path):
    """``convlab grade`` (its command function, as the CLI calls it) on a class that handed
    nothing in, in a fresh interpreter: no fork server was started, no Dask module and no
    IRI parser (autograder/startup.py) was imported, and the grades were written."""
    submissions = _nothing_handed_in(tmp_path / "submitted")
    script = textwrap.dedent(f"""
        import io, json, sys, contextlib
        from multiprocessing import forkserver
        from autograder.cli import grade_command
        with contextlib.redirect_stdout(io.StringIO()):
            code = grade_command({str(submissions)!r}, {str(tmp_path / 'out')!r})
        print(json.dumps({{
            "code": code,
            "fork_server": forkserver._forkserver._forkserver_pid,
            "dask": sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')),
            "iri_parser": sys.modules.get("rfc3987_syntax", "absent") is not None,
            "nbgrader": "nbgrader.api" in sys.modules,
        }}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"code": 0, "fork_server": None, "dask": [], "iri_parser": False,
                     "nbgrader": True}
    rows = read_grades(tmp_path / "out" / "grades.csv")
    assert {r.student_id for r in rows} == {"ann", "bob"}
    assert all(r.score == 0 for r in rows)
    assert {r.message for r in rows if r.student_id == "ann"} == \
        {f"No submission for {ASSIGNMENT}."}


def test_skipping_the_iri_parser_keeps_notebook_validation(tmp_path):
    """With autograder.startup imported first, nbformat still validates a notebook and
    still refuses one that breaks its schema."""
    from autograder.run.workspace import project_root

    notebook = project_root() / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    script = textwrap.dedent(f"""
        import sys
        import autograder.startup
        import nbformat
        assert sys.modules["rfc3987_syntax"] is None
        nb = nbformat.read({str(notebook)!r}, as_version=4)
        nbformat.validate(nb)
        nb.cells[0]["cell_type"] = "not a cell type"
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            print("refused")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "refused"


def test_the_template_gradebook_is_unsynced_and_no_other_database(tmp_path):
    from sqlalchemy import create_engine, text

    from autograder.run.workspace import _scratch_gradebook_unsynced

    template, other = tmp_path / "template", tmp_path / "elsewhere"
    template.mkdir(), other.mkdir()

    def pragmas(path: Path) -> tuple:
        engine = create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as connection:
                return (connection.execute(text("PRAGMA synchronous")).scalar(),
                        connection.execute(text("PRAGMA journal_mode")).scalar())
        finally:
            engine.dispose()

    with _scratch_gradebook_unsynced(template):
        assert pragmas(template / "gradebook.db") == (0, "memory")
        assert pragmas(other / "gradebook.db") == (2, "delete")  # SQLite's defaults
    assert pragmas(template / "after.db") == (2, "delete")


def test_the_copy_detection_reads_no_course_notebook_for_an_assignment_nobody_answered(
        tmp_path, monkeypatch):
    from autograder.outputs import similarity

    def refuse(*args):
        raise AssertionError("course notebooks read for an assignment without answers")

    monkeypatch.setattr(similarity, "course_answers", refuse)
    root = _nothing_handed_in(tmp_path / "submitted")
    assert similarity.similar_pairs(root, ["ann", "bob"], [ASSIGNMENT], tmp_path / "course") == []


# --- the template course kept in DIR (autograder/run/template_cache.py) -------------------

def test_a_kept_template_is_used_instead_of_preparing_it_again(tmp_path, monkeypatch):
    from autograder.run import template_cache
    from autograder.run.workspace import Course, project_root

    from autograder.run import workspace

    root, cache = project_root(), tmp_path / "out" / template_cache.FOLDER
    files = [f for f, _, _ in workspace._fingerprint(root)]  # as Course.load passes them
    unsynced, original = [], workspace._scratch_gradebook_unsynced

    def recorded(folder):
        unsynced.append(Path(folder))
        return original(folder)

    monkeypatch.setattr(workspace, "_scratch_gradebook_unsynced", recorded)
    first = Course._kept_or_prepared(root, tmp_path / "first", [ASSIGNMENT], cache, files)
    # Prepared with its scratch gradebook unsynced, that folder only.
    assert unsynced == [first.template.path] == [tmp_path / "first"]
    kept = [p for p in cache.iterdir()]
    assert len(kept) == 1 and (kept[0] / "gradebook.db").read_bytes() == \
        first.template.gradebook.read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("prepared again although a template is kept")

    monkeypatch.setattr(Course, "prepare", classmethod(refuse))
    second = Course._kept_or_prepared(root, tmp_path / "second", [ASSIGNMENT], cache, files)
    assert second.assignments == first.assignments
    assert list(second.assignments) == [ASSIGNMENT] and second.assignments[ASSIGNMENT][ASSIGNMENT]
    assert second.template.gradebook.read_bytes() == first.template.gradebook.read_bytes()
    assert second.template.gradebook != kept[0] / "gradebook.db"  # a copy: the kept one stays

    # Another assignment list is another key: prepared, not taken from the kept one.
    with pytest.raises(AssertionError, match="prepared again"):
        Course._kept_or_prepared(root, tmp_path / "third", [ASSIGNMENT, "02_transposed"], cache,
                                files)


def test_a_kept_template_that_is_not_whole_or_was_edited_is_not_used(tmp_path):
    from autograder.run import template_cache
    from autograder.run.workspace import TestCell

    gradebook = tmp_path / "gradebook.db"
    gradebook.write_bytes(b"the release's cells")
    assignments = {ASSIGNMENT: {ASSIGNMENT: (TestCell("test_a", 2.0), TestCell("test_b", 3.5))}}
    cache = tmp_path / template_cache.FOLDER
    template_cache.store(cache, "k1", gradebook, assignments)
    kept, found = template_cache.restore(cache, "k1")
    assert found == assignments and kept.read_bytes() == b"the release's cells"
    assert template_cache.restore(cache, "k2") is None

    template_cache.store(cache, "k2", gradebook, assignments)  # a new key replaces the old
    assert sorted(p.name for p in cache.iterdir()) == ["k2"]

    (cache / "k2" / "gradebook.db").write_bytes(b"edited cells")       # not the bytes stored
    assert template_cache.restore(cache, "k2") is None
    template_cache.store(cache, "k2", gradebook, assignments)
    (cache / "k2" / "assignments.json").write_text("{")               # cut short
    assert template_cache.restore(cache, "k2") is None
    template_cache.store(cache, "k2", gradebook, assignments)
    (cache / "k2" / "assignments.json").unlink()
    assert template_cache.restore(cache, "k2") is None


def test_the_template_key_changes_with_any_source_or_config_byte(tmp_path):
    from autograder.run.template_cache import template_key

    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    (tmp_path / "source").mkdir()
    notebook = tmp_path / "source" / "a.ipynb"
    notebook.write_text("{}")
    files = [tmp_path / "nbgrader_config.py", notebook]
    key = template_key(tmp_path, files, [ASSIGNMENT])
    assert template_key(tmp_path, files, [ASSIGNMENT]) == key
    assert template_key(tmp_path, files, None) != key
    notebook.write_text("{ }")
    assert template_key(tmp_path, files, [ASSIGNMENT]) != key
    notebook.write_text("{}")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n#\n")
    assert template_key(tmp_path, files, [ASSIGNMENT]) != key
