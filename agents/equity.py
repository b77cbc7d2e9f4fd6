"""The equity curve, persisted in PostgreSQL so a restart keeps the peak and the day's P&L.

Each cycle records the portfolio value. The drawdown peak is the highest value ever
recorded; the day's P&L is measured from the last value recorded before today's
session began (New York midnight), or from the day's first value on a portfolio's
first day. When the database is unreachable, points wait in memory and are written
when it returns: the agent keeps publishing meanwhile, from what it has in memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from riskwatch import analytics
from riskwatch.migrations import apply_migrations, load_migrations, timescaledb_available

log = logging.getLogger("riskwatch.agents.equity")

SCOPE = "agent_equity"


@dataclass(frozen=True)
class EquityState:
    """What the portfolio task needs after recording a value."""

    value: float
    peak: float
    day_base: float

    # The backfill computes these with the same functions over a whole history.
    @property
    def drawdown(self) -> float:
        """Fall from the peak, a positive fraction."""
        return float(analytics.drawdown(self.value, self.peak))

    @property
    def daily_pnl(self) -> float:
        """P&L since the day's base value."""
        return float(analytics.pnl_since(self.value, self.day_base))


@dataclass
class _Book:
    peak: float
    day_start: datetime
    day_base: float
    last_value: float


class EquityStore:
    """Equity points per portfolio; `dsn=None` keeps them in memory only (for tests/demo)."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._books: dict[str, _Book] = {}
        self._pending: list[tuple[str, datetime, float]] = []
        self._migrated = False

    def _connect(self) -> psycopg.Connection[Any]:
        assert self.dsn is not None
        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=3)
        if not self._migrated:
            apply_migrations(conn, SCOPE, load_migrations("riskwatch.agents"))
            if timescaledb_available(conn):
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                conn.execute(
                    "SELECT create_hypertable('agent_equity', 'ts', if_not_exists => TRUE)"
                )
            self._migrated = True
        return conn

    def _load(
        self,
        conn: psycopg.Connection[Any] | None,
        portfolio: str,
        day_start: datetime,
        value: float,
    ) -> _Book:
        peak, base = value, None
        if conn is not None:
            row = conn.execute(
                "SELECT max(value_usd) FROM agent_equity WHERE portfolio = %s", (portfolio,)
            ).fetchone()
            if row and row[0] is not None:
                peak = max(peak, float(row[0]))
            row = conn.execute(
                "SELECT value_usd FROM agent_equity WHERE portfolio = %s AND ts < %s "
                "ORDER BY ts DESC LIMIT 1",
                (portfolio, day_start),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT value_usd FROM agent_equity WHERE portfolio = %s AND ts >= %s "
                    "ORDER BY ts LIMIT 1",
                    (portfolio, day_start),
                ).fetchone()
            base = float(row[0]) if row else None
        return _Book(peak, day_start, value if base is None else base, value)

    def record(
        self, portfolio: str, when: datetime, value: float, day_start: datetime
    ) -> EquityState:
        """Record `value` at `when`; `day_start` is when today's session began."""
        if not value > 0:
            raise ValueError(f"{portfolio}: portfolio value must be positive, got {value!r}")
        self._pending.append((portfolio, when, value))
        conn = None
        if self.dsn is not None:
            try:
                conn = self._connect()
            except psycopg.Error as exc:
                log.warning(
                    "equity store unreachable; %d point(s) kept in memory: %s",
                    len(self._pending),
                    " ".join(str(exc).split()),
                )
        try:
            book = self._books.get(portfolio)
            if conn is not None and (book is None or book.day_start != day_start):
                loaded = self._load(conn, portfolio, day_start, value)
                if book is not None:  # points recorded while the database was away count too
                    loaded.peak = max(loaded.peak, book.peak)
                book = self._books[portfolio] = loaded
            elif book is None:  # no database yet: today starts now
                book = self._books[portfolio] = _Book(value, day_start, value, value)
            elif book.day_start != day_start:  # a new day without the database
                book.day_start, book.day_base = day_start, book.last_value
            if conn is not None:
                self._flush(conn)
        finally:
            if conn is not None:
                conn.close()
        book.peak = float(analytics.running_peak([value], book.peak)[-1])
        book.last_value = value
        return EquityState(value, book.peak, book.day_base)

    def _flush(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO agent_equity (portfolio, ts, value_usd) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                self._pending,
            )
        self._pending.clear()
