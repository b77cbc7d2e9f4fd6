"""The forecast log: each exchange day's VaR and ES forecasts and realised returns.

At each exchange day's close the trading agent records, per portfolio, method and
confidence, the 1-day VaR and ES it forecasts for the next exchange day; once that day
has closed, it records the day's realised return. Any backtest can be rebuilt from the
log: `history` joins every forecast with the realised return of the day it was for.

The log is in PostgreSQL (tables `forecast_log` and `forecast_realised`, migrated under
the scope `forecast_log`). Writes are upserts, so recording the same figures again
changes nothing, and input that is not a number is refused with a ValueError rather
than stored or dropped. A database error (psycopg.Error) propagates: the caller
decides whether to keep the record and try again.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
import psycopg

from riskwatch.migrations import apply_migrations, load_migrations

SCOPE = "forecast_log"
"""The migration scope of the log's tables."""

MIGRATIONS_FOLDER = "forecast_log_migrations"
"""The folder of the `riskwatch` package that holds the log's migrations."""

CONNECT_TIMEOUT_SECONDS = 3
"""How long a call waits for the database before it raises: a caller on a schedule
(the trading agent) must not stall its cycle on a database that is down."""

HISTORY_COLUMNS = (
    "portfolio",
    "method",
    "confidence",
    "day",
    "var",
    "es",
    "made_at",
    "realised_return",
)
"""The columns of `ForecastLog.history`, in order."""

REALISED_COLUMNS = ("portfolio", "day", "realised_return")
"""The columns of `ForecastLog.realised`, in order."""

_UPSERT_FORECAST = """
INSERT INTO forecast_log (portfolio, method, confidence, day, var, es, made_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (portfolio, method, confidence, day) DO UPDATE
SET var = EXCLUDED.var, es = EXCLUDED.es, made_at = EXCLUDED.made_at, written_at = now()
-- The same figures again are not a write: rowcount then counts only what changed.
WHERE (forecast_log.var, forecast_log.es, forecast_log.made_at)
    IS DISTINCT FROM (EXCLUDED.var, EXCLUDED.es, EXCLUDED.made_at)
"""

_UPSERT_REALISED = """
INSERT INTO forecast_realised (portfolio, day, realised_return) VALUES (%s, %s, %s)
ON CONFLICT (portfolio, day) DO UPDATE
SET realised_return = EXCLUDED.realised_return, written_at = now()
WHERE forecast_realised.realised_return IS DISTINCT FROM EXCLUDED.realised_return
"""

# Sorted with the "C" collation: byte order, as Python and pandas sort strings, rather
# than the database's locale, which may order "Beta" and "alpha" the other way.
_HISTORY = """
SELECT f.portfolio, f.method, f.confidence, f.day, f.var, f.es, f.made_at,
       r.realised_return
FROM forecast_log f
LEFT JOIN forecast_realised r ON r.portfolio = f.portfolio AND r.day = f.day
WHERE {where}
ORDER BY f.portfolio COLLATE "C", f.method COLLATE "C", f.confidence, f.day
"""

_REALISED = """
SELECT portfolio, day, realised_return FROM forecast_realised
WHERE {where}
ORDER BY portfolio COLLATE "C", day
"""


@dataclass(frozen=True)
class Forecast:
    """One day's VaR and ES forecast of one portfolio by one method at one confidence."""

    portfolio: str
    method: str
    confidence: float
    """E.g. 0.99: VaR and ES are both at this confidence."""
    day: date
    """The exchange day the forecast is for: the next session after `made_at`."""
    var: float
    """Value at Risk, a positive loss fraction."""
    es: float
    """Expected Shortfall, a positive loss fraction."""
    made_at: datetime
    """When it was made (the close), timezone-aware."""

    @property
    def key(self) -> tuple[str, str, float, date]:
        """What identifies it in the log: (portfolio, method, confidence, day)."""
        return (self.portfolio, self.method, self.confidence, self.day)


def check_forecast(forecast: Forecast) -> None:
    """Raise ValueError, naming the forecast and the field, if it cannot be logged.

    The log holds numbers only: a NaN or infinite VaR or ES is refused, never stored
    (a backtest would read it as a forecast) and never dropped without a word.
    """
    f = forecast
    where = f"forecast {f.portfolio!r}/{f.method!r}/{f.confidence!r} for {f.day!r}"
    _check_name("portfolio", f.portfolio, where)
    _check_name("method", f.method, where)
    _check_day("day", f.day, where)
    if not (_is_number(f.confidence) and 0 < f.confidence < 1):
        raise ValueError(f"{where}: confidence must be in (0, 1), got {f.confidence!r}")
    for name, value in (("var", f.var), ("es", f.es)):
        if not (_is_number(value) and math.isfinite(value)):
            raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")
    if not isinstance(f.made_at, datetime) or f.made_at.utcoffset() is None:
        raise ValueError(f"{where}: made_at must be a timezone-aware datetime, got {f.made_at!r}")


def check_realised(portfolio: str, day: date, realised_return: float) -> None:
    """Raise ValueError if a realised return cannot be logged: it must be a finite
    number above -1 (a simple return of -1 is the whole portfolio lost)."""
    where = f"realised return of {portfolio!r} on {day!r}"
    _check_name("portfolio", portfolio, where)
    _check_day("day", day, where)
    if not (
        _is_number(realised_return) and math.isfinite(realised_return) and realised_return > -1
    ):
        raise ValueError(f"{where}: must be a finite number above -1, got {realised_return!r}")


class ForecastLog:
    """The forecast log in the PostgreSQL at `dsn`.

    Constructing one does not connect: each call connects, and the first one applies
    the log's migrations, so a process can start while the database is down.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._migrated = False

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        if not self._migrated:
            try:
                apply_migrations(conn, SCOPE, load_migrations("riskwatch", MIGRATIONS_FOLDER))
            except BaseException:
                conn.close()
                raise
            self._migrated = True
        return conn

    def record_forecasts(self, forecasts: Sequence[Forecast]) -> int:
        """Upsert `forecasts` by (portfolio, method, confidence, day), all in one
        transaction; returns the rows written (inserted, or changed: a forecast
        recorded again with the same figures and made_at is not a write).

        Raises:
            ValueError: before anything is written, if any forecast fails
                `check_forecast` or two of them share a key (one would silently
                replace the other).
            psycopg.Error: the database could not be written; nothing was.
        """
        seen: set[tuple[str, str, float, date]] = set()
        for forecast in forecasts:
            check_forecast(forecast)
            if forecast.key in seen:
                raise ValueError(f"two forecasts for {forecast.key!r} in one batch")
            seen.add(forecast.key)
        if not forecasts:
            return 0
        rows = [
            (f.portfolio, f.method, float(f.confidence), f.day, float(f.var), float(f.es),
             f.made_at)
            for f in forecasts
        ]  # fmt: skip
        with self._connect() as conn, conn.transaction():
            cur = conn.cursor()
            # One statement per row, pipelined: hundreds of days of a backfill go in one
            # round trip's worth of waiting; rowcount is the sum over the rows.
            cur.executemany(_UPSERT_FORECAST, rows)
            return max(cur.rowcount, 0)

    def record_realised(self, portfolio: str, day: date, realised_return: float) -> None:
        """Upsert the realised simple return of `portfolio` on exchange day `day`.

        Raises:
            ValueError: if it fails `check_realised`; nothing is written.
            psycopg.Error: the database could not be written.
        """
        self.record_realised_many([(portfolio, day, realised_return)])

    def record_realised_many(self, rows: Sequence[tuple[str, date, float]]) -> int:
        """Upsert realised returns, (portfolio, day, return) each, in one transaction;
        returns the rows written (inserted, or changed).

        Raises:
            ValueError: before anything is written, if any row fails `check_realised`
                or two rows share a (portfolio, day).
            psycopg.Error: the database could not be written; nothing was.
        """
        seen: set[tuple[str, date]] = set()
        for portfolio, day, realised_return in rows:
            check_realised(portfolio, day, realised_return)
            if (portfolio, day) in seen:
                raise ValueError(f"two realised returns for {portfolio!r} on {day} in one batch")
            seen.add((portfolio, day))
        if not rows:
            return 0
        with self._connect() as conn, conn.transaction():
            cur = conn.cursor()
            cur.executemany(_UPSERT_REALISED, [(p, d, float(r)) for p, d, r in rows])
            return max(cur.rowcount, 0)

    def history(
        self,
        *,
        portfolios: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """Every forecast with the realised return of its day, one row per
        (portfolio, method, confidence, day).

        Filters: `portfolios` (None: all), `since` and `until` (days, both inclusive).
        Columns `HISTORY_COLUMNS`: `day` holds `datetime.date`s, `made_at` UTC
        timestamps, `realised_return` NaN until that day's return is recorded. Sorted
        by portfolio, method, confidence and day, with a fresh index.
        """
        where, params = _filters("f.", portfolios, since, until)
        with self._connect() as conn:
            rows = conn.execute(_HISTORY.format(where=where), params).fetchall()
        frame = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
        frame = frame.astype({c: "float64" for c in ("confidence", "var", "es", "realised_return")})
        frame["made_at"] = pd.to_datetime(frame["made_at"], utc=True)
        return frame

    def realised(
        self,
        *,
        portfolios: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """The realised returns recorded, one row per (portfolio, day).

        Filters as `history`. Columns `REALISED_COLUMNS` (`day` holds
        `datetime.date`s), sorted by portfolio and day.
        """
        where, params = _filters("", portfolios, since, until)
        with self._connect() as conn:
            rows = conn.execute(_REALISED.format(where=where), params).fetchall()
        return pd.DataFrame(rows, columns=list(REALISED_COLUMNS)).astype(
            {"realised_return": "float64"}
        )


def _filters(
    prefix: str, portfolios: Sequence[str] | None, since: date | None, until: date | None
) -> tuple[str, list[Any]]:
    """A WHERE condition over `prefix`portfolio and `prefix`day, and its parameters."""
    if isinstance(portfolios, str):  # a str is a Sequence[str] of its letters
        raise TypeError(f"portfolios must be a sequence of names, not the string {portfolios!r}")
    clauses: list[str] = ["true"]
    params: list[Any] = []
    if portfolios is not None:
        clauses.append(f"{prefix}portfolio = ANY(%s)")
        params.append(list(portfolios))
    for name, value, op in (("since", since, ">="), ("until", until, "<=")):
        if value is not None:
            _check_day(name, value, "history filter")
            clauses.append(f"{prefix}day {op} %s")
            params.append(value)
    return " AND ".join(clauses), params


def _check_name(name: str, value: object, where: str) -> None:
    if not (isinstance(value, str) and value):
        raise ValueError(f"{where}: {name} must be a non-empty string, got {value!r}")


def _check_day(name: str, value: object, where: str) -> None:
    # A datetime is a date too, but a date column would silently drop its time (and
    # read its date in the database's zone): the caller must say which day it means.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValueError(f"{where}: {name} must be a datetime.date, got {value!r}")


def _is_number(value: object) -> bool:
    """A real number, not a bool (True is an int, but not a confidence or a VaR)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
