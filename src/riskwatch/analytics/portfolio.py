"""Portfolio figures from positions and prices.

Inputs are pandas frames indexed by date with one column per symbol: ``positions``
holds quantities (shares, contracts; negative for shorts) and ``prices`` the prices
used to value them, on the same index and symbols. Results are pandas objects on the
same labels; the arithmetic runs on numpy arrays.

Prices must be finite and non-negative: a NaN price raises rather than silently
valuing a position at zero (forward-fill the prices first if that is what is meant).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from riskwatch.analytics._validation import FloatArray, as_float_array

UNKNOWN_SECTOR = "UNKNOWN"
"""Sector of a symbol missing from the sector map."""

_Frame = TypeVar("_Frame", pd.Series, pd.DataFrame)


def market_values(positions: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Market value ``quantity * price`` of every position (signed)."""
    quantity, price = _positions_and_prices(positions, prices)
    return pd.DataFrame(quantity * price, index=positions.index, columns=positions.columns)


def daily_pnl(positions: pd.DataFrame, prices: pd.DataFrame) -> pd.Series:
    """P&L per period from holding the previous period's positions.

    ``pnl[t] = sum_i quantity[t-1, i] * (price[t, i] - price[t-1, i])``. The first
    period has no previous holdings and its P&L is 0. Intraday trading P&L is not
    captured: positions are assumed to change at the close.
    """
    quantity, price = _positions_and_prices(positions, prices)
    pnl = np.zeros(quantity.shape[0])
    if quantity.shape[0] > 1:
        pnl[1:] = np.einsum("ij,ij->i", quantity[:-1], np.diff(price, axis=0))
    return pd.Series(pnl, index=positions.index, name="pnl")


def equity_curve(positions: pd.DataFrame, prices: pd.DataFrame, initial_equity: float) -> pd.Series:
    """Equity ``initial_equity + cumulative daily P&L`` (see :func:`daily_pnl`)."""
    start = _positive(initial_equity, "initial_equity")
    pnl = daily_pnl(positions, prices)
    return pd.Series(start + np.cumsum(pnl.to_numpy()), index=pnl.index, name="equity")


def drawdown_series(equity: _Frame) -> _Frame:
    """Fall from the running peak as a positive fraction: ``1 - equity / peak``.

    0 at a new high, 1 when equity reaches 0 (it exceeds 1 only if equity turns
    negative). Works column-wise on a DataFrame of equity curves.

    Raises:
        ValueError: if equity is NaN or infinite, or its running peak is not positive
            (a drawdown from a non-positive peak is undefined).
    """
    values = as_float_array(equity, "equity")
    if np.isnan(values).any():
        raise ValueError("equity contains NaN values")
    if values.shape[0] == 0:
        return equity.copy()
    peak = np.maximum.accumulate(values, axis=0)
    if (peak <= 0).any():
        raise ValueError("equity must have a positive running peak to define a drawdown")
    drawdown = 1.0 - values / peak
    if isinstance(equity, pd.DataFrame):
        return pd.DataFrame(drawdown, index=equity.index, columns=equity.columns)
    return pd.Series(drawdown, index=equity.index, name="drawdown")


def current_drawdown(equity: pd.Series) -> float:
    """The drawdown at the last observation of ``equity`` (see :func:`drawdown_series`)."""
    series = drawdown_series(equity)
    if len(series) == 0:
        raise ValueError("too few observations: equity is empty")
    return float(series.iloc[-1])


def gross_exposure(values: pd.DataFrame) -> pd.Series:
    """Sum of absolute market values per date (from :func:`market_values`)."""
    array = _market_value_array(values)
    return pd.Series(np.abs(array).sum(axis=1), index=values.index, name="gross_exposure")


def net_exposure(values: pd.DataFrame) -> pd.Series:
    """Sum of signed market values per date: longs minus shorts."""
    array = _market_value_array(values)
    return pd.Series(array.sum(axis=1), index=values.index, name="net_exposure")


def position_weights(
    values: pd.DataFrame, portfolio_value: pd.Series | float | None = None
) -> pd.DataFrame:
    """Signed weight of each position: market value over portfolio value.

    Args:
        values: market values (dates x symbols).
        portfolio_value: the denominator per date (a Series on the same index) or a
            constant; it must be positive. By default the gross exposure, so absolute
            weights sum to 1; a date with no positions then has all weights 0.
    """
    array = _market_value_array(values)
    if portfolio_value is None:
        gross = np.abs(array).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = np.where(gross[:, np.newaxis] > 0, array / gross[:, np.newaxis], 0.0)
    else:
        denominator = _denominator(portfolio_value, values.index)
        weights = array / denominator[:, np.newaxis]
    return pd.DataFrame(weights, index=values.index, columns=values.columns)


def sector_weights(weights: _Frame, sectors: Mapping[str, str], *, absolute: bool = True) -> _Frame:
    """Weights summed by sector.

    Args:
        weights: position weights, a DataFrame (dates x symbols) or a Series (symbols).
        sectors: symbol to sector; symbols missing from it count as ``UNKNOWN``.
        absolute: sum absolute weights (the default, a concentration measure, so a
            long and a short in one sector do not cancel) or signed weights.

    Returns:
        A DataFrame (dates x sectors) or a Series (sectors), sectors sorted by name.
    """
    symbols = weights.index if isinstance(weights, pd.Series) else weights.columns
    labels = [str(sectors.get(str(symbol), UNKNOWN_SECTOR)) for symbol in symbols]
    names = sorted(set(labels))
    code = {name: i for i, name in enumerate(names)}
    membership = np.zeros((len(labels), len(names)))
    membership[np.arange(len(labels)), [code[label] for label in labels]] = 1.0
    array = as_float_array(weights, "weights")
    if np.isnan(array).any():
        raise ValueError("weights contain NaN values")
    if absolute:
        array = np.abs(array)
    summed = array @ membership
    if isinstance(weights, pd.Series):
        return pd.Series(summed, index=pd.Index(names, name="sector"), name="sector_weight")
    return pd.DataFrame(summed, index=weights.index, columns=pd.Index(names, name="sector"))


def turnover(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    portfolio_value: pd.Series | float | None = None,
) -> pd.Series:
    """Traded value per period as a fraction of the book.

    ``traded[t] = sum_i |quantity[t, i] - quantity[t-1, i]| * price[t, i]``, divided by
    ``portfolio_value`` (Series or constant, positive) or, by default, by the average
    gross exposure of periods ``t-1`` and ``t``. The first period is NaN: its trades
    are unknown. A period with no book on either side has turnover 0.
    """
    quantity, price = _positions_and_prices(positions, prices)
    traded = np.full(quantity.shape[0], np.nan)
    if quantity.shape[0] > 1:
        traded[1:] = np.einsum("ij,ij->i", np.abs(np.diff(quantity, axis=0)), price[1:])
    if portfolio_value is not None:
        result = traded / _denominator(portfolio_value, positions.index)
    else:
        gross = np.abs(quantity * price).sum(axis=1)
        book = np.full(quantity.shape[0], np.nan)
        book[1:] = (gross[1:] + gross[:-1]) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            result = np.where(book > 0, traded / book, np.where(np.isnan(book), np.nan, 0.0))
    return pd.Series(result, index=positions.index, name="turnover")


def average_daily_volume(volumes: pd.DataFrame, window: int = 20) -> pd.DataFrame:
    """Trailing mean of the last ``window`` daily volumes (default 20), per symbol.

    The first ``window - 1`` rows are NaN. Volumes must be finite and non-negative.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1; got {window}")
    array = as_float_array(volumes, "volumes")
    if np.isnan(array).any() or (array < 0).any():
        raise ValueError("volumes must be non-negative and not NaN")
    result = np.full(array.shape, np.nan)
    if array.shape[0] >= window:
        windows = np.lib.stride_tricks.sliding_window_view(array, window, axis=0)
        result[window - 1 :] = windows.mean(axis=-1)
    return pd.DataFrame(result, index=volumes.index, columns=volumes.columns)


def adv_fraction(quantity: Any, adv: Any) -> float | FloatArray:
    """Order size as a fraction of average daily volume: ``|quantity| / adv``.

    Scalars give a float, arrays an array (broadcast). ``adv`` must be positive.
    """
    size = as_float_array(quantity, "quantity")
    volume = as_float_array(adv, "adv")
    if np.isnan(size).any():
        raise ValueError("quantity contains NaN values")
    if np.isnan(volume).any() or (volume <= 0).any():
        raise ValueError("adv must be positive")
    fraction = np.abs(size) / volume
    return float(fraction) if fraction.ndim == 0 else fraction


@dataclass(frozen=True)
class PortfolioFigures:
    """The portfolio figures the agents publish, computed together."""

    equity: pd.Series
    drawdown: pd.Series
    current_drawdown: float
    daily_pnl: pd.Series
    gross_exposure: pd.Series
    net_exposure: pd.Series
    weights: pd.Series
    """Latest position weights over the latest equity."""
    sector_weights: pd.Series
    """Latest absolute sector weights over the latest equity."""
    turnover: pd.Series


def portfolio_figures(
    positions: pd.DataFrame,
    prices: pd.DataFrame,
    initial_equity: float,
    sectors: Mapping[str, str] | None = None,
) -> PortfolioFigures:
    """Every portfolio figure from one set of positions and prices.

    Weights use equity as portfolio value; turnover uses the default (average gross
    exposure). See the individual functions for the conventions.

    Raises:
        ValueError: on misaligned frames, NaN or negative prices, an empty history, or
            a non-positive latest equity (weights over it are undefined).
    """
    if len(positions.index) == 0:
        raise ValueError("too few observations: positions are empty")
    values = market_values(positions, prices)
    equity = equity_curve(positions, prices, initial_equity)
    drawdown = drawdown_series(equity)
    latest_weights = position_weights(values.iloc[[-1]], float(equity.iloc[-1])).iloc[-1]
    return PortfolioFigures(
        equity=equity,
        drawdown=drawdown,
        current_drawdown=float(drawdown.iloc[-1]),
        daily_pnl=daily_pnl(positions, prices),
        gross_exposure=gross_exposure(values),
        net_exposure=net_exposure(values),
        weights=latest_weights,
        sector_weights=sector_weights(latest_weights, sectors or {}),
        turnover=turnover(positions, prices),
    )


def _positions_and_prices(
    positions: pd.DataFrame, prices: pd.DataFrame
) -> tuple[FloatArray, FloatArray]:
    if not isinstance(positions, pd.DataFrame) or not isinstance(prices, pd.DataFrame):
        raise ValueError("positions and prices must be pandas DataFrames (dates x symbols)")
    if not positions.index.equals(prices.index):
        raise ValueError("shape mismatch: positions and prices must share the same index")
    missing = positions.columns.difference(prices.columns)
    if len(missing):
        raise ValueError(f"shape mismatch: no prices for symbols {list(missing)[:10]}")
    quantity = as_float_array(positions, "positions")
    price = as_float_array(prices[positions.columns], "prices")
    if np.isnan(quantity).any():
        raise ValueError("positions contain NaN values; use 0 for no position")
    bad = np.isnan(price) | (price < 0)
    if bad.any():
        columns = np.flatnonzero(np.any(bad, axis=0))
        symbols = sorted(str(symbol) for symbol in positions.columns[columns])
        raise ValueError(f"prices must be non-negative and not NaN; bad prices for {symbols[:10]}")
    return quantity, price


def _market_value_array(values: pd.DataFrame) -> FloatArray:
    array = as_float_array(values, "market values")
    if array.ndim != 2:
        raise ValueError(f"market values must be 2-D (dates x symbols); got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError("market values contain NaN values")
    return array


def _positive(value: float, name: str) -> float:
    number = float(value)
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a positive number; got {value!r}")
    return number


def _denominator(portfolio_value: pd.Series | float, index: pd.Index) -> FloatArray:
    if isinstance(portfolio_value, pd.Series):
        if not portfolio_value.index.equals(index):
            raise ValueError("shape mismatch: portfolio_value must share the positions' index")
        array = as_float_array(portfolio_value, "portfolio_value")
    else:
        array = np.full(len(index), float(portfolio_value))
    if not (array > 0).all():
        raise ValueError("portfolio_value must be positive")
    return array
