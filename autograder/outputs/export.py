"""``convlab export``: one gradebook out, per student and assignment,
automatic + manual - late penalty = total.

    convlab export [--gradebook URL | --grades DIR] [--people FILE] --out DIR

Where the grades come from:

* nbgrader's gradebook (default: the course's, autograder/work/gradebook.db, where the
  formgrader writes the manual grades): per assignment, ``automatic`` is the autograded
  points of the cells nobody graded by hand, ``manual`` the points given by hand (a
  manual score replaces the autograded one, extra credit counts here),
  ``to_grade_by_hand`` the points of written answers still waiting; the late penalty is
  the course's policy (autograder/score/lateness.py) applied to the score now, with the due date
  and extensions of the course config;
* or a ``convlab grade --out`` folder: ``automatic`` is the sum of grades.csv's scores,
  ``late_penalty`` lateness.csv's, ``manual`` 0 (nothing is graded by hand there).

Files written in the output folder:

* ``export.csv``: student, assignment, automatic, manual, late_penalty, total, max_score,
  to_grade_by_hand, note (one row per student and assignment);
* ``canvas.csv``: Canvas's Gradebook import: "Student", "ID", "SIS User ID",
  "SIS Login ID", "Section", then one column per assignment (its total); Canvas matches
  a row on ID, SIS User ID or SIS Login ID; an assignment column headed "name (id)"
  (``--canvas-assignments FILE``, CSV ``assignment,canvas_id``) updates that Canvas
  assignment, one without an id becomes a new assignment;
* ``moodle.csv``: Moodle's CSV grade import: "ID number", "Email address", then one
  column per assignment; on import, "Identify user by" maps "ID number" to idnumber (or
  "Email address" to email) and each assignment column to its grade item.

``--people FILE`` (CSV, header ``student_id`` and any of name, canvas_id, sis_user_id,
sis_login_id, section, email, idnumber) gives the LMS's view of each student. Without
it, or for a student it does not name, the nbgrader student id stands for the SIS User
ID (Canvas) and the ID number (Moodle), and the other cells stay empty.
Every text cell is written with ``safe_text.csv_cell``: an id cannot be a formula.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..safe_text import csv_cell
from .grades import write_table

__all__ = ["Grade", "EXPORT_COLUMNS", "CANVAS_COLUMNS", "MOODLE_COLUMNS", "PEOPLE_COLUMNS",
           "from_gradebook", "from_grades_dir", "read_people", "write_plain", "write_canvas",
           "write_moodle", "read_canvas_assignments", "export", "export_command"]

EXPORT_COLUMNS = ("student", "assignment", "automatic", "manual", "late_penalty", "total",
                  "max_score", "to_grade_by_hand", "note")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("ID number", "Email address")
PEOPLE_COLUMNS = ("student_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section",
                  "email", "idnumber")


@dataclass(frozen=True)
class Grade:
    student: str
    assignment: str
    automatic: float
    manual: float
    late_penalty: float
    max_score: float
    to_grade_by_hand: float = 0.0
    note: str = ""

    @property
    def total(self) -> float:
        return max(0.0, self.automatic + self.manual - self.late_penalty)


def _number(value: float) -> str:
    return format(round(value, 4), "g")


def from_gradebook(db_url: str, plugin=None) -> list[Grade]:
    """One Grade per student and assignment of nbgrader's gradebook. ``plugin``: the
    course's ``lateness.LatePolicy`` (None: no late penalty)."""
    from nbgrader.api import Gradebook, MissingEntry

    from ..score.lateness import lateness_of

    grades = []
    with Gradebook(db_url) as gb:
        assignments = sorted(a.name for a in gb.assignments)
        students = sorted(s.id for s in gb.students)
        for assignment in assignments:
            max_score = float(gb.find_assignment(assignment).max_score or 0.0)
            for student in students:
                try:
                    submission = gb.find_submission(assignment, student)
                except MissingEntry:
                    grades.append(Grade(student, assignment, 0.0, 0.0, 0.0, max_score,
                                        note="not submitted"))
                    continue
                automatic = manual = pending = 0.0
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.manual_score is not None:
                            manual += float(grade.manual_score)
                        elif grade.needs_manual_grade:
                            pending += float(grade.max_score or 0.0)
                        else:
                            automatic += float(grade.auto_score or 0.0)
                        manual += float(grade.extra_credit or 0.0)
                late = lateness_of(gb, assignment, student, plugin)
                note = "" if not late.late else f"{late.seconds_late:g} s late"
                grades.append(Grade(student, assignment, automatic, manual, late.penalty,
                                    max_score, pending, note))
    return grades


def from_grades_dir(folder) -> list[Grade]:
    """One Grade per student and assignment of a ``convlab grade --out`` folder."""
    from ..score.lateness import read_lateness

    folder = Path(folder)
    path = folder / "grades.csv"
    if not path.is_file():
        raise ValueError(f"{folder} has no grades.csv: give the --out folder of `convlab grade`")
    totals: dict[tuple[str, str], list[float]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            cell = totals.setdefault((row["student_id"], row["assignment"]), [0.0, 0.0])
            cell[0] += float(row["score"])
            cell[1] += float(row["max_score"])
    late = read_lateness(folder / "lateness.csv")
    grades = []
    for (student, assignment), (score, max_score) in sorted(totals.items()):
        record = late.get((student, assignment), {})
        cost = float(record.get("late_penalty") or 0.0)
        seconds = float(record.get("seconds_late") or 0.0)
        grades.append(Grade(_unquoted(student), _unquoted(assignment), score, 0.0, cost,
                            max_score, note=f"{seconds:g} s late" if seconds > 0 else ""))
    return grades


def _unquoted(cell: str) -> str:
    """A grades.csv id as the student had it: csv_cell's leading quote taken off."""
    return cell[1:] if cell.startswith("'") and cell[1:2] in "=+-@\t\r" else cell


def read_people(path) -> dict[str, dict[str, str]]:
    """student id -> the LMS's fields for that student (PEOPLE_COLUMNS)."""
    if path is None:
        return {}
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = tuple(reader.fieldnames or ())
        unknown = [f for f in fields if f not in PEOPLE_COLUMNS]
        if "student_id" not in fields or unknown:
            raise ValueError(f"{path}: the header must be student_id and any of "
                             f"{', '.join(PEOPLE_COLUMNS[1:])}"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        people = {}
        for line, row in enumerate(reader, start=2):
            student = (row["student_id"] or "").strip()
            if not student or student in people:
                raise ValueError(f"{path}:{line}: an empty or repeated student_id")
            people[student] = {k: (v or "").strip() for k, v in row.items() if k != "student_id"}
        return people


def _table(grades: list[Grade]) -> tuple[list[str], list[str], dict[tuple[str, str], Grade]]:
    students = sorted({g.student for g in grades})
    assignments = sorted({g.assignment for g in grades})
    return students, assignments, {(g.student, g.assignment): g for g in grades}


def write_plain(grades: list[Grade], path) -> Path:
    lines = [[csv_cell(g.student), csv_cell(g.assignment), _number(g.automatic),
              _number(g.manual), _number(g.late_penalty), _number(g.total), _number(g.max_score),
              _number(g.to_grade_by_hand), csv_cell(g.note)]
             for g in sorted(grades, key=lambda g: (g.student, g.assignment))]
    return write_table(Path(path), EXPORT_COLUMNS, lines)


def read_canvas_assignments(path) -> dict[str, str]:
    """assignment id -> Canvas's assignment id, from a CSV ``assignment,canvas_id``."""
    if path is None:
        return {}
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != ("assignment", "canvas_id"):
            raise ValueError(f"{path}: the header must be assignment,canvas_id")
        found = {}
        for line, row in enumerate(reader, start=2):
            number = (row["canvas_id"] or "").strip()
            if not number.isdigit():
                raise ValueError(f"{path}:{line}: a Canvas assignment id is a number, got {number!r}")
            found[(row["assignment"] or "").strip()] = number
        return found


def write_canvas(grades: list[Grade], path, people=None, canvas_ids=None) -> Path:
    """Canvas's columns; an assignment with a Canvas id is headed "name (id)", as Canvas's
    own export heads it, so the import updates that assignment."""
    people = people or {}
    canvas_ids = canvas_ids or {}
    students, assignments, table = _table(grades)
    lines = []
    for student in students:
        who = people.get(student, {})
        sis_user = who.get("sis_user_id") or ("" if who.get("canvas_id") or who.get("sis_login_id")
                                              else student)
        lines.append([csv_cell(who.get("name", "")), csv_cell(who.get("canvas_id", "")),
                      csv_cell(sis_user), csv_cell(who.get("sis_login_id", "")),
                      csv_cell(who.get("section", "")),
                      *(_cell(table.get((student, a))) for a in assignments)])
    header = [*CANVAS_COLUMNS, *(csv_cell(f"{a} ({canvas_ids[a]})" if a in canvas_ids else a)
                                 for a in assignments)]
    return write_table(Path(path), header, lines)


def write_moodle(grades: list[Grade], path, people=None) -> Path:
    people = people or {}
    students, assignments, table = _table(grades)
    lines = []
    for student in students:
        who = people.get(student, {})
        idnumber = who.get("idnumber") or ("" if who.get("email") else student)
        lines.append([csv_cell(idnumber), csv_cell(who.get("email", "")),
                      *(_cell(table.get((student, a))) for a in assignments)])
    header = [*MOODLE_COLUMNS, *(csv_cell(a) for a in assignments)]
    return write_table(Path(path), header, lines)


def _cell(grade: Grade | None) -> str:
    return "" if grade is None else _number(grade.total)


def export(out, *, gradebook: str | None = None, grades_dir=None, people=None,
           course_root=None, canvas_assignments=None) -> list[Path]:
    """Write export.csv, canvas.csv and moodle.csv into ``out``."""
    if gradebook and grades_dir:
        raise ValueError("give --gradebook or --grades, not both")
    if grades_dir is not None:
        grades = from_grades_dir(grades_dir)
    else:
        from ..run.workspace import course_config, project_root

        config, _ = course_config(Path(course_root or project_root()))
        url = gradebook or config.CourseDirectory.get("db_url")
        if not url:
            raise ValueError("no gradebook: give --gradebook sqlite:///PATH")
        if "://" not in url:
            url = f"sqlite:///{Path(url).resolve()}"
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
            raise ValueError(f"no gradebook at {url[len('sqlite:///'):]}")
        from ..score.lateness import check_config

        grades = from_gradebook(url, check_config(config))
    if not grades:
        raise ValueError("the gradebook has no student and assignment to export")
    who = read_people(people)
    canvas_ids = read_canvas_assignments(canvas_assignments)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [write_plain(grades, out / "export.csv"),
            write_canvas(grades, out / "canvas.csv", who, canvas_ids),
            write_moodle(grades, out / "moodle.csv", who)]


def export_command(out: str, gradebook: str | None = None, grades: str | None = None,
                   people: str | None = None, canvas_assignments: str | None = None) -> int:
    """``convlab export``: 0 when written, 2 on bad arguments."""
    import sys

    from ..safe_text import terminal

    try:
        paths = export(out, gradebook=gradebook, grades_dir=grades, people=people,
                       canvas_assignments=canvas_assignments)
    except ValueError as exc:
        print(terminal(f"convlab export: {exc}"), file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0
