"""A throwaway PostgreSQL server on loopback, for the tests of the gradebook.

Started from the Debian binaries (/usr/lib/postgresql/<version>/bin, or wherever pg_ctl is
on PATH) into a fresh data folder, listening on 127.0.0.1 only at a free port, with a
random password (scram-sha-256), its Unix socket in the same private folder. Stopped at
the end by its postmaster's process id (SIGQUIT: PostgreSQL's immediate shutdown).

PostgreSQL refuses to run as root (initdb: "cannot be run as root"). As root, the server
runs as the unprivileged user ``nobody`` (runuser/setpriv from util-linux): its folder is
made outside pytest's tmp_path (whose parent is root's, mode 0700, which nobody cannot
enter) and handed to that user.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

UNPRIVILEGED = "nobody"


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl, or None where PostgreSQL is not installed."""
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").exists():
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def missing_reason() -> str | None:
    """Why no server can be started here, or None."""
    if binaries() is None:
        return ("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: "
                "`apt-get install postgresql` (.ci/run does)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED)
        except KeyError:
            return f"running as root and there is no user {UNPRIVILEGED!r} to run PostgreSQL as"
        if not (shutil.which("runuser") or shutil.which("setpriv")):
            return "running as root without runuser or setpriv to run PostgreSQL as another user"
    return None


def _as_owner(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", UNPRIVILEGED, "--", *command]
    return ["setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups",
            *command]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as server: server.url("dbname")``."""

    user = "postgres"

    def __init__(self):
        self.folder: Path | None = None
        self.pid: int | None = None
        self.port: int | None = None
        self.password = secrets.token_hex(16)

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                             password=self.password, dbname="postgres", autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> "PostgresServer":
        reason = missing_reason()
        if reason:
            raise RuntimeError(reason)
        bin_dir = binaries()
        # As root, in /tmp: a TMPDIR under root's home would be closed to the server's user.
        where = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
        self.folder = Path(tempfile.mkdtemp(prefix="convlab-pg-", dir=where))
        password_file = self.folder / "password"
        password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam(UNPRIVILEGED)
            for path in (self.folder, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        data = self.folder / "data"
        subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", self.user,
                                  f"--pwfile={password_file}", "--auth-host=scram-sha-256",
                                  "--auth-local=scram-sha-256", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True, cwd=self.folder)
        password_file.unlink()
        # A port free a moment ago can be taken before the server binds it: try another.
        for attempt in range(3):
            self.port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
                       "-c fsync=off -c full_page_writes=off -c max_connections=50")
            started = subprocess.run(
                _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
                           str(self.folder / "server.log"), "-w", "-t", "60", "-o", options,
                           "start"]),
                capture_output=True, text=True, cwd=self.folder)
            if started.returncode == 0:
                self.pid = int((data / "postmaster.pid").read_text().split()[0])
                return self
        log = (self.folder / "server.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log}")

    def stop(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                # Immediate shutdown: the data is thrown away, so no checkpoint is owed.
                os.kill(self.pid, signal.SIGQUIT)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(self.pid, 0)
                    time.sleep(0.02)
                os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
