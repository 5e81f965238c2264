"""``convlab grade``: inputs (folder, zip of the folder, LMS zip), outputs (grades.csv,
feedback, summary), re-runs, and agreement with ``nbgrader autograde`` at a course root."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.cli import grade_command
from autograder.outputs.grades import COLUMNS, read_grades
from autograder.pipeline import grade
from autograder.examples.build import build, course_notebooks
from autograder.intake import read_submissions
from convlab.cli import repo_root
from grading_once import once

ROOT = repo_root()
BIN = Path(sys.executable).parent
NOTEBOOKS = {"01_convolution": "01_convolution", "02_transposed": "02_transposed"}
# Partial credit, tampered test cells, a file that is no notebook, an empty folder.
CLASS = ["mistakes", "test_tamper", "not_a_notebook", "empty_folder"]


def _snapshot(out: Path) -> dict[str, bytes]:
    """Every file of DIR; a database (the ledger, the gradebook) by its rows, whose file
    bytes change with each opening (SQLite's change counter) when no row does."""
    def content(path: Path) -> bytes:
        if path.suffix != ".db":
            return path.read_bytes()
        import sqlite3

        # Immutable: reading makes no -wal/-shm beside it (the first run's DIR is read by
        # both xdist workers while one of them copies it).
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as db:
            return "\n".join(db.iterdump()).encode()

    return {str(p.relative_to(out)): content(p) for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


# --- reading submissions (no grading) --------------------------------------------------

def _zip(path: Path, files: dict[str, str | None]) -> Path:
    """A zip with these members; None makes a folder entry."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            if text is None:
                archive.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), "")
            else:
                archive.writestr(name, text)
    return path


def test_a_zipped_submitted_folder_under_a_wrapper_keeps_every_student(tmp_path):
    source = _zip(tmp_path / "class.zip", {
        "export/submitted/ada/01_convolution/01_convolution.ipynb": "{}",
        "export/submitted/bob/02_transposed/02_transposed.ipynb": "{}",
        "export/submitted/cy/": None,  # an empty folder is a student who submitted nothing
        "__MACOSX/export/._junk": "x",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["ada", "bob", "cy"]
    assert (intake.root / "bob" / "02_transposed" / "02_transposed.ipynb").is_file()


def test_lms_names_follow_zip_collect_and_keep_the_newest_duplicate(tmp_path):
    inner = tmp_path / "inner.zip"
    _zip(inner, {"ps_cy_attempt_2024-03-01-09-00-00_02_transposed.ipynb": "cy"})
    # A nested zip's owner is its own name's student (never a name inside it).
    source = _zip(tmp_path / "lms.zip", {
        "ps_ada_attempt_2024-03-01-10-00-00_01_convolution.ipynb": "old",
        "ps_ada_attempt_2024-03-02-10-00-00_01_convolution.ipynb": "new",
        "ps_bob_attempt_2024-03-01-10-00-00_homework.ipynb": "not a course notebook",
        "readme.txt": "instructions",
    })
    with zipfile.ZipFile(source, "a") as archive:
        archive.write(inner, "batch/ps_cy_attempt_2024-03-01-09-00-00_upload.zip")
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["ada", "bob", "cy"]
    root = intake.root
    assert (root / "ada" / "01_convolution" / "01_convolution.ipynb").read_text() == "new"
    assert (root / "cy" / "02_transposed" / "02_transposed.ipynb").read_text() == "cy"
    assert list((root / "bob").iterdir()) == []
    skipped = "\n".join(intake.skipped)
    assert "readme.txt" in skipped and "homework" in skipped and "older duplicate" in skipped


def test_a_custom_named_regexp_needs_student_and_file_groups(tmp_path):
    source = _zip(tmp_path / "c.zip", {"ada--01_convolution.ipynb": "{}"})
    intake = read_submissions(source, tmp_path / "a", NOTEBOOKS,
                              r"(?P<student_id>[a-z]+)--(?P<file_id>\w+)")
    assert (intake.root / "ada" / "01_convolution" / "01_convolution.ipynb").is_file()
    with pytest.raises(ValueError, match="student_id and file_id"):
        read_submissions(source, tmp_path / "b", NOTEBOOKS, r"(?P<student_id>[a-z]+)--.*")


def test_bad_arguments_exit_2_with_a_message(tmp_path, capsys):
    assert grade_command(str(tmp_path / "missing"), str(tmp_path / "out")) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "class").mkdir()
    assert grade_command(str(tmp_path / "class"), str(tmp_path / "out"), workers=0) == 2
    assert "--workers" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("no")
    assert grade_command(str(tmp_path / "notes.txt"), str(tmp_path / "out")) == 2


# --- grading a small class ----------------------------------------------------------------

@pytest.mark.slow
def test_a_tmpdir_too_long_for_the_fork_servers_socket_still_grades(tmp_path):
    # multiprocessing's fork server binds a socket under TMPDIR; past 107 bytes it cannot.
    tmp = tmp_path / ("long-temporary-folder-" * 4)
    tmp.mkdir()
    assert len(str(tmp)) + len("/pymp-xxxxxxxx/listener-xxxxxxxx") > 107
    released = ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb"
    folder = tmp_path / "class" / "ann" / "01_convolution"
    folder.mkdir(parents=True)
    shutil.copy(released, folder / "01_convolution.ipynb")
    done = subprocess.run([BIN / "convlab", "grade", tmp_path / "class", "--out", tmp_path / "out"],
                          env={**os.environ, "TMPDIR": str(tmp)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert rows and all(r["student_id"] == "ann" and float(r["score"]) == 0 for r in rows)
    assert all("not implemented" in r["message"] for r in rows)


def _grade_the_class(folder):
    build(folder / "submitted", CLASS, root=ROOT)
    result = subprocess.run(
        [BIN / "convlab", "grade", folder / "submitted", "--out", folder / "out", "--workers", "2"],
        capture_output=True, text=True, timeout=600,
    )
    (folder / "returncode").write_text(str(result.returncode))
    (folder / "stdout").write_text(result.stdout)
    (folder / "stderr").write_text(result.stderr)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The class graded once by the installed ``convlab grade`` command (read-only)."""
    base = once(tmp_path_factory, "grade_cli", _grade_the_class)
    result = subprocess.CompletedProcess(
        "convlab grade", int((base / "returncode").read_text()),
        (base / "stdout").read_text(), (base / "stderr").read_text())
    return base, result, _snapshot(base / "out")


def _handed_in(base) -> list[str]:
    """The assignments some student of the class handed in: the ones the run grades
    (examples hand in only what they are about; the others are not in the run)."""
    return sorted({p.name for p in (base / "submitted").glob("*/*") if p.is_dir()})


def _test_cells(assignments) -> dict[str, list[tuple[str, float]]]:
    found = {}
    for assignment, (released, _) in course_notebooks(ROOT).items():
        if assignment not in assignments:
            continue
        nb = nbformat.read(released, as_version=4)
        found[assignment] = [(c.metadata.nbgrader.grade_id, float(c.metadata.nbgrader.points))
                             for c in nb.cells if c.cell_type == "code"
                             and c.metadata.get("nbgrader", {}).get("grade")
                             and not c.metadata.nbgrader.get("solution")]
    return found


@pytest.mark.slow
def test_convlab_grade_exits_0_and_prints_a_summary(first_run):
    base, result, _ = first_run
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("student"))
    for assignment in _handed_in(base):
        assert assignment in header
    for student in CLASS:
        assert any(line.startswith(student) for line in lines), result.stdout
    assert re.search(r"\[ *1/", result.stderr)  # progress: "[ 1/12] ..."
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_grades_csv_has_one_row_per_student_and_test_cell(first_run):
    base, _, _ = first_run
    with open(base / "out" / "grades.csv", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        assert tuple(next(reader)) == COLUMNS
        rows = list(reader)
    tests = _test_cells(_handed_in(base))
    expected = [(s, a, g, p) for s in sorted(CLASS) for a, cells in tests.items() for g, p in cells]
    assert [(r[0], r[1], r[2], float(r[4])) for r in rows] == expected
    for student, assignment, grade_id, score, max_score, message in rows:
        assert 0 <= float(score) <= float(max_score), (student, grade_id, score)
        assert message, (student, grade_id)
    by_student = {}
    for row in read_grades(base / "out" / "grades.csv"):
        by_student.setdefault(row.student_id, []).append(row)
    assert all(r.score == 0 for s in ("not_a_notebook", "empty_folder") for r in by_student[s])
    assert 0 < sum(r.score for r in by_student["mistakes"]) < sum(r.max_score for r in by_student["mistakes"])


@pytest.mark.slow
def test_one_feedback_page_per_student_and_assignment(first_run):
    base, _, snapshot = first_run
    # Only the pages: their math is MathML inside them, no MathJax folder beside them.
    pages = sorted(name for name in snapshot if name.startswith("feedback"))
    assert "lateness.csv" in snapshot
    assert pages == sorted(f"feedback/{s}/{a}/{a}.html" for s in CLASS for a in _handed_in(base))
    page = (base / "out" / "feedback" / "not_a_notebook" / "01_convolution" / "01_convolution.html")
    assert "not a readable Jupyter notebook" in page.read_text()


@pytest.mark.slow
def test_regrading_the_class_zipped_into_the_same_folder_changes_nothing(first_run, tmp_path):
    # Both idempotence (same DIR again: nothing duplicated, nothing changed) and the zip
    # input (the submitted/ folder zipped under a wrapper folder, empty folder included).
    base, _, snapshot = first_run
    out = shutil.copytree(base / "out", tmp_path / "out")  # the first run's DIR, as it was
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted((base / "submitted").rglob("*")):
            name = "download/submitted/" + str(path.relative_to(base / "submitted"))
            zipped.write(path, name + ("/" if path.is_dir() else ""))
    grade(archive, out, 2, progress=io.StringIO(), report=io.StringIO())
    assert _snapshot(out) == snapshot


@pytest.mark.slow
def test_an_lms_zip_is_graded_like_the_folder(first_run, tmp_path):
    base, _, _ = first_run
    notebook = base / "submitted" / "mistakes" / "01_convolution" / "01_convolution.ipynb"
    archive = _zip(tmp_path / "lms.zip", {
        "hw1_mistakes_attempt_2024-05-01-08-00-00_01_convolution.ipynb": "an earlier upload",
        "hw1_mistakes_attempt_2024-05-02-08-00-00_01_convolution.ipynb": notebook.read_text(),
    })
    rows = grade(archive, tmp_path / "out", 1, progress=io.StringIO(), report=io.StringIO())
    # The attempt's stamp seeds the hidden cases: the same submission as a submitted/
    # folder with that stamp in nbgrader's timestamp.txt (zip_collect's) grades the same.
    folder = tmp_path / "class" / "mistakes" / "01_convolution"
    folder.mkdir(parents=True)
    shutil.copy(notebook, folder / "01_convolution.ipynb")
    (folder / "timestamp.txt").write_text("2024-05-02 08:00:00+00:00\n")
    folder_rows = grade(tmp_path / "class", tmp_path / "out2", 1, assignment_ids=["01_convolution"],
                        progress=io.StringIO(), report=io.StringIO())
    assert rows[0].attempt.startswith("2024-05-02T08:00:00|")
    assert [(r.grade_id, r.score, r.message, r.attempt) for r in rows] == \
        [(r.grade_id, r.score, r.message, r.attempt) for r in folder_rows]


def _course_root(tmp_path: Path) -> Path:
    """A course folder like the repo root, writing only under ``tmp_path``."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "solutions").symlink_to(ROOT / "solutions")
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\n"
        f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.CourseDirectory.release_directory = 'release'\n"
        "c.CourseDirectory.submitted_directory = 'submitted'\n"
        "c.CourseDirectory.autograded_directory = 'autograded'\n"
        "c.CourseDirectory.feedback_directory = 'feedback'\n"
    )
    return course


@pytest.mark.slow
def test_nbgrader_autograde_at_the_course_root_gives_the_same_scores(first_run, tmp_path):
    from nbgrader.api import Gradebook, MissingEntry

    base, _, _ = first_run
    course = _course_root(tmp_path)
    shutil.copytree(base / "submitted", course / "submitted")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for assignment in course_notebooks(ROOT):
        for command in (["generate_assignment", assignment, "--force"],
                        ["autograde", assignment, "--force"]):
            # autograde exits 1 for the file that is not a notebook; the others are graded.
            subprocess.run([BIN / "nbgrader", *command], cwd=course, env=env,
                           capture_output=True, timeout=600)
    ours = read_grades(base / "out" / "grades.csv")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "convlab") as gb:
        for row in ours:
            try:
                theirs = gb.find_grade(row.grade_id, row.assignment, row.assignment, row.student_id)
            except MissingEntry:  # nbgrader skips a student with no folder for the assignment
                assert row.score == 0, row
                continue
            assert theirs.score == pytest.approx(row.score, abs=1e-4), row
            assert theirs.max_score == row.max_score, row


def test_the_in_process_gradebook_version_is_the_one_nbgrader_asks_alembic_for(monkeypatch):
    from nbgrader.api import get_alembic_version

    from autograder.run.workspace import alembic_head

    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    assert alembic_head() == get_alembic_version()


@pytest.mark.slow
def test_a_notebook_over_its_time_budget_scores_0_and_the_class_is_still_graded(tmp_path):
    from autograder.run.workers import Budget

    # Sleeps just under the per-cell limit in six answer cells: each run of the answer
    # cells sleeps ~48 s (wall clock, whatever the machine's load), over this run's budget
    # of 40 s per notebook, which the untouched notebook fits even on a loaded machine.
    slow = "import time\ntime.sleep(8)\n"
    released = ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb"
    nb = nbformat.read(released, as_version=4)
    answers = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
               and c.cell_type == "code"]
    for cell in answers[:6]:
        cell.source = slow + cell.source
    for student, notebook in (("slow", nb), ("quick", nbformat.read(released, as_version=4))):
        folder = tmp_path / "class" / student / "01_convolution"
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / "01_convolution.ipynb")
    progress = io.StringIO()
    rows = grade(tmp_path / "class", tmp_path / "out", 2, assignment_ids=["01_convolution"],
                 progress=progress, report=io.StringIO(), budget=Budget(seconds=40))
    slow_rows = [r for r in rows if r.student_id == "slow"]
    quick_rows = [r for r in rows if r.student_id == "quick"]
    assert slow_rows and all(r.score == 0 and "budget of 40 s per notebook" in r.message for r in slow_rows)
    assert quick_rows and all("not implemented" in r.message for r in quick_rows)
    page = tmp_path / "out" / "feedback" / "slow" / "01_convolution" / "01_convolution.html"
    assert "budget" in page.read_text()


def _processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "environ").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_an_interrupted_convlab_grade_leaves_no_process_and_no_temporary_folder(tmp_path):
    import signal
    import time

    released = ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb"
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = "import time\ntime.sleep(8)\n" + cell.source  # keeps the workers busy
    for student in ("ann", "ben", "cy"):
        folder = tmp_path / "class" / student / "01_convolution"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "01_convolution.ipynb")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    marker = f"convlab-interrupt-{os.getpid()}"
    env = {**os.environ, "TMPDIR": str(tmp), "CONVLAB_TEST_MARKER": marker}
    process = subprocess.Popen([BIN / "convlab", "grade", tmp_path / "class", "--out", tmp_path / "out",
                                "--workers", "2"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               text=True)
    deadline = time.monotonic() + 300
    said = ""
    for line in process.stderr:  # the workers are grading once this is printed
        said += line
        if line.startswith("Grading") or time.monotonic() > deadline:
            break
    assert process.poll() is None, f"it ended before it was interrupted:\n{said}{process.stderr.read()}"
    time.sleep(10)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=120)
    said += process.stderr.read()
    assert code == 130, said
    assert "interrupted" in said
    time.sleep(1)
    assert _processes_with(marker) == []
    assert [p.name for p in tmp.iterdir() if p.name.startswith("convlab-")] == []
    assert not (tmp_path / "out" / "grades.csv").exists()


# --- the attempt's timestamp, refused students, the output folder, the course secret ---------

def _stub_class(folder: Path, students) -> Path:
    released = ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb"
    for student in students:
        target = folder / student / "01_convolution"
        target.mkdir(parents=True)
        shutil.copy(released, target / "01_convolution.ipynb")
    return folder


@pytest.mark.slow
def test_convlab_grade_draws_the_seed_nbgrader_autograde_draws_from_timestamp_txt(tmp_path):
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    from autograder.judge.preprocessor import TrustedGrade, code_digest

    klass = _stub_class(tmp_path / "class", ["ann"])
    stamp = "2024-05-02 08:00:00.000000 UTC"
    (klass / "ann" / "01_convolution" / "timestamp.txt").write_text(stamp + "\n")
    rows = grade(klass, tmp_path / "out", assignment_ids=["01_convolution"],
                 progress=io.StringIO(), report=io.StringIO())
    # What `nbgrader autograde` gives TrustedGrade: the gradebook's submission, whose
    # timestamp Autograde read from the same timestamp.txt.
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db) as gradebook:
        gradebook.add_assignment("01_convolution")
        gradebook.add_student("ann")
        gradebook.add_submission("01_convolution", "ann", timestamp=parse_utc(stamp))
    nb = nbformat.read(klass / "ann" / "01_convolution" / "01_convolution.ipynb", as_version=4)
    theirs = TrustedGrade().seed_key({"nbgrader": {"db_url": db, "assignment": "01_convolution",
                                                   "student": "ann"}}, nb)
    assert theirs.attempt == f"2024-05-02T08:00:00|{code_digest(nb)}"
    assert rows and {r.attempt for r in rows} == {theirs.attempt}


@pytest.mark.slow
def test_a_student_whose_files_were_all_refused_has_rows_with_the_reason(tmp_path):
    released = (ROOT / "notebooks" / "01_convolution" / "01_convolution.ipynb").read_text()
    source = _zip(tmp_path / "lms.zip", {
        "hw1_ann_attempt_2024-03-01-10-00-00_01_convolution.ipynb": released,
        "hw1_ada_attempt_2999-01-01-00-00-00_01_convolution.ipynb": released,
        "my-notes.ipynb": released,
    })
    rows = grade(source, tmp_path / "out", assignment_ids=["01_convolution"],
                 progress=io.StringIO(), report=io.StringIO())
    ada = [r for r in rows if r.student_id == "ada"]
    assert ada and all(r.score == 0 and r.status == "refused" and "in the future" in r.message
                       for r in ada)
    assert {r.student_id for r in read_grades(tmp_path / "out" / "grades.csv")} == {"ada", "ann"}
    page = (tmp_path / "out" / "report.html").read_text()
    assert "my-notes.ipynb" in page[page.index("Files refused at intake"):]
    feedback = tmp_path / "out" / "feedback" / "ada" / "01_convolution" / "01_convolution.html"
    assert "in the future" in feedback.read_text()


def test_the_output_folder_may_not_lie_inside_the_submissions(tmp_path, capsys):
    klass = tmp_path / "class"
    (klass / "ada" / "01_convolution").mkdir(parents=True)
    assert grade_command(str(klass), str(klass / "graded")) == 2
    assert "inside the submissions folder" in capsys.readouterr().err
    assert not (klass / "graded").exists()
    inner = tmp_path / "out" / "feedback" / "class"
    shutil.copytree(klass, inner)
    assert grade_command(str(inner), str(tmp_path / "out")) == 2  # a regrade would delete it
    assert "inside --out" in capsys.readouterr().err
    assert (inner / "ada").is_dir()


def test_a_regrade_with_another_course_secret_refuses_and_says_how(tmp_path, monkeypatch, capsys):
    from autograder.secret import FINGERPRINT_FILE, check_fingerprint, record_fingerprint

    klass = tmp_path / "class"
    (klass / "ada").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    first = os.environ["CONVLAB_SECRET_FILE"]
    record_fingerprint(out)  # what the first run leaves
    check_fingerprint(out)   # the same secret: fine
    assert json.loads((out / FINGERPRINT_FILE).read_text())["secret_file"] == str(Path(first).resolve())
    other = tmp_path / "secrets" / "course_secret"
    monkeypatch.setenv("CONVLAB_SECRET_FILE", str(other))
    assert grade_command(str(klass), str(out)) == 2
    said = capsys.readouterr().err
    assert "no course secret" in said and "CONVLAB_SECRET_FILE" in said
    assert not other.exists()  # not made: it would draw new hidden cases for everyone
    other.parent.mkdir(mode=0o700)
    other.write_text("ab" * 32 + "\n")
    other.chmod(0o600)
    assert grade_command(str(klass), str(out)) == 2
    said = capsys.readouterr().err
    assert "another course secret" in said and str(Path(first).resolve()) in said


def test_a_gradebook_remembers_its_course_secret(tmp_path, monkeypatch):
    # nbgrader autograde at the course root: TrustedGrade's seed key checks the gradebook's.
    from autograder.secret import FINGERPRINT_FILE, guard_gradebook

    db = f"sqlite:///{tmp_path / 'work' / 'gradebook.db'}"
    (tmp_path / "work").mkdir()
    guard_gradebook(db)
    assert (tmp_path / "work" / FINGERPRINT_FILE).is_file()
    guard_gradebook(db)  # the same secret again
    other = tmp_path / "other_secret"
    other.write_text("cd" * 32 + "\n")
    other.chmod(0o600)
    monkeypatch.setenv("CONVLAB_SECRET_FILE", str(other))
    with pytest.raises(ValueError, match="another course secret"):
        guard_gradebook(db)
