"""Grading one submission as a pure job (autograder.run.job): the worker needs no course
secret and no path of the coordinator, the job and its result travel pickled, and the
seeds the job carries are checked against the code the worker grades."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from autograder.examples.build import build
from autograder.limits import Budget
from autograder.pipeline import make_jobs
from autograder.run.job import GradingJob, JobResult, grade_job
from autograder.run.workspace import Course

ROOT = Path(__file__).resolve().parents[1]


class _Intake:
    def __init__(self, root: Path):
        self.root, self.refused = root, {}


@pytest.fixture(scope="module")
def perfect_job(tmp_path_factory) -> GradingJob:
    folder = tmp_path_factory.mktemp("class")
    build(folder, ["perfect"], root=ROOT)
    course = Course.load(ROOT, ["01_convolution"])
    [job] = make_jobs(course, _Intake(folder), ["perfect"], ["01_convolution"], Budget())
    return job


def test_a_job_carries_bytes_and_seeds_never_the_secret_or_a_path(perfect_job):
    from autograder import secret

    again = pickle.loads(pickle.dumps(perfect_job))
    assert again == perfect_job and set(again.notebooks) == {"01_convolution"}
    [table] = again.seeds.values()
    assert table.student == "perfect" and table.assignment == "01_convolution"
    assert table.attempt.startswith("|")  # no timestamp.txt: "" | the code's digest
    text = pickle.dumps(perfect_job)
    assert secret.course_secret() not in text and secret.course_secret().hex().encode() not in text
    assert str(ROOT).encode() not in text


@pytest.mark.slow
def test_a_worker_grades_without_the_course_secret(perfect_job, monkeypatch):
    from autograder import secret

    def no_secret(*args, **kwargs):
        raise AssertionError("a grading worker read the course secret")

    monkeypatch.setattr(secret, "course_secret", no_secret)
    result = grade_job(perfect_job)
    assert isinstance(result, JobResult) and result.problems == ()
    assert result.cells and all(c.status == "passed" and c.score == c.max_score
                                for c in result.cells)
    assert {c.attempt for c in result.cells} == {perfect_job.seeds["01_convolution"].attempt}
    assert "hidden cases pass" in result.feedback["01_convolution"]  # the grader's messages
    assert pickle.loads(pickle.dumps(result)) == result


@pytest.mark.slow
def test_seeds_drawn_for_other_code_are_refused(perfect_job):
    from dataclasses import replace

    [table] = perfect_job.seeds.values()
    forged = replace(table, attempt="|" + "0" * 32)
    result = grade_job(replace(perfect_job, seeds={"01_convolution": forged}))
    assert result.cells and all(c.score == 0 and c.status == "error" for c in result.cells)
    assert "another version of its code" in result.cells[0].message


def test_a_job_that_cannot_be_graded_gets_zero_rows_and_never_raises():
    from autograder.run.workspace import TestCell

    job = GradingJob("ann", "01_convolution", {"01_convolution": b"not json"},
                     {"01_convolution": (TestCell("test_corr2d", 3.0),)})
    result = grade_job(job)
    assert [(c.grade_id, c.score, c.max_score, c.status) for c in result.cells] == \
        [("test_corr2d", 0.0, 3.0, "error")]
    assert "is not a readable Jupyter notebook" in result.cells[0].message
    assert "<!DOCTYPE html>" in result.feedback["01_convolution"]


def test_a_scheduler_without_the_dask_executor_is_refused_with_why(tmp_path, monkeypatch, capsys):
    import sys

    from autograder.cli import grade_command

    monkeypatch.setenv("CONVLAB_NO_ISOLATION", "1")  # not what is tested here
    monkeypatch.setitem(sys.modules, "autograder.run.executors", None)  # as in a branch without it
    (tmp_path / "class").mkdir()
    assert grade_command(str(tmp_path / "class"), str(tmp_path / "out"),
                         scheduler="tcp://127.0.0.1:8786") == 2
    assert "--scheduler needs the Dask executor" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
