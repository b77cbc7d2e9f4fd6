"""Rolling VaR and ES forecasts over a history, in the forecast log's shape.

The offline datasets have no forecast log: their forecasts are made here as the
agents would have made them each evening, from the `var_window_days` returns before
the day, with every method of the policy at the VaR and the ES confidence. The result
has the columns of `ForecastLog.history()`, so the desk's log and a rebuilt history
are backtested by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from riskwatch.analytics.backtest import rolling_tail

COLUMNS = ("portfolio", "method", "confidence", "day", "var", "es", "realised_return")
"""The columns of an observations frame (as `ForecastLog.history()` less `made_at`)."""


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
        # One estimate (one GARCH fit for filtered_historical) per window serves every
        # confidence and both figures.
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
