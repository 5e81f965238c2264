"""``convlab grade`` and ``convlab demo``: grade a class with nbgrader and the trusted grader.

    convlab grade SUBMISSIONS --out DIR [--workers N] [--named-regexp RE]

How a class is graded:

1. intake: SUBMISSIONS (nbgrader's submitted/ folder, or an LMS zip) becomes a
   submitted/-layout folder (``autograder.intake``);
2. template: a scratch course with the project's nbgrader config whose gradebook knows
   every assignment (``nbgrader generate_assignment``, run once);
3. workers: each process owns a scratch course with its own copy of that gradebook
   (nbgrader's SQLite gradebook wants one writer) and, per student and assignment, runs
   nbgrader's own Autograde and GenerateFeedback converters, configured exactly as
   ``nbgrader autograde`` at the course root is, then reads the scores from its gradebook;
4. output: ``DIR/grades.csv`` (one row per test cell), ``DIR/feedback/<student>/
   <assignment>/<notebook>.html``, and a summary table on stdout.

A submission nbgrader cannot grade (not a notebook, no notebook, nbgrader itself failing)
still gets one row per test cell, score 0, with a message saying why, and a feedback page.
"""
from __future__ import annotations

import atexit
import contextlib
import csv
import html
import logging
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .intake import DEFAULT_NAMED_REGEXP, read_submissions
from .scrub import clip_error, scrub
from .workers import Budget, Finished, over_budget, run_bounded
from .safe_text import csv_cell, inside, terminal

__all__ = [
    "COLUMNS", "Row", "TestCell", "Course", "Workspace", "grade", "grade_command",
    "demo_command", "read_grades", "summary_table",
]

COLUMNS = ("student_id", "assignment", "grade_id", "score", "max_score", "message")


@dataclass(frozen=True)
class TestCell:
    grade_id: str
    points: float


@dataclass(frozen=True)
class Row:
    student_id: str
    assignment: str
    grade_id: str
    score: float
    max_score: float
    message: str
    # The grader's typed verdict (grader.STATUSES) and the named mistakes: what reports
    # decide on. Not in grades.csv, whose columns are the course contract's.
    status: str = ""
    mistakes: tuple[str, ...] = ()
    # The public part of the hidden cases' key (timestamp | code digest): with the course
    # secret, student and assignment it says which cases this row was graded on.
    attempt: str = ""


@dataclass(frozen=True)
class Job:
    student: str
    assignment: str
    folder: Path | None                      # the student's submitted/<student>/<assignment>
    notebooks: dict[str, tuple[TestCell, ...]]  # notebook name -> its test cells, in order
    feedback_dir: Path                       # where this job's feedback pages go
    refused: tuple[str, ...] = ()            # why intake refused files of this student


@dataclass
class Result:
    rows: list[Row]
    seconds: float
    problems: list[str]                      # why a notebook scored 0 without being graded
    # --- late policy hook (autograder/lateness.py): the gradebook's lateness of this
    # submission, None where nbgrader did not grade it.
    late: object = None


def project_root() -> Path:
    from convlab.cli import repo_root

    return repo_root()


# --- a scratch nbgrader course ---------------------------------------------------------

def course_config(course_root: Path):
    """The course's nbgrader config (as `nbgrader` at ``course_root`` reads it) and the
    folder of its source notebooks."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    configured_root = Path(config.CourseDirectory.get("root", course_root))
    return config, configured_root / config.CourseDirectory.get("source_directory", "source")


class Workspace:
    """A scratch nbgrader course: the project's nbgrader config and source notebooks, with
    its own folders and gradebook. Running nbgrader's converters here is what
    ``nbgrader autograde`` / ``generate_feedback`` do at the course root."""

    def __init__(self, course_root: Path, path: Path, gradebook: Path | None = None):
        from nbgrader.coursedir import CourseDirectory

        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        config, source = course_config(course_root)
        if not (self.path / "source").exists():
            (self.path / "source").symlink_to(source.resolve(), target_is_directory=True)
        if gradebook is not None:
            shutil.copyfile(gradebook, self.gradebook)
        directories = config.CourseDirectory
        directories.root = str(self.path)
        directories.db_url = f"sqlite:///{self.gradebook}"
        directories.source_directory = "source"
        directories.release_directory = "release"
        directories.submitted_directory = "submitted"
        directories.autograded_directory = "autograded"
        directories.feedback_directory = "feedback"
        self.config = config
        self.coursedir = CourseDirectory(config=config)

    @property
    def gradebook(self) -> Path:
        return self.path / "gradebook.db"

    def _run(self, converter, assignment: str, student: str = ".") -> dict:
        from nbgrader.utils import capture_log, temp_attrs

        with temp_attrs(self.coursedir, assignment_id=assignment, student_id=student):
            app = converter(coursedir=self.coursedir, config=self.config)
            app.force = True
            return capture_log(app)

    def generate(self, assignment: str) -> dict:
        from nbgrader.converters import GenerateAssignment

        return self._run(GenerateAssignment, assignment)

    def autograde(self, assignment: str, student: str) -> dict:
        from nbgrader.converters import Autograde

        return self._run(Autograde, assignment, student)

    def feedback(self, assignment: str, student: str) -> dict:
        from nbgrader.converters import GenerateFeedback

        return self._run(GenerateFeedback, assignment, student)

    def scores(self, assignment: str, student: str, notebook: str) -> dict[str, float]:
        from nbgrader.api import Gradebook

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            submitted = gb.find_submission_notebook(notebook, assignment, student)
            return {grade.name: float(grade.score) for grade in submitted.grades}

    def lateness(self, assignment: str, student: str):
        """--- late policy hook: the submission's lateness as nbgrader's gradebook holds
        it once Autograde has run (autograder/lateness.py)."""
        from nbgrader.api import Gradebook

        from .lateness import LatePolicy, lateness_of

        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            return lateness_of(gb, assignment, student, LatePolicy(config=self.config))

    def folder(self, step: str, student: str, assignment: str) -> Path:
        # Ids are validated at intake; this stays true whoever calls it.
        return inside(self.path / step, student, assignment)

    def forget(self, student: str) -> None:
        """Remove a graded student's files (the gradebook keeps its rows)."""
        for step in ("submitted", "autograded", "feedback"):
            shutil.rmtree(inside(self.path / step, student), ignore_errors=True)


def test_cells(notebook: nbformat.NotebookNode) -> tuple[TestCell, ...]:
    """The autograder-test cells (graded code cells that are not answers), in order."""
    cells = []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cells.append(TestCell(meta["grade_id"], float(meta.get("points", 0))))
    return tuple(cells)


def alembic_head() -> str:
    """The gradebook schema version nbgrader stamps a new gradebook with."""
    import nbgrader.api
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.api.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


@contextlib.contextmanager
def _alembic_head_in_process():
    """nbgrader learns that version by running the `alembic` executable, a subprocess
    that costs seconds of start-up; alembic's API gives the same answer in-process."""
    import nbgrader.api

    original = nbgrader.api.get_alembic_version
    head = alembic_head()
    nbgrader.api.get_alembic_version = lambda: head
    try:
        yield
    finally:
        nbgrader.api.get_alembic_version = original


@dataclass
class Course:
    """What the grader knows about the course, from a template scratch course."""

    root: Path
    template: Workspace
    assignments: dict[str, dict[str, tuple[TestCell, ...]]]  # assignment -> notebook -> tests

    @classmethod
    def prepare(cls, root: Path, scratch: Path, assignment_ids=None) -> "Course":
        """Run ``nbgrader generate_assignment`` for each assignment into a scratch course."""
        from convlab.cli import ASSIGNMENTS

        template = Workspace(root, scratch)
        assignments = {}
        for assignment in assignment_ids or ASSIGNMENTS:
            if not (template.path / "source" / assignment).is_dir():
                continue  # announced in the contract, not written yet
            with _alembic_head_in_process():
                result = template.generate(assignment)
            if not result["success"]:
                raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n"
                                   f"{result.get('log', '')}{result.get('error', '')}")
            release = template.path / "release" / assignment
            assignments[assignment] = {
                path.stem: test_cells(nbformat.read(path, as_version=4))
                for path in sorted(release.glob("*.ipynb"))
            }
        if not assignments:
            raise ValueError(f"no assignment has source notebooks under {template.path / 'source'}")
        return cls(Path(root), template, assignments)

    @classmethod
    def load(cls, root: Path, assignment_ids=None) -> "Course":
        """``prepare`` once per process and course state: a process that grades several
        times (tests, benchmarks) pays for generate_assignment once."""
        root = Path(root).resolve()
        key = (root, tuple(assignment_ids or ()), _fingerprint(root))
        if key not in _COURSES:
            scratch = Path(tempfile.mkdtemp(prefix="convlab-course-"))
            atexit.register(shutil.rmtree, scratch, ignore_errors=True)
            _COURSES[key] = cls.prepare(root, scratch / "template", assignment_ids)
        return _COURSES[key]

    def notebook_owners(self) -> dict[str, str]:
        """Notebook name -> assignment id."""
        return {nb: a for a, notebooks in self.assignments.items() for nb in notebooks}


_COURSES: dict[tuple, Course] = {}


def _fingerprint(root: Path) -> tuple:
    """What the template depends on: the config files and the source notebooks."""
    files = [*root.glob("nbgrader_config.py"), *root.glob("*/nbgrader_config.py"),
             *sorted(course_config(root)[1].rglob("*"))]
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())


# --- grading one student's assignment (runs in a worker process) -------------------------

_WORKSPACE: Workspace | None = None


def _start_worker(course_root: Path, gradebook: Path, scratch: Path) -> None:
    global _WORKSPACE
    # Ctrl-C is for the parent, which stops the workers; a worker that caught it would
    # record it as the student's failure and move on to the next student.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Stopped by the parent (SIGTERM): unwind, so that the sandbox's exit handlers run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # nbgrader and SQLAlchemy talk a lot; what matters reaches the rows and messages.
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    # Every temporary folder this worker and its sandboxes make lies inside the run's
    # scratch folder, which the run removes even when this worker is killed. A worker
    # started as the run ended finds it gone, and stops (mkdir without parents).
    temporary = Path(scratch) / f"tmp-{os.getpid()}"
    temporary.mkdir()
    os.environ["TMPDIR"] = tempfile.tempdir = str(temporary)
    _WORKSPACE = Workspace(course_root, Path(scratch) / f"worker-{os.getpid()}", gradebook)


def _unreadable(path: Path) -> str | None:
    """Why ``path`` is not a notebook nbgrader can read, or None."""
    try:
        # Not nbformat.validate: a notebook with a structural slip (a code cell without
        # outputs, ...) is still the student's work, and nbgrader reads it.
        nbformat.read(path, as_version=4)
    except Exception as exc:  # any reason is the student's, and goes in the message
        text = str(exc).strip().splitlines()
        return scrub(f"{type(exc).__name__}: {text[0] if text else ''}", 200)
    return None


def cell_message(cell) -> str:
    """What the trusted grader printed in a test cell (its execute_result is the score)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts).strip()


def cell_record(cell) -> dict:
    """The trusted grader's typed record in a test cell (preprocessor.GRADE_MIME), or {}."""
    from .preprocessor import GRADE_MIME

    for output in cell.get("outputs", []):
        if output.output_type == "execute_result" and GRADE_MIME in output.get("data", {}):
            record = output["data"][GRADE_MIME]
            return record if isinstance(record, dict) else {}
    return {}


def _messages(path: Path) -> dict[str, tuple[str, dict]]:
    """grade_id -> (message, typed record) for each test cell of an autograded notebook."""
    notebook = nbformat.read(path, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: (cell_message(cell), cell_record(cell))
        for cell in notebook.cells
        if cell.cell_type == "code" and "grade_id" in cell.metadata.get("nbgrader", {})
    }


def _problem_page(job: Job, notebook: str, problem: str) -> str:
    rows = "".join(f"<tr><td>{html.escape(t.grade_id)}</td><td>0 / {t.points:g}</td></tr>"
                   for t in job.notebooks[notebook])
    title = html.escape(f"{job.assignment} / {notebook}: feedback for {job.student}")
    # Everything is escaped; the policy forbids scripts should a future edit forget to.
    from .safe_html import PAGE_CSP

    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{PAGE_CSP}\">"
            f"<title>{title}</title></head>\n"
            f"<body><h1>{title}</h1>\n<p>{html.escape(problem)}</p>\n"
            f"<p>So every exercise of this notebook scores 0.</p>\n"
            f"<table><tr><th>test</th><th>score</th></tr>{rows}</table>\n</body></html>\n")


# Rows of a student who handed nothing in for an assignment (reports leave them out of
# the class's means), and of one whose files were all refused at intake.
NOT_SUBMITTED = "not_submitted"
REFUSED = "refused"


def _diagnose(job: Job) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Split the job's notebooks into gradable ones and those with a problem (with the
    rows' status where it is not "error")."""
    gradable, problems, statuses = [], {}, {}
    present = sorted(p.name for p in job.folder.glob("*.ipynb")) if job.folder else []
    for notebook in job.notebooks:
        path = job.folder / f"{notebook}.ipynb" if job.folder else None
        if path is None:
            if job.refused:
                problems[notebook] = (f"No submission for {job.assignment} could be graded: "
                                      + "; ".join(job.refused))
                statuses[notebook] = REFUSED
            else:
                problems[notebook] = f"No submission for {job.assignment}."
                statuses[notebook] = NOT_SUBMITTED
        elif not path.is_file():
            others = [name for name in present if name != f"{notebook}.ipynb"]
            found = f" (found {', '.join(others)}: keep the notebook's name)" if others else ""
            problems[notebook] = f"No {notebook}.ipynb was submitted{found}."
        elif (reason := _unreadable(path)) is not None:
            problems[notebook] = f"{notebook}.ipynb is not a readable Jupyter notebook ({reason})."
        else:
            gradable.append(notebook)
    return gradable, problems, statuses


_EXCEPTION_LINE = re.compile(r"^\s*([\w.]+(Error|Exception|Exit|Interrupt)): .*")


def _failure(result: dict) -> str:
    """The exception behind a failed nbgrader run: the last one its log shows, other
    than nbgrader's "see the above traceback"."""
    lines = [line.strip() for line in (result.get("log", "") + result.get("error", "")).splitlines()
             if _EXCEPTION_LINE.match(line) and "NbGraderException" not in line]
    return scrub(clip_error(lines[-1]), 400) if lines else "see nbgrader's log"


def _autograde(ws: Workspace, job: Job, gradable: list[str],
               problems: dict[str, str]) -> list[Row]:
    """Run nbgrader on the gradable notebooks; failures become problems."""
    submitted = ws.folder("submitted", job.student, job.assignment)
    submitted.mkdir(parents=True)
    for notebook in gradable:
        # Only the notebooks: nothing else a student uploads can reach the grader.
        shutil.copyfile(job.folder / f"{notebook}.ipynb", submitted / f"{notebook}.ipynb")
    stamp = _timestamp(job.folder)
    if stamp is not None:  # the attempt, as `nbgrader autograde` reads it (hidden cases' key)
        (submitted / "timestamp.txt").write_text(stamp)
    result = ws.autograde(job.assignment, job.student)
    if not result["success"]:
        for notebook in gradable:
            problems[notebook] = f"The autograder failed on this notebook ({_failure(result)})."
        return []
    ws.feedback(job.assignment, job.student)
    try:  # late policy hook: lateness.csv's row; never the scores' undoing
        _LATE[job.student, job.assignment] = ws.lateness(job.assignment, job.student)
    except Exception:  # noqa: BLE001  (nbgrader applied the penalty; only the row is lost)
        pass
    rows = []
    for notebook in gradable:
        autograded = ws.folder("autograded", job.student, job.assignment) / f"{notebook}.ipynb"
        messages = _messages(autograded)
        scores = ws.scores(job.assignment, job.student, notebook)
        for test in job.notebooks[notebook]:
            message, record = messages.get(test.grade_id, ("This test cell is missing from the notebook.",
                                                           {"status": "missing"}))
            rows.append(Row(job.student, job.assignment, test.grade_id,
                            scores.get(test.grade_id, 0.0), test.points, message,
                            str(record.get("status", "error")),
                            tuple(str(m) for m in record.get("mistakes", ())),
                            str(record.get("attempt", ""))))
        page = ws.folder("feedback", job.student, job.assignment) / f"{notebook}.html"
        if page.is_file():
            shutil.copyfile(page, job.feedback_dir / f"{notebook}.html")
    return rows


def _timestamp(folder: Path) -> str | None:
    """The submission's timestamp.txt (nbgrader's), when there is a valid one."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 100:
            return None
        text = path.read_text(encoding="ascii").strip()
        parse_utc(text)
    except (OSError, ValueError, UnicodeDecodeError, TypeError, OverflowError):
        return None
    return text


def grade_submission(job: Job) -> Result:
    """Grade one student's assignment: rows for every test cell, feedback pages. Whatever
    goes wrong, the student gets their rows (every exception is caught here, per student)."""
    start = time.perf_counter()
    try:
        return _grade_submission(job, start)
    except Exception as exc:  # our bug or a hostile notebook: the student is still graded
        why = scrub(clip_error(f"{type(exc).__name__}: {exc}"), 400)
        result = _lost(job, why)
        return Result(result.rows, time.perf_counter() - start, result.problems)


# --- late policy hook: lateness read by _autograde, handed back in the job's Result.
_LATE: dict = {}


def _grade_submission(job: Job, start: float) -> Result:
    ws = _WORKSPACE
    _LATE.clear()
    job.feedback_dir.mkdir(parents=True, exist_ok=True)
    gradable, problems, statuses = _diagnose(job)
    rows = []
    try:
        if gradable:
            rows = _autograde(ws, job, gradable, problems)
    except Exception:  # nbgrader or the grader broke: the student is still graded
        last = scrub(clip_error(traceback.format_exc().strip().splitlines()[-1]), 400)
        problems.update({nb: f"The autograder failed on this notebook ({last})." for nb in gradable})
        rows = []
    finally:
        if ws is not None:
            ws.forget(job.student)
    graded = {row.grade_id for row in rows}
    for notebook, problem in problems.items():
        for test in job.notebooks[notebook]:
            if test.grade_id not in graded:
                rows.append(Row(job.student, job.assignment, test.grade_id, 0.0, test.points,
                                problem, statuses.get(notebook, "error")))
        page = job.feedback_dir / f"{notebook}.html"
        if not page.exists():
            page.write_text(_problem_page(job, notebook, problem))
    order = [t.grade_id for tests in job.notebooks.values() for t in tests]
    rows.sort(key=lambda row: order.index(row.grade_id))
    return Result(rows, time.perf_counter() - start, list(problems.values()),
                  _LATE.get((job.student, job.assignment)))


# --- the class -------------------------------------------------------------------------

def _number(value: float) -> str:
    return format(round(value, 4), "g")


# Modules every worker needs: the fork server imports them once and forks the workers
# from itself, so a worker starts with nbgrader and torch loaded (a spawned one would
# import them again; a fork of this process would inherit whatever threads it has).
_PRELOAD = ["nbgrader.converters", "nbgrader.api", "autograder.cli", "autograder.preprocessor",
            "autograder.workers", "autograder.grader"]


# The fork server listens on a socket under TMPDIR ("pymp-XXXXXXXX/listener-XXXXXXXX"), and
# a socket's path may hold at most 107 bytes (AF_UNIX): a longer TMPDIR spawns the workers.
_SOCKET_PATH_BYTES = 107
_SOCKET_NAME_BYTES = len("/pymp-xxxxxxxx/listener-xxxxxxxx") + 8


def _worker_context():
    room = _SOCKET_PATH_BYTES - len(os.fsencode(tempfile.gettempdir()))
    if "forkserver" not in multiprocessing.get_all_start_methods() or room < _SOCKET_NAME_BYTES:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _start_fork_server() -> None:
    if _worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _run_jobs(jobs: list[Job], workers: int, initargs: tuple, progress,
              budget: Budget | None = None, *, work=None, start=None) -> list[Result]:
    """Grade ``jobs`` on ``workers`` processes, each job within its budget
    (``autograder.workers``): a job over its time or memory budget, or whose worker dies
    twice, scores 0 with a message saying so, and the run goes on with a fresh worker.
    ``work`` and ``start`` replace grade_submission and _start_worker (tests)."""
    budget = budget or Budget()
    done = [0]

    def seconds(job: Job) -> float:
        return budget.seconds * max(1, len(job.notebooks))

    def report(index: int, finished: Finished) -> None:
        done[0] += 1
        _report(progress, done[0], len(jobs), jobs[index], _result(jobs[index], finished, budget))

    finished = run_bounded(jobs, work or grade_submission, processes=min(workers, len(jobs)),
                           seconds=seconds, memory_mb=budget.memory_mb, context=_worker_context(),
                           start=start or _start_worker, initargs=initargs, report=report,
                           affinity=lambda job: job.student)
    return [_result(job, outcome, budget) for job, outcome in zip(jobs, finished)]


def _result(job: Job, finished: Finished, budget: Budget) -> Result:
    """The job's Result from how its worker ended (workers.Finished)."""
    if finished.kind == "done" and isinstance(finished.value, Result):
        return finished.value
    why = over_budget(finished, budget, len(job.notebooks))  # nbgrader autograde's wording too
    result = _lost(job, scrub(clip_error(why, 600), 600))
    return Result(result.rows, finished.seconds, result.problems)


def _lost(job: Job, why: str) -> Result:
    """Zero rows and a feedback page for a job the workers could not finish."""
    problem = f"The autograder failed on this submission ({why})."
    job.feedback_dir.mkdir(parents=True, exist_ok=True)
    for notebook in job.notebooks:
        (job.feedback_dir / f"{notebook}.html").write_text(_problem_page(job, notebook, problem))
    rows = [Row(job.student, job.assignment, t.grade_id, 0.0, t.points, problem, "error")
            for tests in job.notebooks.values() for t in tests]
    return Result(rows, 0.0, [why])


@contextlib.contextmanager
def _interruptible():
    """SIGTERM and SIGHUP stop a run as Ctrl-C does (KeyboardInterrupt): the workers, their
    sandboxes and the temporary folders go with it (main thread only; elsewhere as is)."""
    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous[signum] = signal.signal(signum, stop)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report(progress, done: int, total: int, job: Job, result: Result) -> None:
    score = sum(r.score for r in result.rows)
    out_of = sum(r.max_score for r in result.rows)
    width = len(str(total))
    note = f"  ({result.problems[0]})" if result.problems else ""
    # Ids and problems quote what students named and raised: no escape code reaches the tty.
    print(terminal(f"[{done:>{width}}/{total}] {job.student} {job.assignment}: "
                   f"{_number(score)}/{_number(out_of)}  {result.seconds:.1f} s{note}"),
          file=progress, flush=True)


def summary_table(rows: list[Row], assignments: list[str]) -> str:
    """Per student, per assignment totals, as a fixed-width text table (ids escaped for
    the terminal)."""
    students = sorted({row.student_id for row in rows})
    totals: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        cell = totals.setdefault((row.student_id, row.assignment), [0.0, 0.0])
        cell[0] += row.score
        cell[1] += row.max_score

    def fraction(score, out_of):
        return f"{_number(score)} / {_number(out_of)}"

    header = ["student", *assignments, "total"]
    table = [header]
    for student in students:
        cells = [totals.get((student, a), [0.0, 0.0]) for a in assignments]
        table.append([terminal(student), *(fraction(*c) for c in cells),
                      fraction(sum(c[0] for c in cells), sum(c[1] for c in cells))])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(text.ljust(w) if i == 0 else text.rjust(w)
                       for i, (text, w) in enumerate(zip(line, widths))) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _write_csv(rows: list[Row], path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            # Ids and messages quote students: no cell may start a spreadsheet formula.
            writer.writerow([csv_cell(row.student_id), csv_cell(row.assignment),
                             csv_cell(row.grade_id), _number(row.score),
                             _number(row.max_score), csv_cell(row.message)])
    partial.replace(path)


def read_grades(path: Path) -> list[Row]:
    """The rows of a grades.csv written by ``grade``."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [Row(r["student_id"], r["assignment"], r["grade_id"], float(r["score"]),
                    float(r["max_score"]), r["message"]) for r in csv.DictReader(handle)]


def grade(submissions, out, workers: int = 1, *, course_root: Path | None = None,
          assignment_ids=None, named_regexp: str = DEFAULT_NAMED_REGEXP, progress=sys.stderr,
          report=sys.stdout, budget: Budget | None = None,
          similarity_threshold: float | None = None) -> list[Row]:
    """Grade every student in ``submissions`` into ``out``; return the rows of grades.csv.

    ``out`` is rewritten as a whole: grades.csv and feedback/ describe this run only.
    ``budget``: what one notebook may cost the grader (``workers.Budget``: wall-clock
    seconds, the grading worker's memory). Interrupted (Ctrl-C, SIGTERM), the run stops its
    workers and their sandboxes, removes its temporary folders and raises KeyboardInterrupt."""
    with _interruptible():
        return _grade(submissions, out, workers, course_root=course_root,
                      assignment_ids=assignment_ids, named_regexp=named_regexp,
                      progress=progress, report=report, budget=budget,
                      similarity_threshold=similarity_threshold)


def _grade(submissions, out, workers: int, *, course_root, assignment_ids, named_regexp,
           progress, report, budget, similarity_threshold=None) -> list[Row]:
    from .secret import check_fingerprint, course_secret, record_fingerprint

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    submissions, out = Path(submissions), Path(out)
    if not submissions.exists():
        raise ValueError(f"{submissions} does not exist")
    if not (submissions.is_dir() or zipfile.is_zipfile(submissions)):
        raise ValueError(f"{submissions} is neither a folder nor a zip file")
    _check_folders(submissions, out)
    from convlab.cli import environment_first_on_path

    environment_first_on_path()  # nbgrader runs `alembic` by name
    course_root = Path(course_root or project_root())
    from .lateness import check_config  # late policy hook: a bad policy stops here (exit 2)

    check_config(course_config(course_root)[0])
    if out.is_dir():
        check_fingerprint(out)  # before course_secret() could make a new one
    course_secret()  # made (or found unsafe: ValueError) once, before any worker needs it
    out.mkdir(parents=True, exist_ok=True)
    _start_fork_server()  # it imports what workers need while the course is prepared
    with tempfile.TemporaryDirectory(prefix="convlab-grade-") as scratch:
        scratch = Path(scratch)
        course = Course.load(course_root, assignment_ids)
        intake = read_submissions(submissions, scratch / "intake", course.notebook_owners(),
                                  named_regexp)
        for line in intake.skipped:
            print(terminal(f"skipped {line}"), file=progress)
        for line in intake.notes:
            print(terminal(f"note: {line}"), file=progress)
        students = list(intake.students)
        submitted = {
            student: {p.name for p in (intake.root / student).iterdir()
                      if p.is_dir() and not p.name.startswith(".")}
            for student in students
        }
        for student, folders in submitted.items():
            for name in sorted(folders - set(course.assignments)):
                print(terminal(f"skipped {student}/{name}: not an assignment of this course"),
                      file=progress)
        # Grade the assignments this class handed in: a student missing one gets zeros.
        handed_in = set().union(*submitted.values()) if submitted else set()
        assignments = [a for a in course.assignments if a in handed_in] or list(course.assignments)
        stage = scratch / "feedback"
        jobs = [
            Job(student, assignment,
                intake.root / student / assignment if assignment in submitted[student] else None,
                course.assignments[assignment], inside(stage, student, assignment),
                tuple(intake.refused.get(student, ())))
            for student in sorted(students) for assignment in assignments
        ]
        print(f"Grading {len(students)} students x {len(assignments)} assignments "
              f"on {workers} worker(s)", file=progress, flush=True)
        results = _run_jobs(jobs, workers, (course_root, course.template.gradebook, scratch),
                            progress, budget) if jobs else []
        rows = [row for result in results for row in result.rows]
        _write_csv(rows, out / "grades.csv")
        # --- late policy hook: lateness.csv beside grades.csv (autograder/lateness.py)
        from .lateness import write_lateness

        late = [result.late for result in results if result.late is not None]
        write_lateness(late, out / "lateness.csv")
        record_fingerprint(out)
        # Before the intake folder goes: the copy detection reads the answers from it.
        _review(rows, intake.root, students, assignments, course_root, out,
                similarity_threshold, progress, intake.skipped,
                {a: tuple(course.assignments[a]) for a in assignments}, late)
        stage.mkdir(exist_ok=True)
        from .offline_math import install  # offline math hook: feedback/mathjax/

        try:
            install(stage)
        except (OSError, RuntimeError) as exc:  # the pages stand; their math shows as TeX
            print(terminal(f"feedback math not installed: {exc}"), file=progress)
        shutil.rmtree(out / "feedback", ignore_errors=True)
        shutil.move(str(stage), out / "feedback")
    print(summary_table(rows, assignments), file=report)
    print(f"\ngrades:   {out / 'grades.csv'}\nfeedback: {out / 'feedback'}/<student>/<assignment>/",
          file=report)
    print(f"report:   {out / 'report.html'}\nsimilar:  {out / 'similarity.csv'}", file=report)
    print(f"late:     {out / 'lateness.csv'}", file=report)  # late policy hook
    return rows


def _check_folders(submissions: Path, out: Path) -> None:
    """DIR is rewritten by every run (its feedback/ replaced): it may not lie inside
    SUBMISSIONS (a later run would read it as students) nor hold SUBMISSIONS."""
    source, target = submissions.resolve(), out.resolve()
    if submissions.is_dir() and target.is_relative_to(source):
        raise ValueError(f"--out {out} is inside the submissions folder {submissions}: a later "
                         "run would take its folders for students; write the grades elsewhere "
                         "(e.g. beside it)")
    if source.is_relative_to(target / "feedback") or source == target:
        raise ValueError(f"the submissions {submissions} are inside --out {out}, whose contents "
                         "every run replaces; write the grades elsewhere")


def _review(rows: list[Row], root: Path, students, assignments, course_root: Path, out: Path,
            threshold: float | None, progress, refused_files=(), notebooks=None,
            late=()) -> None:
    """similarity.csv (pairs of answers alike enough to review) and report.html (the
    class's scores, mistakes, problems and those pairs) in ``out``. A failure here is
    reported, never fatal: the grades are already written."""
    from .report import write_report
    from .similarity import DEFAULT_THRESHOLD, similar_pairs, write_csv

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    pairs = []
    try:
        pairs = similar_pairs(root, students, assignments, course_root, threshold,
                              notebooks=notebooks)
    except Exception as exc:  # noqa: BLE001  (grades stand; say why no pairs are listed)
        print(terminal(f"copy detection failed: {type(exc).__name__}: {exc}"), file=progress)
    write_csv(pairs, out / "similarity.csv")
    write_report(rows, pairs, out / "report.html", threshold, refused=refused_files,
                 late=late)  # late policy hook


def grade_command(submissions: str, out: str, workers: int = 1,
                  named_regexp: str | None = None, similarity_threshold: float | None = None,
                  no_isolation: bool = False) -> int:
    """``convlab grade``: exit 0 when every submission was graded, 2 on bad arguments or
    where no sandbox can be made (unless ``no_isolation``), 130 when interrupted (Ctrl-C)."""
    from .sandbox import isolation_problem, isolation_waived

    if no_isolation:
        os.environ["CONVLAB_NO_ISOLATION"] = "1"  # the workers and nbgrader inherit it
        print("convlab grade: grading WITHOUT isolation (--no-isolation): every score is marked so.",
              file=sys.stderr)
    elif not isolation_waived() and (problem := isolation_problem()) is not None:
        from .sandbox import HOW_TO_ISOLATE

        print(terminal(f"convlab grade: refusing to grade: {problem}. {HOW_TO_ISOLATE}"), file=sys.stderr)
        return 2
    try:
        grade(submissions, out, workers, named_regexp=named_regexp or DEFAULT_NAMED_REGEXP,
              similarity_threshold=similarity_threshold)
    except ValueError as exc:
        print(terminal(f"convlab grade: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nconvlab grade: interrupted; {out} was left as it was", file=sys.stderr)
        return 130
    return 0


def demo_command() -> int:
    from .demo import main

    return main()
