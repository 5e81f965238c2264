"""Intake that no student controls (autograder/intake/): ids validated and kept apart,
the id taken from a file's own name, archives read within budgets, nothing that crashes
the run. No grading here: every test is fast."""
from __future__ import annotations

import io
import stat
import time
import unicodedata
import zipfile
from datetime import timedelta
from pathlib import Path

import nbformat
import pytest

from autograder.intake import DEFAULT_NAMED_REGEXP, IntakeLimits, read_submissions
from autograder.safe_text import id_key, inside, student_id

NOTEBOOKS = {"01_convolution": "01_convolution", "02_transposed": "02_transposed"}
NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _zip(path: Path, files: dict) -> Path:
    """A zip with these members: str/bytes content, None for a folder entry, or a
    ZipInfo-tuple (info, content) for crafted entries."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            if content is None:
                archive.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), "")
            elif isinstance(content, tuple):
                archive.writestr(*content)
            else:
                archive.writestr(name, content)
    return path


def _zip_bytes(files: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _lms(student: str, notebook: str = "01_convolution", stamp="2024-03-01-10-00-00") -> str:
    return f"hw1_{student}_attempt_{stamp}_{notebook}.ipynb"


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


# --- ids ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["", " ", ".", "..", "a/b", "a\\b", "-rf", ".hidden", "a\x1bb",
                                 "a\x9bb", "ab\u202ecd", "a\u200bb", "x" * 65, " ada", "ada\n"])
def test_student_id_refuses_what_could_leave_its_folder_or_fool_a_reader(bad):
    with pytest.raises(ValueError):
        student_id(bad)


def test_student_id_keeps_ordinary_ids_and_normalises_to_nfc():
    assert student_id("ada.lovelace@uni.example") == "ada.lovelace@uni.example"
    assert student_id("+44.7700@uni") == "+44.7700@uni"  # csv_cell neutralises it
    with pytest.raises(ValueError, match="only letters, digits"):
        student_id('=HYPERLINK("evil.example","x")')
    with pytest.raises(ValueError, match="only letters, digits"):
        student_id("<img src=x onerror=alert(1)>")
    decomposed = unicodedata.normalize("NFD", "josé")
    assert decomposed != "josé" and student_id(decomposed) == "josé"


def test_look_alike_ids_share_a_key_and_different_ones_do_not():
    assert id_key("Ada") == id_key("ada") == id_key("\u0430da") == id_key("ＡＤＡ")
    assert id_key("bob") != id_key("ada")


def test_inside_refuses_a_path_that_climbs_out(tmp_path):
    assert inside(tmp_path, "a", "b") == tmp_path / "a" / "b"
    for parts in (("..",), ("a", "..", ".."), ("/etc",)):
        with pytest.raises(ValueError):
            inside(tmp_path, *parts)
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(ValueError):
        inside(tmp_path, "link", "etc")


def test_bad_folder_ids_are_skipped_with_a_message_and_the_rest_graded(tmp_path):
    klass = tmp_path / "class"
    for name in ["ada", "-rf", "esc\x1b]52;c;ZXZpbA==\x07", "e\u0301mile"]:
        (klass / name / "01_convolution").mkdir(parents=True)
        (klass / name / "01_convolution" / "01_convolution.ipynb").write_text(NB)
    intake = read_submissions(klass, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == sorted(["ada", "\u00e9mile"])
    skipped = "\n".join(intake.skipped)
    assert "-rf" in skipped and "\\x1b" in skipped and "\x1b" not in skipped
    assert (intake.root / "\u00e9mile" / "01_convolution" / "01_convolution.ipynb").is_file()


def test_ids_that_differ_by_case_or_look_alikes_are_kept_apart_with_a_note(tmp_path):
    klass = tmp_path / "class"
    for name, text in [("ada", "real"), ("Ada", "case"), ("\u0430da", "cyrillic")]:
        (klass / name / "01_convolution").mkdir(parents=True)
        (klass / name / "01_convolution" / "01_convolution.ipynb").write_text(text)
    intake = read_submissions(klass, tmp_path / "scratch", NOTEBOOKS)
    assert sorted(intake.students) == sorted(["ada", "Ada", "\u0430da"])
    for name, text in [("ada", "real"), ("Ada", "case"), ("\u0430da", "cyrillic")]:
        assert (intake.root / name / "01_convolution" / "01_convolution.ipynb").read_text() == text
    assert len(intake.notes) == 3 and all("both graded, apart" in n for n in intake.notes)


def test_nfc_equal_folders_are_one_id_and_the_second_is_refused(tmp_path):
    klass = tmp_path / "class"
    for name, text in [("\u00e9mile", "composed"), ("e\u0301mile", "decomposed")]:
        (klass / name / "01_convolution").mkdir(parents=True)
        (klass / name / "01_convolution" / "01_convolution.ipynb").write_text(text)
    intake = read_submissions(klass, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["\u00e9mile"]
    # sorted order: the decomposed name (e + U+0301) sorts first and is admitted first
    assert any("NFC" in s for s in intake.skipped)


def test_the_output_folder_inside_the_class_is_no_student(tmp_path):
    klass = tmp_path / "class"
    (klass / "ada" / "01_convolution").mkdir(parents=True)
    (klass / "graded" / "feedback").mkdir(parents=True)
    intake = read_submissions(klass, tmp_path / "s", NOTEBOOKS, exclude=[klass / "graded"])
    assert intake.students == ["ada"]


# --- LMS names: the id from the file's own base name -----------------------------------

def test_the_takeover_name_with_two_attempt_stamps_is_refused(tmp_path):
    takeover = ("hw1_mallory_attempt_2024-03-01-10-00-00_x_victim_attempt_"
                "2030-01-01-00-00-00_01_convolution.ipynb")
    source = _zip(tmp_path / "lms.zip", {
        _lms("victim"): "victim's own",
        takeover: "mallory's",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["victim"]
    assert (intake.root / "victim" / "01_convolution" / "01_convolution.ipynb").read_text() == \
        "victim's own"
    assert any("two attempt stamps" in s for s in intake.skipped)


def test_the_default_pattern_is_anchored_and_reads_the_last_student_before_attempt():
    import re

    pattern = re.compile(DEFAULT_NAMED_REGEXP)
    match = pattern.fullmatch(_lms("bitdiddle"))
    assert match["student_id"] == "bitdiddle" and match["file_id"] == "01_convolution"
    assert pattern.fullmatch("hw_1_ada_attempt_2024-03-01-10-00-00_01_convolution.ipynb")[
        "student_id"] == "ada"
    takeover = ("hw1_mallory_attempt_2024-03-01-10-00-00_x_victim_attempt_"
                "2030-01-01-00-00-00_01_convolution.ipynb")
    assert pattern.fullmatch(takeover) is None
    assert pattern.fullmatch("dir/" + _lms("ada")) is None  # base names only
    assert pattern.fullmatch(_lms("ada") + ".txt") is None


def test_folders_above_a_file_do_not_name_its_student(tmp_path):
    # Under the old whole-path match, ".*_" could reach into folder names.
    source = _zip(tmp_path / "lms.zip", {
        "hw1_victim_attempt_2030-01-01-00-00-00_01_convolution.ipynb/01_convolution.ipynb": "x",
        _lms("ada"): "ada's",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["ada"]


def test_a_future_timestamp_is_refused_and_the_real_attempt_kept(tmp_path):
    source = _zip(tmp_path / "lms.zip", {
        _lms("ada", stamp="2024-03-01-10-00-00"): "real",
        _lms("ada", stamp="2999-01-01-00-00-00"): "from the future",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert (intake.root / "ada" / "01_convolution" / "01_convolution.ipynb").read_text() == "real"
    assert any("in the future" in s for s in intake.skipped)


def test_an_lms_id_that_is_dot_dot_or_holds_escape_codes_is_refused(tmp_path):
    source = _zip(tmp_path / "lms.zip", {
        _lms(".."): "dots",
        _lms("a\x1b[2Jb"): "escape",
        _lms("ada"): "ada",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["ada"]
    assert all("\x1b" not in line for line in intake.skipped)
    assert sorted(p.name for p in intake.root.iterdir()) == ["ada"]


# --- nested archives ----------------------------------------------------------------------

def test_a_students_nested_zip_belongs_to_that_student_only(tmp_path):
    inner = _zip_bytes({
        "01_convolution.ipynb": "mallory's notebook",
        _lms("victim", "02_transposed", "2030-01-01-00-00-00"): "planted for the victim",
    })
    source = _zip(tmp_path / "lms.zip", {
        "hw1_mallory_attempt_2024-03-01-10-00-00_upload.zip": inner,
        _lms("victim", "02_transposed"): "victim's own",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["mallory", "victim"]
    root = intake.root
    assert (root / "mallory" / "01_convolution" / "01_convolution.ipynb").read_text() == \
        "mallory's notebook"
    assert (root / "victim" / "02_transposed" / "02_transposed.ipynb").read_text() == "victim's own"
    assert not (root / "mallory" / "02_transposed").exists()
    assert any("names student 'victim' inside 'mallory'" in s for s in intake.skipped)


def test_unsafe_members_are_skipped_with_a_message_and_nothing_leaves_scratch(tmp_path):
    link = zipfile.ZipInfo(_lms("eve", "02_transposed"))
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    inner = _zip_bytes({"../../../escaped.ipynb": "x", "/abs/olute.ipynb": "y",
                        "C:/windows.ipynb": "z"})
    source = _zip(tmp_path / "lms.zip", {
        "batch/inner.zip": inner,
        "../" + _lms("eve"): "climbing",
        "link": (link, "/etc/passwd"),
        _lms("ada"): "ada",
    })
    scratch = tmp_path / "scratch"
    intake = read_submissions(source, scratch, NOTEBOOKS)
    assert intake.students == ["ada"]
    skipped = "\n".join(intake.skipped)
    assert skipped.count("'..'") >= 2 and "absolute" in skipped and "a link" in skipped
    assert not list(tmp_path.glob("escaped*")) and not (tmp_path / _lms("eve")).exists()
    assert all(p.resolve().is_relative_to(scratch.resolve()) for p in scratch.rglob("*"))


def test_a_broken_archive_is_one_message_not_a_crash(tmp_path):
    source = _zip(tmp_path / "lms.zip", {
        "batch/broken.zip": b"PK\x03\x04 not really a zip",
        _lms("ada"): "ada",
    })
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS)
    assert intake.students == ["ada"]
    assert any("not a readable zip" in s for s in intake.skipped)


def test_a_zip_bomb_stops_at_the_byte_budget_quickly(tmp_path):
    zeros = b"\0" * (64 << 20)  # 64 MiB inflated, about 64 KiB deflated
    bomb = _zip_bytes({f"layer{i}.bin.zip": zeros for i in range(4)})
    source = _zip(tmp_path / "lms.zip", {
        _lms("ada"): "ada",
        "hw1_mallory_attempt_2024-03-01-10-00-00_bomb.zip": bomb,
    })
    start = time.perf_counter()
    limits = IntakeLimits(unpacked_bytes=16 << 20)
    intake = read_submissions(source, tmp_path / "scratch", NOTEBOOKS, limits=limits)
    assert time.perf_counter() - start < 20
    assert "ada" in intake.students
    assert any("more than" in s and "bytes" in s for s in intake.skipped)
    written = sum(p.stat().st_size for p in (tmp_path / "scratch").rglob("*") if p.is_file())
    assert written < 2 * (16 << 20)


def test_too_many_entries_stop_reading_with_a_message(tmp_path):
    source = _zip(tmp_path / "lms.zip", {f"junk/{i}.txt": "" for i in range(50)} | {
        _lms("ada"): "ada"})
    intake = read_submissions(source, tmp_path / "s", NOTEBOOKS, limits=IntakeLimits(entries=10))
    assert any("more than 10 archive entries" in s for s in intake.skipped)


def test_nesting_is_bounded(tmp_path):
    data = _zip_bytes({"01_convolution.ipynb": NB})
    for _ in range(5):
        data = _zip_bytes({"deeper.zip": data})
    source = _zip(tmp_path / "lms.zip", {"hw1_ada_attempt_2024-03-01-10-00-00_up.zip": data})
    intake = read_submissions(source, tmp_path / "s", NOTEBOOKS)
    assert intake.students == ["ada"]
    assert any("nested more than" in s for s in intake.skipped)


# --- notebook size cap ----------------------------------------------------------------------

def test_a_notebook_over_the_cap_becomes_a_zero_with_a_message(tmp_path):
    limits = IntakeLimits(notebook_bytes=1 << 20)
    big = '{"cells": [], "x": "' + "a" * (2 << 20) + '"}'
    klass = tmp_path / "class"
    (klass / "ada" / "01_convolution").mkdir(parents=True)
    (klass / "ada" / "01_convolution" / "01_convolution.ipynb").write_text(big)
    intake = read_submissions(klass, tmp_path / "s1", NOTEBOOKS, limits=limits)
    stand_in = intake.root / "ada" / "01_convolution" / "01_convolution.ipynb"
    assert stand_in.stat().st_size < 200 and "larger than the 1 MiB limit" in stand_in.read_text()
    with pytest.raises(Exception, match="Refused at intake"):
        nbformat.read(stand_in, as_version=4)  # what the grader reports as the reason
    source = _zip(tmp_path / "lms.zip", {_lms("ada"): big})
    intake = read_submissions(source, tmp_path / "s2", NOTEBOOKS, limits=limits)
    assert "Refused at intake" in (intake.root / "ada" / "01_convolution" /
                                   "01_convolution.ipynb").read_text()
    assert any("notebook limit" in s for s in intake.skipped)


def test_symlinked_notebooks_and_student_folders_are_not_followed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor's file")
    klass = tmp_path / "class"
    (klass / "ada" / "01_convolution").mkdir(parents=True)
    (klass / "ada" / "01_convolution" / "01_convolution.ipynb").symlink_to(secret)
    (klass / "linked").symlink_to(tmp_path)
    intake = read_submissions(klass, tmp_path / "s", NOTEBOOKS)
    assert intake.students == ["ada"]
    assert not (intake.root / "ada" / "01_convolution" / "01_convolution.ipynb").exists()
    assert any("a link" in s for s in intake.skipped)


def test_clock_skew_is_configurable(tmp_path):
    from datetime import datetime, timezone

    soon = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%d-%H-%M-%S")
    source = _zip(tmp_path / "lms.zip", {_lms("ada", stamp=soon): "ada"})
    assert read_submissions(source, tmp_path / "a", NOTEBOOKS).students == ["ada"]
    strict = read_submissions(source, tmp_path / "b", NOTEBOOKS,
                              limits=IntakeLimits(clock_skew=timedelta(0)))
    assert not (strict.root / "ada" / "01_convolution").exists()


# --- a hostile LMS export through the whole run ----------------------------------------------

@pytest.mark.slow
def test_a_hostile_lms_export_is_graded_without_a_crash_or_a_takeover(tmp_path):
    """``convlab grade`` on one zip holding every intake attack at once: the run ends,
    the victim's row is the victim's work, refused files are named (escaped) on the
    terminal, no grades.csv cell starts a formula."""
    import csv

    from autograder.pipeline import grade
    from convlab.cli import repo_root

    released = (repo_root() / "notebooks" / "01_convolution" / "01_convolution.ipynb").read_text()
    marked = released.replace("YOUR ANSWER HERE", "VICTIM'S OWN WORDS", 1)
    bomb = _zip_bytes({"a.zip": b"\0" * (64 << 20), "b.zip": b"\0" * (64 << 20)})
    source = _zip(tmp_path / "lms.zip", {
        _lms("victim"): marked,
        ("hw1_mallory_attempt_2024-03-01-10-00-00_x_victim_attempt_2030-01-01-00-00-00_"
         "01_convolution.ipynb"): released,
        _lms(".."): released,
        _lms("=HYPERLINK(evil.example)"): released,
        _lms("esc\x1b]52;c;ZXZpbA==\x07"): released,
        "hw1_mallory_attempt_2024-03-01-10-00-00_upload.zip": _zip_bytes({
            "../../../escape.ipynb": released,
            _lms("victim", stamp="2024-03-05-10-00-00"): released,
            "bomb.zip": bomb,
        }),
    })
    progress = io.StringIO()
    rows = grade(source, tmp_path / "out", progress=progress, report=io.StringIO(),
                 assignment_ids=["01_convolution"])
    assert sorted({r.student_id for r in rows}) == ["mallory", "victim"]
    log = progress.getvalue()
    assert "\x1b" not in log and "\x07" not in log
    for why in ("two attempt stamps", "names a folder", "only letters, digits",
                "names student 'victim' inside 'mallory'", "'..'"):
        assert why in log, why
    with open(tmp_path / "out" / "grades.csv", newline="", encoding="utf-8") as handle:
        cells = [c for row in csv.reader(handle) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    feedback = (tmp_path / "out" / "feedback" / "victim" / "01_convolution" /
                "01_convolution.html").read_text()
    assert "VICTIM&#x27;S OWN WORDS" in feedback or "VICTIM'S OWN WORDS" in feedback
    assert not list(tmp_path.rglob("escape.ipynb"))


def test_a_nested_zip_is_capped_on_its_own(tmp_path):
    inner = _zip_bytes({"huge.zip": b"\0" * (8 << 20)})
    source = _zip(tmp_path / "lms.zip", {"hw1_ada_attempt_2024-03-01-10-00-00_up.zip": inner,
                                         _lms("bob"): NB})
    intake = read_submissions(source, tmp_path / "s", NOTEBOOKS,
                              limits=IntakeLimits(archive_bytes=1 << 20))
    assert intake.students == ["ada", "bob"]
    assert any("nested zip larger than" in s for s in intake.skipped)


# --- what goes with the notebook, and who is still a student ---------------------------------

def test_nbgraders_timestamp_goes_with_the_notebook_from_a_folder_and_a_zip(tmp_path):
    klass = tmp_path / "class"
    for student, stamp in (("ada", "2024-05-02 08:00:00.000000 UTC"), ("bob", "not a time")):
        folder = klass / student / "01_convolution"
        folder.mkdir(parents=True)
        (folder / "01_convolution.ipynb").write_text(NB)
        (folder / "timestamp.txt").write_text(stamp + "\n")
    (klass / "cy" / "01_convolution").mkdir(parents=True)
    (klass / "cy" / "01_convolution" / "timestamp.txt").symlink_to(
        klass / "ada" / "01_convolution" / "timestamp.txt")
    intake = read_submissions(klass, tmp_path / "a", NOTEBOOKS)
    root = intake.root
    assert (root / "ada" / "01_convolution" / "timestamp.txt").read_text().strip() == \
        "2024-05-02 08:00:00.000000 UTC"
    assert not (root / "bob" / "01_convolution" / "timestamp.txt").exists()
    assert not (root / "cy" / "01_convolution" / "timestamp.txt").exists()
    assert any("bob/01_convolution/timestamp.txt" in s for s in intake.skipped)
    zipped = _zip(tmp_path / "class.zip", {
        "submitted/ada/01_convolution/01_convolution.ipynb": NB,
        "submitted/ada/01_convolution/timestamp.txt": "2024-05-02 08:00:00.000000 UTC",
    })
    intake = read_submissions(zipped, tmp_path / "b", NOTEBOOKS)
    assert (intake.root / "ada" / "01_convolution" / "timestamp.txt").read_text().strip() == \
        "2024-05-02 08:00:00.000000 UTC"


def test_an_lms_files_attempt_stamp_becomes_nbgraders_timestamp(tmp_path):
    from nbgrader.utils import parse_utc

    source = _zip(tmp_path / "lms.zip", {
        _lms("ada", stamp="2024-03-01-10-00-00"): "old",
        _lms("ada", stamp="2024-03-02-11-30-05"): "new",
        "hw1_bob_attempt_2024-03-03-09-00-00_up.zip": _zip_bytes({"01_convolution.ipynb": NB}),
    })
    intake = read_submissions(source, tmp_path / "s", NOTEBOOKS)
    ada = (intake.root / "ada" / "01_convolution" / "timestamp.txt").read_text().strip()
    assert ada == "2024-03-02 11:30:05+00:00"
    assert parse_utc(ada).isoformat() == "2024-03-02T11:30:05"
    bob = (intake.root / "bob" / "01_convolution" / "timestamp.txt").read_text().strip()
    assert bob == "2024-03-03 09:00:00+00:00"  # the archive's own stamp


def test_a_student_whose_only_file_is_refused_is_still_a_student_with_the_reason(tmp_path):
    source = _zip(tmp_path / "lms.zip", {
        _lms("ada", stamp="2999-01-01-00-00-00"): "from the future",
        _lms("bob", notebook="homework"): "no notebook of this course",
        _lms("cy"): NB,
        "my-notes.ipynb": "whose?",
    })
    intake = read_submissions(source, tmp_path / "s", NOTEBOOKS)
    assert intake.students == ["ada", "bob", "cy"]
    assert list((intake.root / "ada").iterdir()) == []
    assert "in the future" in intake.refused["ada"][0]
    assert "not a notebook of this course" in intake.refused["bob"][0]
    assert "cy" not in intake.refused
    assert any("my-notes.ipynb" in s and "does not match" in s for s in intake.skipped)


def test_an_archive_whose_own_name_names_no_student_cannot_hand_in_for_a_classmate(tmp_path):
    planted = _zip_bytes({_lms("victim", stamp="2024-03-09-00-00-00"): "mallory's planted copy"})
    source = _zip(tmp_path / "lms.zip", {
        _lms("victim", stamp="2024-03-01-10-00-00"): "victim's own",
        "my-notes.zip": planted,
    })
    intake = read_submissions(source, tmp_path / "s", NOTEBOOKS)
    assert intake.students == ["victim"]
    assert (intake.root / "victim" / "01_convolution" / "01_convolution.ipynb").read_text() == \
        "victim's own"
    assert any("my-notes.zip" in s and "names no student" in s for s in intake.skipped)


def test_reference_is_no_student_id(tmp_path):
    for name in ("reference", "Reference", "REFERENCE"):
        with pytest.raises(ValueError, match="reserved"):
            student_id(name)
    assert student_id("references") == "references"
    (tmp_path / "class" / "reference" / "01_convolution").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "01_convolution").mkdir(parents=True)
    intake = read_submissions(tmp_path / "class", tmp_path / "s", NOTEBOOKS)
    assert intake.students == ["ada"]
    assert any("reserved" in s for s in intake.skipped)
