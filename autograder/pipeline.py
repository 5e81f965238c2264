"""``convlab grade``: a class graded phase by phase.

1. intake (``autograder.intake``): SUBMISSIONS (nbgrader's submitted/ folder, or an LMS
   zip) becomes a submitted/-layout folder;
2. the course (``run.workspace.Course``): a template scratch course whose gradebook knows
   every assignment (``nbgrader generate_assignment``, once per process; kept in
   ``DIR/.course-template/`` for the next run of an unchanged course, ``run.template_cache``);
3. jobs (``run.job.GradingJob``): per student and assignment, the notebooks' bytes and the
   submission's seeds (``run.seeds``: drawn here, where the course secret is);
4. run: an executor (``run.pool.LocalExecutor``, or a distributed one) grades each job with
   ``run.job.grade_job``, within its budget (a job without a notebook runs no student code:
   ``run.resume`` makes its result here, and no worker starts for it);
5. outputs (``autograder.outputs``): ``DIR/grades.csv`` (one row per test cell),
   ``DIR/feedback/<student>/<assignment>/<notebook>.html``, ``DIR/report.html``,
   ``DIR/similarity.csv`` and a summary table on stdout.

A submission nbgrader cannot grade (not a notebook, no notebook, nbgrader itself failing)
still gets one row per test cell, score 0, with a message saying why, and a feedback page.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import zipfile
from pathlib import Path

from .intake import DEFAULT_NAMED_REGEXP, read_submissions
from .limits import Budget
from .outputs.gradebook import GradebookWriter, sqlite_url
from .outputs.grades import Row, rows_of, write_csv
from .outputs.summary import progress_line, summary_table
from .run.job import GradingJob, JobResult, grade_job
from .run.ledger import Ledger
from .run.resume import job_keys, run_resumable
from .run.template_cache import FOLDER as TEMPLATE_FOLDER
from .run.workspace import Course, project_root
from .safe_text import inside, terminal
from .score.lateness import check_config, describe, lateness_at, write_lateness

__all__ = ["grade", "make_jobs", "write_feedback"]


def grade(submissions, out, workers: int = 1, *, course_root: Path | None = None,
          assignment_ids=None, named_regexp: str = DEFAULT_NAMED_REGEXP, progress=sys.stderr,
          report=sys.stdout, budget: Budget | None = None,
          similarity_threshold: float | None = None, executor=None, work=grade_job,
          force: bool = False, db_url: str | None = None) -> list[Row]:
    """Grade every student in ``submissions`` into ``out``; return the rows of grades.csv.

    ``out`` is rewritten as a whole: grades.csv and feedback/ describe this run only.
    ``budget``: what one notebook may cost the grader (``limits.Budget``: wall-clock
    seconds, the grading worker's memory). ``executor``: what runs the jobs (default: a
    ``LocalExecutor`` of ``workers`` processes) and ``work`` what it runs per job.
    Results already in ``out``'s ledger for the same submission, seeds and grading code are
    kept (``force``: grade all again); every result goes into nbgrader's gradebook at
    ``db_url`` (default ``sqlite:///out/gradebook.db``). Interrupted (Ctrl-C, SIGTERM), the
    run stops its workers and their sandboxes, removes its temporary folders and raises
    KeyboardInterrupt; a run started again resumes where it stopped."""
    with _interruptible():
        return _grade(submissions, out, workers, course_root=course_root,
                      assignment_ids=assignment_ids, named_regexp=named_regexp,
                      progress=progress, report=report, budget=budget,
                      similarity_threshold=similarity_threshold, executor=executor, work=work,
                      force=force, db_url=db_url)


def _grade(submissions, out, workers: int, *, course_root, assignment_ids, named_regexp,
           progress, report, budget, similarity_threshold, executor, work, force,
           db_url) -> list[Row]:
    from convlab.course import environment_first_on_path

    from .run.pool import LocalExecutor, start_fork_server
    from .secret import check_fingerprint, course_secret, record_fingerprint

    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    submissions, out = Path(submissions), Path(out)
    if not submissions.exists():
        raise ValueError(f"{submissions} does not exist")
    if not (submissions.is_dir() or zipfile.is_zipfile(submissions)):
        raise ValueError(f"{submissions} is neither a folder nor a zip file")
    _check_folders(submissions, out)
    environment_first_on_path()  # nbgrader runs `alembic` by name
    course_root = Path(course_root or project_root())
    budget = budget or Budget()
    if out.is_dir():
        check_fingerprint(out)  # before course_secret() could make a new one
    secret = course_secret()  # made (or found unsafe: ValueError) once, before any seed is drawn
    out.mkdir(parents=True, exist_ok=True)
    db_url = db_url or sqlite_url(out / "gradebook.db")
    if executor is None and _has_notebooks(submissions):
        start_fork_server()  # it imports what workers need while the course is prepared
    with tempfile.TemporaryDirectory(prefix="convlab-grade-") as scratch:
        scratch = Path(scratch)
        # The template is kept in DIR for the next run (run.template_cache).
        course = Course.load(course_root, assignment_ids, cache=out / TEMPLATE_FOLDER)
        late_policy = check_config(course.template.config)  # a bad policy stops here
        intake = read_submissions(submissions, scratch / "intake", course.notebook_owners(),
                                  named_regexp)
        for line in intake.skipped:
            print(terminal(f"skipped {line}"), file=progress)
        for line in intake.notes:
            print(terminal(f"note: {line}"), file=progress)
        students = sorted(intake.students)
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
        jobs = make_jobs(course, intake, students, assignments, budget)
        executor = executor or LocalExecutor(workers, budget, course_root=course_root,
                                             gradebook=course.template.gradebook)
        print(f"Grading {len(students)} students x {len(assignments)} assignments "
              f"on {getattr(executor, 'workers', workers)} worker(s)", file=progress, flush=True)
        done = [0]
        def on_result(index: int, result: JobResult) -> None:
            done[0] += 1
            print(progress_line(done[0], len(jobs), result), file=progress, flush=True)
            if jobs[index].submitted:
                gradebook.record(result.assignment, result.student, jobs[index].timestamp,
                                 notebook_grades(jobs[index], result))

        with GradebookWriter(db_url) as gradebook, Ledger(out / "ledger.db") as ledger:
            gradebook.ensure_structure(sqlite_url(course.template.gradebook), assignments)
            results, graded = run_resumable(executor, jobs, job_keys(jobs, secret), ledger,
                                            force=force, on_result=on_result, work=work)
        if graded < len(jobs):
            print(f"{len(jobs) - graded} of {len(jobs)} submissions unchanged since the last "
                  f"run: their results kept (--force grades them again)", file=progress)
        late = [lateness_at(late_policy, job.student, job.assignment, job.timestamp,
                            sum(cell.score for cell in result.cells))
                for job, result in zip(jobs, results) if job.submitted]
        rows = [row for result in results
                for row in rows_of(result, _late_note(late, result.student, result.assignment))]
        write_csv(rows, out / "grades.csv")
        write_lateness(late, out / "lateness.csv")
        record_fingerprint(out)
        # Before the intake folder goes: the copy detection reads the answers from it.
        _review(rows, intake.root, students, assignments, course_root, out,
                similarity_threshold, progress, intake.skipped,
                {a: tuple(course.assignments[a]) for a in assignments}, late)
        stage = scratch / "feedback"
        write_feedback(results, stage)
        shutil.rmtree(out / "feedback", ignore_errors=True)
        shutil.move(str(stage), out / "feedback")
    print(summary_table(rows, assignments, late), file=report)
    print(f"\ngrades:   {out / 'grades.csv'}\nfeedback: {out / 'feedback'}/<student>/<assignment>/",
          file=report)
    print(f"report:   {out / 'report.html'}\nsimilar:  {out / 'similarity.csv'}", file=report)
    print(f"late:     {out / 'lateness.csv'}\ngradebook: {db_url}", file=report)
    return rows


def notebook_grades(job: GradingJob, result: JobResult) -> dict[str, dict[str, tuple[float, float]]]:
    """The result's scores as the gradebook keeps them: notebook -> grade_id -> (score, max)."""
    cells = {cell.grade_id: cell for cell in result.cells}
    return {notebook: {t.grade_id: (cells[t.grade_id].score, cells[t.grade_id].max_score)
                       for t in tests if t.grade_id in cells}
            for notebook, tests in job.tests.items() if notebook in job.notebooks}


def _late_note(late, student: str, assignment: str) -> str:
    """What grades.csv says of a late submission, after each of its rows' message."""
    for record in late:
        if record.student_id == student and record.assignment == assignment and record.late:
            return describe(record)
    return ""


def make_jobs(course: Course, intake, students, assignments, budget: Budget) -> list[GradingJob]:
    """One job per student and assignment: the submitted notebooks' bytes (only the
    notebooks: nothing else a student uploads reaches a worker) and their seeds."""
    from .run.seeds import submission_seeds

    secret_file = course.template.config.TrustedGrade.get("secret_file", "") or None
    jobs = []
    for student in students:
        for assignment in assignments:
            tests = course.assignments[assignment]
            folder = inside(intake.root, student, assignment)
            submitted = folder.is_dir()
            present = sorted(p.name for p in folder.glob("*.ipynb")) if submitted else []
            notebooks = {nb: (folder / f"{nb}.ipynb").read_bytes() for nb in tests
                         if submitted and (folder / f"{nb}.ipynb").is_file()}
            stamp = _timestamp(folder) if submitted else None
            seeds = submission_seeds(course.template, student, assignment, notebooks, tests,
                                     stamp, secret_file)
            jobs.append(GradingJob(student, assignment, notebooks, dict(tests), stamp, seeds,
                                   submitted, tuple(present),
                                   tuple(intake.refused.get(student, ())), budget))
    return jobs


def write_feedback(results: list[JobResult], folder: Path) -> None:
    """Each result's pages as ``folder/<student>/<assignment>/<notebook>.html``."""
    folder.mkdir(parents=True, exist_ok=True)
    for result in results:
        target = inside(folder, result.student, result.assignment)
        target.mkdir(parents=True, exist_ok=True)
        for notebook, page in result.feedback.items():
            inside(target, f"{notebook}.html").write_text(page, encoding="utf-8")


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


def _has_notebooks(submissions: Path) -> bool:
    """Whether SUBMISSIONS holds any notebook, so that workers may be needed: only a hint
    for starting the fork server early (jobs without a notebook never reach a worker,
    run.resume); a run it misjudges is as correct, its workers just start later. Links
    are not followed: intake refuses them anyway."""
    if zipfile.is_zipfile(submissions):
        with contextlib.suppress(OSError, zipfile.BadZipFile):
            with zipfile.ZipFile(submissions) as archive:
                # An LMS zip may nest the class's zip: its notebooks are inside that one.
                return any(name.lower().endswith((".ipynb", ".zip"))
                           for name in archive.namelist())
        return True
    for _, _, files in os.walk(submissions):
        if any(name.lower().endswith(".ipynb") for name in files):
            return True
    return False


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
    from .outputs.report import write_report
    from .outputs.similarity import DEFAULT_THRESHOLD, similar_pairs, write_csv

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    pairs = []
    try:
        pairs = similar_pairs(root, students, assignments, course_root, threshold,
                              notebooks=notebooks)
    except Exception as exc:  # noqa: BLE001  (grades stand; say why no pairs are listed)
        print(terminal(f"copy detection failed: {type(exc).__name__}: {exc}"), file=progress)
    write_csv(pairs, out / "similarity.csv")
    write_report(rows, pairs, out / "report.html", threshold, refused=refused_files, late=late)
