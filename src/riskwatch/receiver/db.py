"""Database access for the receiver, after the Flask tutorial's ``db.py``.

`init_app` gives the app a psycopg ConnectionPool sized and timed by the receiver
settings; `get_db` lends the current request one connection, kept on `flask.g`
and handed back by `close_db` at teardown. The schema is migrated at start, and
if the database was down then, on the first connection that works later: the
receiver keeps serving (health says the database is down) instead of crashing.
Migrations are the files ``migrations/NNN_name.sql`` beside this module, applied by
`riskwatch.migrations` under the scope "receiver".

When the database cannot be reached (`is_connection_error`: no connection within the
timeout, a connection refused or lost, the server shutting down) the app answers 503
and reports the database down. Any other database error, e.g. a row PostgreSQL's
limits refuse, is the request's problem, not the database's: 500, database still up.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any, Final

import psycopg
from flask import Flask, current_app, g
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from riskwatch.migrations import apply_migrations, load_migrations
from riskwatch.receiver import metrics
from riskwatch.settings import ConfigError, ReceiverSettings

log = logging.getLogger(__name__)

_EXTENSION: Final = "riskwatch.receiver.db"
_APPLICATION_NAME: Final = "riskwatch-receiver"
# The receiver's rows in riskwatch_migrations; its files are riskwatch/receiver/migrations/.
MIGRATION_SCOPE: Final = "receiver"

# Class 57 errors that mean the server is going away or not taking connections yet:
# admin_shutdown, crash_shutdown, cannot_connect_now.
_SERVER_UNAVAILABLE: Final = frozenset({"57P01", "57P02", "57P03"})

Connection = psycopg.Connection[Any]


def is_connection_error(exc: psycopg.Error, conn: Connection | None = None) -> bool:
    """Whether `exc` means the database cannot be reached, rather than that it refused
    what one request asked (`conn`: the request's connection, if it had one).

    Connection-class errors are: no pooled connection in time (PoolTimeout), SQLSTATE
    class 08 (connection exception) or a server shutting down or starting (57P01-03),
    an OperationalError with no SQLSTATE (libpq's own: refused, lost, timed out), and
    any error on a connection that is now broken. OperationalError alone is too broad:
    it also covers e.g. ProgramLimitExceeded (54000, an index row too large), which a
    retry can never fix.
    """
    if conn is not None and conn.broken:
        return True
    if isinstance(exc, PoolTimeout | errors.ConnectionException):
        return True
    if exc.sqlstate is None:
        return isinstance(exc, psycopg.OperationalError)
    return exc.sqlstate.startswith("08") or exc.sqlstate in _SERVER_UNAVAILABLE


class Database:
    """The pool of one app and whether its schema is known to be migrated."""

    def __init__(self, dsn: str, settings: ReceiverSettings) -> None:
        if settings.pool_min_size > settings.pool_max_size:
            raise ConfigError(
                f"receiver.pool_min_size ({settings.pool_min_size}) is larger than "
                f"receiver.pool_max_size ({settings.pool_max_size})"
            )
        timeout = settings.db_timeout_seconds
        # Autocommit: reads need no transaction to roll back, and writes open their
        # own with conn.transaction().
        kwargs: dict[str, Any] = {"application_name": _APPLICATION_NAME, "autocommit": True}
        if "connect_timeout" not in conninfo_to_dict(dsn):
            # Without it libpq waits forever on an unreachable host, and the pool's few
            # workers would hang instead of retrying. libpq wants whole seconds, >= 2.
            kwargs["connect_timeout"] = max(2, math.ceil(timeout))
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            dsn,
            kwargs=kwargs,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=timeout,
            # The pool retries a failed connection with exponential backoff until this
            # runs out; keeping it as short as a request's wait means a database that
            # comes back is used within about one timeout rather than minutes later.
            reconnect_timeout=timeout,
            # Connections die when the server restarts; a cheap empty query on checkout
            # replaces them instead of failing the request that drew one.
            check=ConnectionPool.check_connection,
            name=_APPLICATION_NAME,
            open=False,
        )
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def open(self) -> None:
        """Start the pool's workers; connecting happens in the background."""
        self.pool.open(wait=False)

    def close(self) -> None:
        """Close every connection; the pool cannot be used again."""
        self.pool.close()

    def ensure_schema(self, conn: Connection) -> None:
        """Apply pending migrations on `conn` unless this process already has."""
        if self._schema_ready:
            return
        # One thread migrates; the others wait and then find nothing to do.
        with self._schema_lock:
            if not self._schema_ready:
                apply_migrations(conn, MIGRATION_SCOPE, load_migrations("riskwatch.receiver"))
                self._schema_ready = True

    def migrate(self) -> bool:
        """Try to migrate now; False (and a warning) if the database is unreachable."""
        try:
            with self.pool.connection() as conn:
                self.ensure_schema(conn)
        except psycopg.OperationalError as exc:
            log.warning("database unavailable, migrations postponed error=%r", str(exc))
            return False
        return True


def init_app(app: Flask, dsn: str, settings: ReceiverSettings) -> None:
    """Give `app` its pool, return connections at teardown, and try to migrate now."""
    database = Database(dsn, settings)
    app.extensions[_EXTENSION] = database
    app.teardown_appcontext(close_db)
    database.open()
    up = database.migrate()
    metrics.metrics_of(app).database_up.set(1 if up else 0)


def database_of(app: Flask) -> Database:
    """The Database that `init_app` attached to `app`."""
    database = app.extensions[_EXTENSION]
    assert isinstance(database, Database)
    return database


def get_db(timeout: float | None = None) -> Connection:
    """The current request's connection, migrated; OperationalError if unreachable
    within `timeout` seconds (default: the receiver's `db_timeout_seconds`)."""
    conn: Connection | None = g.get("db_conn")
    if conn is None:
        database = database_of(current_app)
        conn = database.pool.getconn(timeout=timeout)
        g.db_conn = conn
        database.ensure_schema(conn)
        metrics.current().database_up.set(1)
    return conn


def request_connection() -> Connection | None:
    """The connection `get_db` lent the current request, if any."""
    conn: Connection | None = g.get("db_conn")
    return conn


def close_db(_exc: BaseException | None = None) -> None:
    """Return the request's connection to the pool (teardown); the pool resets it."""
    conn: Connection | None = g.pop("db_conn", None)
    if conn is not None:
        database_of(current_app).pool.putconn(conn)


def close_pool(app: Flask) -> None:
    """Close `app`'s pool, e.g. when the server stops or a test ends."""
    database_of(app).close()
