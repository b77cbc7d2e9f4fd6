"""Rolling VaR and ES forecasts over a history, in the forecast log's shape.

The offline datasets have no forecast log: their forecasts are made here as the
agents would have made them each evening, from the `var_window_days` returns before
the day, with every method of the policy at the VaR and the ES confidence. The result
has the columns of `ForecastLog.history()`, so the desk's log and a rebuilt history
are backtested by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from riskwatch.analytics.backtest import rolling_var
from riskwatch.analytics.tail_risk import expected_shortfall

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

COLUMNS = ("portfolio", "method", "confidence", "day", "var", "es", "realised_return")
"""The columns of an observations frame (as `ForecastLog.history()` less `made_at`)."""


def _rolling_es(data: FloatArray, window: int, confidence: float, method: str) -> FloatArray:
    """``es[t] = expected_shortfall(data[t - window:t])`` per column; NaN for t < window."""
    rows, width = data.shape
    es = np.full((rows, width), np.nan)
    if rows > window:
        # windows[k] is data[k : k + window], the history of day k + window.
        stacked = sliding_window_view(data[:-1], window, axis=0).transpose(2, 0, 1)
        flat = expected_shortfall(stacked.reshape(window, -1), confidence, method)
        es[window:] = np.asarray(flat).reshape(rows - window, width)
    return es


def rolling_tail(
    returns: FloatArray, window: int, confidences: Sequence[float], method: str
) -> dict[float, tuple[FloatArray, FloatArray]]:
    """VaR and ES forecasts per confidence: ``[t]`` from ``returns[t - window:t]``.

    Args:
        returns: ``(T, N)`` daily simple returns without NaN.
        window: returns per forecast.
        confidences: the confidences to forecast at.
        method: a `VaRMethod` value.

    Returns:
        ``{confidence: (var, es)}``, each ``(T, N)``, NaN for ``t < window``.
    """
    return {
        c: (
            np.asarray(rolling_var(returns, window, c, method)),
            _rolling_es(returns, window, c, method),
        )
        for c in confidences
    }


def forecast_history(
    returns: pd.DataFrame,
    first: int,
    window: int,
    methods: Sequence[str],
    confidences: Sequence[float],
) -> pd.DataFrame:
    """Every method's forecasts for the days from row `first` on, with what happened.

    Args:
        returns: daily simple returns, one column per portfolio, indexed by session
            date; rows ``first - window`` to ``first - 1`` estimate the first forecast.
        first: the row of the first day to forecast (at least `window`).
        window: returns per forecast (the policy's `var_window_days`).
        methods: VaR/ES methods (the policy's `tail_risk.methods`).
        confidences: the VaR and ES confidences.

    Returns:
        An observations frame (`COLUMNS`), one row per portfolio, method, confidence
        and day.
    """
    if first < window:
        raise ValueError(f"the first forecast needs {window} returns before it, has {first}")
    data = returns.iloc[first - window :].to_numpy(dtype=float)
    if np.isnan(data).any():
        raise ValueError("the returns that make the forecasts have a gap")
    days = pd.DatetimeIndex(returns.index[first:])
    frames = []
    for method in methods:
        for confidence, (var, es) in rolling_tail(data, window, confidences, method).items():
            for column, portfolio in enumerate(returns.columns):
                frames.append(
                    pd.DataFrame(
                        {
                            "portfolio": portfolio,
                            "method": method,
                            "confidence": confidence,
                            "day": days.date,
                            "var": var[window:, column],
                            "es": es[window:, column],
                            "realised_return": data[window:, column],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]
