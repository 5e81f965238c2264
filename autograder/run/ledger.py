"""The run ledger: which submissions are graded already, and what they scored.

A regrade grades a submission again only when something that decides its grade changed.
``job_key`` names one job by all of that: the bytes of each notebook handed in, the seed
(through a digest of the course secret, never the secret itself, and the submission's
timestamp, which enters the hidden cases' key), the grading code (``grading_code_digest``),
the limits, the assignment and the student. The ``Ledger`` keeps, per key, the result the
grader produced, committed as each job finishes: a run that is killed loses at most the jobs
in flight, and the next run finds every finished one and grades only the rest.

Payloads are JSON only, checked on the way in. The ledger lies in the instructor's output
folder, written only by the grader, yet what it holds quotes students (messages, feedback
pages): stored as JSON, a forged or corrupted entry can at worst carry wrong text or
numbers, never run code as unpickling would.

SQLite in WAL mode: several processes may read and write one ledger at once (on a local
disk; SQLite's WAL does not work on network file systems).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["KEY_PATTERN", "job_key", "seed_digest", "grading_code_digest", "Ledger"]

KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
_DIGEST_PATTERN = re.compile(r"[0-9a-f]{32,128}")
_KEY_VERSION = "convlab-job-key-v1"

# Packages whose versions can change a score (numerics, nbgrader's reading of notebooks).
_VERSIONED = ("torch", "numpy", "nbgrader", "nbformat", "nbconvert", "nbclient")
# Folders of the autograder package that decide no grade: instructor data written by
# every grading (autograder/work/, the gradebook among it: it would change the digest
# on every run) and the hostile example students the tests grade.
_EXCLUDED = {("autograder", "work"), ("autograder", "examples")}


def _check_digest(name: str, value: str) -> str:
    if not isinstance(value, str) or not _DIGEST_PATTERN.fullmatch(value):
        raise ValueError(f"{name} must be a lowercase hex digest (32 to 128 hex digits), "
                         f"got {value!r:.80}")
    return value


def _check_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r:.80}")
    return value


def job_key(notebooks: Mapping[str, bytes], seed_digest: str, code_digest: str,
            assignment: str, student: str, *, timestamp: str | None = None,
            limits: Mapping[str, object] | None = None) -> str:
    """The ledger key of one grading job: sha256 (hex) over a canonical JSON encoding of
    everything that decides its grade. ``notebooks`` maps a notebook's name to the bytes
    handed in (each enters as its sha256); ``seed_digest`` is a digest of the secret
    (``seed_digest()``), never the secret; ``timestamp`` is the submission's timestamp as
    the hidden cases' key reads it; ``limits`` the job's budgets (JSON-able values)."""
    if not isinstance(notebooks, Mapping):
        raise ValueError(f"notebooks must map names to bytes, got {type(notebooks).__name__}")
    contents = {}
    for name, content in notebooks.items():
        _check_id("a notebook's name", name)
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise ValueError(f"notebook {name!r} must be bytes, got {type(content).__name__}")
        contents[name] = hashlib.sha256(bytes(content)).hexdigest()
    if timestamp is not None and not isinstance(timestamp, str):
        raise ValueError(f"timestamp must be a string or None, got {type(timestamp).__name__}")
    document = {
        "version": _KEY_VERSION,
        "assignment": _check_id("assignment", assignment),
        "student": _check_id("student", student),
        "seed": _check_digest("seed_digest", seed_digest),
        "code": _check_digest("code_digest", code_digest),
        "timestamp": timestamp,
        "limits": dict(limits) if limits is not None else None,
        "notebooks": contents,
    }
    try:
        # sort_keys and fixed separators: one encoding per content, whatever the dict order.
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"limits must hold JSON values only (and no NaN): {exc}") from None
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def seed_digest(secret: bytes) -> str:
    """What enters a job key for the course secret: its fingerprint (an HMAC of a fixed
    text under the secret, ``autograder.secret.fingerprint``), which tells nothing of it."""
    from ..secret import fingerprint

    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the course secret must be non-empty bytes")
    return fingerprint(secret)


def _tree_files(folder: Path, top: str):
    """(relative path, file) under ``folder``, skipping caches, dot-files and _EXCLUDED."""
    for current, dirs, files in os.walk(folder):
        here = Path(current)
        relative = (top, *here.relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__"
                         and (*relative, d)[:2] not in _EXCLUDED)
        for name in sorted(files):
            if name.startswith(".") or name.endswith((".pyc", ".pyo")):
                continue
            yield "/".join((*relative, name)), here / name


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": sys.version.split()[0]}
    for package in _VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


@functools.cache
def _code_digest(autograder: Path, convlab: Path, root: Path) -> str:
    digest = hashlib.sha256(b"convlab-grading-code-v1\n")
    digest.update(json.dumps(_versions(), sort_keys=True).encode() + b"\n")
    parts = [("autograder", autograder), ("convlab", convlab), ("solutions", root / "solutions")]
    for top, folder in parts:
        if not folder.is_dir():
            digest.update(f"missing {top}\n".encode())
            continue
        for relative, path in _tree_files(folder, top):
            digest.update(f"{relative}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n"
                          .encode("utf-8", "surrogateescape"))
    config = root / "nbgrader_config.py"
    content = config.read_bytes() if config.is_file() else b"missing"
    digest.update(b"nbgrader_config.py\0" + hashlib.sha256(content).digest() + b"\n")
    return digest.hexdigest()


def grading_code_digest(root: str | os.PathLike | None = None) -> str:
    """A digest (sha256 hex) of everything that decides a grade: the autograder package
    (its hidden cases and templates among it; not autograder/work/ nor the example
    students), the convlab package, the source notebooks under solutions/, the course's
    nbgrader_config.py, and the versions of Python and of the packages whose numerics or
    notebook reading could change a score. Computed once per process and root: a run
    grades with the code it started with. ``root`` (tests) is a course folder laid out as
    the repository is (autograder/, lib/convlab/, solutions/, nbgrader_config.py)."""
    if root is None:
        from importlib.util import find_spec

        # find_spec locates the package without importing it (convlab imports torch).
        spec = find_spec("convlab")
        if spec is None or not spec.submodule_search_locations:
            raise ValueError("the convlab package is not installed: no grading code to digest")
        here = Path(__file__).resolve()
        return _code_digest(here.parents[1], Path(spec.submodule_search_locations[0]).resolve(),
                            here.parents[2])
    root = Path(root).resolve()
    return _code_digest(root / "autograder", root / "lib" / "convlab", root)


grading_code_digest.cache_clear = _code_digest.cache_clear  # tests: a digest after an edit


# --- the ledger --------------------------------------------------------------------------

# "cvlg": tells a convlab ledger from any other SQLite file (PRAGMA application_id).
_APPLICATION_ID = 0x63766C67
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS graded (
    key TEXT PRIMARY KEY NOT NULL,
    payload BLOB NOT NULL,
    recorded TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise ValueError(f"a ledger key is a sha256 hex digest (job_key), got {key!r:.80}")
    return key


class Ledger:
    """The graded jobs of an output folder: key -> the grader's result (JSON bytes).

    Each ``put`` is its own transaction, durable when it returns (WAL, synchronous=FULL):
    a kill at any moment leaves every earlier ``put`` readable and no half-written one.
    Several processes may use one file at once; one object may be shared by threads."""

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                       check_same_thread=False)
            self._open()
        except sqlite3.DatabaseError as exc:
            if getattr(self, "_db", None) is not None:
                self._db.close()
            raise ValueError(f"{self.path} is not a convlab ledger ({exc}): move it away "
                             "(every job is then graded again)") from None

    def _open(self) -> None:
        db = self._db
        application = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if application not in (0, _APPLICATION_ID) or (application == 0 and tables):
            raise sqlite3.DatabaseError("another program's SQLite database")
        if version > _SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"written by a newer convlab (schema {version})")
        if db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.DatabaseError("its journal cannot be put in WAL mode")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None."""
        _check_key(key)
        with self._lock:
            row = self._db.execute("SELECT payload FROM graded WHERE key=?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored payloads of those ``keys`` that have one (the jobs a run may skip)."""
        wanted = sorted({_check_key(key) for key in keys})
        found = {}
        with self._lock:
            for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found.update((key, bytes(payload)) for key, payload in self._db.execute(
                    f"SELECT key, payload FROM graded WHERE key IN ({marks})", chunk))
        return found

    def put(self, key: str, payload: bytes) -> None:
        """Store ``payload`` (UTF-8 JSON) under ``key``, replacing any earlier one, in one
        committed transaction."""
        _check_key(key)
        if not isinstance(payload, (bytes, bytearray)):
            raise ValueError(f"a ledger payload is bytes of JSON, got {type(payload).__name__}")
        try:
            json.loads(bytes(payload).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"a ledger payload must be UTF-8 JSON ({exc})") from None
        with self._lock:
            self._db.execute("INSERT INTO graded (key, payload) VALUES (?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET payload=excluded.payload, recorded=excluded.recorded",
                             (key, bytes(payload)))

    def get_json(self, key: str):
        """The stored payload, decoded, or None."""
        payload = self.get(key)
        return None if payload is None else json.loads(payload.decode("utf-8"))

    def put_json(self, key: str, value) -> None:
        """Store a JSON-able ``value`` (NaN and infinities refused: JSON has none)."""
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a ledger payload must be JSON-able: {exc}") from None
        self.put(key, text.encode("utf-8"))

    def keys(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM graded")}

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM graded").fetchone()[0]

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def forget_except(self, keys: Iterable[str]) -> int:
        """Remove every entry whose key is not in ``keys`` (the jobs of the present run):
        results of submissions since replaced, of code since changed. Returns how many
        went. One transaction: a kill leaves the ledger as before or as after."""
        keep = {_check_key(key) for key in keys}
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (key TEXT PRIMARY KEY)")
                db.execute("DELETE FROM temp.keep")
                db.executemany("INSERT INTO temp.keep VALUES (?)", ((key,) for key in keep))
                gone = db.execute("DELETE FROM graded WHERE key NOT IN (SELECT key FROM temp.keep)"
                                  ).rowcount
                db.execute("DELETE FROM temp.keep")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return gone

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
