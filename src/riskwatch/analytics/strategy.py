"""The trading model's daily returns, vectorised: what the nightly validation scores.

The desk's reference model (`MomentumModel` in the trading agent) predicts that each
symbol keeps moving the way it last moved. Its daily equivalent here holds each symbol
long after an up day and short after a down day, one equal share of the book per
symbol, rebalanced every day:

    position[t, i] = sign(returns[t - 1, i])
    strategy[t]    = mean over i of position[t, i] * returns[t, i]

`rolling_windows` cuts a daily series into the windows the validation reports on.

Pure functions: no I/O, no settings. Returns are simple returns; NaN marks a missing
bar and is skipped, never read as a flat day.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from riskwatch.analytics._validation import FloatArray, as_returns_matrix

IntArray = np.ndarray[Any, np.dtype[np.intp]]


def momentum_positions(returns: Any) -> FloatArray:
    """Each symbol's position on each day: the sign of its previous day's return.

    +1 after an up day, -1 after a down day, 0 after a flat one; NaN on the first day
    and after a missing return, where the model has nothing to go on.

    Args:
        returns: daily simple returns, ``(T,)`` or ``(T, N)`` with one symbol per column.

    Returns:
        An array shaped like `returns`.
    """
    data, one_d = as_returns_matrix(returns, "returns")
    positions = np.full_like(data, np.nan)
    positions[1:] = np.sign(data[:-1])
    return positions[:, 0] if one_d else positions


def momentum_returns(returns: Any) -> FloatArray:
    """The momentum model's daily return: equal weight across the symbols it can trade.

    ``strategy[t]`` is the mean of ``position[t, i] * returns[t, i]`` over the symbols
    with both a position and a return that day (`momentum_positions`); NaN on a day
    where no symbol has both.

    Args:
        returns: daily simple returns, ``(T,)`` or ``(T, N)`` with one symbol per column.

    Returns:
        An array of T daily strategy returns.
    """
    data, _ = as_returns_matrix(returns, "returns")
    pnl = momentum_positions(data) * data
    traded = np.count_nonzero(~np.isnan(pnl), axis=1)
    total = np.nansum(pnl, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(traded > 0, total / np.maximum(traded, 1), np.nan)


def rolling_windows(length: int, window: int, step: int) -> IntArray:
    """The start index of each window of `window` rows, every `step` rows, over a
    series of `length` rows, anchored on the end: the last window ends on the last row,
    so the newest data is always scored.

    Returns:
        The start indices, oldest first; empty when the series is shorter than a window.
    """
    if window < 1 or step < 1:
        raise ValueError(f"window and step must be at least 1, got {window} and {step}")
    last_start = length - window
    if last_start < 0:
        return np.empty(0, dtype=np.intp)
    return np.arange(last_start, -1, -step, dtype=np.intp)[::-1]
