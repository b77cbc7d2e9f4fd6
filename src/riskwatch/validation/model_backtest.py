"""The trading model's rolling-window backtest over the validated span.

The desk's momentum model (`riskwatch.analytics.strategy.momentum_returns`) is run on
the daily closes of the dataset's symbols and scored per window: `model_window_days`
sessions long, one starting every `model_window_step_days`, the last ending on the
validated day. Each window reports its return, annualised Sharpe ratio and max
drawdown, and whether it is complete: every symbol has a bar on every session of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from riskwatch.analytics.performance import performance_metrics
from riskwatch.analytics.strategy import momentum_returns, rolling_windows
from riskwatch.policy import Validation

MODEL = "momentum"
"""The model scored: the trading agent's reference model."""
TRADING_DAYS_PER_YEAR = 252
# performance_metrics needs two returns for a dispersion.
_MIN_RETURNS = 2


@dataclass(frozen=True)
class ModelWindow:
    """One window of the model backtest."""

    start: date
    end: date
    complete: bool
    """Every symbol has a bar on every session of the window."""
    total_return: float
    """Compounded return of the strategy over the window (NaN without any)."""
    sharpe: float
    """Annualised (252 days) Sharpe ratio of the daily strategy returns."""
    max_drawdown: float
    """Largest fall from a running peak, as a positive fraction."""


@dataclass(frozen=True)
class ModelBacktest:
    """Every window, oldest first."""

    window_days: int
    step_days: int
    windows: tuple[ModelWindow, ...]
    model: str = MODEL

    @property
    def complete_share(self) -> float:
        """Share of the windows that are complete; 0 without a window."""
        if not self.windows:
            return 0.0
        return sum(w.complete for w in self.windows) / len(self.windows)

    @property
    def latest_complete(self) -> ModelWindow | None:
        """The most recent complete window: what the job publishes."""
        return next((w for w in reversed(self.windows) if w.complete), None)


def model_backtest(closes: pd.DataFrame, policy: Validation) -> ModelBacktest:
    """Score the momentum model on `closes` (one column per symbol, one row per
    session of the span, NaN for a missing bar) in the policy's rolling windows."""
    size, step = policy.model_window_days, policy.model_window_step_days
    prices = closes.to_numpy(dtype=float)
    returns = closes.pct_change(fill_method=None).to_numpy(dtype=float)
    strategy = momentum_returns(returns)
    starts = rolling_windows(len(prices), size, step)
    if starts.size == 0:
        return ModelBacktest(size, step, ())
    rows = starts[:, None] + np.arange(size)  # (windows, size)
    per_window = strategy[rows].T  # one column per window
    total = np.prod(1.0 + np.nan_to_num(per_window), axis=0) - 1.0
    counted = np.count_nonzero(~np.isnan(per_window), axis=0)
    total = np.where(counted > 0, total, np.nan)
    sharpe = np.full(starts.size, np.nan)
    drawdown = np.full(starts.size, np.nan)
    scored = counted >= _MIN_RETURNS
    if scored.any():
        figures = performance_metrics(per_window[:, scored], periods_per_year=TRADING_DAYS_PER_YEAR)
        sharpe[scored] = figures["sharpe"]
        drawdown[scored] = figures["max_drawdown"]
    # No symbol at all is no data, not a complete window.
    complete = np.isfinite(prices)[rows].all(axis=(1, 2)) & (prices.shape[1] > 0)
    days = list(closes.index)
    windows = tuple(
        ModelWindow(
            start=days[s],
            end=days[s + size - 1],
            complete=bool(complete[k]),
            total_return=float(total[k]),
            sharpe=float(sharpe[k]),
            max_drawdown=float(drawdown[k]),
        )
        for k, s in enumerate(starts)
    )
    return ModelBacktest(size, step, windows)
