"""Read a class's submissions: nbgrader's submitted/ folder, or an LMS zip.

Two layouts are accepted, in a folder or in a zip:

* nbgrader's submitted/ layout: ``<student>/<assignment>/<notebook>.ipynb``. In a folder,
  every top-level sub-folder is a student, empty ones included. In a zip, the layout may
  sit under wrapper folders (``submitted/``, ``export/``, ...): the shallowest folder whose
  grandchildren are assignment folders is taken as the list of students.
* flat files named the way ``nbgrader zip_collect`` collects them: one notebook per file,
  its name matched by ``named_regexp`` with the groups ``student_id`` and ``file_id``
  (and optionally ``timestamp``). ``file_id`` is the notebook's name, which in this course
  is the assignment id (``01_convolution``), e.g.
  ``ps1_bitdiddle_attempt_2016-01-30-15-00-00_01_convolution.ipynb`` is student
  ``bitdiddle``'s ``01_convolution.ipynb``. Of two files for the same notebook the one with
  the later timestamp wins. Nested zips (LMS exports nest them) are unpacked too.

Whatever arrives, the result is a fresh submitted/-layout folder in scratch that holds only
notebooks, and nothing a student controls decides whose work a file is:

* the id comes from a file's own base name through an anchored pattern, never from the
  folders above it; a name with two attempt stamps (``..._mallory_attempt_..._x_victim_
  attempt_2030-..._01_convolution.ipynb``) or a timestamp in the future is refused;
* a nested zip whose own name gives a student belongs to that student: every notebook in
  it is theirs, and one whose name gives another student is refused;
* ids are validated (``safe_text.student_id``: no ``.``, ``..``, separators, controls,
  leading ``-``; NFC); ids that differ only by case or look-alike characters are both kept,
  apart, with a note for the instructor (where the file system cannot keep them apart,
  the later in sorted order is refused);
* archives are read member by member with a byte and entry budget counted on the bytes
  actually inflated (header sizes are not trusted): ``..``, absolute, drive and link
  members are skipped with a message, a zip bomb stops at the budget, a broken archive is
  one message, and no archive can stop the run;
* a notebook over ``IntakeLimits.notebook_bytes`` is replaced by a short text that says so: the
  grader reads it as "not a readable Jupyter notebook" and scores that notebook 0 with
  that text in the message.

Nothing here reads a notebook's content.
"""
from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..safe_text import id_key, inside, student_id, terminal

__all__ = ["DEFAULT_NAMED_REGEXP", "Intake", "IntakeLimits", "read_submissions"]

# Anchored on both ends (matched against a file's base name): a prefix that never
# contains "_attempt_", the student (no underscore), one attempt stamp, the notebook.
# The tempered prefix makes the split unique, so no choice of greedy or lazy matching
# can move the student id to a later part of the name.
DEFAULT_NAMED_REGEXP = (
    r"(?:(?!_attempt_)[^/\\])+?_(?P<student_id>[^_/\\]+)_attempt_"
    r"(?P<timestamp>\d{4}(?:-\d{2}){5})_(?P<file_id>\w+)\.ipynb"
)

# nbgrader's record of when a submission was made (``nbgrader collect`` / ``zip_collect``
# write it beside the notebooks): part of the hidden cases' key, so it goes with them.
TIMESTAMP_FILE = "timestamp.txt"
_TIMESTAMP_BYTES = 100

# Archive tools' droppings, never students.
_JUNK = ("__MACOSX", ".DS_Store", ".ipynb_checkpoints")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class IntakeLimits:
    """What intake reads at most. ``unpacked_bytes`` and ``entries`` are shared by every
    archive of one run (nested ones included); sizes are counted on inflated bytes.
    Apart from autograder.limits (what grading may cost, TrustedGrade's settings): these
    bound the reading of what was submitted (archives, files), before any grading."""

    notebook_bytes: int = 20 << 20
    unpacked_bytes: int = 2 << 30
    archive_bytes: int = 256 << 20        # one nested zip, as written before it is read
    entries: int = 100_000
    nesting: int = 3                      # zips inside zips inside the submission
    notebooks_per_folder: int = 50
    clock_skew: timedelta = timedelta(hours=14)   # LMS stamps may be local time


@dataclass
class Intake:
    """A submitted/-layout folder and what could not be placed in it."""

    root: Path
    students: list[str]
    skipped: list[str] = field(default_factory=list)  # "path: why", for the instructor
    notes: list[str] = field(default_factory=list)    # graded, but worth a look
    # student -> why files that are theirs were refused: such a student is in ``students``
    # (they get rows, 0 and the reason, where nothing of theirs could be graded).
    refused: dict[str, list[str]] = field(default_factory=dict)


class _Budget:
    def __init__(self, limits: IntakeLimits):
        self.bytes = limits.unpacked_bytes
        self.entries = limits.entries


def _visible(name: str) -> bool:
    return not (name.startswith(".") or name in _JUNK)


def _shown(text: str) -> str:
    return terminal(text)[:200]


# --- archives ------------------------------------------------------------------------

def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member must not be written, or None."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a link"
    if info.flag_bits & 0x1:
        return "encrypted"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = name.replace("\\", "/").rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a path with '..' or an empty part"
    if any(":" in part or "\x00" in part for part in parts):
        return "a name with ':' or NUL"
    return None


def _copy_capped(source, target: Path, cap: int, budget: _Budget) -> int | None:
    """Copy the stream ``source`` to ``target``, at most ``cap`` bytes and what the budget
    has left; the bytes written, or None where the stream was longer (target removed)."""
    written = 0
    with open(target, "wb") as handle:
        while True:
            chunk = source.read(_CHUNK)
            if not chunk:
                return written
            written += len(chunk)
            budget.bytes -= len(chunk)
            if written > cap or budget.bytes < 0:
                break
            handle.write(chunk)
    target.unlink()
    return None


def _too_large(target: Path, what: str, cap: int) -> None:
    """The notebook's stand-in: text the grader reports as not a notebook, with why."""
    target.write_text(f"Refused at intake: {what} is larger than the "
                      f"{cap / (1 << 20):g} MiB limit for a notebook.\n")


def _unpack(archive: Path, dest: Path, label: str, budget: _Budget, limits: IntakeLimits,
            skipped: list[str]) -> list[tuple[Path, str]]:
    """Write the notebooks (.ipynb) and nested zips of ``archive`` under ``dest``; return
    (file, member name) for each, and (None, member name) for every other file (never
    written: only notebooks and zips are ever read). Folder entries are made too (an
    empty student folder is a student). Unsafe members are skipped with a message."""
    found = []
    try:
        handle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        skipped.append(f"{_shown(label)}: not a readable zip ({type(exc).__name__})")
        return found
    with handle:
        try:
            members = handle.infolist()
        except Exception as exc:  # a malformed central directory
            skipped.append(f"{_shown(label)}: not a readable zip ({type(exc).__name__})")
            return found
        for info in members:
            budget.entries -= 1
            if budget.entries < 0:
                skipped.append(f"{_shown(label)}: more than {limits.entries} archive entries "
                               "in all; the rest were not read")
                break
            where = _shown(f"{label}/{info.filename}")
            problem = _member_problem(info)
            if problem:
                skipped.append(f"{where}: skipped, {problem}")
                continue
            parts = info.filename.replace("\\", "/").rstrip("/").split("/")
            if not all(_visible(p) for p in parts):
                continue
            try:
                target = inside(dest, *parts)
            except ValueError:
                skipped.append(f"{where}: skipped, it leaves its folder")
                continue
            suffix = Path(parts[-1]).suffix.lower()
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                stamp_file = parts[-1] == TIMESTAMP_FILE
                if suffix not in (".ipynb", ".zip") and not stamp_file:
                    found.append((None, info.filename))
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                cap = (_TIMESTAMP_BYTES if stamp_file else
                       limits.notebook_bytes if suffix == ".ipynb" else limits.archive_bytes)
                with handle.open(info) as source:
                    size = _copy_capped(source, target, cap, budget)
                if size is None:
                    if budget.bytes < 0:
                        skipped.append(f"{where}: the archive unpacks to more than "
                                       f"{limits.unpacked_bytes} bytes; the rest was not read")
                        break
                    if stamp_file:
                        skipped.append(f"{where}: not a timestamp (too long); ignored")
                        continue
                    if suffix == ".ipynb":
                        _too_large(target, parts[-1], limits.notebook_bytes)
                        skipped.append(f"{where}: larger than the notebook limit, graded 0")
                    else:
                        skipped.append(f"{where}: a nested zip larger than "
                                       f"{limits.archive_bytes} bytes; skipped")
                        continue
                found.append((target, info.filename))
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
                    NotImplementedError, ValueError) as exc:
                skipped.append(f"{where}: could not be read ({type(exc).__name__})")
                if target.is_file():
                    target.unlink()
    return found


# --- the submitted/ layout -------------------------------------------------------------

def _find_layout_root(top: Path, assignments: set[str]) -> Path | None:
    """The shallowest folder under ``top`` whose sub-folders are students, i.e. have an
    assignment folder inside; None where no file sits in such a layout."""
    found = None
    for folder in sorted(p for p in top.rglob("*")
                         if p.is_dir() and not p.is_symlink() and p.name in assignments):
        candidate = folder.parent.parent
        if candidate.is_relative_to(top) and (
            found is None or len(candidate.parts) < len(found.parts)
        ):
            found = candidate
    return found


class _Roster:
    """The students of ``dest``, their ids validated and kept apart."""

    def __init__(self, dest: Path, skipped: list[str], notes: list[str]):
        self.dest, self.skipped, self.notes = dest, skipped, notes
        self.by_key: dict[str, list[str]] = {}
        self.ids: set[str] = set()

    def admit(self, raw: str, where: str, *, again: bool = True) -> str | None:
        """The validated id for ``raw`` with its folder made, or None (with a message).
        ``again``: an id already admitted is the same student (LMS files); else (folders)
        a second folder with the same id after normalisation is refused."""
        try:
            name = student_id(raw)
        except ValueError as exc:
            self.skipped.append(f"{where}: {exc}")
            return None
        if name in self.ids:
            if again:
                return name
            self.skipped.append(f"{where}: the same student id as another folder once "
                                "Unicode-normalised (NFC); refused")
            return None
        folder = inside(self.dest, name)
        if folder.exists():  # the file system folds names this id differs from
            self.skipped.append(f"{where}: student id {_shown(name)!r} is the same folder as "
                                "another student's on this file system; refused")
            return None
        folder.mkdir(parents=True)
        key = id_key(name)
        for other in self.by_key.get(key, []):
            self.notes.append(f"student ids {_shown(other)!r} and {_shown(name)!r} differ only "
                              "by case or look-alike characters: both graded, apart; "
                              "check they are two students")
        self.by_key.setdefault(key, []).append(name)
        self.ids.add(name)
        return name


def _copy_notebook(source: Path, target: Path, limits: IntakeLimits, budget: _Budget,
                   where: str, skipped: list[str]) -> None:
    """Copy a notebook from a folder: regular files only, capped like archive members."""
    try:
        info = os.lstat(source)
        if not stat.S_ISREG(info.st_mode):
            skipped.append(f"{where}: skipped, not a regular file (a link?)")
            return
        with open(source, "rb") as handle:
            size = _copy_capped(handle, target, limits.notebook_bytes, budget)
    except OSError as exc:
        skipped.append(f"{where}: could not be read ({type(exc).__name__})")
        return
    if size is None:
        _too_large(target, source.name, limits.notebook_bytes)
        skipped.append(f"{where}: larger than the notebook limit, graded 0")


def read_timestamp(path: Path) -> str | None:
    """The text of nbgrader's timestamp.txt at ``path`` when it is one (a small regular
    file that nbgrader's parse_utc reads), else None."""
    from nbgrader.utils import parse_utc

    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _TIMESTAMP_BYTES:
            return None
        text = path.read_text(encoding="ascii").strip()
        if not text:
            return None
        parse_utc(text)
    except (OSError, ValueError, UnicodeDecodeError, TypeError, OverflowError):
        return None
    return text


def _copy_timestamp(source_dir: Path, target_dir: Path, where: str, skipped: list[str]) -> None:
    """nbgrader's timestamp.txt goes with the notebooks: ``nbgrader autograde`` seeds the
    hidden cases with it, and so must ``convlab grade`` for the same submission."""
    path = source_dir / TIMESTAMP_FILE
    if not os.path.lexists(path):
        return
    text = read_timestamp(path)
    if text is None:
        skipped.append(f"{where}/{TIMESTAMP_FILE}: not a readable timestamp; ignored")
        return
    (target_dir / TIMESTAMP_FILE).write_text(text + "\n", encoding="ascii")


def _copy_layout(top: Path, dest: Path, assignments: set[str], limits: IntakeLimits,
                 budget: _Budget, exclude: set[Path], skipped: list[str],
                 notes: list[str]) -> list[str]:
    """Copy ``<student>/<assignment>/*.ipynb`` from ``top`` into ``dest``."""
    roster = _Roster(dest, skipped, notes)
    for folder in sorted(top.iterdir()):
        if not _visible(folder.name) or folder.resolve() in exclude:
            continue
        if folder.is_symlink() or not folder.is_dir():
            if folder.is_symlink():
                skipped.append(f"{_shown(folder.name)}: skipped, a link")
            continue
        name = roster.admit(folder.name, _shown(folder.name), again=False)
        if name is None:
            continue
        for sub in sorted(folder.iterdir()):
            if not _visible(sub.name) or sub.is_symlink() or not sub.is_dir():
                continue
            # A folder that is no assignment is made (empty) so that the grader can say so.
            if sub.name not in assignments:
                try:
                    inside(dest, name, sub.name).mkdir()
                except (ValueError, OSError):
                    skipped.append(f"{_shown(name + '/' + sub.name)}: skipped")
                continue
            target_dir = inside(dest, name, sub.name)
            target_dir.mkdir()
            notebooks = sorted(p for p in sub.iterdir()
                               if p.suffix == ".ipynb" and _visible(p.name))
            if len(notebooks) > limits.notebooks_per_folder:
                skipped.append(f"{_shown(name + '/' + sub.name)}: more than "
                               f"{limits.notebooks_per_folder} "
                               "notebooks; only the first were read")
            for notebook in notebooks[:limits.notebooks_per_folder]:
                try:
                    target = inside(target_dir, notebook.name)
                except ValueError:
                    continue
                _copy_notebook(notebook, target, limits, budget,
                               _shown(f"{name}/{sub.name}/{notebook.name}"), skipped)
            _copy_timestamp(sub, target_dir, _shown(f"{name}/{sub.name}"), skipped)
    return sorted(roster.ids)


# --- LMS-named files --------------------------------------------------------------------

def _utc(stamp) -> datetime:
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp


def _name_match(pattern: re.Pattern, base: str):
    """The pattern's match on a file's base name, anchored at both ends (with or without
    the .ipynb suffix, as nbgrader's patterns are written either way)."""
    return pattern.fullmatch(base) or pattern.fullmatch(Path(base).stem)


def _check_groups(match, named_regexp: str) -> dict:
    info = match.groupdict()
    if not info.get("student_id") or not info.get("file_id"):
        raise ValueError(f"named_regexp {named_regexp!r} must define the groups "
                         "student_id and file_id")
    return info


_LATE_MARK = re.compile(r"(?:^|_)LATE_")


def _stamp(info: dict, where: str, limits: IntakeLimits, refuse):
    """(ok, timestamp or None): a stamp that cannot be read or lies ahead is refused
    (``refuse(message)``)."""
    from nbgrader.utils import parse_utc

    if not info.get("timestamp"):
        return True, None
    try:
        # The default pattern's stamps, read exactly: dateutil (parse_utc) can take
        # "...-07-28-00" for a time zone offset.
        stamp = datetime.strptime(info["timestamp"], "%Y-%m-%d-%H-%M-%S").replace(
            tzinfo=timezone.utc)
    except ValueError:
        stamp = None
    try:
        stamp = stamp or _utc(parse_utc(info["timestamp"]))
    except (ValueError, TypeError, OverflowError):
        refuse(f"{where}: refused, its timestamp cannot be read")
        return False, None
    if stamp > datetime.now(timezone.utc) + limits.clock_skew:
        refuse(f"{where}: refused, its timestamp {_shown(info['timestamp'])} is in the future")
        return False, None
    return True, stamp


def _collect_named(scratch: Path, files: list[tuple[Path | None, str]], named_regexp: str,
                   notebooks: dict[str, str], dest: Path, limits: IntakeLimits, budget: _Budget,
                   skipped: list[str], notes: list[str],
                   refused: dict[str, list[str]]) -> list[str]:
    """Place LMS-named notebooks, unpacking nested zips with their owner, into ``dest``.
    A student whose file is refused though its name says whose it is is still a student
    (``refused``: why); a file whose owner cannot be known is only in ``skipped``."""
    pattern = re.compile(named_regexp)
    roster = _Roster(dest, skipped, notes)
    chosen: dict[tuple[str, str], tuple[Path, object, str]] = {}
    # (file or None, name shown, owner or None, owner's stamp, nesting depth)
    queue = [(path, label, None, None, 0) for path, label in files]
    nested = 0

    def refuse_for(student: str | None):
        def refuse(message: str) -> None:
            skipped.append(message)
            if student is not None and roster.admit(student, message) is not None:
                refused.setdefault(student, []).append(message)
        return refuse

    while queue:
        path, label, owner, owner_stamp, depth = queue.pop(0)
        base = label.replace("\\", "/").rsplit("/", 1)[-1]
        where = _shown(label)
        if path is None or Path(base).suffix.lower() not in (".ipynb", ".zip"):
            refuse_for(owner)(f"{where}: not a .ipynb file")
            continue
        if base.count("_attempt_") > 1:
            refuse_for(owner)(f"{where}: refused, its name has two attempt stamps")
            continue
        is_zip = Path(base).suffix.lower() == ".zip"
        # A zip is named like a notebook file of its owner: read .zip as .ipynb.
        match = _name_match(pattern, base[:-4] + ".ipynb" if is_zip else base)
        info = _check_groups(match, named_regexp) if match else {}
        student = owner
        if match:
            try:
                named = student_id(info["student_id"])
            except ValueError as exc:
                refuse_for(owner)(f"{where}: {exc}")
                continue
            if owner is not None and named != owner:
                refuse_for(owner)(f"{where}: refused, it names student {_shown(named)!r} "
                                  f"inside {_shown(owner)!r}'s submission")
                continue
            if depth > 0 and owner is None:
                # Inside an archive whose own name says whose it is not (a student's
                # "my-notes.zip"): a name inside it never decides whose work it is.
                skipped.append(f"{where}: refused, it is inside an archive whose own name "
                               "names no student, so whose work it is cannot be known")
                continue
            student = named
        ok, stamp = _stamp(info, where, limits, refuse_for(student))
        if not ok:
            continue
        stamp = stamp or owner_stamp
        # --- late policy hook: an LMS's LATE marker (Canvas: "name_LATE_...") says late
        # by the LMS's due date; the course's policy needs a time, which such a name lacks.
        if stamp is None and _LATE_MARK.search(base):
            notes.append(f"{where}: marked LATE by the LMS but its name carries no time: the "
                         "late policy counts it on time (give its timestamp.txt, or a "
                         "--named-regexp with a timestamp group)")
        if is_zip:
            if depth >= limits.nesting:
                refuse_for(student)(f"{where}: skipped, zips nested more than "
                                    f"{limits.nesting} deep")
                continue
            if student is not None and roster.admit(student, where) is None:
                continue
            nested += 1
            unpacked = scratch / "nested" / str(nested)
            unpacked.mkdir(parents=True)
            for inner, name in _unpack(path, unpacked, label, budget, limits, skipped):
                queue.append((inner, f"{label}/{name}", student, stamp, depth + 1))
            continue
        if student is None:
            skipped.append(f"{where}: refused, its name does not match the pattern, so whose "
                           "work it is cannot be known")
            continue
        if roster.admit(student, where) is None:
            continue
        notebook = Path(info["file_id"]).stem if match else Path(base).stem
        if notebook not in notebooks:
            refuse_for(student)(f"{where}: {_shown(notebook)!r} is not a notebook of this "
                                f"course (expected one of {sorted(notebooks)})")
            continue
        previous = chosen.get((student, notebook))
        if previous is not None:
            newer = stamp is not None and (previous[1] is None or stamp >= previous[1])
            skipped.append(f"{previous[2] if newer else where}: "
                           f"an older duplicate of {_shown(student)}'s {notebook}")
            if not newer:
                continue
        chosen[(student, notebook)] = (path, stamp, where)
    stamps: dict[Path, datetime] = {}
    for (student, notebook), (path, stamp, where) in sorted(chosen.items()):
        target = inside(dest, student, notebooks[notebook], f"{notebook}.ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_notebook(path, target, limits, budget, where, skipped)
        if stamp is not None and (target.parent not in stamps or stamp > stamps[target.parent]):
            stamps[target.parent] = stamp
    for folder, stamp in stamps.items():
        # As nbgrader zip_collect writes it: the attempt's stamp, which seeds the hidden
        # cases, is the same whichever of the two graders reads this folder.
        (folder / TIMESTAMP_FILE).write_text(stamp.isoformat(" ") + "\n", encoding="ascii")
    return sorted(roster.ids)


def read_submissions(source: Path, scratch: Path, notebooks: dict[str, str],
                     named_regexp: str | None = None, *, exclude=(),
                     limits: IntakeLimits | None = None) -> Intake:
    """Turn ``source`` (a folder or a .zip) into a submitted/-layout folder in ``scratch``.

    ``notebooks`` maps each notebook name of the course to its assignment id;
    ``scratch`` is an empty folder this function may write into; folders in ``exclude``
    (the output folder, when grading in place) are no students."""
    source = Path(source)
    limits = limits or IntakeLimits()
    named_regexp = named_regexp or DEFAULT_NAMED_REGEXP
    re.compile(named_regexp)  # a bad pattern is the caller's error, before any work
    assignments = set(notebooks.values())
    exclude = {Path(p).resolve() for p in exclude}
    budget = _Budget(limits)
    skipped: list[str] = []
    notes: list[str] = []
    dest = Path(scratch) / "submitted"
    dest.mkdir(parents=True)
    if source.is_dir():
        top = source
        if any(p.is_dir() and _visible(p.name) and p.resolve() not in exclude
               for p in top.iterdir()):
            students = _copy_layout(top, dest, assignments, limits, budget, exclude,
                                    skipped, notes)
            return Intake(dest, students, skipped, notes)
        files = [(p, p.name) for p in sorted(top.iterdir())
                 if p.is_file() and not p.is_symlink() and _visible(p.name)]
    elif source.is_file() and zipfile.is_zipfile(source):
        top = Path(scratch) / "unpacked"
        top.mkdir(parents=True)
        found = _unpack(source, top, source.name, budget, limits, skipped)
        layout = _find_layout_root(top, assignments)
        if layout is not None:
            students = _copy_layout(layout, dest, assignments, limits, budget, set(),
                                    skipped, notes)
            return Intake(dest, students, skipped, notes)
        files = [(path, name) for path, name in found]
    else:
        raise ValueError(f"{source} is neither a folder nor a zip file")
    refused: dict[str, list[str]] = {}
    students = _collect_named(Path(scratch), files, named_regexp, notebooks, dest, limits, budget,
                              skipped, notes, refused)
    return Intake(dest, students, skipped, notes, refused)
