"""What the grader writes where people look (grades.csv, feedback, the terminal) carries the
grader's own words and the student's own short error texts, never another file's contents.

An answer can put anything into an exception's message: the text of a file it managed to
read, a path that tells where the course lives. Every text that came from the student's
process or from a traceback goes through here before it reaches a message:

* ``clip_error``: an exception's text is cut to ``ERROR_CHARS`` characters;
* ``scrub``: absolute paths lose everything but their last part (the course folder, the
  Python installation, the temporary and home folders become ``<course>``, ``<python>``,
  ``<tmp>``, ``<home>``), any line that is a line of one of the course's private files
  (autograder/, the reference library, solutions/) is replaced by a note, and the whole
  message is capped at ``MESSAGE_CHARS``.
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import tempfile
from pathlib import Path

__all__ = ["ERROR_CHARS", "MESSAGE_CHARS", "clip_error", "scrub"]

ERROR_CHARS = 300
MESSAGE_CHARS = 4000
_REDACTED = "[a line of a course file, removed by the grader]"
_MIN_LINE = 12  # shorter lines ("return out", "else:") say nothing of a file
_CUT = " ... (truncated)"


def clip_error(text: str | None, limit: int = ERROR_CHARS) -> str | None:
    """An exception's text (from the student's process, or a traceback) cut to ``limit``."""
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= limit else text[: limit - 16].rstrip() + _CUT


def _course_root() -> Path:
    return Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def _places() -> tuple[tuple[str, str], ...]:
    """(absolute prefix, placeholder), longest first, so the most specific one wins."""
    candidates = {
        str(_course_root()): "<course>",
        sys.prefix: "<python>",
        sys.base_prefix: "<python>",
        sys.exec_prefix: "<python>",
        tempfile.gettempdir(): "<tmp>",
        os.path.expanduser("~"): "<home>",
    }
    found = {}
    for path, name in candidates.items():
        for variant in {path, os.path.realpath(path)}:
            if variant and variant not in ("/", "."):
                found[variant.rstrip("/")] = name
    return tuple(sorted(found.items(), key=lambda item: -len(item[0])))


# An absolute path of two or more parts that is not inside a word (so "a/b" and "1/2" stay).
_ABSOLUTE = re.compile(r"(?<![\w.~<>-])/(?:[\w.@+-]+/)+[\w.@+-]*")


def _short_path(match: re.Match) -> str:
    parts = [p for p in match.group(0).split("/") if p]
    return "<path>/" + parts[-1] if parts else match.group(0)


@functools.lru_cache(maxsize=1)
def _private_lines() -> frozenset[str]:
    """Lines (stripped) of the course files a student must never see: the grader, the hidden
    cases, the reference library, the solution notebooks."""
    root = _course_root()
    lines: set[str] = set()
    files = [*(root / "autograder").rglob("*.py"), *(root / "lib" / "convlab").rglob("*.py")]
    for path in files:
        try:
            lines.update(line.strip() for line in path.read_text(errors="replace").splitlines())
        except OSError:
            continue
    for path in (root / "solutions").rglob("*.ipynb"):
        try:
            cells = json.loads(path.read_text(errors="replace")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            lines.update(line.strip() for line in source.splitlines())
    return frozenset(line for line in lines if len(line) >= _MIN_LINE)


def _redact(line: str, private: frozenset[str]) -> str:
    """The line, or a note where it is (or ends with, after "Error: " and the like) a line
    of a private file."""
    stripped = line.strip()
    tails = [stripped] + [stripped[i + 2:].strip() for i in range(len(stripped)) if stripped.startswith(": ", i)]
    if any(len(tail) >= _MIN_LINE and tail in private for tail in tails):
        return _REDACTED
    if stripped.endswith(_CUT):  # a line cut by clip_error: the start of a private line?
        start = stripped[: -len(_CUT)].strip()
        if len(start) >= _MIN_LINE and any(p.startswith(start) for p in private):
            return _REDACTED + _CUT
    return line


def scrub(text: str | None, limit: int = MESSAGE_CHARS) -> str:
    """``text`` without absolute paths or lines of the course's private files, at most
    ``limit`` characters."""
    if not text:
        return "" if text is None else text
    text = str(text)
    if len(text) > 4 * limit:
        text = text[: 4 * limit]  # no work on a message that will be cut anyway
    for prefix, placeholder in _places():
        text = text.replace(prefix + "/", placeholder + "/")
        text = re.sub(re.escape(prefix) + r"(?![\w.-])", placeholder, text)
    text = _ABSOLUTE.sub(_short_path, text)
    private = _private_lines()
    text = "\n".join(_redact(line, private) for line in text.split("\n"))
    # Redactions with only blank or short lines between them are one.
    text = re.sub(re.escape(_REDACTED) + r"(?:\n(?:.{0,%d}\n)*?" % _MIN_LINE + re.escape(_REDACTED) + ")+",
                  _REDACTED, text)
    return text if len(text) <= limit else text[: limit - 16].rstrip() + _CUT
