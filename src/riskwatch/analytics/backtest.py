"""VaR and ES backtests: does the model's forecast hold against what happened?

- `rolling_tail`: the VaR and ES forecasts for each day from the `window` returns
  before it, at several confidences, with the same `tail_figures` as the agents'
  `value_at_risk` and `expected_shortfall`, on every window at once (one estimate, or
  one GARCH fit, per window); `rolling_var` is its VaR at one confidence.
- `var_backtest`: exceptions (days whose return fell below minus the VaR forecast),
  Kupiec's proportion-of-failures test, Christoffersen's independence test, their sum
  (conditional coverage) and the Basel traffic-light zone.
- `es_backtest`: Acerbi and Székely's Z2 test of Expected Shortfall ("Backtesting
  Expected Shortfall", Risk, 2014), which needs no distributional model, only the
  realised returns and the VaR and ES forecasts.

Pure functions: no I/O, no settings. Returns are simple returns (losses negative);
VaR and ES are positive loss fractions, as the agents publish them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special, stats

from riskwatch.analytics._validation import as_float_array, as_returns_matrix, tail_probability
from riskwatch.analytics.tail_risk import (
    VaRES,
    VaRMethod,
    minimum_observations,
    tail_figures,
    tail_probabilities,
)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Zone = Literal["green", "yellow", "red"]
ZONES: tuple[Zone, ...] = ("green", "yellow", "red")
"""The Basel zones in order: a zone's index is its level, as `riskwatch_validation_var_zone`
publishes it (0 green, 1 yellow, 2 red)."""


def zone_alert_name(zone: Zone) -> str:
    """The alert a backtest in `zone` fires (VaRBacktestYellow, VaRBacktestRed): one
    name for the rule that fires it and for whoever waits for it (the demo)."""
    return f"VaRBacktest{zone.capitalize()}"


GREEN_BELOW = 0.95
"""Basel: green while the binomial probability of this many exceptions or fewer is
below 95%..."""
RED_FROM = 0.9999
"""...red from 99.99%, yellow in between. At 99% over 250 days: 0-4, 5-9, 10+."""
Z2_CRITICAL_5PCT = -0.70
"""Acerbi and Székely's 5% critical value for Z2, stable across the distributions
they tried (their Table 2); Z2 below it rejects the ES forecast as too small."""


def rolling_var(
    returns: Any,
    window: int = 250,
    confidence: float = 0.99,
    method: VaRMethod | str = VaRMethod.HISTORICAL,
) -> FloatArray:
    """The VaR forecast for each day from the `window` returns before it.

    ``forecast[t] = value_at_risk(returns[t - window:t], confidence, method)``; NaN for
    ``t < window`` and for a window with fewer usable returns than the method needs
    (`minimum_observations`: 2, or 100 for ``filtered_historical``). This is
    `rolling_tail`'s VaR at one confidence; see there.

    Args:
        returns: daily simple returns, ``(T,)`` or ``(T, N)``; NaN is skipped.
        window: returns per forecast, at least the method's minimum.
        confidence: in (0, 1).
        method: a ``VaRMethod`` or its string value.

    Returns:
        An array shaped like `returns`.
    """
    return rolling_tail(returns, window, (confidence,), method)[confidence].var


def rolling_tail(
    returns: Any,
    window: int = 250,
    confidences: Sequence[float] = (0.99, 0.975),
    method: VaRMethod | str = VaRMethod.HISTORICAL,
) -> dict[float, VaRES[FloatArray]]:
    """The VaR and ES forecasts for each day from the `window` returns before it.

    ``[c].var[t] = value_at_risk(returns[t - window:t], c, method)`` and
    ``[c].es[t] = expected_shortfall(returns[t - window:t], c, method)``, exactly: every
    window is one column of a single `tail_figures` call, so the figures are the
    agents' own, and each window is estimated once for every confidence and both
    figures. That matters for ``filtered_historical``, whose GARCH fit (~13 ms per
    250-day window) is nearly all the cost: ~4,500 windows take about a minute,
    for all confidences together. Each fit starts afresh, not from the previous
    window's parameters (`riskwatch.analytics.filtered` says why).

    NaN for ``t < window`` and for a window with fewer usable returns than the method
    needs (`minimum_observations`).

    Args:
        returns: daily simple returns, ``(T,)`` or ``(T, N)``; NaN is skipped.
        window: returns per forecast, at least the method's minimum.
        confidences: one or more, each in (0, 1).
        method: a ``VaRMethod`` or its string value.

    Returns:
        ``{confidence: VaRES(var, es)}``, each array shaped like `returns`.

    Raises:
        ValueError: on a window below the method's minimum, a bad confidence, method or
            input.
    """
    probabilities = tail_probabilities(confidences)  # checked even when no window is full
    minimum = minimum_observations(method)
    if window < minimum:
        raise ValueError(f"window must be at least {minimum} for {method}, got {window}")
    data, one_d = as_returns_matrix(returns, "returns")
    rows, width = data.shape
    forecasts = {
        c: VaRES(np.full((rows, width), np.nan), np.full((rows, width), np.nan))
        for c in probabilities
    }
    if rows > window:
        # windows[k] is returns[k : k + window], the history of day k + window.
        windows = sliding_window_view(data[:-1], window, axis=0)  # (T - window, N, window)
        stacked = windows.transpose(2, 0, 1).reshape(window, -1)  # one column per window
        usable = np.count_nonzero(~np.isnan(stacked), axis=0) >= minimum
        if usable.any():
            figures = tail_figures(stacked[:, usable], confidences, method)
            for c, (var, es) in figures.items():
                for forecast, figure in zip(forecasts[c], (var, es), strict=True):
                    flat = np.full(stacked.shape[1], np.nan)
                    flat[usable] = figure
                    forecast[window:] = flat.reshape(rows - window, width)
    if one_d:
        return {c: VaRES(var[:, 0], es[:, 0]) for c, (var, es) in forecasts.items()}
    return forecasts


@dataclass(frozen=True)
class VaRBacktest:
    """A VaR forecast's record against realised returns."""

    n: int
    """Days with both a return and a forecast."""
    exceptions: int
    """Days whose return fell below minus the forecast."""
    kupiec_lr: float
    kupiec_p: float
    christoffersen_lr: float
    christoffersen_p: float
    conditional_coverage_lr: float
    conditional_coverage_p: float
    zone: Zone


def _aligned(returns: Any, **forecasts: Any) -> tuple[FloatArray, ...]:
    """Returns and forecasts as 1-D arrays of one length, without the days where any
    of them is NaN."""
    arrays = [as_float_array(returns, "returns")]
    arrays += [as_float_array(values, name) for name, values in forecasts.items()]
    shapes = [a.shape for a in arrays]
    if arrays[0].ndim != 1 or len(set(shapes)) != 1:
        names = ", ".join(["returns", *forecasts])
        raise ValueError(f"{names} must be 1-D and of one length; got shapes {shapes}")
    kept = ~np.any([np.isnan(a) for a in arrays], axis=0)
    if not kept.any():
        raise ValueError(f"no day has returns and every forecast ({', '.join(forecasts)})")
    return tuple(a[kept] for a in arrays)


def _log_likelihood(counts: FloatArray, probabilities: FloatArray) -> float:
    """sum(count ln p), with 0 ln 0 = 0."""
    return float(np.sum(special.xlogy(counts, probabilities)))


def var_backtest(returns: Any, var: Any, confidence: float = 0.99) -> VaRBacktest:
    """Backtest VaR forecasts: exceptions, Kupiec, Christoffersen and the Basel zone.

    Day t is an exception when ``returns[t] < -var[t]``; pairs with a NaN are skipped
    (the remaining days are taken as consecutive for the independence test).

    - ``kupiec_lr``: the proportion-of-failures likelihood ratio of the exception rate
      against ``p = 1 - confidence``, p-value from chi-squared(1).
    - ``christoffersen_lr``: the independence likelihood ratio from the four
      transition counts of the exception indicator (a first-order Markov chain against
      independence), p-value from chi-squared(1).
    - ``conditional_coverage_lr``: their sum, p-value from chi-squared(2).
    - ``zone``: with F the binomial probability of `exceptions` or fewer in `n` days at
      p, green if F < 0.95, red if F >= 0.9999, yellow otherwise.
    """
    r, forecast = _aligned(returns, var=var)
    p = tail_probability(confidence)
    hits = r < -forecast
    n, x = hits.size, int(hits.sum())
    rate = x / n
    kupiec = -2.0 * (
        _log_likelihood(np.array([n - x, x]), np.array([1 - p, p]))
        - _log_likelihood(np.array([n - x, x]), np.array([1 - rate, rate]))
    )
    before, after = hits[:-1], hits[1:]
    n00 = int(np.sum(~before & ~after))
    n01 = int(np.sum(~before & after))
    n10 = int(np.sum(before & ~after))
    n11 = int(np.sum(before & after))
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    transitions = n00 + n01 + n10 + n11
    pi = (n01 + n11) / transitions if transitions else 0.0
    independence = -2.0 * (
        _log_likelihood(np.array([n00 + n10, n01 + n11]), np.array([1 - pi, pi]))
        - _log_likelihood(np.array([n00, n01, n10, n11]), np.array([1 - pi0, pi0, 1 - pi1, pi1]))
    )
    # Rounding can leave a likelihood ratio a hair below zero.
    kupiec, independence = max(kupiec, 0.0), max(independence, 0.0)
    coverage = kupiec + independence
    cumulative = float(stats.binom.cdf(x, n, p))
    zone: Zone = (
        "green" if cumulative < GREEN_BELOW else "red" if cumulative >= RED_FROM else "yellow"
    )
    return VaRBacktest(
        n=n,
        exceptions=x,
        kupiec_lr=kupiec,
        kupiec_p=float(stats.chi2.sf(kupiec, 1)),
        christoffersen_lr=independence,
        christoffersen_p=float(stats.chi2.sf(independence, 1)),
        conditional_coverage_lr=coverage,
        conditional_coverage_p=float(stats.chi2.sf(coverage, 2)),
        zone=zone,
    )


@dataclass(frozen=True)
class ESBacktest:
    """An ES forecast's record: Acerbi and Székely's Z2."""

    n: int
    exceptions: int
    z2: float
    """0 when ES is right on average; negative when losses beyond VaR were larger than
    forecast."""
    rejected: bool
    """Z2 below the 5% critical value (`Z2_CRITICAL_5PCT`)."""


def es_backtest(returns: Any, var: Any, es: Any, confidence: float = 0.975) -> ESBacktest:
    """Acerbi and Székely's Z2 test of Expected Shortfall forecasts.

    ``Z2 = sum_t r_t I_t / (T (1 - confidence) ES_t) + 1``, where ``I_t`` marks the
    VaR exceptions (``r_t < -VaR_t``). Days where any of the three is NaN are skipped.
    """
    r, v, e = _aligned(returns, var=var, es=es)
    if np.any(e[r < -v] <= 0):
        raise ValueError("an ES forecast on an exception day is not a positive loss")
    p = tail_probability(confidence)
    hits = r < -v
    n = r.size
    z2 = float(np.sum(r[hits] / e[hits]) / (n * p) + 1.0)
    return ESBacktest(n=n, exceptions=int(hits.sum()), z2=z2, rejected=z2 < Z2_CRITICAL_5PCT)
