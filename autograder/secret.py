"""The course secret: what makes each student's hidden cases unknowable before grading.

The hidden-case generators are public code; what a student cannot know is their seed,
HMAC-SHA256(course secret, assignment, exercise, student, attempt) (``hidden_cases.SeedKey``).
The secret is 256 random bits in a file outside the repository, readable by its owner only,
created on first use:

1. ``$CONVLAB_SECRET_FILE`` when set (tests point it at a temporary file);
2. else ``c.TrustedGrade.secret_file`` in nbgrader_config.py when set;
3. else ``$XDG_CONFIG_HOME/convlab/course_secret`` (``~/.config/convlab/course_secret``).

Keep it as long as grades may be regraded: a new secret draws new cases for everyone.
So a folder graded once keeps the secret's fingerprint (``FINGERPRINT_FILE``: an HMAC of a
fixed text under the secret, which tells nothing of it) and where it was; a regrade that
finds another secret, or none, refuses (``check_fingerprint``) instead of making one.
Never commit it, never copy it into what students get; a secret inside the course folder
(where git or ``convlab release`` could pick it up) is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path

__all__ = ["ENV", "MIN_BITS", "FINGERPRINT_FILE", "secret_path", "course_secret", "fingerprint",
           "check_fingerprint", "record_fingerprint", "guard_gradebook"]

FINGERPRINT_FILE = "course_secret.fingerprint"
_FINGERPRINT_TEXT = b"convlab: the fingerprint of a course secret, v1"

ENV = "CONVLAB_SECRET_FILE"
MIN_BITS = 128
_BITS = 256

_CACHE: dict[tuple, bytes] = {}


def secret_path(configured: str | os.PathLike | None = None) -> Path:
    """Where the course secret lives (see the module's docstring for the order)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    if configured:
        return Path(configured).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "convlab" / "course_secret"


def _course_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _create(path: Path) -> None:
    """Write a new secret at ``path`` atomically: of two processes creating it at once, one
    wins and both then read the winner's (a half-written file is never seen)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(_BITS // 8) + "\n")
        try:
            os.link(temporary, path)  # fails where the file exists: never overwrite a secret
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def course_secret(configured: str | os.PathLike | None = None) -> bytes:
    """The course secret's bytes, created on first use; ValueError with what to do when the
    file is unsafe (inside the course folder, readable by others, not its owner's) or too
    short."""
    path = secret_path(configured)
    if path.resolve().is_relative_to(_course_root()):
        raise ValueError(f"the course secret {path} is inside the course folder {_course_root()}, "
                         "where git or a release could carry it to students: keep it outside "
                         f"(the default is ~/.config/convlab/course_secret, or set {ENV})")
    if not path.exists():
        _create(path)
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"the course secret {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ValueError(f"the course secret {path} can be read by other users: "
                         f"run `chmod 600 {path}`")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ValueError(f"the course secret {path} belongs to another user")
    key = (str(path), info.st_mtime_ns, info.st_size, info.st_ino)
    if key not in _CACHE:
        text = path.read_text(encoding="ascii", errors="replace").strip()
        try:
            value = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"the course secret {path} is not hexadecimal text") from None
        if len(value) * 8 < MIN_BITS:
            raise ValueError(f"the course secret {path} has {len(value) * 8} bits, fewer than "
                             f"{MIN_BITS}: remove it and a new one of {_BITS} bits is made")
        _CACHE[key] = value
    return _CACHE[key]


def fingerprint(secret: bytes) -> str:
    """What tells two secrets apart without telling anything of either."""
    return hmac.new(secret, _FINGERPRINT_TEXT, hashlib.sha256).hexdigest()


def _recorded(folder: Path) -> dict | None:
    path = Path(folder) / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and isinstance(record.get("fingerprint"), str):
            return record
    except (OSError, ValueError):
        pass
    raise ValueError(f"{path} is not a course secret fingerprint written by convlab: "
                     "remove it only if you know which secret graded this folder")


def check_fingerprint(folder: Path, configured: str | os.PathLike | None = None) -> None:
    """ValueError, saying what to do, when ``folder`` was graded with another course secret
    than the one this run would use, or when that one is missing (it is then not made:
    a new secret would silently draw new hidden cases for every student)."""
    record = _recorded(folder)
    if record is None:
        return
    path = secret_path(configured)
    before = str(record.get("secret_file", "?"))
    how = (f"point {ENV} at the secret that graded it (e.g. `{ENV}={before} convlab grade "
           f"...`), or grade into a new folder")
    if not path.exists():
        raise ValueError(f"{folder} was graded with the course secret {before}, and there is "
                         f"no course secret at {path}: a new one would draw new hidden cases "
                         f"for every student. Restore it, or {how}")
    if not hmac.compare_digest(fingerprint(course_secret(configured)), record["fingerprint"]):
        raise ValueError(f"{folder} was graded with another course secret ({before}) than "
                         f"{path}: regrading would draw new hidden cases for every student. "
                         f"To regrade, {how}")


def record_fingerprint(folder: Path, configured: str | os.PathLike | None = None) -> Path:
    """Write the fingerprint of this run's course secret into ``folder``."""
    path = Path(folder) / FINGERPRINT_FILE
    record = {"fingerprint": fingerprint(course_secret(configured)),
              "secret_file": str(secret_path(configured).resolve())}
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return path


def guard_gradebook(db_url: str, configured: str | os.PathLike | None = None) -> None:
    """For ``nbgrader autograde``: the fingerprint lives beside a SQLite gradebook
    (autograder/work/ at the course root). The first grading records it; a later one with
    another secret, or none, refuses (ValueError) before any hidden case is drawn."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix) or db_url[len(prefix):] in ("", ":memory:"):
        return
    folder = Path(db_url[len(prefix):]).parent
    check_fingerprint(folder, configured)
    if not (folder / FINGERPRINT_FILE).exists():
        record_fingerprint(folder, configured)
