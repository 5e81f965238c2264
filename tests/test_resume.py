"""``convlab grade`` incremental and resumable (autograder/run/resume.py), its results in
nbgrader's gradebook (autograder/outputs/gradebook.py), and a class graded on a Dask
cluster giving what a local run gives.

The pipeline's own logic is exercised with a stand-in grading function run in this process
(``Serial``), which scores a notebook from its bytes: quick, and it counts what was graded."""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
from pathlib import Path

import pytest

from autograder.pipeline import grade
from autograder.run.job import CellResult, GradingJob, JobResult, lost
from convlab.cli import repo_root

ROOT = repo_root()
ASSIGNMENT = "01_convolution"
RELEASED = ROOT / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def stand_in_grade(job: GradingJob) -> JobResult:
    """A score per test cell drawn from the notebook's bytes: any edit changes it."""
    data = job.notebooks.get(ASSIGNMENT, b"")
    cells = []
    for tests in job.tests.values():
        for test in tests:
            digest = hashlib.sha256(data + test.grade_id.encode()).digest()[0]
            score = test.points * (digest % 2) if data else 0.0
            cells.append(CellResult(test.grade_id, score, test.points, "graded", f"{digest}"))
    return JobResult(job.student, job.assignment, tuple(cells),
                     {nb: f"<p>{job.student}</p>" for nb in job.tests}, 0.0)


class Serial:
    """An executor in this process that records what it graded, and can be stopped after
    ``stop_after`` jobs as a killed run stops, or make some jobs come back unfinished."""

    workers = 1

    def __init__(self, stop_after: int | None = None, unfinished=()):
        self.graded: list[str] = []
        self.stop_after, self.unfinished = stop_after, set(unfinished)

    def map(self, work, jobs, on_result=None):
        results = []
        for index, job in enumerate(jobs):
            if self.stop_after is not None and len(self.graded) == self.stop_after:
                raise KeyboardInterrupt("killed")
            self.graded.append(job.student)
            result = (lost(job, "over its budget") if job.student in self.unfinished
                      else work(job))
            results.append(result)
            if on_result is not None:
                on_result(index, result)
        return results


def _class(folder: Path, students) -> Path:
    for student in students:
        target = folder / student / ASSIGNMENT
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{ASSIGNMENT}.ipynb").write_bytes(RELEASED.read_bytes())
    return folder


def _run(submissions: Path, out: Path, executor, **options) -> tuple[list, str]:
    progress = io.StringIO()
    rows = grade(submissions, out, assignment_ids=[ASSIGNMENT], executor=executor,
                 work=stand_in_grade, progress=progress, report=io.StringIO(), **options)
    return rows, progress.getvalue()


def _grades(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_regrade_grades_only_what_changed(tmp_path):
    submissions = _class(tmp_path / "submitted", ["ann", "bob", "cy"])
    first = Serial()
    _run(submissions, tmp_path / "out", first)
    assert sorted(first.graded) == ["ann", "bob", "cy"]
    before = _grades(tmp_path / "out")

    again = Serial()
    _, progress = _run(submissions, tmp_path / "out", again)
    assert again.graded == []
    assert "3 of 3 submissions unchanged" in progress
    assert _grades(tmp_path / "out") == before

    # bob edits his notebook, cy's attempt gets a new timestamp: only they are graded.
    edited = submissions / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    edited.write_bytes(edited.read_bytes().replace(b"raise NotImplementedError()", b"return 0", 1))
    (submissions / "cy" / ASSIGNMENT / "timestamp.txt").write_text("2026-12-01 10:00:00 UTC")
    changed = Serial()
    _run(submissions, tmp_path / "out", changed)
    assert sorted(changed.graded) == ["bob", "cy"]
    after = {(r["student_id"], r["grade_id"]): r for r in _grades(tmp_path / "out")}
    assert [r for r in before if r["student_id"] == "ann"] == \
        [r for (student, _), r in after.items() if student == "ann"]

    forced = Serial()
    _run(submissions, tmp_path / "out", forced, force=True)
    assert sorted(forced.graded) == ["ann", "bob", "cy"]


def test_new_grading_code_grades_everything_again(tmp_path, monkeypatch):
    from autograder.run import resume

    submissions = _class(tmp_path / "submitted", ["ann", "bob"])
    _run(submissions, tmp_path / "out", Serial())
    monkeypatch.setattr(resume, "grading_code_digest", lambda: "ab" * 32)
    again = Serial()
    _run(submissions, tmp_path / "out", again)
    assert sorted(again.graded) == ["ann", "bob"]


def test_a_killed_run_resumes_and_the_gradebook_holds_one_submission_each(tmp_path):
    from nbgrader.api import Gradebook, SubmittedAssignment

    submissions = _class(tmp_path / "submitted", ["ann", "bob", "cy", "dee"])
    killed = Serial(stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        _run(submissions, tmp_path / "out", killed)
    assert killed.graded == ["ann", "bob"]

    resumed = Serial()
    _run(submissions, tmp_path / "out", resumed)
    assert resumed.graded == ["cy", "dee"]  # none graded twice, none lost
    rows = _grades(tmp_path / "out")
    assert sorted({r["student_id"] for r in rows}) == ["ann", "bob", "cy", "dee"]

    # What grades.csv says is what nbgrader's gradebook holds: one submission per student.
    with Gradebook(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}") as gb:
        submissions_in_db = gb.db.query(SubmittedAssignment).all()
        assert sorted(s.student.id for s in submissions_in_db) == ["ann", "bob", "cy", "dee"]
        for row in rows:
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, row["student_id"])
            grades = {g.name: g for g in nb.grades}
            assert grades[row["grade_id"]].auto_score == pytest.approx(float(row["score"]))


def test_an_unfinished_job_is_not_kept_and_is_graded_again(tmp_path):
    submissions = _class(tmp_path / "submitted", ["ann", "bob"])
    _run(submissions, tmp_path / "out", Serial(unfinished={"bob"}))
    assert {r["student_id"]: r["message"] for r in _grades(tmp_path / "out")}["bob"].startswith(
        "The autograder failed on this submission (over its budget)")
    again = Serial()
    _run(submissions, tmp_path / "out", again)
    assert again.graded == ["bob"]


def test_results_go_to_the_gradebook_url_given(tmp_path):
    from nbgrader.api import Gradebook

    submissions = _class(tmp_path / "submitted", ["ann"])
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'gb.db'}"
    _run(submissions, tmp_path / "out", Serial(), db_url=url)
    assert not (tmp_path / "out" / "gradebook.db").exists()
    with Gradebook(url) as gb:
        assert [s.name for s in gb.find_student("ann").submissions] == [ASSIGNMENT]


# --- the real thing, on a Dask cluster ----------------------------------------------------

@pytest.mark.slow
def test_a_class_graded_on_a_dask_cluster_equals_a_local_run(tmp_path):
    """Two workers of a LocalCluster on loopback grade each job within its budget
    (run.pool.grade_within_budget): grades.csv and every feedback page equal a local run's."""
    from autograder.cli import executor_for
    from autograder.examples.build import build

    submissions = tmp_path / "submitted"
    build(submissions, ["perfect", "mistakes"])
    for student in submissions.iterdir():  # one assignment keeps the test short
        for folder in student.iterdir():
            if folder.name != ASSIGNMENT:
                shutil.rmtree(folder)

    def run(out: Path, scheduler):
        executor, work = executor_for(scheduler, 2)
        grade(submissions, out, 2, assignment_ids=[ASSIGNMENT], executor=executor, work=work,
              progress=io.StringIO(), report=io.StringIO())

    run(tmp_path / "local", None)
    run(tmp_path / "dask", "local")
    assert (tmp_path / "dask" / "grades.csv").read_bytes() == (tmp_path / "local" / "grades.csv").read_bytes()
    pages = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local" / "feedback").rglob("*.html"))
    assert pages
    for page in pages:
        assert (tmp_path / "dask" / page).read_bytes() == (tmp_path / "local" / page).read_bytes()
