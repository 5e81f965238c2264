"""The class's grades in nbgrader's gradebook at a database URL
(autograder/outputs/gradebook.py), on SQLite and on a real PostgreSQL server started on
loopback for this module (tests/postgres_server.py; skipped, saying why, only where
PostgreSQL's binaries are not installed). What is written is read back with nbgrader's
own Gradebook, as its formgrader reads it."""
from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.outputs.gradebook import (CREATED, KEPT_NEWER, UNCHANGED, UPDATED,
                                          GradebookWriter, RecordedGrade, normalize_db_url,
                                          sqlite_url)

sys.path.insert(0, str(Path(__file__).parent))
import gradebook_writers  # noqa: E402
import postgres_server  # noqa: E402

WRITERS = Path(__file__).parent / "gradebook_writers.py"
A, NB = gradebook_writers.ASSIGNMENT, gradebook_writers.ASSIGNMENT
STAMP = gradebook_writers.TIMESTAMP


@pytest.fixture(scope="module")
def postgres():
    reason = postgres_server.missing_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server.PostgresServer() as server:
        yield server


_NAMES = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A new, empty gradebook database of each kind."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "gradebook.db")
    return request.getfixturevalue("postgres").create_database(f"gradebook{next(_NAMES)}")


def _nbgrader(db_url):
    from nbgrader.api import Gradebook

    return Gradebook(db_url)


def _grades(*scores, points=(2.0, 3.0, 1.0)):
    return {NB: {cell: (score, p) for cell, score, p in zip(("conv_a", "conv_b", "conv_c"),
                                                            scores, points)}}


def _count(db_url, table) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(normalize_db_url(db_url))
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def test_a_record_is_what_nbgrader_reads(db_url):
    with GradebookWriter(db_url) as writer:
        assert writer.record(A, "alice", "2026-12-01 11:00:00 CET", _grades(1.5, 0, 1)) == CREATED
    with _nbgrader(db_url) as gb:
        submission = gb.find_submission(A, "alice")
        assert str(submission.timestamp) == "2026-12-01 10:00:00"  # stored in UTC, as nbgrader does
        assert (submission.score, submission.max_score) == (2.5, 6.0)
        for cell, expected in (("conv_a", 1.5), ("conv_b", 0.0), ("conv_c", 1.0)):
            grade = gb.find_grade(cell, NB, A, "alice")
            assert (grade.auto_score, grade.manual_score, grade.needs_manual_grade) == (expected, None, False)
        assert sorted((c.name, c.max_score) for c in gb.find_notebook(NB, A).grade_cells) == \
            [("conv_a", 2.0), ("conv_b", 3.0), ("conv_c", 1.0)]
        [row] = gb.submission_dicts(A)  # the formgrader's assignment table
        assert (row["student"], row["score"], row["max_score"], row["needs_manual_grade"]) == \
            ("alice", 2.5, 6.0, False)


def test_recording_the_same_job_again_keeps_one_submission(db_url):
    with GradebookWriter(db_url) as writer:
        assert writer.record(A, "alice", STAMP, _grades(2, 3, 0)) == CREATED
        assert writer.record(A, "alice", STAMP, _grades(2, 3, 0)) == UNCHANGED
    with GradebookWriter(db_url) as writer:  # another run: the resume after a kill
        assert writer.record(A, "alice", STAMP, _grades(2, 3, 0)) == UNCHANGED
        [recorded] = writer.read(A)
    assert (recorded.student, recorded.assignment, str(recorded.timestamp)) == \
        ("alice", A, "2026-12-01 10:00:00")
    assert {cell: (g.auto_score, g.score, g.max_score) for cell, g in recorded.grades[NB].items()} \
        == {"conv_a": (2.0, 2.0, 2.0), "conv_b": (3.0, 3.0, 3.0), "conv_c": (0.0, 0.0, 1.0)}
    for table, rows in (("submitted_assignment", 1), ("submitted_notebook", 1), ("grade", 3),
                        ("student", 1), ("assignment", 1), ("grade_cells", 3)):
        assert _count(db_url, table) == rows, table


def test_a_newer_submission_replaces_and_an_older_one_does_not(db_url):
    with GradebookWriter(db_url) as writer:
        writer.record(A, "alice", "2026-12-01 10:00:00", _grades(0, 0, 0))
        assert writer.record(A, "alice", "2026-12-02 10:00:00", _grades(2, 1, 1)) == UPDATED
        assert writer.record(A, "alice", "2026-11-30 10:00:00", _grades(0, 3, 0)) == KEPT_NEWER
        # The same attempt graded again (the grading code changed): its scores replace.
        assert writer.record(A, "alice", "2026-12-02 10:00:00", _grades(2, 2, 1)) == UPDATED
        [recorded] = writer.read(A, "alice")
    assert str(recorded.timestamp) == "2026-12-02 10:00:00"
    assert {cell: g.auto_score for cell, g in recorded.grades[NB].items()} == \
        {"conv_a": 2.0, "conv_b": 2.0, "conv_c": 1.0}
    assert list(recorded.grades[NB]) == ["conv_a", "conv_b", "conv_c"]  # in name order
    assert _count(db_url, "submitted_assignment") == 1


def test_a_graders_manual_score_survives_a_regrade_and_is_flagged(db_url):
    with GradebookWriter(db_url) as writer:
        writer.record(A, "alice", STAMP, _grades(0, 3, 1))
        with _nbgrader(db_url) as gb:  # the formgrader's manual grading
            grade = gb.find_grade("conv_a", NB, A, "alice")
            grade.manual_score = 1.0
            gb.db.commit()
        assert writer.record(A, "alice", "2026-12-03 10:00:00", _grades(2, 3, 1)) == UPDATED
        [recorded] = writer.read(A)
    assert recorded.grades[NB]["conv_a"] == RecordedGrade(auto_score=2.0, manual_score=1.0,
                                                          score=1.0, max_score=2.0)
    with _nbgrader(db_url) as gb:
        assert gb.find_grade("conv_a", NB, A, "alice").needs_manual_grade is True
        assert gb.find_grade("conv_b", NB, A, "alice").needs_manual_grade is False
        assert gb.find_submission(A, "alice").score == 5.0
        gb.find_grade("conv_a", NB, A, "alice").needs_manual_grade = False  # reviewed
        gb.db.commit()
    with GradebookWriter(db_url) as writer:  # the same job again (a resumed run)
        assert writer.record(A, "alice", "2026-12-03 10:00:00", _grades(2, 3, 1)) == UNCHANGED
    with _nbgrader(db_url) as gb:
        assert gb.find_grade("conv_a", NB, A, "alice").needs_manual_grade is False
    with GradebookWriter(db_url) as writer:  # a newer attempt with the same scores: review again
        assert writer.record(A, "alice", "2026-12-04 10:00:00", _grades(2, 3, 1)) == UPDATED
    with _nbgrader(db_url) as gb:
        assert gb.find_grade("conv_a", NB, A, "alice").needs_manual_grade is True
        assert gb.find_grade("conv_b", NB, A, "alice").needs_manual_grade is False


def test_a_race_lost_to_another_grader_is_retried(db_url, monkeypatch):
    """Between this writer's look for the assignment and its insert, another grader
    records the same assignment and student: the insert meets nbgrader's unique
    constraints, and the retry finds the other's rows (one assignment, one submission)."""
    import autograder.outputs.gradebook as module

    original, raced = module._assignment, []

    def rival_commits_in_between(db, *args, **kwargs):
        found = original(db, *args, **kwargs)
        if not raced:
            raced.append(True)
            with GradebookWriter(db_url) as rival:
                assert rival.record(A, "alice", STAMP, _grades(0, 0, 0)) == CREATED
        return found

    monkeypatch.setattr(module, "_assignment", rival_commits_in_between)
    with GradebookWriter(db_url) as writer:
        assert writer.record(A, "alice", "2026-12-02 10:00:00", _grades(2, 3, 1)) == UPDATED
        [recorded] = writer.read()
    assert raced and str(recorded.timestamp) == "2026-12-02 10:00:00"
    assert [g.auto_score for g in recorded.grades[NB].values()] == [2.0, 3.0, 1.0]
    for table in ("assignment", "student", "submitted_assignment"):
        assert _count(db_url, table) == 1, table


def test_a_record_that_fails_half_way_writes_nothing(db_url, monkeypatch):
    import autograder.outputs.gradebook as module

    original = module._mirror

    def mirror_then_fail(*args):
        original(*args)
        raise RuntimeError("killed half way")

    with GradebookWriter(db_url) as writer:
        writer.record(A, "alice", STAMP, _grades(1, 1, 1))
        monkeypatch.setattr(module, "_mirror", mirror_then_fail)
        with pytest.raises(RuntimeError, match="half way"):
            writer.record(A, "bob", STAMP, _grades(2, 2, 1))
        with pytest.raises(RuntimeError, match="half way"):
            writer.record(A, "alice", "2026-12-09 10:00:00", _grades(2, 2, 1))
        monkeypatch.setattr(module, "_mirror", original)
        assert [(r.student, str(r.timestamp)) for r in writer.read()] == \
            [("alice", "2026-12-01 10:00:00")]
        assert writer.record(A, "bob", STAMP, _grades(2, 2, 1)) == CREATED  # still usable
    assert _count(db_url, "student") == 2 and _count(db_url, "submitted_assignment") == 2


def test_a_killed_run_resumes_with_one_submission_per_student(postgres, tmp_path):
    """The issue's "resumes after a kill, writes into PostgreSQL": a run with a ledger is
    killed (SIGKILL) half way; the next run grades only the rest, and the gradebook ends
    with every student once, with their scores."""
    import signal

    db_url = postgres.create_database("resumed")
    ledger, log = tmp_path / "ledger.db", tmp_path / "graded.log"
    students = [f"s{i:02d}" for i in range(30)]
    command = [sys.executable, str(WRITERS), "resumable", db_url, str(ledger), str(log), *students]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    lines = [first.stdout.readline().split() for _ in range(5)]
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert lines == [[s, CREATED] for s in students[:5]]
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    outcomes = dict(line.split() for line in second.stdout.splitlines())
    assert list(outcomes) == students
    regraded = [s for s in students if outcomes[s] == CREATED]
    resumed_at = students.index(regraded[0]) if regraded else len(students)
    assert resumed_at >= 5 and regraded == students[resumed_at:]  # only the rest graded
    assert all(outcomes[s] == UNCHANGED for s in students[:resumed_at])
    graded = log.read_text().split()
    assert sorted(set(graded)) == students and len(graded) <= len(students) + 1
    with GradebookWriter(db_url) as reader:
        recorded = reader.read(A)
    assert [r.student for r in recorded] == students
    for submission in recorded:
        expected = gradebook_writers.grades(submission.student)[NB]
        assert {c: (g.auto_score, g.max_score) for c, g in submission.grades[NB].items()} == expected
    assert _count(db_url, "submitted_assignment") == len(students)


def _template(path: Path) -> str:
    """A gradebook as ``nbgrader generate_assignment`` leaves it, made with nbgrader's API:
    two notebooks, autograder tests, an autograded answer, a manually graded answer."""
    from nbgrader.api import Gradebook

    from autograder.outputs.gradebook import _alembic_head_in_process

    url = sqlite_url(path)
    with _alembic_head_in_process(), Gradebook(url) as gb:  # no `alembic` subprocess
        gb.add_assignment(A, duedate="2026-12-10 23:59:00 UTC")
        gb.add_notebook(NB, A)
        gb.add_notebook("01b_more", A)
        for cell, points in gradebook_writers.POINTS.items():
            gb.add_grade_cell(cell, NB, A, max_score=points, cell_type="code")
            gb.add_source_cell(cell, NB, A, cell_type="code", locked=True,
                               source=f"grade('{cell}')", checksum=f"sum-{cell}")
        gb.add_solution_cell("answer", NB, A)
        gb.add_source_cell("answer", NB, A, cell_type="code", locked=False,
                           source="# YOUR CODE HERE", checksum="sum-answer")
        gb.add_grade_cell("essay", "01b_more", A, max_score=4, cell_type="markdown")
        gb.add_solution_cell("essay", "01b_more", A)
    return url


def test_the_structure_is_copied_from_generate_assignments_gradebook(db_url, tmp_path):
    from nbgrader.api import Gradebook, MissingEntry

    template = _template(tmp_path / "template.db")
    with GradebookWriter(db_url) as writer:
        assert writer.ensure_structure(template) == [A]
        assert writer.ensure_structure(template, [A]) == [A]  # again: nothing doubled
        with pytest.raises(ValueError, match="not in the template"):
            writer.ensure_structure(template, ["99_missing"])
        assert writer.record(A, "alice", STAMP, _grades(1, 2, 0)) == CREATED
        with pytest.raises(ValueError, match="worth 2 points in the gradebook but 5"):
            writer.record(A, "bob", STAMP, _grades(1, 2, 0, points=(5.0, 3.0, 1.0)))
    with Gradebook(db_url) as gb, Gradebook(template) as source:
        assignment = gb.find_assignment(A)
        assert str(assignment.duedate) == "2026-12-10 23:59:00"
        for notebook in source.find_assignment(A).notebooks:
            copied = gb.find_notebook(notebook.name, A)
            assert sorted((c.name, c.max_score, c.cell_type) for c in copied.grade_cells) == \
                sorted((c.name, c.max_score, c.cell_type) for c in notebook.grade_cells)
            assert sorted(c.name for c in copied.solution_cells) == \
                sorted(c.name for c in notebook.solution_cells)
            assert sorted((c.name, c.cell_type, c.locked, c.source, c.checksum)
                          for c in copied.source_cells) == \
                sorted((c.name, c.cell_type, c.locked, c.source, c.checksum)
                       for c in notebook.source_cells)
        submission = gb.find_submission(A, "alice")
        # Mirrored as nbgrader's add_submission does: every notebook, grade and comment.
        assert sorted(nb.name for nb in submission.notebooks) == ["01_convolution", "01b_more"]
        assert gb.find_comment("answer", NB, A, "alice") is not None
        essay = gb.find_grade("essay", "01b_more", A, "alice")
        assert (essay.auto_score, essay.needs_manual_grade) == (None, True)  # for the grader
        assert (submission.score, submission.max_score) == (3.0, 10.0)
        with pytest.raises(MissingEntry):
            gb.find_submission(A, "bob")  # the refused record wrote nothing
    assert _count(db_url, "assignment") == 1 and _count(db_url, "grade_cells") == 4


@pytest.mark.parametrize("grades, message", [
    (_grades(2.5, 0, 0), r"not within \[0, max_score 2"),
    (_grades(-1, 0, 0), "not within"),
    (_grades(float("nan"), 0, 0), "not within"),
    ({NB: {"conv_a": (1,)}}, r"\(score, max_score\)"),
    ({NB: {"": (1, 2)}}, "grade_id"),
    ({NB: [("conv_a", 1, 2)]}, "must map grade_id"),
    ({"x" * 129: {"conv_a": (1, 2)}}, "notebook's name"),
])
def test_bad_grades_are_refused_and_nothing_is_written(tmp_path, grades, message):
    url = sqlite_url(tmp_path / "gradebook.db")
    with GradebookWriter(url) as writer:
        with pytest.raises(ValueError, match=message):
            writer.record(A, "alice", STAMP, grades)
        with pytest.raises(ValueError, match="student"):
            writer.record(A, "s" * 129, STAMP, _grades(0, 0, 0))
        with pytest.raises(ValueError, match="timestamp"):
            writer.record(A, "alice", "yesterday-ish", _grades(0, 0, 0))
        assert writer.read() == []


@pytest.mark.parametrize("url, message", [
    ("gradebook.db", "not a database URL"), ("sqlite://", "must be a file"),
    ("sqlite:///:memory:", "must be a file"), ("", "non-empty"), (None, "non-empty"),
])
def test_bad_database_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        GradebookWriter(url)


def test_a_bare_postgresql_url_gets_the_installed_driver():
    assert normalize_db_url("postgresql://u:p@h/d") == "postgresql+psycopg://u:p@h/d"
    assert normalize_db_url("postgresql+psycopg://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert normalize_db_url("sqlite:////tmp/g.db") == "sqlite:////tmp/g.db"


def test_a_server_that_refuses_is_reported_at_once_without_the_password(postgres):
    wrong = postgres.url("gradebook_nowhere").replace(postgres.password, "wrong-password")
    start = time.monotonic()
    with pytest.raises(ValueError, match="cannot open the gradebook") as refused:
        GradebookWriter(wrong)
    assert time.monotonic() - start < 10  # not retried as if a race were lost
    assert "wrong-password" not in str(refused.value)


def _writers(db_url, go: Path, batches):
    return [subprocess.Popen([sys.executable, str(WRITERS), db_url, str(go), *batch],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for batch in batches]


def test_two_graders_write_at_once_while_the_formgrader_reads(db_url, tmp_path):
    """Two ``convlab grade`` runs write different students into one new database (so they
    also race to make nbgrader's tables, the assignment and its cells) and both record
    "shared" (the same job twice); meanwhile the formgrader reads, page after page."""
    from nbgrader.api import Gradebook

    from autograder.outputs.gradebook import _alembic_head_in_process

    go = tmp_path / "go"
    batches = [[f"x{i:02d}" for i in range(10)] + ["shared"],
               ["shared"] + [f"y{i:02d}" for i in range(10)]]
    students = sorted({s for batch in batches for s in batch})
    writers = _writers(db_url, go, batches)
    time.sleep(0.5)  # both have imported what they need and wait for the start
    go.touch()
    seen, reads = [], 0
    while any(w.poll() is None for w in writers) or reads < 2:
        try:
            # What the formgrader does per page: a fresh session, the class's table. (It
            # may come first and make the tables itself, as the formgrader would.)
            with _alembic_head_in_process(), Gradebook(db_url) as gb:
                rows = gb.submission_dicts(A)
        except Exception as exc:  # only before the writers made the tables
            assert not seen, f"a read failed after the gradebook existed: {exc}"
            time.sleep(0.05)
            continue
        for row in rows:
            expected = gradebook_writers.grades(row["student"])[NB]
            # Whole or not at all: a submission whose grades were not yet written would
            # need a manual grade (nbgrader's default) and miss its score.
            assert (row["score"], row["max_score"], row["needs_manual_grade"]) == \
                (sum(score for score, _ in expected.values()), 6.0, False), row
        seen.append(len(rows))
        reads += 1
        time.sleep(0.02)  # a page now and then, not a busy loop
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err[-3000:]
        assert len(out.split()) == 2 * 11  # "student outcome" per record
    assert seen == sorted(seen) and seen[-1] == len(students)
    assert any(0 < n < len(students) for n in seen)  # some reads met the runs half done
    with GradebookWriter(db_url) as reader:
        recorded = reader.read(A)
    assert [r.student for r in recorded] == students
    for submission in recorded:
        expected = gradebook_writers.grades(submission.student)[NB]
        assert {cell: (g.auto_score, g.max_score) for cell, g in submission.grades[NB].items()} \
            == expected
    for table, rows in (("submitted_assignment", len(students)), ("assignment", 1),
                        ("grade_cells", 3), ("grade", 3 * len(students)), ("alembic_version", 1)):
        assert _count(db_url, table) == rows, table


@pytest.mark.slow
def test_two_whole_convlab_grade_runs_at_once_into_one_postgresql_gradebook(postgres, tmp_path):
    """Two instructors' ``convlab grade`` commands, each with its own class and DIR, write
    into one new PostgreSQL gradebook at the same time: every student of both is there
    once, with the score their run's grades.csv gives."""
    import csv
    import os

    from nbgrader.api import Gradebook

    from autograder.outputs.gradebook import _alembic_head_in_process
    from convlab.cli import repo_root

    root, assignment = repo_root(), "04_gridding"
    solved = root / "solutions" / assignment / f"{assignment}.ipynb"
    stub = root / "notebooks" / assignment / f"{assignment}.ipynb"
    db_url = postgres.create_database("two_runs")
    classes = {"one": {"ann": solved, "bob": stub}, "two": {"cid": solved, "dee": stub}}
    for name, students in classes.items():
        for student, notebook in students.items():
            folder = tmp_path / name / "submitted" / student / assignment
            folder.mkdir(parents=True)
            (folder / f"{assignment}.ipynb").write_bytes(notebook.read_bytes())
            (folder / "timestamp.txt").write_text("2026-12-01 10:00:00 UTC\n")
    convlab = Path(sys.executable).with_name("convlab")
    runs = [subprocess.Popen([convlab, "grade", tmp_path / name / "submitted", "--out",
                              tmp_path / name / "out", "--db-url", db_url],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ})
            for name in classes]
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-3000:]
    expected = {}
    for name in classes:
        with open(tmp_path / name / "out" / "grades.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                expected[row["student_id"]] = expected.get(row["student_id"], 0.0) + float(row["score"])
    assert sorted(expected) == ["ann", "bob", "cid", "dee"]
    assert expected["ann"] > 0 and expected["bob"] == 0  # a real grading, not zeros all round
    with _alembic_head_in_process(), Gradebook(db_url) as gb:
        recorded = {row["student"]: row["score"] for row in gb.submission_dicts(assignment)}
    assert recorded == pytest.approx(expected)
    assert _count(db_url, "submitted_assignment") == 4
