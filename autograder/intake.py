"""Read a class's submissions: nbgrader's submitted/ folder, or an LMS zip.

Two layouts are accepted, in a folder or in a zip (nested zips are unpacked too):

* nbgrader's submitted/ layout: ``<student>/<assignment>/<notebook>.ipynb``. In a folder,
  every top-level sub-folder is a student, empty ones included. In a zip, the layout may
  sit under wrapper folders (``submitted/``, ``export/``, ...): the shallowest folder whose
  grandchildren are assignment folders is taken as the list of students.
* flat files named the way ``nbgrader zip_collect`` collects them: one notebook per file,
  its name matched by ``named_regexp`` with the groups ``student_id`` and ``file_id``
  (and optionally ``timestamp``). ``file_id`` is the notebook's name, which in this course
  is the assignment id (``01_convolution``). The default is the pattern of nbgrader's
  documentation, e.g. ``ps1_bitdiddle_attempt_2016-01-30-15-00-00_01_convolution.ipynb``
  is student ``bitdiddle``'s ``01_convolution.ipynb``. As in zip_collect, the pattern is
  matched (``re.match``) against the file's whole path, and of two files for the same
  notebook the one with the later timestamp wins.

Either way the result is a submitted/ folder; nothing here reads a notebook's content.
"""
from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.utils import parse_utc, unzip

__all__ = ["DEFAULT_NAMED_REGEXP", "Intake", "read_submissions"]

DEFAULT_NAMED_REGEXP = r".*_(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+)_(?P<file_id>\w+)"

# Archive tools' droppings, never students.
_JUNK = ("__MACOSX", ".DS_Store", ".ipynb_checkpoints")


@dataclass
class Intake:
    """A submitted/-layout folder and what could not be placed in it."""

    root: Path
    students: list[str]
    skipped: list[str] = field(default_factory=list)  # "path: why", for the instructor


def _visible(path: Path) -> bool:
    return not (path.name.startswith(".") or path.name in _JUNK)


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and _visible(p))


def _find_layout_root(top: Path, assignments: set[str]) -> Path | None:
    """The shallowest folder under ``top`` whose sub-folders are students, i.e. have an
    assignment folder inside; None where no file sits in such a layout."""
    found = None
    for folder in sorted(p for p in top.rglob("*") if p.is_dir() and p.name in assignments):
        candidate = folder.parent.parent
        if candidate.is_relative_to(top) and (
            found is None or len(candidate.parts) < len(found.parts)
        ):
            found = candidate
    return found


def _collect_named(files: list[Path], named_regexp: str, notebooks: dict[str, str],
                   dest: Path) -> tuple[list[str], list[str]]:
    """Copy LMS-named notebooks into ``dest`` in the submitted/ layout; return the
    students found and the files skipped."""
    pattern = re.compile(named_regexp)
    students: set[str] = set()
    chosen: dict[tuple[str, str], tuple[Path, object]] = {}  # (student, notebook) -> (file, time)
    skipped = []
    for path in sorted(files):
        match = pattern.match(str(path)) if path.suffix == ".ipynb" else None
        if match is None:
            why = "not a .ipynb file" if path.suffix != ".ipynb" else "name does not match the pattern"
            skipped.append(f"{path.name}: {why}")
            continue
        info = match.groupdict()
        if not info.get("student_id") or not info.get("file_id"):
            raise ValueError(f"named_regexp {named_regexp!r} must define the groups "
                             "student_id and file_id")
        student, notebook = info["student_id"], Path(info["file_id"]).stem
        students.add(student)  # graded even when none of their files can be used
        if notebook not in notebooks:
            skipped.append(f"{path.name}: {notebook!r} is not a notebook of this course "
                           f"(expected one of {sorted(notebooks)})")
            continue
        try:
            stamp = parse_utc(info["timestamp"]) if info.get("timestamp") else None
        except ValueError:
            stamp = None
        previous = chosen.get((student, notebook))
        if previous is not None:
            newer = stamp is not None and (previous[1] is None or stamp >= previous[1])
            skipped.append(f"{(previous[0] if newer else path).name}: "
                           f"an older duplicate of {student}'s {notebook}")
            if not newer:
                continue
        chosen[(student, notebook)] = (path, stamp)
    for student in students:
        (dest / student).mkdir(parents=True, exist_ok=True)
    for (student, notebook), (path, _) in chosen.items():
        target = dest / student / notebooks[notebook] / f"{notebook}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return sorted(students), skipped


def read_submissions(source: Path, scratch: Path, notebooks: dict[str, str],
                     named_regexp: str = DEFAULT_NAMED_REGEXP) -> Intake:
    """Turn ``source`` (a folder or a .zip) into a submitted/-layout folder.

    ``notebooks`` maps each notebook name of the course to its assignment id;
    ``scratch`` is an empty folder this function may write into."""
    source = Path(source)
    assignments = set(notebooks.values())
    if source.is_dir():
        top = source
        if _subdirs(top):
            return Intake(top, [p.name for p in _subdirs(top)])
    elif source.is_file() and zipfile.is_zipfile(source):
        top = scratch / "unpacked"
        top.mkdir(parents=True)
        # nbgrader's unzip, as zip_collect uses it: nested archives get their own folders.
        unzip(str(source), str(top), zip_ext=[".zip"], create_own_folder=False, tree=True)
        layout = _find_layout_root(top, assignments)
        if layout is not None:
            return Intake(layout, [p.name for p in _subdirs(layout)])
    else:
        raise ValueError(f"{source} is neither a folder nor a zip file")
    files = [p for p in top.rglob("*")
             if p.is_file() and all(_visible(Path(part)) for part in p.relative_to(top).parts)]
    dest = scratch / "submitted"
    dest.mkdir(parents=True, exist_ok=True)
    students, skipped = _collect_named(files, named_regexp, notebooks, dest)
    return Intake(dest, students, skipped)
