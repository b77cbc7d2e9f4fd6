"""The desk's own dataset: its forecast log, and its market source's daily bars.

The forecasts are the ones the trading agent logged each close (`ForecastLog`), with
the realised returns it logged once the day had closed. Completeness and the model
backtest read the daily bars of the symbols the desk's figures depend on
(`validation.symbols`, by default the benchmark and the factor proxies) from the
configured market source, over the same sessions. When the source also serves minute
bars (`MinuteBarSource`), the validated day's regular session is scored from them too
(`Dataset.session`).

The span is two backtest windows by default: the pushed figures are the last
window's, and the zone over time then covers that window with full windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

import pandas as pd

from riskwatch.calendar import MarketCalendar
from riskwatch.policy import Policy
from riskwatch.sources.base import MarketDataSource, MinuteBarSource
from riskwatch.validation.completeness import Completeness, minute_completeness
from riskwatch.validation.datasets import DESK, Dataset, observations_frame, on_sessions
from riskwatch.validation.span import (
    Span,
    SpanError,
    check_not_future,
    check_session,
    sessions_between,
    sessions_ending,
)

SPAN_WINDOWS = 2
"""The desk's default span, in backtest windows (see the module docstring)."""


class ForecastHistory(Protocol):
    """What the validation reads of the forecast log (`riskwatch.forecast_log`)."""

    def history(
        self,
        *,
        portfolios: Sequence[str] | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> pd.DataFrame: ...


def desk_span(
    policy: Policy, calendar: MarketCalendar, now: datetime, as_of: date, since: date | None
) -> Span:
    """The sessions a desk run covers, checked against `now`."""
    check_not_future(calendar, as_of, now)
    check_session(calendar, as_of, "--date")
    if since is None:
        return Span(
            sessions_ending(calendar, as_of, SPAN_WINDOWS * policy.validation.backtest_days)
        )
    if since > as_of:
        raise SpanError(f"--since {since} is after --date {as_of}")
    return Span(sessions_between(calendar, since, as_of))


def _bars(
    market: MarketDataSource, symbols: Sequence[str], span: Span, now: datetime
) -> pd.DataFrame:
    """The close of each symbol on each session of the span (NaN: no bar)."""
    if not symbols:
        return pd.DataFrame(index=list(span.sessions))
    # Sources serve the last N bars up to their "now": enough calendar days back to
    # reach the span's first session, which is more bars than sessions in between.
    days = (now.date() - span.since).days + 1
    frame = market.daily_bars(list(symbols), days)
    closes = pd.DataFrame(index=frame.index)
    if len(frame.columns):
        closes = pd.DataFrame(frame.xs("close", axis=1, level=0))
    return on_sessions(closes.reindex(columns=list(symbols)), span.sessions)


def _session(
    market: MarketDataSource,
    symbols: Sequence[str],
    day: date,
    session: tuple[datetime, datetime] | None,
) -> Completeness | None:
    """The minute completeness of `day`'s regular session (open, close), if the source
    serves minute bars."""
    if session is None or not symbols or not isinstance(market, MinuteBarSource):
        return None
    frame = market.minute_bars(list(symbols), day)
    return minute_completeness(frame.reindex(columns=list(symbols)), *session)


def _realised(observations: pd.DataFrame, span: Span) -> pd.DataFrame:
    """Each portfolio's realised return per session, from the log's rows."""
    if observations.empty:
        return pd.DataFrame(index=list(span.sessions))
    per_day = observations.dropna(subset=["realised_return"]).pivot_table(
        index="day", columns="portfolio", values="realised_return", aggfunc="first"
    )
    return on_sessions(per_day, span.sessions)


def load_desk(
    span: Span,
    *,
    log: ForecastHistory,
    market: MarketDataSource,
    symbols: Sequence[str],
    now: datetime,
    session: tuple[datetime, datetime] | None = None,
) -> Dataset:
    """The desk's dataset over `span` (see `desk_span`), read at `now`; `session` is
    the as-of day's regular open and close (`MarketCalendar.session_times`), whose
    minutes the minute bars are scored against.

    Raises:
        psycopg.Error: the forecast log cannot be read.
        riskwatch.sources.base.SourceError: the market source cannot answer.
    """
    observations = observations_frame(log.history(since=span.since, until=span.as_of))
    warnings = []
    if observations.empty:
        warnings.append(
            f"the forecast log has no forecast from {span.since} to {span.as_of}: "
            "no VaR or ES backtest (is the trading agent logging its forecasts?)"
        )
    return Dataset(
        name=DESK,
        span=span,
        closes=_bars(market, symbols, span, now),
        returns=_realised(observations, span),
        observations=observations,
        warnings=tuple(warnings),
        session=_session(market, symbols, span.as_of, session),
    )
