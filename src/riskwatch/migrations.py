"""Versioned schema migrations, shared by every part of riskwatch that owns tables.

Each owner (the receiver, the trading agent's equity store, the trade store) ships
files `NNN_name.sql` in a package folder and applies them under its own scope. Each
is applied once, in version order, in its own transaction together with its row in
`riskwatch_migrations(scope, version, name, applied_at)`, so a failed migration
leaves no trace and is tried again on the next start. Every transaction first takes
a transaction-level advisory lock: processes starting together queue up instead of
racing, and each re-reads what is applied once it holds the lock.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

log = logging.getLogger(__name__)

# Arbitrary but fixed: every riskwatch process must use the same key. ASCII "riskwatc".
ADVISORY_LOCK_KEY = 0x7269736B77617463

_FILE_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS riskwatch_migrations (
    scope text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, version)
)
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, descriptive name and SQL text."""

    version: int
    name: str
    sql: str


def load_migrations(package: str, folder: str = "migrations") -> list[Migration]:
    """The migrations shipped in `package`/`folder`, in version order.

    Raises:
        ValueError: on a misnamed file or two files with one version.
    """
    found: dict[int, Migration] = {}
    for entry in resources.files(package).joinpath(folder).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise ValueError(f"two migration files in {package} have version {version}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply_migrations(
    conn: psycopg.Connection[Any], scope: str, migrations: list[Migration]
) -> list[Migration]:
    """Apply the pending `migrations` of `scope` on `conn`; returns those applied now.

    `conn` must not be inside a transaction. psycopg errors propagate; the migration
    that raised is rolled back and the earlier ones stay applied.
    """
    applied_now: list[Migration] = []
    if not _pending(conn, scope, migrations):
        # Nothing to do, and no DDL done to find out: a read-only role (the compose
        # health agent's, docs/security.md) may read a store it could never migrate.
        return applied_now
    for migration in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            # Created under the lock: two concurrent CREATE TABLE IF NOT EXISTS can
            # still collide on the catalog's unique index.
            conn.execute(_CREATE_TABLE)
            done = conn.execute(
                "SELECT 1 FROM riskwatch_migrations WHERE scope = %s AND version = %s",
                (scope, migration.version),
            ).fetchone()
            if done is not None:
                continue
            # No parameters: psycopg sends the file as one simple query, so a file may
            # hold several statements.
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO riskwatch_migrations (scope, version, name) VALUES (%s, %s, %s)",
                (scope, migration.version, migration.name),
            )
        log.info(
            "migration applied",
            extra={"scope": scope, "version": migration.version, "migration": migration.name},
        )
        applied_now.append(migration)
    return applied_now


def _pending(
    conn: psycopg.Connection[Any], scope: str, migrations: list[Migration]
) -> list[Migration]:
    """The migrations of `scope` not applied yet, read without taking any lock."""
    with conn.transaction():
        row = conn.execute("SELECT to_regclass('riskwatch_migrations')").fetchone()
        if row is None or row[0] is None:
            return migrations
        done = {
            version
            for (version,) in conn.execute(
                "SELECT version FROM riskwatch_migrations WHERE scope = %s", (scope,)
            )
        }
    return [m for m in migrations if m.version not in done]


def timescaledb_available(conn: psycopg.Connection[Any]) -> bool:
    """Whether the TimescaleDB extension can be created in this database."""
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None
