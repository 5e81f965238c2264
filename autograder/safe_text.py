"""Text a student controls, made safe for where the instructor reads it.

Student ids, file names and messages that quote a student's exception come from
submissions. Three places would otherwise act on them:

* the terminal: ESC sequences move the cursor, rewrite earlier lines (a fake score),
  or set the clipboard (OSC 52); C1 controls do the same on some terminals; bidi
  overrides make ``evil.ipynb`` look like something else. ``terminal`` escapes them all.
* spreadsheets: a CSV cell starting with ``= + - @`` (or TAB / CR, which some spreadsheets
  skip before looking) is a formula (``=HYPERLINK(...)``). ``csv_cell`` prefixes a single
  quote, as OWASP's "CSV injection" page recommends.
* the file system: an id is a folder name. ``student_id`` refuses what could climb out of
  the folder or hurt a later tool; ``inside`` asserts a path built from one stays put.
"""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

__all__ = ["terminal", "csv_cell", "student_id", "id_key", "inside", "MAX_ID_LENGTH",
           "RESERVED_IDS", "visible_controls"]

# Every character a terminal may act on, or that changes how the rest of a line reads:
# C0 controls (ESC, BEL, BS, CR, ...) but TAB and LF, DEL, C1 controls (U+0080..U+009F,
# CSI and OSC among them), the bidi embeddings/overrides/isolates, zero-width and other
# invisible format characters (category Cf), line/paragraph separators.
_UNSAFE_TERMINAL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]"
)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: object) -> str:
    """``text`` with every control, bidi and invisible format character written as a
    visible escape (``\\x1b``, ``\\u202e``); TAB and newline kept."""
    text = str(text)
    text = _UNSAFE_TERMINAL.sub(lambda m: _escape(m.group()), text)
    # Anything else of category Cf/Cc/Cs/Co that the pattern above does not list.
    return "".join(_escape(c) if ord(c) > 0x9f
                   and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") else c for c in text)


# OWASP, "CSV Injection": cells beginning with these are formulas in Excel, LibreOffice,
# Google Sheets; TAB and CR are skipped by some before they look.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell no spreadsheet reads as a formula (a leading single quote
    where it could start one) and no viewer acts on (control, bidi and invisible format
    characters escaped as in ``terminal``: `cat grades.csv` is a terminal too). Numbers
    written by the grader are not passed here."""
    raw = str(value)
    text = terminal(raw)
    return "'" + text if raw.startswith(_FORMULA_START) or text.startswith(_FORMULA_START) else text


# The characters that change how text around them shows or what a terminal does, but not
# those that join letters or emoji (ZWJ, ZWNJ): C0 but TAB and LF, DEL, C1, bidi controls.
_UNSAFE_SHOWN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible_controls(text: object) -> str:
    """``text`` with control and bidi characters written as visible escapes, for what a
    student wrote that pages show (a reflection, a stream output): an ANSI sequence shown
    is text, where one rendered would be styling."""
    return _UNSAFE_SHOWN.sub(lambda m: _escape(m.group()), str(text))


MAX_ID_LENGTH = 64
# Words the outputs use for what is no student: similarity.csv's ``reference`` (the
# solution). A student with such an id would be indistinguishable from it.
RESERVED_IDS = frozenset({"reference"})
# A character no id may hold: path separators and controls (bidi and invisible ones are
# caught by comparing with ``terminal``).
_ID_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]")
_ID_ALLOWED = re.compile(r"[\w.@+-]+")


def student_id(raw: str) -> str:
    """The student id ``raw`` NFC-normalised, or ValueError saying why it is refused.

    Refused: empty, ``.``, ``..``, a path separator, a control / bidi / invisible
    character, a leading ``-`` (read as an option by tools), a leading ``.`` (hidden),
    white space around it, longer than MAX_ID_LENGTH characters, and any character but
    letters, digits (any script), ``_ . @ + -``: an id also lands in HTML (the
    formgrader's lists), URLs and instructors' shell commands, where quotes, ``<``,
    ``=`` or ``(`` would be read as more than a name. So ``=HYPERLINK(...)`` is refused
    here; ``csv_cell`` still neutralises ``+`` / ``@`` ids and every message."""
    if not isinstance(raw, str):
        raise ValueError(f"a student id must be text, got {type(raw).__name__}")
    name = unicodedata.normalize("NFC", raw)
    shown = terminal(name)[:80]
    if not name.strip():
        raise ValueError("empty student id")
    if name in (".", ".."):
        raise ValueError(f"student id '{shown}' names a folder, not a student")
    if len(name) > MAX_ID_LENGTH:
        raise ValueError(f"student id '{shown}'... is longer than {MAX_ID_LENGTH} characters")
    if _ID_FORBIDDEN.search(name) or terminal(name) != name:
        raise ValueError(f"student id '{shown}' holds a path separator or a control character")
    if name != name.strip():
        raise ValueError(f"student id '{shown}' starts or ends with white space")
    if name.startswith(("-", ".")):
        raise ValueError(f"student id '{shown}' starts with {name[0]!r}")
    if id_key(name) in RESERVED_IDS:
        raise ValueError(f"student id '{shown}' is reserved: the outputs use it for the "
                         "course's solution")
    if not _ID_ALLOWED.fullmatch(name):
        odd = sorted({c for c in name if not _ID_ALLOWED.fullmatch(c)})
        raise ValueError(f"student id '{shown}' holds {''.join(odd)!r}: only letters, digits "
                         "and _ . @ + - are allowed")
    return name


# Letters of other scripts that look like Latin ones in most fonts (the commonest of
# Unicode's confusables, UTS #39): enough to flag "аda" (Cyrillic а) beside "ada".
_LOOK_ALIKES = str.maketrans(
    "аеорсухіјѕԁһӏԛԝвкмнтАВЕКМНОРСТХІЈЅ" "οαινρτυκχεΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhlqwbkmhtABEKMHOPCTXIJS" "oaivptukxeABEZHIKMNOPTYX",
)


def id_key(name: str) -> str:
    """What two ids must not share to be told apart by a person or a case-insensitive
    file system: NFKC-normalised, common look-alike letters mapped to Latin, case-folded."""
    return unicodedata.normalize("NFKC", name).translate(_LOOK_ALIKES).casefold()


def inside(base: Path, *parts: str) -> Path:
    """``base / parts...``, asserted (ValueError) to stay inside ``base`` once resolved."""
    base = Path(base)
    path = base.joinpath(*parts)
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base or real == real_base and parts:
        raise ValueError(f"{terminal(os.path.join(*parts))!r} leaves {base}")
    return path
