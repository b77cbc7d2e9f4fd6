"""A throwaway PostgreSQL cluster for the local stack and the tests.

The cluster lives in a state folder, listens on loopback only and authenticates
with a random password (scram-sha-256) that is written to a libpq passfile, so
no password ever appears in a DSN, a log or a default. initdb refuses to run as
root, so when we are root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from riskwatch.settings import STATE_SECRETS
from riskwatch.stack.errors import StackError
from riskwatch.stack.processes import start_ticks
from riskwatch.stack.secrets import secure_dir, write_secret

SUPERUSER = "riskwatch"
DATABASE = "riskwatch"
SYSTEM_USER = "postgres"
REDACTED = "***"
"""What a DSN shows in place of its password."""
HOME_POINTER = "postgres-home"
"""A file in the state folder naming the cluster's home when it lives outside it."""


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for printing.

    Parsed with libpq's own conninfo rules, so a URL (`user:pw@host`, `?password=`)
    and the key=value form are both covered; a DSN libpq cannot parse is not shown.
    """
    try:
        params = conninfo_to_dict(dsn)
    except ProgrammingError:
        return "<a DSN libpq cannot parse, not shown>"
    if "password" not in params:
        return dsn
    params["password"] = REDACTED
    return make_conninfo("", **params)


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
    def in_state_dir(
        cls, bin_dir: Path, state_dir: Path, host: str, port: int, *, create: bool = False
    ) -> LocalPostgres:
        """The cluster of `state_dir`; with `create`, its home is made if it must live
        outside the state folder (as root)."""
        home = _reachable_home(state_dir, create)
        return cls(bin_dir, home, state_dir / STATE_SECRETS, host, port)

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
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        secure_dir(self.secrets_dir)
        password = secrets.token_urlsafe(24)
        pwfile = write_secret(self.home / ".initdb-password", password + "\n")
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
        write_secret(self.passfile, f"{self.host}:{self.port}:*:{SUPERUSER}:{password}\n")

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
        return _postmaster_pid(self.data_dir)

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


def _reachable_home(state_dir: Path, create: bool) -> Path:
    """`<state>/postgres`, or a private folder under /var/tmp when the postgres user
    cannot reach the state folder.

    As root, the server runs as `postgres`, which cannot enter a checkout under a
    private home folder such as /root. Rather than loosen that folder's mode, the
    cluster then lives in a folder `mkdtemp` makes (a name nobody can predict, 0700,
    created by us), named in `<state>/postgres-home`. A folder is never adopted
    because it exists at an expected path: only the one the pointer names, and only
    if it is still a private directory of ours or of the postgres user.
    """
    home = state_dir / "postgres"
    if not _as_root():
        return home
    recorded = _recorded_home(state_dir)
    if recorded is not None:
        return recorded
    # runuser from the system's PATH: only root gets here, with root's PATH.
    probe = subprocess.run(  # nosec B607
        ["runuser", "-u", SYSTEM_USER, "--", "test", "-x", str(_existing_ancestor(home))],
        capture_output=True,
        check=False,
    )
    if probe.returncode == 0 or not create:
        return home  # without `create`: nothing is there yet, and nothing is made
    made = Path(tempfile.mkdtemp(prefix="riskwatch-postgres-", dir=_temp_root()))
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / HOME_POINTER).write_text(f"{made}\n")
    return made


def remove_cluster(state_dir: Path) -> Path | None:
    """Delete the stopped cluster of `state_dir` and its data, wherever it lives: inside
    the state folder, or the private home `<state>/postgres-home` names (which removing
    the state folder alone would leave behind). Returns what was removed, if anything.
    Refuses, like `up`, a recorded home that is no longer private: that is not ours."""
    pointer = state_dir / HOME_POINTER
    home = _recorded_home(state_dir) or state_dir / "postgres"
    if not home.exists():
        pointer.unlink(missing_ok=True)
        return None
    postmaster = _postmaster_pid(home / "data")
    if postmaster is not None and start_ticks(postmaster) is not None:
        raise StackError(f"the PostgreSQL cluster in {home} is running: stop the stack first")
    shutil.rmtree(home)
    pointer.unlink(missing_ok=True)
    return home


def _recorded_home(state_dir: Path) -> Path | None:
    """The home `<state>/postgres-home` names, refused unless still private; None when
    no pointer was written (the cluster, if any, is `<state>/postgres`)."""
    pointer = state_dir / HOME_POINTER
    if not pointer.is_file():
        return None
    recorded = Path(pointer.read_text().strip())
    _check_private(recorded, pointer)
    return recorded


def _postmaster_pid(data_dir: Path) -> int | None:
    """The pid `data_dir`'s postmaster.pid records, if any (it may be stale)."""
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _temp_root() -> str:
    # /var/tmp survives reboots, as a cluster should; `tempfile`'s default may not.
    return "/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir()  # nosec B108


def _check_private(home: Path, pointer: Path) -> None:
    """Refuse a recorded home that is no longer a private directory of ours."""
    try:
        info = home.lstat()
    except FileNotFoundError:
        return  # gone (a reboot's cleanup, say): initialize() makes it again, 0700
    owners = {0, pwd.getpwnam(SYSTEM_USER).pw_uid}
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid not in owners
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise StackError(
            f"{home} (named in {pointer}) is not a private directory of root or "
            f"{SYSTEM_USER}: refusing to run PostgreSQL from it; remove {pointer} to "
            "start a new cluster"
        )


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
