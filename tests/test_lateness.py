"""Due dates, the late policy and extensions (autograder/score/lateness.py): each rule pinned."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import nbformat
import csv

import pytest

from autograder.score.lateness import (
    AssignLatePolicy, LatePolicy, Lateness, Policy, describe, parse_due, penalty,
    read_extensions, report_section, write_lateness,
)

H, D = 3600.0, 86400.0


def test_on_time_costs_nothing_and_one_second_late_is_late():
    per_day = Policy("per_day", rate=0.1, cap=0.5)
    assert penalty(per_day, 10.0, 0) == 0.0            # exactly on the due date
    assert penalty(per_day, 10.0, -5) == 0.0           # early
    assert penalty(per_day, 10.0, 1) == 1.0            # one second late: a started day


def test_per_day_counts_started_days_and_per_hour_started_hours():
    per_day = Policy("per_day", rate=0.1, cap=1.0)
    per_hour = Policy("per_hour", rate=0.01, cap=1.0)
    assert penalty(per_day, 10.0, D) == 1.0
    assert penalty(per_day, 10.0, D + 1) == 2.0
    assert penalty(per_day, 10.0, 2 * H) == 1.0        # per day: two hours are one day
    assert penalty(per_hour, 10.0, 2 * H) == 0.2       # per hour: two hours are two
    assert penalty(per_hour, 10.0, 2 * H + 1) == 0.3
    assert penalty(per_hour, 10.0, D) == 2.4


def test_the_cap_bounds_the_rate():
    capped = Policy("per_day", rate=0.2, cap=0.5)
    assert penalty(capped, 10.0, 2 * D) == 4.0
    assert penalty(capped, 10.0, 3 * D) == 5.0         # 60 % capped at 50 %
    assert penalty(capped, 10.0, 30 * D) == 5.0


def test_past_the_cutoff_the_score_goes_and_not_before():
    cutoff = Policy("per_day", rate=0.1, cap=0.5, cutoff_hours=48)
    assert penalty(cutoff, 10.0, 48 * H) == 2.0        # on the cutoff: still the rate
    assert penalty(cutoff, 10.0, 48 * H + 1) == 10.0   # past it: zero
    only_cutoff = Policy("none", cutoff_hours=0)       # nbgrader's "zero"
    assert penalty(only_cutoff, 7.5, 0) == 0.0
    assert penalty(only_cutoff, 7.5, 1) == 7.5


def test_no_policy_costs_nothing_and_no_score_loses_nothing():
    assert penalty(Policy(), 10.0, 30 * D) == 0.0
    assert penalty(Policy("per_day", rate=0.1), 0.0, D) == 0.0


@pytest.mark.parametrize("bad", [dict(method="weekly"), dict(rate=1.5), dict(cap=-0.1),
                                 dict(cutoff_hours=-1)])
def test_a_bad_policy_is_a_value_error(bad):
    with pytest.raises(ValueError):
        Policy(**bad)


def test_a_due_date_needs_a_time_zone():
    assert parse_due("2027-01-15 23:59:00 UTC") == datetime(2027, 1, 15, 23, 59)
    assert parse_due("2027-01-15T23:59:00+01:00") == datetime(2027, 1, 15, 22, 59)
    assert parse_due("2027-07-15 23:59:00 Europe/Paris") == datetime(2027, 7, 15, 21, 59)
    for bad in ("2027-01-15 23:59:00", "soon", "", "2027-01-15 23:59:00 Europe/Pariss"):
        with pytest.raises(ValueError):
            parse_due(bad)


def test_extensions_file(tmp_path):
    path = tmp_path / "extensions.csv"
    assert read_extensions(path) == {}
    path.write_text("student_id,assignment,hours\nann,01_convolution,48\nbob,02_transposed,1.5\n")
    assert read_extensions(path) == {("ann", "01_convolution"): 48.0, ("bob", "02_transposed"): 1.5}
    for text in ("student,assignment,hours\nann,a,1\n", "student_id,assignment,hours\nann,a,x\n",
                 "student_id,assignment,hours\nann,a,-1\n",
                 "student_id,assignment,hours\nann,a,1\nann,a,2\n"):
        path.write_text(text)
        with pytest.raises(ValueError):
            read_extensions(path)


# --- the nbgrader seam -----------------------------------------------------------------

def _gradebook(tmp_path, submitted: datetime, score: float = 8.0):
    """A gradebook with one assignment "a1" (notebook "nb", one 10-point test cell) and
    ann's submission at ``submitted``, auto-graded ``score``."""
    from nbgrader.api import Gradebook

    from autograder.run.workspace import _alembic_head_in_process  # seconds saved per gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with _alembic_head_in_process(), Gradebook(url) as gb:
        gb.add_assignment("a1")
        gb.add_notebook("nb", "a1")
        gb.add_grade_cell("t1", "nb", "a1", max_score=10, cell_type="code")
        gb.add_solution_cell("t1", "nb", "a1")
        gb.add_student("ann")
        gb.add_submission("a1", "ann", timestamp=submitted)
        grade = gb.find_grade("t1", "nb", "a1", "ann")
        grade.auto_score = score
        gb.db.commit()
    return url


def _assign(url, config):
    from traitlets.config import Config

    nb = nbformat.v4.new_notebook()
    resources = {"nbgrader": {"notebook": "nb", "assignment": "a1", "student": "ann",
                              "db_url": url}}
    AssignLatePolicy(config=Config(config)).preprocess(nb, resources)
    from nbgrader.api import Gradebook

    from autograder.score.lateness import lateness_of

    with Gradebook(url) as gb:
        stored = gb.find_submission_notebook("nb", "a1", "ann").late_submission_penalty
        seconds = gb.find_submission("a1", "ann").total_seconds_late
        # What feedback, lateness.csv and export compute is what nbgrader stored.
        late = lateness_of(gb, "a1", "ann", LatePolicy(config=Config(config)))
        assert (late.penalty, late.seconds_late) == (pytest.approx(float(stored or 0)), seconds)
        return float(stored or 0), seconds


def test_nbgrader_applies_the_course_policy_with_the_configured_due_date(tmp_path):
    url = _gradebook(tmp_path, datetime(2027, 1, 16, 1, 0, 0))  # 1 h 1 min late
    policy = {"due_dates": {"a1": "2027-01-15 23:59:00 UTC"}, "method": "per_hour",
              "rate": 0.1, "cap": 0.5}
    cost, late = _assign(url, {"LatePolicy": policy})
    assert late == 3660
    assert cost == pytest.approx(8.0 * 0.2)


def test_an_extension_moves_the_due_date(tmp_path):
    url = _gradebook(tmp_path, datetime(2027, 1, 16, 1, 0, 0))
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("student_id,assignment,hours\nann,a1,2\n")
    policy = {"due_dates": {"a1": "2027-01-15 23:59:00 UTC"}, "method": "per_hour",
              "rate": 0.1, "cap": 0.5, "extensions_file": str(extensions)}
    assert _assign(url, {"LatePolicy": policy}) == (0.0, 0)
    extensions.write_text("student_id,assignment,hours\nann,a1,1\n")  # 1 min late after it
    assert _assign(url, {"LatePolicy": policy}) == (pytest.approx(0.8), 60)


def test_the_cutoff_zeroes_through_nbgrader(tmp_path):
    url = _gradebook(tmp_path, datetime(2027, 1, 18, 0, 0, 1))
    policy = {"due_dates": {"a1": "2027-01-15 00:00:00 UTC"}, "method": "per_day",
              "rate": 0.1, "cap": 0.5, "cutoff_hours": 72}
    assert _assign(url, {"LatePolicy": policy}) == (8.0, 3 * D + 1)


def test_an_extension_granted_after_grading_counts_without_grading_again(tmp_path):
    from nbgrader.api import Gradebook
    from traitlets.config import Config

    from autograder.score.lateness import lateness_of

    url = _gradebook(tmp_path, datetime(2027, 1, 16, 1, 0, 0))
    extensions = tmp_path / "extensions.csv"
    policy = {"due_dates": {"a1": "2027-01-15 23:59:00 UTC"}, "method": "per_day",
              "rate": 0.25, "extensions_file": str(extensions)}
    assert _assign(url, {"LatePolicy": policy}) == (2.0, 3660)
    extensions.write_text("student_id,assignment,hours\nann,a1,24\n")
    with Gradebook(url) as gb:
        late = lateness_of(gb, "a1", "ann", LatePolicy(config=Config({"LatePolicy": policy})))
    assert (late.penalty, late.seconds_late, late.extension_hours) == (0.0, 0.0, 24.0)
    assert late.due == datetime(2027, 1, 16, 23, 59)


def test_without_a_due_date_nothing_is_late(tmp_path):
    url = _gradebook(tmp_path, datetime(2030, 1, 1))
    assert _assign(url, {"LatePolicy": {"method": "per_day", "rate": 0.5}}) == (0.0, 0)


def test_the_course_config_names_the_plugin():
    from autograder.run.workspace import course_config
    from convlab.cli import repo_root

    config, _ = course_config(repo_root())
    assert "autograder.score.lateness.AssignLatePolicy" in config.Autograde.autograde_preprocessors
    assert config.AssignLatePenalties.plugin_class == "autograder.score.lateness.LatePolicy"
    plugin = LatePolicy(config=config)
    assert plugin.policy == Policy(plugin.method, plugin.rate, plugin.cap, plugin.cutoff_hours)


# --- what is shown -----------------------------------------------------------------------

def _record(**kw):
    base = dict(student_id="=ann", assignment="a1", submitted=datetime(2027, 1, 16, 1, 0, 0),
                due=datetime(2027, 1, 15, 23, 59), extension_hours=0.0, seconds_late=3660.0,
                penalty=1.6)
    base.update(kw)
    return Lateness(**base)


def test_lateness_csv_is_written_whole_with_ids_escaped(tmp_path):
    write_lateness([_record(), _record(student_id="bob", submitted=None, seconds_late=0.0,
                                       penalty=0.0, extension_hours=24.0)],
                   tmp_path / "lateness.csv")
    assert (tmp_path / "lateness.csv").read_bytes().decode() == (
        "student_id,assignment,submitted,due,extension_hours,seconds_late,late_penalty,message\r\n"
        "'=ann,a1,2027-01-16 01:00:00+00:00,2027-01-15 23:59:00+00:00,0,3660,1.6,"
        "\"Submitted 2027-01-16 01:00:00+00:00, due 2027-01-15 23:59:00+00:00: 1 h 1 min late, "
        "late penalty 1.6 points.\"\r\n"
        "bob,a1,,2027-01-15 23:59:00+00:00,24,0,0,\"Submitted (no timestamp), due 2027-01-15 "
        "23:59:00+00:00 (extension of 24 h included): counted on time.\"\r\n")


def test_describe_on_time_and_no_due_date():
    assert describe(_record(seconds_late=0.0, penalty=0.0)).endswith(": on time.")
    assert describe(_record(due=None)) == "No due date."
    assert "3 d 0 h late" in describe(_record(seconds_late=3 * D))


def test_report_lists_late_submissions_escaped():
    html = report_section([_record(student_id="<b>ann\x1b"), _record(student_id="bob",
                                                                      seconds_late=0.0)])
    assert "&lt;b&gt;ann" in html and "<b>ann" not in html and "\x1b" not in html
    assert "bob" not in html
    assert report_section([_record(seconds_late=0.0)]) == ""


def test_report_html_has_the_late_section():
    from autograder.outputs.grades import Row
    from autograder.outputs.report import render

    rows = [Row("ann", "01_convolution", "corr2d_test", 1.0, 2.0, "ok", "passed")]
    page = render(rows, late=[_record(student_id="ann", assignment="01_convolution")])
    assert "<h2>Late submissions</h2>" in page and "1 h 1 min" in page
    assert "Late submissions" not in render(rows, late=[_record(seconds_late=0.0)])


def test_an_lms_late_marker_without_a_time_is_noted_not_guessed(tmp_path):
    import zipfile

    from autograder.intake import read_submissions

    source = tmp_path / "canvas.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("ada_LATE_1234_5678_01_convolution.ipynb", "{}")
        archive.writestr("bob_1235_5679_01_convolution.ipynb", "{}")
    canvas = r"(?P<student_id>[a-z]+)_(?:LATE_)?\d+_\d+_(?P<file_id>\w+)\.ipynb"
    intake = read_submissions(source, tmp_path / "in", {"01_convolution": "01_convolution"},
                              canvas)
    assert sorted(intake.students) == ["ada", "bob"]
    late = [note for note in intake.notes if "LATE" in note]
    assert len(late) == 1 and late[0].startswith("ada_LATE_1234_5678_01_convolution.ipynb")
    assert "counts it on time" in late[0]


def test_a_bad_course_policy_is_one_value_error_before_grading(tmp_path):
    from traitlets.config import Config

    from autograder.score.lateness import check_config

    good = {"due_dates": {"a1": "2027-01-15 23:59:00 UTC"}, "method": "per_day", "rate": 0.1,
            "extensions_file": str(tmp_path / "none.csv")}
    assert check_config(Config({"LatePolicy": good})).policy == Policy("per_day", 0.1)
    for bad in ({"rate": 2.0}, {"due_dates": {"a1": "2027-01-15 23:59"}}):
        with pytest.raises(ValueError):
            check_config(Config({"LatePolicy": {**good, **bad}}))
    (tmp_path / "bad.csv").write_text("student_id,assignment,hours\nann,a1,soon\n")
    with pytest.raises(ValueError, match="hours must be a number"):
        check_config(Config({"LatePolicy": {**good, "extensions_file": str(tmp_path / "bad.csv")}}))


@pytest.mark.slow
def test_convlab_grade_writes_lateness_csv_with_the_course_policy(tmp_path):
    """`convlab grade` (nbgrader's Autograde in its workers) applies the course's policy:
    a course root whose config gives a due date, one student late, one on time."""
    import io

    from autograder.pipeline import grade
    from convlab.cli import repo_root

    root = repo_root()
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"load_subconfig({str(root / 'nbgrader_config.py')!r})\n"
        "c.LatePolicy.due_dates = {'01_convolution': '2020-01-15 12:00:00 UTC'}\n"
        "c.LatePolicy.method = 'per_day'\nc.LatePolicy.rate = 0.25\n"
        f"c.LatePolicy.extensions_file = {str(tmp_path / 'extensions.csv')!r}\n")
    (tmp_path / "extensions.csv").write_text("student_id,assignment,hours\nbob,01_convolution,48\n")
    released = root / "notebooks" / "01_convolution" / "01_convolution.ipynb"
    solved = root / "solutions" / "01_convolution" / "01_convolution.ipynb"
    for student, stamp in (("ann", "2020-01-16 12:00:01 UTC"), ("bob", "2020-01-16 12:00:00 UTC")):
        folder = tmp_path / "submitted" / student / "01_convolution"
        folder.mkdir(parents=True)
        notebook = solved if student == "ann" else released
        folder.joinpath("01_convolution.ipynb").write_bytes(notebook.read_bytes())
        folder.joinpath("timestamp.txt").write_text(stamp + "\n")
    summary = io.StringIO()
    grade(tmp_path / "submitted", tmp_path / "out", course_root=course,
          assignment_ids=["01_convolution"], progress=io.StringIO(), report=summary)
    lines = (tmp_path / "out" / "lateness.csv").read_bytes().decode().splitlines()
    assert lines[0] == ",".join(("student_id", "assignment", "submitted", "due", "extension_hours",
                                 "seconds_late", "late_penalty", "message"))
    # ann: one day and one second late, two started days: half the autograded score.
    scores = sum(float(line.split(",")[3]) for line in
                 (tmp_path / "out" / "grades.csv").read_text().splitlines()[1:]
                 if line.startswith("ann,"))
    assert scores > 0
    cost = format(round(scores * 0.5, 4), "g")
    assert lines[1] == ("ann,01_convolution,2020-01-16 12:00:01+00:00,2020-01-15 12:00:00+00:00,"
                        f"0,86401,{cost},\"Submitted 2020-01-16 12:00:01+00:00, due 2020-01-15 "
                        f"12:00:00+00:00: 1 d 0 h late, late penalty {cost} points.\"")
    assert lines[2].startswith("bob,01_convolution,2020-01-16 12:00:00+00:00,"
                               "2020-01-17 12:00:00+00:00,48,0,0,")
    assert "Late submissions" in (tmp_path / "out" / "report.html").read_text()
    # grades.csv shows it too (its columns are the contract's): after each of ann's messages.
    with open(tmp_path / "out" / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    note = f"[Submitted 2020-01-16 12:00:01+00:00, due 2020-01-15 12:00:00+00:00: 1 d 0 h late, late penalty {cost} points.]"
    assert all(r["message"].endswith(note) for r in rows if r["student_id"] == "ann")
    assert not any("late" in r["message"] for r in rows if r["student_id"] == "bob")
    # The summary printed at the end: ann's total after the penalty, marked; bob's as graded.
    table = {line.split()[0]: line.split() for line in summary.getvalue().splitlines() if line.strip()}
    assert table["ann"][1] == "*" + format(round(scores - float(cost), 4), "g")
    assert not table["bob"][1].startswith("*")


def test_the_summary_table_subtracts_late_penalties_and_marks_them():
    from autograder.outputs.grades import Row
    from autograder.outputs.summary import summary_table
    from autograder.score.lateness import Lateness

    rows = [Row("ann", "01_convolution", "t1", 3.0, 4.0, "", "passed"),
            Row("ann", "01_convolution", "t2", 2.0, 2.0, "", "passed"),
            Row("bob", "01_convolution", "t1", 4.0, 4.0, "", "passed"),
            Row("bob", "01_convolution", "t2", 2.0, 2.0, "", "passed")]
    late = [Lateness("ann", "01_convolution", None, None, 0.0, 86401.0, 2.5),
            Lateness("bob", "01_convolution", None, None, 0.0, 0.0, 0.0)]
    lines = summary_table(rows, ["01_convolution"], late).splitlines()
    assert lines[2].split() == ["ann", "*2.5", "/", "6", "*2.5", "/", "6"]
    assert lines[3].split() == ["bob", "6", "/", "6", "6", "/", "6"]
    assert lines[-1] == "* after the late penalty (lateness.csv says why)"
    # Without lateness records: the scores as graded, no footnote.
    plain = summary_table(rows, ["01_convolution"]).splitlines()
    assert plain[2].split() == ["ann", "5", "/", "6", "5", "/", "6"] and len(plain) == 4


def test_a_grade_saved_in_the_formgrader_restates_the_stored_late_penalty(tmp_path, monkeypatch):
    """nbgrader stored the penalty of the autograded score; the instructor then grades by
    hand in the formgrader: the stored penalty becomes the policy's on the new score, as
    feedback and `convlab export` compute it (and back to None for a submission on time)."""
    from types import SimpleNamespace

    from nbgrader.api import Gradebook
    from nbgrader.server_extensions.formgrader import apihandlers
    from traitlets.config import Config, Configurable

    from autograder.score import hand_grading

    url = _gradebook(tmp_path, datetime(2027, 1, 16, 1, 0, 0), score=4.0)  # 1 h 1 min late
    config = {"LatePolicy": {"due_dates": {"a1": "2027-01-15 23:59:00 UTC"},
                             "method": "per_hour", "rate": 0.1, "cap": 0.5}}
    assert _assign(url, config)[0] == pytest.approx(0.8)  # 2 started hours: 20 % of 4

    # nbgrader's own put, stood in for by what it does: the grade's new score, saved.
    def save(handler, grade_id):
        grade = handler.gradebook.find_grade_by_id(grade_id)
        grade.manual_score = 9.0
        handler.gradebook.db.commit()

    monkeypatch.setattr(apihandlers.GradeHandler, "put", save)
    monkeypatch.setattr(apihandlers.GradeHandler, "_convlab_restates_lateness", False, raising=False)
    hand_grading.watch_hand_grading()
    hand_grading.watch_hand_grading()  # idempotent: one restating, not two
    with Gradebook(url) as gb:
        app = Configurable(config=Config(config))  # the formgrader's app, its course config
        handler = SimpleNamespace(gradebook=gb, coursedir=SimpleNamespace(parent=app))
        grade_id = gb.find_grade("t1", "nb", "a1", "ann").id
        apihandlers.GradeHandler.put(handler, grade_id)
        notebook = gb.find_submission_notebook("nb", "a1", "ann")
        assert notebook.score == 9.0
        assert notebook.late_submission_penalty == pytest.approx(1.8)  # 20 % of 9 now
        # An extension granted since: on time, so no penalty stored (nbgrader's None).
        (tmp_path / "ext.csv").write_text("student_id,assignment,hours\nann,a1,24\n")
        app.config = Config({"LatePolicy": {**config["LatePolicy"],
                                            "extensions_file": str(tmp_path / "ext.csv")}})
        apihandlers.GradeHandler.put(handler, grade_id)
        assert gb.find_submission_notebook("nb", "a1", "ann").late_submission_penalty is None
