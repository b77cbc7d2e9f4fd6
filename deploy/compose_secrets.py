#!/usr/bin/env python3
"""The secret files docker-compose.grafana.yml reads, made and handed to their readers.

    python3 deploy/compose_secrets.py generate secrets   # make what is missing
    sudo python3 deploy/compose_secrets.py own secrets   # give each file to its reader

`generate` creates, only where missing, the secrets no operator should have to invent:
the PostgreSQL superuser's password (`postgres_password`, the postgres container only),
Grafana's admin password, the receiver token, the console's cookie key
(`receiver_session_key`), an empty `smtp_password` (no SMTP login)
and, per database role, two files of one password:

- `db_<role>.pass`: a libpq passfile line, the service's (its DSN names it: `passfile=`);
- `db_<role>.scram`: the SCRAM-SHA-256 verifier of that password, which the postgres
  image's init script sets as the role's password: the database never holds the
  password itself, and a verifier does not log anyone in.

`own` chowns and chmods every known file to the one uid that reads it in its container
(compose bind-mounts file secrets with their host owner and mode, and ignores a
secret's uid/gid/mode). libpq ignores a passfile that its group or others may read,
hence 0600 and the service's uid. Standard library only: any python3 runs it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

DB_ROLES = ("receiver", "trading", "health", "tradestore")
"""The services that log in to PostgreSQL, each as its own role (roles.sql)."""

RISKWATCH_UID = 10001  # USER riskwatch in the Dockerfile
NOBODY_UID = 65534  # prom/prometheus, prom/pushgateway, prom/alertmanager
POSTGRES_UID = 70  # postgres in the alpine-based timescale/timescaledb image
GRAFANA_UID = 472  # grafana/grafana

OWNERS: dict[str, tuple[int, int, int]] = {
    "postgres_password": (POSTGRES_UID, POSTGRES_UID, 0o600),
    "grafana_admin_password": (GRAFANA_UID, 0, 0o600),
    # The admin token: the receiver and the health agent's report (riskwatch).
    "receiver_token": (RISKWATCH_UID, RISKWATCH_UID, 0o600),
    # The key that signs the receiver console's session cookies: the receiver only.
    "receiver_session_key": (RISKWATCH_UID, RISKWATCH_UID, 0o600),
    # Alertmanager's webhook-only credential: Alertmanager (nobody) and the receiver.
    "receiver_webhook_token": (RISKWATCH_UID, NOBODY_UID, 0o640),
    "pushgateway_auth": (RISKWATCH_UID, RISKWATCH_UID, 0o600),
    "pushgateway_password": (NOBODY_UID, NOBODY_UID, 0o600),
    "pushgateway_web.yml": (NOBODY_UID, NOBODY_UID, 0o600),
    "slack_api_url": (NOBODY_UID, NOBODY_UID, 0o600),
    # The PagerDuty Events API v2 routing key: Alertmanager's routing_key_file.
    "pagerduty_routing_key": (NOBODY_UID, NOBODY_UID, 0o600),
    "smtp_password": (NOBODY_UID, NOBODY_UID, 0o600),
    **{f"db_{role}.pass": (RISKWATCH_UID, RISKWATCH_UID, 0o600) for role in DB_ROLES},
    # A verifier is no password; the postgres init script reads it as the postgres user.
    **{f"db_{role}.scram": (POSTGRES_UID, POSTGRES_UID, 0o644) for role in DB_ROLES},
}
"""Each secret file: (owner uid, group gid, mode) as its reader needs it."""

SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677).

    PostgreSQL applies SASLprep to the password first, which leaves ASCII as it is; the
    passwords made here are ASCII.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def passfile_line(password: str) -> str:
    """A libpq passfile line matching any host, port, database and user: the DSN that
    names the file also names the one role it is for."""
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:*:{escaped}\n"


def passfile_password(line: str) -> str:
    """The password of a passfile line written by `passfile_line`."""
    fields: list[str] = []
    current: list[str] = []
    chars = iter(line.rstrip("\n"))
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    if len(fields) != 4:
        raise ValueError("not a passfile line: host:port:database:user:password")
    return "".join(current)


def write_new(path: Path, text: str, mode: int) -> None:
    """Create `path` with `text`, at `mode` from the first byte; never overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def generate(folder: Path) -> list[str]:
    """Create every missing generated secret in `folder`; returns the names made."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    made: list[str] = []

    def make(name: str, text: str, mode: int = 0o600) -> None:
        if not (folder / name).exists():
            write_new(folder / name, text, mode)
            made.append(name)

    make("postgres_password", secrets.token_urlsafe(32))
    make("grafana_admin_password", secrets.token_urlsafe(24))
    make("receiver_token", secrets.token_urlsafe(32))
    make("receiver_webhook_token", secrets.token_urlsafe(32))
    make("receiver_session_key", secrets.token_urlsafe(32))
    make("smtp_password", "")
    for role in DB_ROLES:
        passfile = folder / f"db_{role}.pass"
        make(passfile.name, passfile_line(secrets.token_urlsafe(32)))
        # From the passfile, so an existing password keeps working.
        make(f"db_{role}.scram", scram_verifier(passfile_password(passfile.read_text())), 0o644)
    return made


def own(folder: Path) -> list[str]:
    """Give each known secret in `folder` to the uid that reads it; returns those done."""
    done: list[str] = []
    for name, (uid, gid, mode) in OWNERS.items():
        path = folder / name
        if path.is_file() and not path.is_symlink():
            os.chown(path, uid, gid)
            path.chmod(mode)
            done.append(name)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("generate", "own"))
    parser.add_argument("folder", type=Path, help="the compose secrets folder, e.g. secrets")
    args = parser.parse_args(argv)
    if args.command == "generate":
        made = generate(args.folder)
        print(f"made: {', '.join(made)}" if made else "nothing missing")
        return 0
    if os.geteuid() != 0:
        print("own: run as root (chown to the containers' uids)", file=sys.stderr)
        return 2
    print(f"owned: {', '.join(own(args.folder))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
