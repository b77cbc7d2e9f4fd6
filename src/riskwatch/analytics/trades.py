"""Closed trades: fills matched first-in first-out into round trips, and their statistics.

A fill either adds to a symbol's position (it opens a lot), reduces it (it closes the
oldest open lots first), or goes through zero: its first part closes what is open, its
remainder opens a lot on the other side. Each fill that closes something is one closed
trade, whose P&L is that of the lots it closed; a long position sold in three fills is
three closed trades, and one sale that closes three lots is one.

FIFO per symbol is a matching of units: the k-th unit closed is the k-th unit opened,
since a position that returns to zero has closed every unit it opened. So each
symbol's opened and closed quantities, laid end to end, are two partitions of one
axis, and their overlaps are the matches; no lot-by-lot loop is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from riskwatch.analytics._validation import FloatArray, as_float_array

TRADE_COLUMNS = (
    "symbol",
    "direction",
    "quantity",
    "entry_price",
    "exit_price",
    "opened_at",
    "closed_at",
    "pnl",
)
"""The columns of `closed_trades`, in order."""

# Quantities are floats (fractional shares): a position bought in 0.1 and 0.2 and sold
# in 0.3 must read as closed, though 0.1 + 0.2 - 0.3 is 5.6e-17. Anything within this
# fraction of the symbol's largest fill is zero.
_RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class TradeStatistics:
    """What a set of closed trades' P&Ls says; NaN where a figure is undefined."""

    count: int
    """Closed trades."""
    win_rate: float
    """Share of closed trades with a positive P&L; NaN without trades."""
    profit_factor: float
    """Gross profit over gross loss: inf with profits and no loss, 0 with losses and no
    profit, NaN with neither (as `performance_metrics`' profit_factor)."""
    average_win: float
    """Mean P&L of the winning trades; NaN without one."""
    average_loss: float
    """Mean loss of the losing trades, a positive amount; NaN without one."""


def closed_trades(symbol: Any, quantity: Any, price: Any, time: Any = None) -> pd.DataFrame:
    """Match fills FIFO per symbol into closed trades.

    Args:
        symbol: each fill's symbol (any hashable values).
        quantity: each fill's signed quantity: positive bought, negative sold. A zero
            quantity is no fill.
        price: each fill's price (finite).
        time: each fill's time, for `opened_at` and `closed_at`; default the fill's
            position in the input. Fills must be in the order they were executed.

    Returns:
        One row per fill that closed something, in the order of those fills, indexed
        by the fill's position in the input; columns `TRADE_COLUMNS`:

        - ``direction``: +1 for long lots closed (by a sale), -1 for short ones.
        - ``quantity``: the quantity closed, positive (a flip's remainder is not in it).
        - ``entry_price``: the quantity-weighted price of the lots closed.
        - ``exit_price``: the closing fill's price.
        - ``opened_at``: when the oldest lot closed was opened.
        - ``closed_at``: the closing fill's time.
        - ``pnl``: ``direction * quantity * (exit_price - entry_price)``, summed over
          the lots closed.

    Raises:
        ValueError: on inputs of different lengths, a price or quantity that is not a
            finite number, or times out of order.
    """
    qty = as_float_array(quantity, "quantity")
    px = as_float_array(price, "price")
    symbols = np.asarray(symbol, dtype=object)
    n = qty.size
    if not (qty.ndim == px.ndim == symbols.ndim == 1 and px.size == n and symbols.size == n):
        raise ValueError("symbol, quantity and price must be 1-D and of one length")
    if np.isnan(qty).any() or np.isnan(px).any():
        raise ValueError("quantity and price must be numbers: a fill without them is no fill")
    times = pd.Index(np.arange(n) if time is None else time)
    if times.size != n:
        raise ValueError(f"time has {times.size} values for {n} fills")
    if not times.is_monotonic_increasing:
        raise ValueError("fills must be in the order they were executed (time non-decreasing)")

    codes, _ = pd.factorize(symbols)
    order = np.argsort(codes, kind="stable")  # by symbol, each in execution order
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1) if n else []
    matched = [_fifo(fills[qty[fills] != 0], qty, px) for fills in groups]
    index = np.concatenate([np.array([], dtype=np.intp), *(m[0] for m in matched)])
    closed = np.concatenate([np.array([]), *(m[1] for m in matched)])
    entry = np.concatenate([np.array([]), *(m[2] for m in matched)])
    oldest = np.concatenate([np.array([], dtype=np.intp), *(m[3] for m in matched)])
    direction = -np.sign(qty[index])  # a sale closes long lots, a purchase short ones
    exit_price = px[index]
    frame = pd.DataFrame(
        {
            "symbol": symbols[index],
            "direction": direction.astype(np.int64),
            "quantity": closed,
            "entry_price": entry,
            "exit_price": exit_price,
            "opened_at": times[oldest],
            "closed_at": times[index],
            "pnl": direction * closed * (exit_price - entry),
        },
        index=pd.Index(index, name="fill"),
    )
    return frame.sort_index()


def _fifo(
    fills: np.ndarray, quantity: FloatArray, price: FloatArray
) -> tuple[np.ndarray, FloatArray, FloatArray, np.ndarray]:
    """One symbol's fills (positions in `quantity` and `price`, non-zero, in order)
    matched FIFO.

    Returns, per fill that closes something: its position, the quantity it closes,
    the quantity-weighted entry price of what it closes, and the position of the
    oldest fill whose lot it closes.
    """
    none = np.array([], dtype=np.intp)
    if not fills.size:
        return none, np.array([]), np.array([]), none
    qty, px = quantity[fills], price[fills]
    tolerance = _RELATIVE_TOLERANCE * float(np.abs(qty).max())
    position = np.cumsum(qty)
    position[np.abs(position) <= tolerance] = 0.0
    before = np.concatenate(([0.0], position[:-1]))
    # What each fill closes: up to the position it meets on the other side; the rest
    # of it (all of it, when it adds to the position) opens a lot.
    reduces = (before != 0) & (np.sign(qty) != np.sign(before))
    close = np.where(reduces, np.minimum(np.abs(qty), np.abs(before)), 0.0)
    opens = np.abs(qty) - close
    close[close <= tolerance] = 0.0
    opens[opens <= tolerance] = 0.0

    lots, closes = np.flatnonzero(opens), np.flatnonzero(close)
    if not closes.size:
        return none, np.array([]), np.array([]), none
    # Opened and closed units end to end: lot i is [open_end[i-1], open_end[i]), close j
    # is [close_end[j-1], close_end[j]); where they overlap, close j closes lot i.
    open_end = np.cumsum(opens[lots])
    close_end = np.cumsum(close[closes])
    cuts = np.unique(np.concatenate(([0.0], open_end, close_end)))
    cuts = cuts[cuts <= close_end[-1] + tolerance]
    length = np.diff(cuts)
    middle = cuts[:-1] + length / 2  # clear of the rounding noise at a piece's ends
    keep = length > tolerance
    length, middle = length[keep], middle[keep]
    last_lot, last_close = lots.size - 1, closes.size - 1
    lot = np.minimum(np.searchsorted(open_end, middle, side="right"), last_lot)
    match = np.minimum(np.searchsorted(close_end, middle, side="right"), last_close)
    closed = close[closes]
    entry = np.bincount(match, length * px[lots[lot]], minlength=closes.size) / closed
    # A close's oldest lot holds the first unit it closes.
    start = close_end - closed + tolerance
    oldest = np.minimum(np.searchsorted(open_end, start, side="right"), last_lot)
    return fills[closes], closed, entry, fills[lots[oldest]]


def trade_statistics(pnls: Any) -> TradeStatistics:
    """Count, win rate, profit factor, average win and average loss of closed trades'
    P&Ls (e.g. `closed_trades(...)["pnl"]`); a P&L of exactly 0 is neither a win nor a
    loss, but counts as a trade.

    Raises:
        ValueError: if a P&L is not a finite number.
    """
    pnl = as_float_array(pnls, "pnls").ravel()
    if np.isnan(pnl).any():
        raise ValueError("pnls must be numbers: a trade without a P&L cannot be counted")
    wins, losses = pnl[pnl > 0], -pnl[pnl < 0]
    profit, loss = float(wins.sum()), float(losses.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        profit_factor = float(np.float64(profit) / np.float64(loss))
    return TradeStatistics(
        count=int(pnl.size),
        win_rate=wins.size / pnl.size if pnl.size else float("nan"),
        profit_factor=profit_factor,
        average_win=profit / wins.size if wins.size else float("nan"),
        average_loss=loss / losses.size if losses.size else float("nan"),
    )
