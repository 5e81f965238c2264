"""The course secret: what makes each student's hidden cases unknowable before grading.

The hidden-case generators are public code; what a student cannot know is their seed,
HMAC-SHA256(course secret, assignment, exercise, student, attempt) (``hidden_cases.SeedKey``).
The secret is 256 random bits in a file outside the repository, readable by its owner only,
created on first use:

1. ``$CONVLAB_SECRET_FILE`` when set (tests point it at a temporary file);
2. else ``c.TrustedGrade.secret_file`` in nbgrader_config.py when set;
3. else ``$XDG_CONFIG_HOME/convlab/course_secret`` (``~/.config/convlab/course_secret``).

Keep it as long as grades may be regraded: a new secret draws new cases for everyone.
Never commit it, never copy it into what students get; a secret inside the course folder
(where git or ``convlab release`` could pick it up) is refused.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

__all__ = ["ENV", "MIN_BITS", "secret_path", "course_secret"]

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
