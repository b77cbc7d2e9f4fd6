"""The forecast log a trading agent would have written, and the validation that reads it.

At each exchange day's close the trading agent logs, per book, method and confidence,
the VaR and ES it forecasts for the next exchange day, and the day's realised return
(`riskwatch.agents.realised`). A month of Prometheus series says nothing about
whether those forecasts held: the traffic light needs `validation.backtest_days` of
them. `close_records` makes them from the synthetic market's daily history:

- each book is held constant, as the rest of the backfill holds it (`desk.Book`), and
  valued at each session's close (days the exchange is shut are not closes);
- the forecast for a session is `analytics.rolling_tail`'s, from the
  `validation.var_window_days` returns before it, with every method of the policy at
  the VaR and the ES confidence, one estimate (one GARCH fit) per window; it is made
  at the previous session's close;
- the realised return of a session is its close over the previous one, minus 1; the
  last forecast is for the next session, which has no close yet.

`write_records` puts them in the log through `ForecastLog` (upserts: a rerun on the
same day writes nothing), and `validate_desk` runs the desk validation on it, as the
health agent does each night, and pushes the results.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from riskwatch import analytics
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import Clock
from riskwatch.demo.backfill.desk import Book, book_of, desk_brokers
from riskwatch.forecast_log import Forecast, ForecastLog
from riskwatch.policy import Policy
from riskwatch.settings import Settings
from riskwatch.sources.synthetic import HISTORY_DAYS, SyntheticMarket
from riskwatch.validation.datasets import DESK
from riskwatch.validation.job import RunOutcome, load_dataset, run_validation

MARGIN_DAYS = 10
"""Sessions logged beyond `backtest_days`, so the zone over time has a few full
windows to show, not one."""

# Business days the market's history holds per exchange session, with room: about ten
# holidays a year are business days without a session.
_ROWS_PER_SESSION = 1.06
_SPARE_ROWS = 10


@dataclass(frozen=True)
class CloseRecords:
    """What the agent would have logged at the closes before the market's today."""

    forecasts: tuple[Forecast, ...]
    realised: tuple[tuple[str, date, float], ...]
    """(portfolio, session, realised return), every session forecast but the last."""
    days: tuple[date, ...]
    """The sessions forecast, oldest first; the last is the next one to trade."""


@dataclass(frozen=True)
class Written:
    """What `write_records` changed in the log."""

    forecasts: int
    realised: int
    days: int
    seconds: float
    """Computing the records and writing them."""


def history_rows(days: int, window: int) -> int:
    """Business days of history `days` forecasts from `window` returns each need."""
    return int((days + window + 1) * _ROWS_PER_SESSION) + _SPARE_ROWS


def close_records(
    books: Sequence[Book],
    market: SyntheticMarket,
    calendar: MarketCalendar,
    policy: Policy,
    *,
    days: int,
) -> CloseRecords:
    """The forecasts for the last `days` sessions up to the next one, and the
    realised returns of those that have closed, from `market`'s daily history as of
    its clock (see the module docstring).

    Raises:
        ValueError: `days` below 1, or the market's history too short for them.
    """
    window = policy.validation.var_window_days
    rows = history_rows(days, window)
    if days < 1 or rows > HISTORY_DAYS:
        raise ValueError(
            f"{days} days of forecasts from {window} returns each need {rows} days of "
            f"history; the synthetic market holds {HISTORY_DAYS}"
        )
    symbols = sorted({s for b in books for s in b.symbols})
    bars = market.daily_bars(symbols, rows)["close"]
    dates = [ts.date() for ts in bars.index]
    open_days = set(calendar.sessions(dates[0], dates[-1]))
    on_session = [k for k, day in enumerate(dates) if day in open_days]
    closes = bars[symbols].to_numpy(dtype=np.float64)[on_session]
    sessions = [dates[k] for k in on_session]
    if len(sessions) < days + window:
        raise ValueError(
            f"the synthetic market's last {rows} days hold {len(sessions)} sessions; "
            f"{days} days of forecasts from {window} returns each need {days + window}"
        )
    sessions.append(_next_session(calendar, sessions[-1]))
    forecast_days = sessions[-days:]
    made_at = [_close(calendar, day) for day in sessions[-days - 1 : -1]]
    tail = policy.tail_risk
    confidences = (tail.var_confidence, tail.expected_shortfall_confidence)
    column = {s: k for k, s in enumerate(symbols)}
    forecasts: list[Forecast] = []
    realised: list[tuple[str, date, float]] = []
    for book in books:
        equity = analytics.portfolio_value(
            closes[:, [column[s] for s in book.symbols]] * book.quantity, book.cash
        )
        # Row t holds the return into session t + 1; the next session's is not known
        # yet (NaN), and no window reads it.
        returns = np.append(analytics.simple_returns(equity), np.nan)[-(days + window) :]
        name = book.settings.name
        for method in tail.methods:
            for confidence, (var, es) in analytics.rolling_tail(
                returns, window, confidences, method
            ).items():
                forecasts += [
                    Forecast(name, method, confidence, day, float(v), float(e), made)
                    for day, v, e, made in zip(
                        forecast_days, var[window:], es[window:], made_at, strict=True
                    )
                ]
        realised += [
            (name, day, float(r))
            for day, r in zip(forecast_days[:-1], returns[window:-1], strict=True)
        ]
    return CloseRecords(tuple(forecasts), tuple(realised), tuple(forecast_days))


def write_records(log: ForecastLog, records: CloseRecords) -> tuple[int, int]:
    """Upsert `records` into `log`; returns the forecasts and realised returns written
    (a rerun that changes nothing writes nothing).

    Raises:
        psycopg.Error: the log cannot be read or written.
    """
    return log.record_forecasts(records.forecasts), log.record_realised_many(records.realised)


def backfill_forecasts(
    settings: Settings, log: ForecastLog, *, clock: Clock, days: int | None = None
) -> Written:
    """The desk's forecast log over `days` sessions (default `backtest_days` plus
    `MARGIN_DAYS`) up to the next one, for every portfolio of `settings.trading`.

    The books are the brokers' at the last close before `clock()`, not at `clock()`
    as the series': a book is priced at the minute it is built, so every run until
    the next close logs the same figures, and a rerun writes nothing.

    Raises:
        ValueError: as `close_records`.
        psycopg.Error: the log cannot be written.
    """
    began = time.monotonic()
    calendar = MarketCalendar(settings.policy.market)
    closed = calendar.previous_session_close(clock())
    at_close = SyntheticMarket(settings.trading.seed, clock=lambda: closed, calendar=calendar)
    brokers = desk_brokers(settings, at_close)
    books = [book_of(p, brokers[p.name]) for p in settings.trading.portfolios]
    # The daily bars as of now: the market's history ends the day before its clock.
    market = SyntheticMarket(settings.trading.seed, clock=clock, calendar=calendar)
    count = days if days is not None else settings.policy.validation.backtest_days + MARGIN_DAYS
    records = close_records(books, market, calendar, settings.policy, days=count)
    forecasts, realised = write_records(log, records)
    return Written(forecasts, realised, len(records.days), time.monotonic() - began)


def validate_desk(
    settings: Settings,
    log: ForecastLog,
    market: SyntheticMarket,
    *,
    now: datetime,
    out_dir: Path | None = None,
) -> RunOutcome:
    """The desk validation of the last exchange day closed at `now`, on `log` and the
    daily bars of `market`, written under `out_dir` (default `validation.out_dir`) and
    pushed under `settings.validation.job`.

    Raises:
        ValidationRunError: the log or the bars cannot be read, or the artifacts not
            written.
    """
    started = time.perf_counter()
    dataset = load_dataset(settings, DESK, now=now, log=log, market=market)
    return run_validation(settings, dataset, now=now, started=started, out_dir=out_dir)


def _close(calendar: MarketCalendar, day: date) -> datetime:
    session = calendar.session_times(day)
    assert session is not None, day  # a session of the calendar's own list
    return session[1]


def _next_session(calendar: MarketCalendar, day: date) -> date:
    """The first exchange day after `day` (within the fortnight any exchange has one)."""
    following = calendar.sessions(day + timedelta(days=1), day + timedelta(days=15))
    if not following:
        raise ValueError(f"no session in the fortnight after {day}")
    return following[0]
