"""The equity curve, persisted in PostgreSQL so a restart keeps the peak and the day's P&L.

Each cycle records the portfolio value. The drawdown peak is the highest value ever
recorded; the day's P&L is measured from the last value recorded before today's
session began (New York midnight), or from the day's first value on a portfolio's
first day. When the database is unreachable, points wait in memory and are written
when it returns: the agent keeps publishing meanwhile, from what it has in memory.

The store also keeps what the realised figures are computed from: the curve's daily
closes (`daily_closes`), and the fills the broker reported with the book they first
traded against (`record_executions`, `trade_fills`), from which closed trades are
matched.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import psycopg

from riskwatch import analytics
from riskwatch.calendar import MarketCalendar
from riskwatch.migrations import apply_migrations, load_migrations, timescaledb_available
from riskwatch.sources.base import Execution, Position

log = logging.getLogger("riskwatch.agents.equity")

SCOPE = "agent_equity"

FILL_COLUMNS = ("time", "symbol", "quantity", "price")
"""The columns of `EquityStore.trade_fills`: what `analytics.trades.closed_trades` reads."""

# The close of each exchange day: the last value recorded from the day's midnight in
# the market's zone up to its regular close.
_DAILY_CLOSES = """
SELECT s.day, e.value_usd
FROM unnest(%s::date[], %s::timestamptz[], %s::timestamptz[]) AS s(day, starts, closes)
CROSS JOIN LATERAL (
    SELECT value_usd FROM agent_equity
    WHERE portfolio = %s AND ts >= s.starts AND ts <= s.closes
    ORDER BY ts DESC LIMIT 1
) e
ORDER BY s.day
"""


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
    """Equity points per portfolio; `dsn=None` keeps them in memory only (for tests/demo).

    In memory only, the store keeps what the drawdown and the day's P&L need and nothing
    else: no daily closes and no fills, so no realised figures.
    """

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self._books: dict[str, _Book] = {}
        self._pending: list[tuple[str, datetime, float]] = []
        self._pending_fills: list[tuple[str, str, str, str, float, float, datetime]] = []
        self._pending_starts: dict[str, tuple[datetime, list[tuple[str, float, float]]]] = {}
        self._seen_fills: set[tuple[str, str]] = set()
        self._books_started: set[str] = set()
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

    def _reach(self) -> psycopg.Connection[Any] | None:
        """A connection with everything waiting in memory written, or None (logged)
        while the database is unreachable or there is none."""
        if self.dsn is None:
            return None
        try:
            return self._written()
        except psycopg.Error as exc:
            log.warning(
                "equity store unreachable; %d point(s), %d fill(s) and %d opening book(s) "
                "kept in memory: %s",
                len(self._pending),
                len(self._pending_fills),
                len(self._pending_starts),
                " ".join(str(exc).split()),
            )
            return None

    def _written(self) -> psycopg.Connection[Any]:
        """A connection with everything waiting in memory written: what a reader of the
        database must see. psycopg errors propagate."""
        conn = self._connect()
        try:
            self._flush(conn)
        except BaseException:
            conn.close()
            raise
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
        if self.dsn is not None:  # in memory only, nobody reads the points back
            self._pending.append((portfolio, when, value))
        conn = self._reach()
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
        finally:
            if conn is not None:
                conn.close()
        book.peak = float(analytics.running_peak([value], book.peak)[-1])
        book.last_value = value
        return EquityState(value, book.peak, book.day_base)

    def record_executions(
        self,
        portfolio: str,
        executions: Sequence[Execution],
        positions: Sequence[Position],
        when: datetime,
    ) -> int:
        """Keep the fills of `executions` not kept yet; returns how many were new.

        The first call for a portfolio also keeps `positions`, the book as the broker
        reports it at `when`, as where matching the portfolio's fills into closed
        trades starts, unless an earlier run has already kept one. Like points, all of
        it waits in memory while the database is unreachable. Without a database
        (`dsn=None`) nothing is kept.
        """
        if self.dsn is None:
            return 0
        if portfolio not in self._books_started:
            self._books_started.add(portfolio)
            self._pending_starts[portfolio] = (when, self._opening_lots(portfolio, positions))
        new = [e for e in executions if (portfolio, e.exec_id) not in self._seen_fills]
        for e in new:
            self._seen_fills.add((portfolio, e.exec_id))
            self._pending_fills.append(
                (portfolio, e.exec_id, e.symbol, e.side, e.quantity, e.price, e.timestamp)
            )
        if self._pending_fills or self._pending_starts:
            conn = self._reach()
            if conn is not None:
                conn.close()
        return len(new)

    @staticmethod
    def _opening_lots(
        portfolio: str, positions: Sequence[Position]
    ) -> list[tuple[str, float, float]]:
        lots = []
        for p in positions:
            if p.quantity == 0:
                continue
            if not (math.isfinite(p.avg_cost) and p.avg_cost > 0):
                # Its units are unknown to the matching: a later sale of them reads as
                # a short. Rare (a broker without a cost basis), so said, not guessed.
                log.warning(
                    "%s: %s has no usable average cost (%r); its position is left out of "
                    "the book closed trades are matched from",
                    portfolio,
                    p.symbol,
                    p.avg_cost,
                )
                continue
            lots.append((p.symbol, p.quantity, p.avg_cost))
        return lots

    def trade_fills(self, portfolio: str) -> pd.DataFrame:
        """What closed trades are matched from, in execution order (`FILL_COLUMNS`,
        quantity signed): the opening book as fills at its time, then every fill kept
        after it. Empty before the first `record_executions` reached the database, and
        always without a database.

        Raises:
            psycopg.Error: the database is unreachable.
        """
        rows: list[tuple[Any, ...]] = []
        if self.dsn is not None:
            with self._written() as conn:
                rows = _fill_rows(conn, portfolio)
        frame = pd.DataFrame(rows, columns=list(FILL_COLUMNS))
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame.astype({"quantity": "float64", "price": "float64"})

    def daily_closes(
        self, portfolio: str, calendar: MarketCalendar, until: datetime, since: date | None = None
    ) -> pd.Series:
        """The equity curve's close of each exchange day from `since` (default: the
        first day recorded) whose regular close is at or before `until`: the last value
        recorded from the day's midnight up to its close, in the market's zone. Days
        without a value recorded by then are left out. Indexed by `datetime.date`;
        empty without a database.

        Raises:
            psycopg.Error: the database is unreachable.
        """
        if self.dsn is None:
            return pd.Series([], index=pd.Index([], name="day"), dtype="float64", name=portfolio)
        with self._written() as conn:
            if since is None:
                row = conn.execute(
                    "SELECT min(ts) FROM agent_equity WHERE portfolio = %s", (portfolio,)
                ).fetchone()
                first = None if row is None else row[0]
                since = None if first is None else first.astimezone(calendar.zone).date()
            days = [] if since is None else exchange_sessions(calendar, since, until)
            rows = conn.execute(
                _DAILY_CLOSES,
                (
                    [d for d, _, _ in days],
                    [s for _, s, _ in days],
                    [c for _, _, c in days],
                    portfolio,
                ),
            ).fetchall()
        return pd.Series(
            [float(v) for _, v in rows],
            index=pd.Index([d for d, _ in rows], name="day"),
            dtype="float64",
            name=portfolio,
        )

    def _flush(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            cur = conn.cursor()
            cur.executemany(
                "INSERT INTO agent_equity (portfolio, ts, value_usd) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                self._pending,
            )
            for portfolio, (as_of, lots) in self._pending_starts.items():
                # The first run's book stays: a later run's would count the fills
                # between the two twice.
                cur.execute(
                    "INSERT INTO agent_trade_start (portfolio, as_of) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING RETURNING portfolio",
                    (portfolio, as_of),
                )
                if cur.fetchone() is not None and lots:
                    cur.executemany(
                        "INSERT INTO agent_opening_lots (portfolio, symbol, quantity, price) "
                        "VALUES (%s, %s, %s, %s)",
                        [(portfolio, *lot) for lot in lots],
                    )
            cur.executemany(
                "INSERT INTO agent_executions "
                "(portfolio, exec_id, symbol, side, quantity, price, ts) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                self._pending_fills,
            )
        self._pending.clear()
        self._pending_starts.clear()
        self._pending_fills.clear()


def _fill_rows(conn: psycopg.Connection[Any], portfolio: str) -> list[tuple[Any, ...]]:
    """(time, symbol, signed quantity, price): the opening book, then the later fills."""
    start = conn.execute(
        "SELECT as_of FROM agent_trade_start WHERE portfolio = %s", (portfolio,)
    ).fetchone()
    if start is None:
        return []
    rows: list[tuple[Any, ...]] = [
        (start[0], *lot)
        for lot in conn.execute(
            "SELECT symbol, quantity, price FROM agent_opening_lots "
            "WHERE portfolio = %s ORDER BY symbol",
            (portfolio,),
        )
    ]
    rows += conn.execute(
        "SELECT ts, symbol, CASE side WHEN 'buy' THEN quantity ELSE -quantity END, price "
        "FROM agent_executions WHERE portfolio = %s AND ts > %s ORDER BY ts, exec_id",
        (portfolio, start[0]),
    ).fetchall()
    return rows


def exchange_sessions(
    calendar: MarketCalendar, first: date, until: datetime
) -> list[tuple[date, datetime, datetime]]:
    """(day, midnight, regular close) of each exchange day from `first` whose close is
    at or before `until`, in the market's zone."""
    last = until.astimezone(calendar.zone).date()
    days = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        session = calendar.session_times(day)
        if session is not None and session[1] <= until:
            days.append(
                (day, datetime.combine(day, datetime.min.time(), calendar.zone), session[1])
            )
    return days
