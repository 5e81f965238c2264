"""The class's grades in nbgrader's gradebook, at a database URL.

SQLite by default (``sqlite:///<folder>/gradebook.db``); PostgreSQL
(``postgresql+psycopg://user:password@host/db``) for a course with several graders: several
``convlab grade`` runs writing at once while the formgrader reads. The tables are
nbgrader's own (``nbgrader.api``), so its formgrader, ``nbgrader export`` and manual grading
read what is written here.

* ``ensure_structure`` copies assignments, notebooks and cells from a gradebook that
  ``nbgrader generate_assignment`` filled (the run's template course) into this one;
* ``record`` writes one student's graded submission of one assignment: the student, the
  submission with its timestamp, each test cell's ``auto_score``. One transaction per call:
  a reader (the formgrader) sees the submission whole or not at all. Idempotent: recording
  the same job again leaves one submission; a newer timestamp replaces the scores, an
  older one is refused (``KEPT_NEWER``). A grader's manual score is kept, as nbgrader's
  autograde keeps it, and the grade is flagged for review when the autograder's score or
  the attempt changed (not when a resumed run records the same job again);
* ``read`` gives the scores back, manual overrides included, for reports.

Concurrent writers meet on nbgrader's unique constraints (one assignment of a name, one
submission per student and assignment, ...): the loser of a race gets an integrity error,
rolls back and tries again, then finds the winner's rows. Locks (SQLite) and PostgreSQL's
serialization failures and deadlocks are retried the same way.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import math
import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CREATED", "UPDATED", "UNCHANGED", "KEPT_NEWER", "RecordedGrade",
           "RecordedSubmission", "GradebookWriter", "normalize_db_url", "sqlite_url"]

CREATED, UPDATED, UNCHANGED, KEPT_NEWER = "created", "updated", "unchanged", "kept_newer"

# nbgrader's columns for ids and names are VARCHAR(128).
_MAX_ID = 128
_ATTEMPTS = 12


@dataclass(frozen=True)
class RecordedGrade:
    auto_score: float | None
    manual_score: float | None
    score: float            # what nbgrader counts: the manual score when there is one
    max_score: float


@dataclass(frozen=True)
class RecordedSubmission:
    student: str
    assignment: str
    timestamp: _dt.datetime | None  # naive UTC, as nbgrader stores it
    grades: dict[str, dict[str, RecordedGrade]]  # notebook -> grade_id -> grade


def sqlite_url(path: str | Path) -> str:
    """The database URL of a SQLite gradebook file."""
    return "sqlite:///" + str(Path(path).resolve())


def normalize_db_url(db_url: str) -> str:
    """``db_url`` checked (ValueError when SQLAlchemy cannot read it), with a bare
    ``postgresql://`` given the psycopg (3) driver this project installs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not isinstance(db_url, str) or not db_url:
        raise ValueError(f"a gradebook database URL is a non-empty string, got {db_url!r}")
    try:
        url = make_url(db_url)
    except ArgumentError:
        raise ValueError(f"not a database URL: {db_url!r} (e.g. sqlite:///path/gradebook.db or "
                         "postgresql+psycopg://user:password@host/database)") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("a SQLite gradebook must be a file (sqlite:///path/gradebook.db): an "
                         "in-memory one vanishes with the run and no other process sees it")
    return url.render_as_string(hide_password=False)


def _shown(db_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ValueError(f"{what} must be a non-empty string of at most {_MAX_ID} characters, "
                         f"got {value!r:.150}")
    return value


def _timestamp(value) -> _dt.datetime | None:
    """Naive UTC, as nbgrader keeps timestamps; a naive input is taken as UTC."""
    if value is None:
        return None
    from nbgrader.utils import parse_utc

    if not isinstance(value, (str, _dt.datetime)):
        raise ValueError(f"a timestamp is a string or a datetime, got {type(value).__name__}")
    try:
        return parse_utc(value)
    except (ValueError, OverflowError, TypeError) as exc:
        raise ValueError(f"not a timestamp: {value!r:.80} ({exc})") from None


def _grades(notebook_grades) -> dict[str, dict[str, tuple[float, float]]]:
    if not isinstance(notebook_grades, Mapping):
        raise ValueError("notebook_grades maps notebook -> grade_id -> (score, max_score)")
    checked = {}
    for notebook, cells in notebook_grades.items():
        _check_name("a notebook's name", notebook)
        if not isinstance(cells, Mapping):
            raise ValueError(f"the grades of notebook {notebook!r} must map grade_id -> "
                             "(score, max_score)")
        checked[notebook] = {}
        for grade_id, pair in cells.items():
            _check_name("a grade_id", grade_id)
            try:
                score, max_score = (float(x) for x in pair)
            except (TypeError, ValueError):
                raise ValueError(f"{notebook}/{grade_id}: a grade is (score, max_score), "
                                 f"got {pair!r:.80}") from None
            if not (math.isfinite(score) and math.isfinite(max_score)) or max_score < 0 \
                    or not 0 <= score <= max_score:
                raise ValueError(f"{notebook}/{grade_id}: score {score} is not within "
                                 f"[0, max_score {max_score}]")
            checked[notebook][grade_id] = (score, max_score)
    return checked


_ALEMBIC_LOCK = threading.Lock()


@contextlib.contextmanager
def _alembic_head_in_process():
    """A new gradebook is stamped with nbgrader's schema version, which nbgrader learns by
    running the ``alembic`` program (seconds, and it must be on PATH); alembic's API
    gives the same answer in-process."""
    import nbgrader.api

    from ..run.workspace import alembic_head

    head = alembic_head()
    with _ALEMBIC_LOCK:
        original = nbgrader.api.get_alembic_version
        nbgrader.api.get_alembic_version = lambda: head
        try:
            yield
        finally:
            nbgrader.api.get_alembic_version = original


def _transient(exc: BaseException) -> bool:
    """Whether another try may succeed: a race lost to another writer (a unique
    constraint, a table created meanwhile), a lock, a serialization failure, a deadlock."""
    from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

    if isinstance(exc, (IntegrityError, OperationalError)):
        text = str(exc.orig if isinstance(exc, DBAPIError) else exc).lower()
        # A server that is not there stays not there: say so at once.
        return not any(word in text for word in ("connection refused", "could not translate",
                                                 "password authentication failed",
                                                 "does not exist", "unable to open"))
    if isinstance(exc, ProgrammingError):  # CREATE TABLE meeting another process's table
        return "already exists" in str(exc).lower()
    return False


def _retrying(action, what: str, attempts: int = _ATTEMPTS):
    delay = 0.02
    for attempt in range(attempts):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts - 1 or not _transient(exc):
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 1.0)
    raise AssertionError(f"unreachable: {what}")


class GradebookWriter:
    """Records typed results into nbgrader's gradebook at ``db_url``."""

    def __init__(self, db_url: str, course_id: str = "default_course"):
        from nbgrader.api import Gradebook
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import SQLAlchemyError

        self.db_url = normalize_db_url(db_url)
        self.course_id = _check_name("course_id", course_id)
        url = make_url(self.db_url)
        if url.get_backend_name() == "sqlite":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)

        def open_gradebook():
            with _alembic_head_in_process():
                return Gradebook(self.db_url, self.course_id)

        try:
            self._gb = _retrying(open_gradebook, "open the gradebook")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()
            raise ValueError(f"cannot open the gradebook {_shown(self.db_url)}: "
                             f"{reason[0] if reason else type(exc).__name__}") from None

    # -- structure ----------------------------------------------------------------------

    def ensure_structure(self, template_db_url: str,
                         assignments: Iterable[str] | None = None) -> list[str]:
        """Copy assignments (all, or those named) with their notebooks, grade, solution,
        task and source cells from the gradebook at ``template_db_url``, as
        ``nbgrader generate_assignment`` recorded them there. Existing entries are updated
        (points, sources), none removed (grades may hang on them). Returns the names."""
        from nbgrader.api import Gradebook

        with _alembic_head_in_process(), Gradebook(normalize_db_url(template_db_url)) as template:
            known = {a.name: a for a in template.assignments}
            names = list(known) if assignments is None else list(assignments)
            for name in names:
                if name not in known:
                    raise ValueError(f"assignment {name!r} is not in the template gradebook "
                                     f"(it has {sorted(known)})")
            plan = [_structure_of(known[name]) for name in names]
        for structure in plan:
            self._transaction(lambda db, s=structure: _apply_structure(db, s, self.course_id))
        return names

    # -- results ------------------------------------------------------------------------

    def record(self, assignment: str, student: str, timestamp,
               notebook_grades: Mapping[str, Mapping[str, tuple[float, float]]]) -> str:
        """Record one student's graded submission of ``assignment``: ``notebook_grades``
        maps notebook -> grade_id -> (score, max_score). Notebooks and grade cells the
        gradebook lacks are added (code cells of those points); a grade cell it knows with
        other points is refused (ValueError: the gradebook describes another version of the
        course). Returns CREATED, UPDATED, UNCHANGED or KEPT_NEWER."""
        _check_name("assignment", assignment)
        _check_name("student", student)
        when = _timestamp(timestamp)
        grades = _grades(notebook_grades)
        return self._transaction(
            lambda db: _record(db, self.course_id, assignment, student, when, grades))

    def _transaction(self, work):
        db = self._gb.db

        def attempt():
            try:
                outcome = work(db)
                if outcome == UNCHANGED or outcome == KEPT_NEWER:
                    db.rollback()
                else:
                    db.commit()
                return outcome
            except BaseException:
                db.rollback()
                raise

        return _retrying(attempt, "write the gradebook")

    # -- reading ------------------------------------------------------------------------

    def read(self, assignment: str | None = None,
             student: str | None = None) -> list[RecordedSubmission]:
        """The recorded submissions (of one assignment, one student, or all), sorted by
        assignment then student, with every graded cell's scores (notebooks and grade_ids
        in name order: the gradebook keeps no order of cells)."""
        from nbgrader.api import (Assignment, Grade, GradeCell, Notebook, SubmittedAssignment,
                                  SubmittedNotebook, TaskCell)

        db = self._gb.db
        rows = []
        try:
            for cell_class in (GradeCell, TaskCell):
                query = (db.query(SubmittedAssignment.student_id, Assignment.name,
                                  SubmittedAssignment.timestamp, Notebook.name, cell_class.name,
                                  cell_class.max_score, Grade.auto_score, Grade.manual_score,
                                  Grade.score)
                         .select_from(Grade)
                         .join(cell_class, cell_class.id == Grade.cell_id)
                         .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
                         .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                         .join(SubmittedAssignment,
                               SubmittedAssignment.id == SubmittedNotebook.assignment_id)
                         .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                         .filter(Assignment.course_id == self.course_id))
                if assignment is not None:
                    query = query.filter(Assignment.name == assignment)
                if student is not None:
                    query = query.filter(SubmittedAssignment.student_id == student)
                rows.extend(query.all())
            # Submissions without any graded cell still count as recorded.
            heads = (db.query(SubmittedAssignment.student_id, Assignment.name,
                              SubmittedAssignment.timestamp)
                     .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                     .filter(Assignment.course_id == self.course_id))
            if assignment is not None:
                heads = heads.filter(Assignment.name == assignment)
            if student is not None:
                heads = heads.filter(SubmittedAssignment.student_id == student)
            heads = heads.all()
        finally:
            db.rollback()  # end the read transaction: no snapshot held between calls
        found: dict[tuple[str, str], tuple] = {(s, a): (t, {}) for s, a, t in heads}
        # Sorted by notebook then grade_id: the database keeps no order of cells.
        for s, a, t, nb, grade_id, max_score, auto, manual, score in sorted(
                rows, key=lambda row: (row[3], row[4])):
            grades = found.setdefault((s, a), (t, {}))[1]
            grades.setdefault(nb, {})[grade_id] = RecordedGrade(
                None if auto is None else float(auto), None if manual is None else float(manual),
                float(score), float(max_score))
        return [RecordedSubmission(s, a, t, grades)
                for (s, a), (t, grades) in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0]))]

    def close(self) -> None:
        self._gb.close()

    def __enter__(self) -> "GradebookWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- the work of one transaction ------------------------------------------------------------

def _structure_of(assignment) -> dict:
    """An assignment of the template gradebook as plain data (read within its session)."""
    return {
        "name": assignment.name,
        "duedate": assignment.duedate,
        "notebooks": [{
            "name": nb.name,
            "kernelspec": nb.kernelspec,
            "grade_cells": [(c.name, float(c.max_score), c.cell_type) for c in nb.grade_cells],
            "task_cells": [(c.name, float(c.max_score), c.cell_type) for c in nb.task_cells],
            "solution_cells": [c.name for c in nb.solution_cells],
            "source_cells": [(c.name, c.cell_type, bool(c.locked), c.source, c.checksum)
                             for c in nb.source_cells],
        } for nb in assignment.notebooks],
    }


def _assignment(db, course_id: str, name: str, duedate=None, create: bool = True):
    from nbgrader.api import Assignment

    found = db.query(Assignment).filter(Assignment.name == name).one_or_none()
    if found is not None:
        if found.course_id != course_id:
            raise ValueError(f"assignment {name!r} belongs to course {found.course_id!r} in "
                             f"this gradebook, not {course_id!r}")
        return found, False
    found = Assignment(name=name, course_id=course_id, duedate=duedate)
    db.add(found)
    return found, True


def _notebook(db, assignment, name: str):
    from nbgrader.api import Notebook

    for notebook in assignment.notebooks:
        if notebook.name == name:
            return notebook, False
    notebook = Notebook(name=name, assignment=assignment)
    db.add(notebook)
    return notebook, True


def _apply_structure(db, structure: dict, course_id: str) -> str:
    from nbgrader.api import GradeCell, SolutionCell, SourceCell, TaskCell

    assignment, _ = _assignment(db, course_id, structure["name"], structure["duedate"])
    assignment.duedate = structure["duedate"]
    for spec in structure["notebooks"]:
        notebook, _ = _notebook(db, assignment, spec["name"])
        notebook.kernelspec = spec["kernelspec"]
        for cells, cls in ((spec["grade_cells"], GradeCell), (spec["task_cells"], TaskCell)):
            have = {c.name: c for c in (notebook.grade_cells if cls is GradeCell
                                        else notebook.task_cells)}
            for name, max_score, cell_type in cells:
                cell = have.get(name) or cls(name=name, notebook=notebook, max_score=max_score,
                                             cell_type=cell_type)
                cell.max_score, cell.cell_type = max_score, cell_type
                db.add(cell)
        have = {c.name for c in notebook.solution_cells}
        for name in spec["solution_cells"]:
            if name not in have:
                db.add(SolutionCell(name=name, notebook=notebook))
        have = {c.name: c for c in notebook.source_cells}
        for name, cell_type, locked, source, checksum in spec["source_cells"]:
            cell = have.get(name) or SourceCell(name=name, notebook=notebook, cell_type=cell_type)
            cell.cell_type, cell.locked, cell.source, cell.checksum = (cell_type, locked, source,
                                                                       checksum)
            db.add(cell)
    return UPDATED


def _mirror(db, submission, assignment) -> bool:
    """Give the submission a notebook for each of the assignment's, a grade for each
    graded cell and a comment for each answer (as nbgrader's add_submission does), also
    for notebooks and cells added since. Returns whether anything was added."""
    from nbgrader.api import Comment, Grade, SubmittedNotebook

    added = False
    submitted = {nb.notebook_id: nb for nb in submission.notebooks}
    for notebook in assignment.notebooks:
        mine = submitted.get(notebook.id)
        if mine is None:
            mine = SubmittedNotebook(notebook=notebook, assignment=submission)
            db.add(mine)
            added = True
        graded = {g.cell_id for g in mine.grades}
        for cell in (*notebook.grade_cells, *notebook.task_cells):
            if cell.id not in graded:
                db.add(Grade(cell=cell, notebook=mine))
                added = True
        commented = {c.cell_id for c in mine.comments}
        for cell in (*notebook.solution_cells, *notebook.task_cells):
            if cell.id not in commented:
                db.add(Comment(cell=cell, notebook=mine))
                added = True
    return added


def _record(db, course_id: str, assignment_name: str, student_id: str,
            when: _dt.datetime | None, grades: dict) -> str:
    from nbgrader.api import GradeCell, Student, SubmittedAssignment

    changed = False
    assignment, created = _assignment(db, course_id, assignment_name)
    changed |= created
    cells = {}
    for notebook_name, scores in grades.items():
        notebook, created = _notebook(db, assignment, notebook_name)
        changed |= created
        have = {c.name: c for c in (*notebook.task_cells, *notebook.grade_cells)}
        for grade_id, (_, max_score) in scores.items():
            cell = have.get(grade_id)
            if cell is None:
                cell = GradeCell(name=grade_id, notebook=notebook, max_score=max_score,
                                 cell_type="code")
                db.add(cell)
                changed = True
            elif not math.isclose(float(cell.max_score), max_score, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"{assignment_name}/{notebook_name}/{grade_id} is worth "
                                 f"{float(cell.max_score):g} points in the gradebook but "
                                 f"{max_score:g} in the result: the gradebook was made from other "
                                 "source notebooks (copy the structure again: ensure_structure)")
            cells[notebook_name, grade_id] = cell
    student = db.get(Student, student_id)
    if student is None:
        student = Student(id=student_id)
        db.add(student)
        changed = True
    db.flush()  # new rows get their ids: the queries and comparisons below see them
    submission = (db.query(SubmittedAssignment)
                  .filter(SubmittedAssignment.assignment_id == assignment.id,
                          SubmittedAssignment.student_id == student_id)
                  .one_or_none())
    outcome, attempt_changed = UPDATED, False
    if submission is None:
        submission = SubmittedAssignment(assignment=assignment, student=student, timestamp=when)
        db.add(submission)
        outcome, attempt_changed = CREATED, True
    elif when is not None:
        if submission.timestamp is not None and when < submission.timestamp:
            return KEPT_NEWER
        if submission.timestamp != when:
            submission.timestamp = when
            attempt_changed = True
    changed |= attempt_changed
    changed |= _mirror(db, submission, assignment)
    db.flush()  # the new grades get their ids and cells: they can be found below
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            key = (notebook.notebook.name, grade.cell.name)
            if key not in cells or cells[key].id != grade.cell_id:
                continue
            score = grades[key[0]][key[1]][0]
            if attempt_changed or grade.auto_score is None or float(grade.auto_score) != score:
                grade.auto_score = score
                # nbgrader's SaveAutoGrades: a manual score stays, flagged for review. Only
                # when the autograder's verdict or the attempt is new: the same job recorded
                # again (a resumed run) leaves a grader's review as it was.
                grade.needs_manual_grade = grade.manual_score is not None
                changed = True
    return outcome if changed else UNCHANGED
