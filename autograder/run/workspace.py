"""A scratch nbgrader course: the project's nbgrader config and source notebooks, with its
own folders and gradebook (``Workspace``), and what grading knows of the course: each
assignment's notebooks and their test cells (``Course``, made once per process by
``nbgrader generate_assignment``). A grading worker runs nbgrader's own converters in a
Workspace exactly as ``nbgrader autograde`` runs them at the course root."""
from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..safe_text import inside

__all__ = ["TestCell", "Course", "Workspace", "course_config", "test_cells", "alembic_head",
           "project_root"]


@dataclass(frozen=True)
class TestCell:
    grade_id: str
    points: float


def project_root() -> Path:
    from convlab.course import repo_root

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


@contextlib.contextmanager
def _scratch_gradebook_unsynced(folder: Path):
    """Every SQLite connection opened meanwhile on a database under ``folder`` neither
    syncs nor keeps a journal on disk: generate_assignment commits once per cell, and
    each commit's fsync cost the template seconds of waiting on a busy disk. The template
    is scratch, removed with its process, and workers copy it only once it is complete;
    a crash meanwhile loses nothing that is kept (other databases are left as they are)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    folder = str(Path(folder).resolve())

    def unsynced(connection, record) -> None:
        cursor = connection.cursor()
        try:
            files = [row[2] for row in cursor.execute("PRAGMA database_list")]
            if files and files[0] and Path(files[0]).resolve().is_relative_to(folder):
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA journal_mode=MEMORY")
        finally:
            cursor.close()

    event.listen(Engine, "connect", unsynced)
    try:
        yield
    finally:
        event.remove(Engine, "connect", unsynced)


@dataclass
class Course:
    """What the grader knows about the course, from a template scratch course."""

    root: Path
    template: Workspace
    assignments: dict[str, dict[str, tuple[TestCell, ...]]]  # assignment -> notebook -> tests

    @classmethod
    def prepare(cls, root: Path, scratch: Path, assignment_ids=None) -> "Course":
        """Run ``nbgrader generate_assignment`` for each assignment into a scratch course."""
        from convlab.course import ASSIGNMENTS

        template = Workspace(root, scratch)
        assignments = {}
        for assignment in assignment_ids or ASSIGNMENTS:
            if not (template.path / "source" / assignment).is_dir():
                continue  # announced in the contract, not written yet
            with _alembic_head_in_process(), _scratch_gradebook_unsynced(template.path):
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
    def load(cls, root: Path, assignment_ids=None, cache: Path | None = None) -> "Course":
        """``prepare`` once per process and course state: a process that grades several
        times (tests, benchmarks) pays for generate_assignment once. ``cache``: a folder
        that keeps the template between processes (``template_cache``: the next run of
        an unchanged course copies it instead of preparing it)."""
        root = Path(root).resolve()
        state = _fingerprint(root)
        key = (root, tuple(assignment_ids or ()), state)
        if key not in _COURSES:
            scratch = Path(tempfile.mkdtemp(prefix="convlab-course-"))
            atexit.register(shutil.rmtree, scratch, ignore_errors=True)
            _COURSES[key] = cls._kept_or_prepared(root, scratch / "template", assignment_ids,
                                                  cache, [f for f, _, _ in state])
        return _COURSES[key]

    @classmethod
    def _kept_or_prepared(cls, root: Path, scratch: Path, assignment_ids, cache,
                          files) -> "Course":
        if cache is None:
            return cls.prepare(root, scratch, assignment_ids)
        from . import template_cache

        digest = template_cache.template_key(root, files, assignment_ids)
        kept = template_cache.restore(cache, digest)
        if kept is not None:
            gradebook, assignments = kept
            return cls(root, Workspace(root, scratch, gradebook), assignments)
        course = cls.prepare(root, scratch, assignment_ids)
        try:
            template_cache.store(cache, digest, course.template.gradebook, course.assignments)
        except OSError:
            pass  # only the next run's start-up is at stake
        return course

    def notebook_owners(self) -> dict[str, str]:
        """Notebook name -> assignment id."""
        return {nb: a for a, notebooks in self.assignments.items() for nb in notebooks}


_COURSES: dict[tuple, Course] = {}


def _fingerprint(root: Path) -> tuple:
    """What the template depends on: the config files and the source notebooks."""
    files = [*root.glob("nbgrader_config.py"), *root.glob("*/nbgrader_config.py"),
             *sorted(course_config(root)[1].rglob("*"))]
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file())
