"""A book's figures on N rows at once: value, exposures, weights, drawdown, returns.

The trading agent calls these with one row (its latest prices) and the historical
backfill with every instant of its timeline, so both publish the numbers of one
implementation. Rows are instants, columns are the book's holdings, in one order.
Unlike `riskwatch.analytics.portfolio`, nothing here rejects NaN: a row without
prices (before the agent's first run, in the backfill) gives NaN figures, as a
gauge that was not yet published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskwatch.analytics._validation import FloatArray


@dataclass(frozen=True)
class BookValues:
    """A book's value and exposures per row (see :func:`book_values`)."""

    values: FloatArray
    """Signed market value ``quantity x price`` per row and holding, ``(N, S)``."""
    value: FloatArray
    """Portfolio value: cash plus the market values, ``(N,)``."""
    gross: FloatArray
    """Gross exposure: the sum of absolute market values, ``(N,)``."""
    net: FloatArray
    """Net exposure: the sum of signed market values, ``(N,)``."""
    weights: FloatArray
    """Signed weight of each holding: its market value over the portfolio value."""
    sector_weights: dict[str, FloatArray]
    """Per sector, in first-holding order: its absolute market values over the value."""


def book_values(prices: Any, quantity: Any, cash: float, sectors: Sequence[str]) -> BookValues:
    """Value, exposures and weights of a constant book at N rows of prices.

    Args:
        prices: ``(N, S)`` prices of the S holdings at N instants (NaN for none).
        quantity: ``(S,)`` signed quantities.
        cash: the cash balance.
        sectors: ``S`` sector names, one per holding.
    """
    values = np.asarray(prices, dtype=np.float64) * np.asarray(quantity, dtype=np.float64)
    value = portfolio_value(values, cash)
    absolute = np.abs(values)
    members: dict[str, list[int]] = {}
    for k, sector in enumerate(sectors):
        members.setdefault(sector, []).append(k)
    return BookValues(
        values=values,
        value=value,
        gross=absolute.sum(axis=-1),
        net=values.sum(axis=-1),
        weights=values / value[..., None],
        sector_weights={s: absolute[..., k].sum(axis=-1) / value for s, k in members.items()},
    )


def portfolio_value(values: Any, cash: float) -> FloatArray:
    """Cash plus the sum of market values over the last axis (holdings)."""
    total: FloatArray = np.asarray(values, dtype=np.float64).sum(axis=-1) + cash
    return total


def running_peak(value: Any, previous: float | None = None) -> FloatArray:
    """The highest value so far at each row, and at least ``previous`` (a peak recorded
    before these rows). NaN rows are skipped; before the first value the peak is NaN
    unless ``previous`` is given."""
    # fmax ignores NaN, so a row without a value neither lowers nor resets the peak.
    peak: FloatArray = np.fmax.accumulate(np.asarray(value, dtype=np.float64), axis=0)
    return peak if previous is None else np.fmax(peak, previous)


def drawdown(value: Any, peak: Any) -> FloatArray:
    """Fall from the peak as a positive fraction, ``max(0, 1 - value / peak)``."""
    fall: FloatArray = np.maximum(
        1.0 - np.asarray(value, dtype=np.float64) / np.asarray(peak, dtype=np.float64), 0.0
    )
    return fall


def pnl_since(value: Any, base: Any) -> FloatArray:
    """P&L since a base value (the day's, for daily P&L): ``value - base``."""
    pnl: FloatArray = np.asarray(value, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    return pnl


def notional(quantity: Any, price: Any) -> FloatArray:
    """Traded notional of fills, ``|quantity x price|`` (sides do not offset)."""
    traded: FloatArray = np.abs(
        np.asarray(quantity, dtype=np.float64) * np.asarray(price, dtype=np.float64)
    )
    return traded


def turnover_ratio(traded: Any, value: Any) -> FloatArray:
    """Today's traded notional over the portfolio value."""
    ratio: FloatArray = np.asarray(traded, dtype=np.float64) / np.asarray(value, dtype=np.float64)
    return ratio


def simple_returns(levels: Any) -> FloatArray:
    """Period-over-period simple returns along the first axis: ``x[t] / x[t-1] - 1``.

    One row fewer than ``levels``; prices or equity, one column per series.
    """
    array = np.asarray(levels, dtype=np.float64)
    moves: FloatArray = array[1:] / array[:-1] - 1.0
    return moves


def trailing_mean(values: Any, ends: Any, window: int) -> FloatArray:
    """Mean of the (up to) ``window`` rows before each of ``ends``, NaN skipped (average
    daily volume): ``(T, S)`` values and N ends give ``(N, S)``; NaN where a column has
    no value there."""
    array = np.asarray(values, dtype=np.float64)
    index = np.asarray(ends, dtype=np.intp)[:, None] - window + np.arange(window)[None, :]
    rows = array[np.maximum(index, 0)]  # (N, window, S); rows before the first are masked
    present = ~np.isnan(rows) & (index >= 0)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean: FloatArray = np.where(present, rows, 0.0).sum(axis=1) / present.sum(axis=1)
    return mean
