"""Rolling VaR and ES forecasts over a history, in the forecast log's shape.

The offline datasets have no forecast log: their forecasts are made here as the
agents would have made them each evening, from the `var_window_days` returns before
the day, with every method of the policy at the VaR and the ES confidence. The result
has the columns of `ForecastLog.history()`, so the desk's log and a rebuilt history
are backtested by the same code.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskwatch.analytics.backtest import rolling_tail

MIN_CHUNK_DAYS = 500
"""Fewer days than this a chunk are not worth a process (it costs ~1 s to start)."""

COLUMNS = ("portfolio", "method", "confidence", "day", "var", "es", "realised_return")
"""The columns of an observations frame (as `ForecastLog.history()` less `made_at`)."""


def forecast_history(
    returns: pd.DataFrame,
    first: int,
    window: int,
    methods: Sequence[str],
    confidences: Sequence[float],
    *,
    workers: int | None = None,
) -> pd.DataFrame:
    """Every method's forecasts for the days from row `first` on, with what happened.

    Args:
        returns: daily simple returns, one column per portfolio, indexed by session
            date; rows ``first - window`` to ``first - 1`` estimate the first forecast.
        first: the row of the first day to forecast (at least `window`).
        window: returns per forecast (the policy's `var_window_days`).
        methods: VaR/ES methods (the policy's `tail_risk.methods`).
        confidences: the VaR and ES confidences.
        workers: processes to spread the windows over (default: one per CPU).

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
    figures = _rolling_figures(data, window, methods, confidences, workers or os.cpu_count() or 1)
    frames = []
    for method in methods:
        for confidence, (var, es) in figures[method].items():
            for column, portfolio in enumerate(returns.columns):
                frames.append(
                    pd.DataFrame(
                        {
                            "portfolio": portfolio,
                            "method": method,
                            "confidence": confidence,
                            "day": days.date,
                            "var": var[:, column],
                            "es": es[:, column],
                            "realised_return": data[window:, column],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)[list(COLUMNS)]


FloatArray = npt.NDArray[np.float64]
Figures = dict[float, tuple[FloatArray, FloatArray]]


def _rolling_figures(
    data: FloatArray,
    window: int,
    methods: Sequence[str],
    confidences: Sequence[float],
    workers: int,
) -> dict[str, Figures]:
    """Each method's VaR and ES for rows `window` on, per confidence.

    One estimate (one GARCH fit for filtered_historical) per window serves every
    confidence and both figures. Twenty years of history is ~4,800 windows a column,
    and a GARCH fit takes ~15 ms: the days are cut into chunks (each with the
    `window` returns before it, so every forecast is the same as in one pass) and
    the chunks run in `workers` processes.
    """
    days = data.shape[0] - window
    chunks = max(1, min(workers, days // MIN_CHUNK_DAYS))
    bounds = np.linspace(0, days, chunks + 1).astype(int)
    jobs = [(method, int(a), int(b)) for method in methods for a, b in pairwise(bounds)]
    if chunks == 1:
        results = [_chunk(data, window, confidences, *job) for job in jobs]
    else:
        # spawn, not fork: a forked child inherits the parent's threads' locks.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(chunks, mp_context=context) as pool:
            results = list(
                pool.map(
                    _chunk,
                    *zip(*[(data, window, tuple(confidences), *job) for job in jobs], strict=True),
                )
            )
    out: dict[str, Figures] = {}
    for (method, _, _), part in zip(jobs, results, strict=True):
        merged = out.setdefault(method, {})
        for confidence, (var, es) in part.items():
            if confidence in merged:
                before_var, before_es = merged[confidence]
                var, es = np.vstack([before_var, var]), np.vstack([before_es, es])
            merged[confidence] = (var, es)
    return out


def _chunk(
    data: FloatArray,
    window: int,
    confidences: Sequence[float],
    method: str,
    start: int,
    end: int,
) -> Figures:
    """The forecasts for days `start` to `end` (counted from row `window`)."""
    rows = data[start : end + window]
    figures = rolling_tail(rows, window, confidences, method)
    return {c: (v.var[window:], v.es[window:]) for c, v in figures.items()}
