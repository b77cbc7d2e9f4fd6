"""A throwaway PostgreSQL cluster for the local stack and the tests.

The cluster lives in a state folder, listens on loopback only and authenticates
with a random password (scram-sha-256) that is written to a libpq passfile, so
no password ever appears in a DSN, a log or a default. initdb refuses to run as
root, so when we are root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from riskwatch.stack.errors import StackError

SUPERUSER = "riskwatch"
DATABASE = "riskwatch"
SYSTEM_USER = "postgres"


def find_postgres_bin_dir(configured: Path | None) -> Path | None:
    """The folder holding initdb and pg_ctl: the setting, PATH, then Debian's layout."""
    if configured is not None:
        return configured if (configured / "pg_ctl").is_file() else None
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(versions[0]).parent if versions else None


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class LocalPostgres:
    """One cluster: `data_dir` for the server, `secrets_dir` for the passfile."""

    bin_dir: Path
    home: Path
    secrets_dir: Path
    host: str
    port: int

    @classmethod
    def in_state_dir(cls, bin_dir: Path, state_dir: Path, host: str, port: int) -> LocalPostgres:
        return cls(bin_dir, _reachable_home(state_dir), state_dir / "secrets", host, port)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def passfile(self) -> Path:
        return self.secrets_dir / "pgpass"

    @property
    def dsn(self) -> str:
        return (
            f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{DATABASE}"
            f"?passfile={self.passfile}&connect_timeout=5"
        )

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / argv[0]), *argv[1:]]
        if _as_root():
            cmd = ["runuser", "-u", SYSTEM_USER, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file() and self.passfile.is_file()

    def initialize(self) -> None:
        """Create the cluster with a fresh random password, once."""
        if self.initialized():
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # half-made by an interrupted earlier run
        self.home.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        password = secrets.token_urlsafe(24)
        pwfile = self.home / ".initdb-password"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if _as_root():
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.home, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--no-instructions",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed: {_last_line(result)}")
        passfile = self.passfile
        passfile.write_text(f"{self.host}:{self.port}:*:{SUPERUSER}:{password}\n")
        passfile.chmod(0o600)

    def start(self, timeout_seconds: float) -> None:
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.home}"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(int(timeout_seconds)),
            "-o",
            options,
            "start",
        )
        if result.returncode != 0:
            raise StackError(
                f"PostgreSQL did not start: {_last_line(result)} (log: {self.log_file})"
            )
        self._create_database()

    def _create_database(self) -> None:
        import psycopg

        admin = self.dsn.replace(f"/{DATABASE}?", "/postgres?")
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        """pg_ctl's own answer: a stale postmaster.pid does not count."""
        if not (self.data_dir / "PG_VERSION").is_file():
            return False
        return self._run("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0

    def stop(self) -> None:
        if not self.running():
            return
        result = self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        if result.returncode != 0 and self.running():
            raise StackError(f"PostgreSQL did not stop: {_last_line(result)}")


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or result.stdout or "").strip().splitlines()
    return text[-1] if text else f"exit code {result.returncode}"


def _reachable_home(state_dir: Path) -> Path:
    """`<state>/postgres`, or a folder under /var/tmp when the postgres user can't reach it.

    As root, the server runs as `postgres`, which cannot enter a checkout under a
    private home folder such as /root. Rather than loosen that folder's mode, the
    cluster then lives in /var/tmp under a name derived from the state folder.
    """
    home = state_dir / "postgres"
    if not _as_root():
        return home
    probe = subprocess.run(
        ["runuser", "-u", SYSTEM_USER, "--", "test", "-x", str(_existing_ancestor(home))],
        capture_output=True,
        check=False,
    )
    if probe.returncode == 0:
        return home
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    return Path("/var/tmp") / f"riskwatch-postgres-{digest}"


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
