"""Versioned schema migrations for the receiver's database.

Migrations are the files ``migrations/NNN_name.sql`` shipped with the package. Each
is applied once, in version order, in its own transaction together with its row in
``schema_migrations(version, name, applied_at)``, so a failed migration leaves no
trace and is tried again on the next start. Every transaction first takes a
transaction-level advisory lock: receivers starting together queue up instead of
racing, and each re-reads what is applied once it holds the lock.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

# Arbitrary but fixed: every receiver must use the same key. ASCII "riskwatc".
ADVISORY_LOCK_KEY = 0x7269736B77617463

_FILE_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One migration file: its version, descriptive name and SQL text."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations in version order; ValueError on a misnamed or duplicate file."""
    folder = resources.files("riskwatch.receiver").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise ValueError(f"two migration files have version {version}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def apply_migrations(conn: psycopg.Connection[object]) -> list[Migration]:
    """Apply the pending migrations on `conn` and return the ones this call applied.

    `conn` must not be inside a transaction. psycopg errors propagate; the
    migration that raised is rolled back and the earlier ones stay applied.
    """
    applied_now: list[Migration] = []
    for migration in load_migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            # Created under the lock: two concurrent CREATE TABLE IF NOT EXISTS can
            # still collide on the catalog's unique index.
            conn.execute(_CREATE_TABLE)
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
            ).fetchone()
            if done is not None:
                continue
            # No parameters: psycopg sends the file as one simple query, so a file may
            # hold several statements.
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        log.info("migration applied version=%d name=%s", migration.version, migration.name)
        applied_now.append(migration)
    return applied_now
