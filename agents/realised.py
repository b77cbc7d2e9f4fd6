"""What the desk realised, and the forecasts it is judged against.

Realised performance (the risk_realised_* and trading_closed_trades_* figures) is what
happened, where the risk_* figures are today's holdings over the price history:

- The equity curve's daily closes (`EquityStore.daily_closes`: the last value recorded
  up to each exchange day's regular close) give daily simple returns, whose Sharpe,
  Sortino, Calmar and max drawdown are `analytics.performance_metrics`'. An exchange
  day without a close recorded (the agent was down) is skipped, so the return across
  it spans the days missed and the curve's drawdown stays whole. With fewer than two
  returns only `risk_realised_days` is published; a figure that is undefined (a Calmar
  without a drawdown, a Sharpe of a constant curve) is not published, and taken down
  if it was.
- The fills the broker reported (`EquityStore.trade_fills`) are matched FIFO into
  closed trades (`analytics.trades`), starting from the book the broker reported when
  the agent first kept the portfolio's fills, whose positions are the first lots. The
  count, win rate, profit factor and average win and loss are published the same way.

The close record (`CloseRecorder`): at an exchange day's close the trading agent's
first risk run records, for every book, method and confidence, the VaR and ES it
forecasts for the next exchange day, and the day's realised return (its equity close
over the previous exchange day's, minus 1), in the forecast log. While the database
is down the record waits in memory and is written when it returns.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import psycopg

from riskwatch import analytics
from riskwatch.agents.equity import EquityStore
from riskwatch.analytics.trades import closed_trades, trade_statistics
from riskwatch.calendar import MarketCalendar
from riskwatch.forecast_log import Forecast, ForecastLog, check_forecast
from riskwatch.publish import Publisher

log = logging.getLogger("riskwatch.agents.realised")

# analytics.performance_metrics key -> catalog metric, for the realised equity curve.
REALISED_METRICS: Mapping[str, str] = {
    "sharpe": "risk_realised_sharpe",
    "sortino": "risk_realised_sortino",
    "calmar": "risk_realised_calmar",
    "max_drawdown": "risk_realised_max_drawdown_ratio",
}
REALISED_DAYS = "risk_realised_days"

# analytics.trades.TradeStatistics field -> catalog metric.
TRADE_METRICS: Mapping[str, str] = {
    "count": "trading_closed_trades",
    "win_rate": "trading_closed_trades_win_rate_ratio",
    "profit_factor": "trading_closed_trades_profit_factor",
    "average_win": "trading_closed_trades_average_win_usd",
    "average_loss": "trading_closed_trades_average_loss_usd",
}


def realised_figures(closes: pd.Series) -> dict[str, float]:
    """Catalog metric -> value of the realised figures of daily equity `closes`
    (oldest first), the defined ones only: always the number of daily returns, the
    others from two returns on."""
    returns = analytics.simple_returns(closes.to_numpy(dtype=float))
    figures = {REALISED_DAYS: float(returns.size)}
    if returns.size >= 2:  # performance_metrics' minimum: one return has no dispersion
        computed = analytics.performance_metrics(returns)
        figures |= {metric: float(computed[key]) for key, metric in REALISED_METRICS.items()}
    return _defined(figures)


def trade_figures(fills: pd.DataFrame) -> dict[str, float]:
    """Catalog metric -> value of the closed trades of `fills` (`EquityStore.FILL_COLUMNS`),
    the defined ones only: always the count."""
    trades = closed_trades(fills["symbol"], fills["quantity"], fills["price"], fills["time"])
    stats = trade_statistics(trades["pnl"])
    return _defined({metric: float(getattr(stats, key)) for key, metric in TRADE_METRICS.items()})


def _defined(figures: dict[str, float]) -> dict[str, float]:
    # inf (a profit factor without losses, a Sharpe of a constant curve) and NaN are
    # not figures a dashboard can show or an alert compare.
    return {metric: value for metric, value in figures.items() if math.isfinite(value)}


class RealisedPerformance:
    """Publishes each book's realised figures, from what the equity store keeps.

    Without a database (`EquityStore(None)`) there is no curve and no fills, so nothing
    is published. A database error is logged and the figures are tried again on the
    next run; the last published values stay meanwhile.
    """

    def __init__(self, publisher: Publisher, equity: EquityStore, calendar: MarketCalendar):
        self.pub = publisher
        self.equity = equity
        self.calendar = calendar
        self._curve_day: dict[str, date] = {}
        self._trades_current: set[str] = set()

    def refresh_curve(self, portfolio: str, now: datetime) -> None:
        """The equity-curve figures, once per exchange day that closes (they change
        only then)."""
        if self.equity.dsn is None:
            return
        closed = self.calendar.previous_session_close(now).astimezone(self.calendar.zone).date()
        if self._curve_day.get(portfolio) == closed:
            return
        try:
            closes = self.equity.daily_closes(portfolio, self.calendar, until=now)
        except psycopg.Error as exc:
            _unreachable("realised figures", portfolio, exc)
            return
        self._publish(
            portfolio, realised_figures(closes), (REALISED_DAYS, *REALISED_METRICS.values())
        )
        self._curve_day[portfolio] = closed

    def refresh_trades(self, portfolio: str, *, new_fills: bool) -> None:
        """The closed-trade figures, when fills were added (and on the first run)."""
        if self.equity.dsn is None:
            return
        if new_fills:
            self._trades_current.discard(portfolio)
        if portfolio in self._trades_current:
            return
        try:
            fills = self.equity.trade_fills(portfolio)
        except psycopg.Error as exc:
            _unreachable("closed-trade figures", portfolio, exc)
            return
        self._publish(portfolio, trade_figures(fills), TRADE_METRICS.values())
        self._trades_current.add(portfolio)

    def _publish(self, portfolio: str, figures: Mapping[str, float], names: Iterable[str]) -> None:
        for metric in names:
            gauge = self.pub.gauge(metric)
            if metric in figures:
                gauge.labels(portfolio).set(figures[metric])
            else:  # no longer defined: a stale value would read as current
                gauge.remove(portfolio)


def _unreachable(what: str, portfolio: str, exc: psycopg.Error) -> None:
    log.warning(
        "%s of %s not refreshed (database unreachable); tried again next run: %s",
        what,
        portfolio,
        " ".join(str(exc).split()),
    )


@dataclass(frozen=True)
class Close:
    """An exchange day's close, and the exchange day after it."""

    day: date
    closed_at: datetime
    next_day: date
    next_open: datetime


def close_forecasts(
    portfolio: str,
    method: str,
    figures: Mapping[float, analytics.VaRES[Any]],
    close: Close,
    made_at: datetime,
) -> list[Forecast]:
    """`portfolio`'s forecasts by `method` for the day after `close`: VaR and ES at each
    confidence of `figures` (`analytics.tail_figures` of the returns the risk figures
    are computed on). A figure that is not a number is logged as not recorded, and
    left out."""
    forecasts = []
    for confidence, (var, es) in sorted(figures.items(), reverse=True):
        forecast = Forecast(
            portfolio, method, confidence, close.next_day, float(var), float(es), made_at
        )
        try:
            check_forecast(forecast)
        except ValueError as exc:
            log.error("close forecast not recorded: %s", exc)
            continue
        forecasts.append(forecast)
    return forecasts


class CloseRecorder:
    """Says when a close record is due, keeps it until it is written, and writes it.

    A close's record is due from the close until the next exchange day opens (a
    forecast made after that would have seen the day it forecasts). It is made once
    per process; on writing, forecasts the log already holds (written before a
    restart) are left as they are, and the realised return is recomputed from the
    equity curve, so a restart after the close writes nothing new.
    """

    def __init__(self, forecast_log: ForecastLog, equity: EquityStore, calendar: MarketCalendar):
        self.forecast_log = forecast_log
        self.equity = equity
        self.calendar = calendar
        self._first_run: datetime | None = None
        self._last_close: date | None = None
        self._forecasts: list[Forecast] = []
        self._realised: set[tuple[str, date, datetime]] = set()

    def due(self, now: datetime) -> Close | None:
        """The close whose record is due at `now` and not made yet, if any."""
        if self._first_run is None:
            self._first_run = now
        closed_at = self.calendar.previous_session_close(now)
        day = closed_at.astimezone(self.calendar.zone).date()
        if self._last_close is not None and day <= self._last_close:
            return None
        next_day, next_open = self._next_session(day)
        if now < next_open:
            return Close(day, closed_at, next_day, next_open)
        self._last_close = day
        if self._first_run <= closed_at:  # this process was running at that close
            log.error(
                "no close record for %s: no risk run succeeded between its close (%s) and "
                "the next open (%s); its forecasts for %s are lost",
                day,
                closed_at.isoformat(),
                next_open.isoformat(),
                next_day,
            )
        return None

    def _next_session(self, day: date) -> tuple[date, datetime]:
        for ahead in range(1, 15):
            following = day + timedelta(days=ahead)
            session = self.calendar.session_times(following)
            if session is not None:
                return following, session[0]
        raise ValueError(f"no session in the two weeks after {day}")

    def made(self, close: Close, forecasts: Sequence[Forecast], portfolios: Iterable[str]) -> None:
        """Keep the record of `close` to be written: its forecasts, and the realised
        return of the day that closed for each of `portfolios`."""
        self._forecasts.extend(forecasts)
        self._realised.update((p, close.day, close.closed_at) for p in portfolios)
        self._last_close = close.day

    def write(self) -> None:
        """Write what is kept; what the database cannot take now stays for the next
        call, and what can never be written (a day without an equity close) is logged
        as lost."""
        if self._forecasts:
            self._write_forecasts()
        for portfolio, day, closed_at in sorted(self._realised):
            try:
                self._write_realised(portfolio, day, closed_at)
            except psycopg.Error as exc:
                log.warning(
                    "forecast log unreachable; %d realised return(s) kept in memory until "
                    "it returns: %s",
                    len(self._realised),
                    " ".join(str(exc).split()),
                )
                return
            self._realised.discard((portfolio, day, closed_at))

    def _write_forecasts(self) -> None:
        pending = self._forecasts
        try:
            held = self.forecast_log.history(
                portfolios=sorted({f.portfolio for f in pending}),
                since=min(f.day for f in pending),
                until=max(f.day for f in pending),
            )
            logged = set(
                held[["portfolio", "method", "confidence", "day"]].itertuples(
                    index=False, name=None
                )
            )
            fresh = [f for f in pending if f.key not in logged]
            written = self.forecast_log.record_forecasts(fresh)
        except psycopg.Error as exc:
            log.warning(
                "forecast log unreachable; %d forecast(s) kept in memory until it returns: %s",
                len(pending),
                " ".join(str(exc).split()),
            )
            return
        log.info(
            "close forecasts written",
            extra={"written": written, "already_logged": len(pending) - len(fresh)},
        )
        self._forecasts = []

    def _write_realised(self, portfolio: str, day: date, closed_at: datetime) -> None:
        before = self.calendar.previous_session_close(self.calendar.session_start(closed_at))
        previous = before.astimezone(self.calendar.zone).date()
        closes = self.equity.daily_closes(portfolio, self.calendar, until=closed_at, since=previous)
        missing = [d for d in (previous, day) if d not in closes.index]
        if missing:
            log.warning(
                "realised return of %s on %s not recorded: no equity recorded on %s by the close",
                portfolio,
                day,
                " and ".join(str(d) for d in missing),
            )
            return
        realised = float(closes[day] / closes[previous] - 1)
        self.forecast_log.record_realised(portfolio, day, realised)
