"""VaR and ES backtests of every portfolio, method and confidence in an observations
frame (forecasts beside realised returns), over the policy's window and the span.

Per (portfolio, method, confidence):

- `window`: the last `backtest_days` sessions ending on the validated day, the
  regulators' span: exceptions, Kupiec, Christoffersen, conditional coverage, the
  Basel zone and Acerbi-Szekely's Z2 (`riskwatch.analytics.backtest`);
- `history`: the same over the whole span (for the offline datasets, the history);
- `rolling`: the exceptions and zone of the `backtest_days` sessions ending on each
  day of the span, the traffic light over time.

The zone and the Z2 verdict use the policy's probabilities and critical value
(`policy.validation`), not the analytics' defaults, so a desk that changes them in
policy.yaml changes them here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from riskwatch.analytics.backtest import (
    ZONES,
    ESBacktest,
    VaRBacktest,
    Zone,
    es_backtest,
    var_backtest,
)
from riskwatch.policy import Validation

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def zone_levels(
    exceptions: Any, observations: Any, confidence: float, policy: Validation
) -> FloatArray:
    """The Basel zone index (0, 1, 2) of each exception count in as many days.

    With F the binomial probability of that many exceptions or fewer at
    ``p = 1 - confidence``: green below `zone_yellow_probability`, red from
    `zone_red_probability`, yellow between. NaN where there is no observation.
    """
    x = np.asarray(exceptions, dtype=float)
    n = np.asarray(observations, dtype=float)
    cumulative = stats.binom.cdf(x, n, 1.0 - confidence)
    level = (cumulative >= policy.zone_yellow_probability).astype(float)
    level += cumulative >= policy.zone_red_probability
    return np.where(n > 0, level, np.nan)


def zone_of(exceptions: int, observations: int, confidence: float, policy: Validation) -> Zone:
    """The Basel zone of `exceptions` in `observations` days (see `zone_levels`)."""
    return ZONES[int(zone_levels(exceptions, observations, confidence, policy))]


def zone_bounds(observations: int, confidence: float, policy: Validation) -> tuple[int, int]:
    """The fewest exceptions in `observations` days that are yellow, and red: at 99%
    over 250 days, (5, 10)."""
    counts = np.arange(observations + 2)
    levels = zone_levels(counts, np.full(counts.size, observations), confidence, policy)
    return int(np.argmax(levels >= 1)), int(np.argmax(levels >= 2))


@dataclass(frozen=True)
class Backtest:
    """A VaR backtest, and the ES backtest at the same confidence, over some days."""

    start: date
    end: date
    var: VaRBacktest
    es: ESBacktest | None
    """None when no exception day has a usable ES forecast to test."""


@dataclass(frozen=True)
class GroupBacktest:
    """One portfolio, method and confidence: its window, span and rolling record."""

    portfolio: str
    method: str
    confidence: float
    window: Backtest | None
    """The last `backtest_days` sessions; None without a forecast and return there."""
    history: Backtest | None
    rolling_exceptions: FloatArray
    """Exceptions in the `backtest_days` sessions ending on each session of the span;
    NaN until the span holds that many sessions."""
    rolling_zone: FloatArray
    """The zone index of `rolling_exceptions` (0 green, 1 yellow, 2 red), or NaN."""


def _backtest(frame: pd.DataFrame, confidence: float, policy: Validation) -> Backtest | None:
    usable = frame.dropna(subset=["var", "realised_return"])
    if usable.empty:
        return None
    r, v = usable["realised_return"].to_numpy(), usable["var"].to_numpy()
    var = var_backtest(r, v, confidence)
    var = dataclasses.replace(var, zone=zone_of(var.exceptions, var.n, confidence, policy))
    es: ESBacktest | None = None
    tested = usable.dropna(subset=["es"])
    hits = tested["realised_return"] < -tested["var"]
    if not tested.empty and (tested.loc[hits, "es"] > 0).all():
        es = es_backtest(tested["realised_return"], tested["var"], tested["es"], confidence)
        es = dataclasses.replace(es, rejected=es.z2 < policy.es_z2_critical)
    days = usable["day"]
    return Backtest(start=days.min(), end=days.max(), var=var, es=es)


def _rolling(
    frame: pd.DataFrame, sessions: Sequence[date], confidence: float, policy: Validation
) -> tuple[FloatArray, FloatArray]:
    on_sessions = frame.set_index("day").reindex(list(sessions))
    r = on_sessions["realised_return"].to_numpy(dtype=float)
    v = on_sessions["var"].to_numpy(dtype=float)
    valid = ~(np.isnan(r) | np.isnan(v))
    hit = valid & (np.where(valid, r, 0.0) < -np.where(valid, v, 0.0))
    days = policy.backtest_days
    exceptions = np.full(len(sessions), np.nan)
    observations = np.full(len(sessions), np.nan)
    if len(sessions) >= days:
        # Trailing sums by differences of cumulative sums: one pass for every day.
        hits = np.concatenate([[0], np.cumsum(hit)])
        seen = np.concatenate([[0], np.cumsum(valid)])
        exceptions[days - 1 :] = hits[days:] - hits[:-days]
        observations[days - 1 :] = seen[days:] - seen[:-days]
    zone = zone_levels(np.nan_to_num(exceptions), np.nan_to_num(observations), confidence, policy)
    return exceptions, np.where(np.isnan(exceptions), np.nan, zone)


def backtest_all(
    observations: pd.DataFrame, sessions: Sequence[date], policy: Validation
) -> list[GroupBacktest]:
    """Backtest every (portfolio, method, confidence) of `observations` over the span
    `sessions` (oldest first; rows on other days are left out)."""
    in_span = observations[observations["day"].isin(set(sessions))]
    window = set(sessions[-policy.backtest_days :])
    results = []
    for key, group in in_span.groupby(["portfolio", "method", "confidence"], sort=True):
        portfolio, method, _ = key
        group = group.sort_values("day")
        c = float(group["confidence"].iloc[0])
        exceptions, zone = _rolling(group, sessions, c, policy)
        results.append(
            GroupBacktest(
                portfolio=str(portfolio),
                method=str(method),
                confidence=c,
                window=_backtest(group[group["day"].isin(window)], c, policy),
                history=_backtest(group, c, policy),
                rolling_exceptions=exceptions,
                rolling_zone=zone,
            )
        )
    return results
