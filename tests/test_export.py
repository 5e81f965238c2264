"""``convlab export`` (autograder/outputs/export.py): automatic + manual - late = total, as plain
CSV and in Canvas's and Moodle's gradebook import formats; full files compared."""
from __future__ import annotations

import csv
from datetime import datetime

import pytest
from traitlets.config import Config

from autograder.outputs.export import export, from_gradebook, read_people
from autograder.score.lateness import LatePolicy

POLICY = {"LatePolicy": {"due_dates": {"a1": "2027-01-15 23:59:00 UTC"}, "method": "per_day",
                         "rate": 0.1, "cap": 0.5}}


@pytest.fixture
def gradebook(tmp_path):
    """a1: nb1 with test cell t1 (6 points) and reflection r1 (2 points, by hand);
    a2: nb2 with t2 (4 points). ann: a1 one hour late, r1 graded 1.5; bob: r1 waiting,
    no a2; "=eve" (a formula for a name): t1 regraded by hand to 5, 0.5 extra credit."""
    from nbgrader.api import Gradebook

    from autograder.run.workspace import _alembic_head_in_process

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with _alembic_head_in_process(), Gradebook(url) as gb:
        gb.add_assignment("a1")
        gb.add_notebook("nb1", "a1")
        gb.add_grade_cell("t1", "nb1", "a1", max_score=6, cell_type="code")
        gb.add_solution_cell("t1", "nb1", "a1")
        gb.add_grade_cell("r1", "nb1", "a1", max_score=2, cell_type="markdown")
        gb.add_solution_cell("r1", "nb1", "a1")
        gb.add_assignment("a2")
        gb.add_notebook("nb2", "a2")
        gb.add_grade_cell("t2", "nb2", "a2", max_score=4, cell_type="code")
        gb.add_solution_cell("t2", "nb2", "a2")
        for student in ("ann", "bob", "=eve"):
            gb.add_student(student)

        def graded(assignment, notebook, student, when, scores):
            gb.add_submission(assignment, student, timestamp=when)
            for cell, (auto, manual, pending, extra) in scores.items():
                grade = gb.find_grade(cell, notebook, assignment, student)
                grade.auto_score, grade.manual_score = auto, manual
                grade.needs_manual_grade, grade.extra_credit = pending, extra
            gb.db.commit()

        graded("a1", "nb1", "ann", datetime(2027, 1, 16, 0, 59),
               {"t1": (6, None, False, None), "r1": (None, 1.5, False, None)})
        graded("a2", "nb2", "ann", None, {"t2": (4, None, False, None)})
        graded("a1", "nb1", "bob", datetime(2027, 1, 15, 23, 59),   # exactly on time
               {"t1": (3, None, False, None), "r1": (None, None, True, None)})
        graded("a1", "nb1", "=eve", datetime(2027, 1, 10),
               {"t1": (2, 5, False, None), "r1": (None, 1, False, 0.5)})
        graded("a2", "nb2", "=eve", None, {"t2": (1, None, False, None)})
    return url


def test_totals_from_nbgrader_gradebook(gradebook):
    grades = {(g.student, g.assignment): g for g in from_gradebook(gradebook, LatePolicy(config=Config(POLICY)))}
    ann = grades["ann", "a1"]
    # 6 automatic + 1.5 by hand, one hour late: a started day, 10 % of 7.5.
    assert (ann.automatic, ann.manual, ann.late_penalty, ann.total) == (6, 1.5, 0.75, 6.75)
    bob = grades["bob", "a1"]
    assert (bob.automatic, bob.manual, bob.late_penalty, bob.to_grade_by_hand) == (3, 0, 0, 2)
    assert grades["bob", "a2"].note == "not submitted" and grades["bob", "a2"].total == 0
    eve = grades["=eve", "a1"]
    assert (eve.automatic, eve.manual, eve.total) == (0, 6.5, 6.5)  # manual replaces auto


def test_export_files(gradebook, tmp_path):
    people = tmp_path / "people.csv"
    people.write_text("student_id,name,canvas_id,sis_login_id,section,email,idnumber\n"
                      "ann,\"Lovelace, Ann\",101,ann@uni.example,S1,ann@uni.example,U1\n"
                      "=eve,=HYPERLINK(\"x\"),,,,,@evil\n")
    config_root = tmp_path / "course"
    config_root.mkdir()
    (config_root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.db_url = {gradebook!r}\n"
        f"c.LatePolicy.due_dates = {POLICY['LatePolicy']['due_dates']!r}\n"
        "c.LatePolicy.method = 'per_day'\nc.LatePolicy.rate = 0.1\nc.LatePolicy.cap = 0.5\n")
    out = tmp_path / "out"
    paths = export(out, people=people, course_root=config_root)
    assert [p.name for p in paths] == ["export.csv", "canvas.csv", "moodle.csv"]
    text = {p.name: p.read_bytes().decode() for p in paths}
    assert text["export.csv"] == (
        "student,assignment,automatic,manual,late_penalty,total,max_score,to_grade_by_hand,note\r\n"
        "'=eve,a1,0,6.5,0,6.5,8,0,\r\n"
        "'=eve,a2,1,0,0,1,4,0,\r\n"
        "ann,a1,6,1.5,0.75,6.75,8,0,3600 s late\r\n"
        "ann,a2,4,0,0,4,4,0,\r\n"
        "bob,a1,3,0,0,3,8,2,\r\n"
        "bob,a2,0,0,0,0,4,0,not submitted\r\n")
    assert text["canvas.csv"] == (
        "Student,ID,SIS User ID,SIS Login ID,Section,a1,a2\r\n"
        "\"'=HYPERLINK(\"\"x\"\")\",,'=eve,,,6.5,1\r\n"
        "\"Lovelace, Ann\",101,,ann@uni.example,S1,6.75,4\r\n"
        ",,bob,,,3,0\r\n")
    assert text["moodle.csv"] == (
        "ID number,Email address,a1,a2\r\n"
        "'@evil,,6.5,1\r\n"
        "U1,ann@uni.example,6.75,4\r\n"
        "bob,,3,0\r\n")
    # Canvas and Moodle read them as CSV with exactly their documented identity columns.
    with open(out / "canvas.csv", newline="") as handle:
        assert next(csv.reader(handle))[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def test_export_from_a_grade_folder(tmp_path):
    folder = tmp_path / "graded"
    folder.mkdir()
    (folder / "grades.csv").write_text(
        "student_id,assignment,grade_id,score,max_score,message\n"
        "ann,a1,t1,3,4,\nann,a1,t2,2,2,\n'=eve,a1,t1,1,4,\n'=eve,a1,t2,0,2,\n")
    (folder / "lateness.csv").write_text(
        "student_id,assignment,submitted,due,extension_hours,seconds_late,late_penalty,message\n"
        "ann,a1,,,0,90000,1,late\n")
    paths = export(tmp_path / "out", grades_dir=folder)
    assert paths[0].read_bytes().decode() == (
        "student,assignment,automatic,manual,late_penalty,total,max_score,to_grade_by_hand,note\r\n"
        "'=eve,a1,1,0,0,1,6,0,\r\n"
        "ann,a1,5,0,1,4,6,0,90000 s late\r\n")


def test_bad_arguments_are_value_errors(tmp_path, gradebook):
    with pytest.raises(ValueError, match="no grades.csv"):
        export(tmp_path / "out", grades_dir=tmp_path)
    with pytest.raises(ValueError, match="not both"):
        export(tmp_path / "out", gradebook=gradebook, grades_dir=tmp_path)
    with pytest.raises(ValueError, match="no gradebook at"):
        export(tmp_path / "out", gradebook=f"sqlite:///{tmp_path / 'none.db'}")
    bad = tmp_path / "people.csv"
    bad.write_text("student_id,phone\nann,1\n")
    with pytest.raises(ValueError, match="unknown: phone"):
        read_people(bad)
    bad.write_text("student_id,name\nann,A\nann,B\n")
    with pytest.raises(ValueError, match="repeated"):
        read_people(bad)


def test_convlab_export_command(gradebook, tmp_path, capsys):
    from convlab.cli import main

    ids = tmp_path / "canvas.csv"
    ids.write_text("assignment,canvas_id\na2,4321\n")
    assert main(["export", "--out", str(tmp_path / "out"), "--gradebook", gradebook,
                 "--canvas-assignments", str(ids)]) == 0
    assert (tmp_path / "out" / "moodle.csv").is_file()
    header = (tmp_path / "out" / "canvas.csv").read_text().splitlines()[0]
    assert header == "Student,ID,SIS User ID,SIS Login ID,Section,a1,a2 (4321)"
    ids.write_text("assignment,canvas_id\na2,=1+1\n")
    assert main(["export", "--out", str(tmp_path / "o3"), "--gradebook", gradebook,
                 "--canvas-assignments", str(ids)]) == 2
    assert "a Canvas assignment id is a number" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "o2"), "--grades", str(tmp_path)]) == 2
    assert "no grades.csv" in capsys.readouterr().err
