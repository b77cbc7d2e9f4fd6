"""What a validation run reads: a `Dataset`, and the offline ones built from history.

A dataset is the same four things whoever supplies it:

- the span: the calendar's sessions it covers, ending on the validated day;
- `closes`: the daily close of each symbol on each session (NaN: a missing bar),
  for completeness and the model backtest;
- `returns`: each portfolio's realised daily return on each session;
- `observations`: VaR and ES forecasts beside realised returns, per portfolio,
  method, confidence and day (the forecast log's columns).

`desk` (the default) reads the desk's forecast log and its market source
(`riskwatch.validation.desk`); `sp500` and `nasdaq` rebuild the forecasts every
method would have made over the history that ships with `arch`
(`riskwatch.validation.history`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import pandas as pd

from riskwatch.calendar import MarketCalendar
from riskwatch.policy import Policy
from riskwatch.validation.completeness import Completeness
from riskwatch.validation.forecasts import COLUMNS, forecast_history
from riskwatch.validation.history import OFFLINE, closes, portfolio_returns
from riskwatch.validation.span import Span, SpanError, check_session, sessions_between

DESK: Final = "desk"
DATASETS: Final = (DESK, *OFFLINE)
"""Every dataset name `--dataset` accepts, the `dataset` label of the metrics."""


@dataclass(frozen=True)
class Dataset:
    """The data of one validation run (see the module docstring)."""

    name: str
    span: Span
    closes: pd.DataFrame
    returns: pd.DataFrame
    observations: pd.DataFrame
    warnings: tuple[str, ...] = ()
    session: Completeness | None = None
    """Minute bars received over the as-of session's minutes, per symbol; None when the
    source serves no minute bars (the offline histories are daily)."""


def on_sessions(frame: pd.DataFrame, sessions: Sequence[date]) -> pd.DataFrame:
    """`frame` (indexed by day: dates or timestamps) on exactly `sessions`, NaN where
    it has no row; rows on other days are dropped."""
    index = pd.DatetimeIndex(pd.to_datetime(frame.index)).normalize()
    if index.tz is not None:
        index = index.tz_localize(None)
    moved = frame.set_axis(index.date, axis=0)
    moved = moved[~moved.index.duplicated(keep="last")]
    return moved.reindex(list(sessions))


def observations_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the observation columns only, `day` as `datetime.date` and the
    figures as floats, whatever types its reader gave them."""
    out = frame[list(COLUMNS)].copy()
    out["day"] = pd.to_datetime(out["day"]).dt.date
    for column in ("confidence", "var", "es", "realised_return"):
        out[column] = out[column].astype(float)
    return out


def confidences(policy: Policy) -> tuple[float, ...]:
    """The confidences forecasts are made and backtested at: VaR's, then ES's."""
    tail = policy.tail_risk
    return tuple(dict.fromkeys((tail.var_confidence, tail.expected_shortfall_confidence)))


def load_offline(
    name: str,
    policy: Policy,
    calendar: MarketCalendar,
    *,
    as_of: date | None = None,
    since: date | None = None,
) -> Dataset:
    """An offline dataset as of `as_of` (default: the history's last day) from `since`
    (default: the first day with a forecast, `var_window_days` returns in).

    Raises:
        SpanError: a date outside the history, or `as_of` not an exchange day.
    """
    spec = OFFLINE[name]
    window = policy.validation.var_window_days
    prices = closes(spec.symbols)
    # The first price has no return before it.
    returns = portfolio_returns(prices, spec.portfolios).iloc[1:]
    days = list(pd.DatetimeIndex(returns.index).date)
    first_forecast, last = days[window], days[-1]
    as_of = as_of or last
    if as_of > last:
        raise SpanError(f"the {name} history ends on {last}; --date {as_of} is after it")
    if as_of < first_forecast:
        raise SpanError(
            f"the {name} history's first forecast is for {first_forecast} (it needs "
            f"{window} returns before it); --date {as_of} is before it"
        )
    check_session(calendar, as_of, "--date")
    since = since or first_forecast
    if since < first_forecast:
        raise SpanError(
            f"the {name} history's first forecast is for {first_forecast} (it needs "
            f"{window} returns before it); --since {since} is before it"
        )
    if since > as_of:
        raise SpanError(f"--since {since} is after --date {as_of}")
    first = next(k for k, day in enumerate(days) if day >= since)
    end = days.index(as_of) + 1
    observations = forecast_history(
        returns.iloc[:end],
        first,
        window,
        policy.tail_risk.methods,
        confidences(policy),
    )
    span = Span(sessions_between(calendar, days[first], as_of))
    return Dataset(
        name=name,
        span=span,
        closes=on_sessions(prices, span.sessions),
        returns=on_sessions(returns, span.sessions),
        observations=observations_frame(observations),
    )
