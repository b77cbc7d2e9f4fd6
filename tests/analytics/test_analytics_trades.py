"""Closed trades (FIFO round trips) and their statistics, against examples worked by hand
and a lot-by-lot FIFO written the plain way."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskwatch.analytics.trades import (
    TRADE_COLUMNS,
    TradeStatistics,
    closed_trades,
    trade_statistics,
)


def trades_of(fills: list[tuple[str, float, float]]) -> pd.DataFrame:
    symbol, quantity, price = zip(*fills, strict=True)
    return closed_trades(symbol, quantity, price)


def rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """(fill, symbol, direction, quantity, entry, exit, opened_at, pnl) per trade."""
    return [
        (i, r.symbol, r.direction, r.quantity, r.entry_price, r.exit_price, r.opened_at, r.pnl)
        for i, r in zip(frame.index, frame.itertuples(), strict=True)
    ]


def test_a_long_round_trip() -> None:
    frame = trades_of([("AAPL", 100, 10.0), ("AAPL", -100, 12.0)])
    assert tuple(frame.columns) == TRADE_COLUMNS
    # Bought 100 at 10, sold 100 at 12: +2 a share.
    assert rows(frame) == [(1, "AAPL", 1, 100.0, 10.0, 12.0, 0, 200.0)]


def test_partial_fills_close_the_oldest_lots_first() -> None:
    frame = trades_of([("X", 100, 10.0), ("X", 50, 13.0), ("X", -120, 14.0), ("X", -30, 9.0)])
    # The sale of 120 closes the 100 at 10 (+400) and 20 of the 50 at 13 (+20): one
    # trade of +420 at an entry of (1000 + 260) / 120 = 10.5. The last 30 of the lot at
    # 13, sold at 9, lose 120.
    assert rows(frame) == [
        (2, "X", 1, 120.0, 10.5, 14.0, 0, 420.0),
        (3, "X", 1, 30.0, 13.0, 9.0, 1, -120.0),
    ]


def test_a_short_gains_when_the_price_falls() -> None:
    frame = trades_of([("S", -50, 20.0), ("S", 20, 18.0), ("S", 30, 21.0)])
    # Sold 50 short at 20; bought back 20 at 18 (+40) and 30 at 21 (-30).
    assert rows(frame) == [
        (1, "S", -1, 20.0, 20.0, 18.0, 0, 40.0),
        (2, "S", -1, 30.0, 20.0, 21.0, 0, -30.0),
    ]


def test_a_flip_through_zero_closes_then_opens_the_other_side() -> None:
    frame = trades_of([("F", 10, 5.0), ("F", -15, 6.0), ("F", 5, 4.0), ("F", 3, 4.5)])
    # Long 10 at 5; selling 15 at 6 closes them (+10) and opens a short of 5 at 6,
    # which the purchase of 5 at 4 closes (+10). The last purchase opens a new long.
    assert rows(frame) == [
        (1, "F", 1, 10.0, 5.0, 6.0, 0, 10.0),
        (2, "F", -1, 5.0, 6.0, 4.0, 1, 10.0),
    ]


def test_symbols_are_matched_apart_and_trades_keep_the_fills_order() -> None:
    frame = trades_of(
        [("A", 10, 1.0), ("B", -10, 5.0), ("A", 10, 2.0), ("B", 10, 4.0), ("A", -15, 3.0)]
    )
    # B's buy-back (fill 3) comes before A's sale (fill 4). A's sale of 15 closes the
    # lot at 1 and half the lot at 2: (3 - 1) * 10 + (3 - 2) * 5.
    assert rows(frame) == [
        (3, "B", -1, 10.0, 5.0, 4.0, 1, 10.0),
        (4, "A", 1, 15.0, 20.0 / 15.0, 3.0, 0, 25.0),
    ]


def test_fractional_quantities_that_sum_to_zero_close_the_position() -> None:
    # 0.1 + 0.2 - 0.3 is 5.6e-17 in floating point, not 0: the last purchase must open
    # a fresh long, not close a phantom short.
    frame = trades_of([("C", 0.1, 10.0), ("C", 0.2, 10.0), ("C", -0.3, 11.0), ("C", 0.5, 12.0)])
    assert len(frame) == 1
    assert frame["quantity"].iloc[0] == pytest.approx(0.3)
    assert frame["pnl"].iloc[0] == pytest.approx(0.3)


def test_times_are_the_lots_and_the_closing_fills() -> None:
    times = pd.to_datetime(["2026-11-18 15:00", "2026-11-18 15:30", "2026-11-19 10:00"], utc=True)
    frame = closed_trades(["Z"] * 3, [5, 5, -7], [1.0, 2.0, 3.0], times)
    assert frame["opened_at"].tolist() == [times[0]]
    assert frame["closed_at"].tolist() == [times[2]]


def test_no_fills_and_no_closes() -> None:
    assert closed_trades([], [], []).empty
    assert tuple(closed_trades([], [], []).columns) == TRADE_COLUMNS
    assert trades_of([("A", 10, 1.0), ("A", 5, 2.0), ("B", -3, 4.0)]).empty


@pytest.mark.parametrize(
    ("quantity", "price", "time", "message"),
    [
        ([1.0, np.nan], [1.0, 1.0], None, "must be numbers"),
        ([1.0, 1.0], [1.0, np.inf], None, "infinite"),
        ([1.0], [1.0, 1.0], None, "one length"),
        ([1.0, -1.0], [1.0, 1.0], [2, 1], "order"),
    ],
)
def test_bad_fills_are_refused(
    quantity: list[float], price: list[float], time: list[int] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        closed_trades(["A"] * len(quantity), quantity, price, time)


def reference_fifo(fills: list[tuple[str, float, float]]) -> list[tuple[int, float, float]]:
    """(fill, closed quantity, pnl) per closing fill: lot by lot, with a queue per symbol
    of open lots (signed quantity, price)."""
    books: dict[str, deque[list[float]]] = {}
    out = []
    for i, (symbol, qty, price) in enumerate(fills):
        lots = books.setdefault(symbol, deque())
        closed = pnl = 0.0
        left = qty
        while left and lots and np.sign(lots[0][0]) != np.sign(left):
            lot = lots[0]
            take = min(abs(left), abs(lot[0]))
            direction = np.sign(lot[0])
            closed += take
            pnl += direction * take * (price - lot[1])
            lot[0] -= direction * take
            left += direction * take
            if lot[0] == 0:
                lots.popleft()
        if left:
            lots.append([left, price])
        if closed:
            out.append((i, closed, pnl))
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.integers(-30, 30),
            st.integers(1, 50).map(float),
        ),
        max_size=40,
    )
)
def test_matches_a_lot_by_lot_fifo(fills: list[tuple[str, int, float]]) -> None:
    as_float = [(s, float(q), p) for s, q, p in fills]
    expected = reference_fifo(as_float)
    frame = closed_trades(*zip(*as_float, strict=True)) if fills else closed_trades([], [], [])
    assert list(frame.index) == [i for i, _, _ in expected]
    np.testing.assert_allclose(frame["quantity"], [q for _, q, _ in expected])
    np.testing.assert_allclose(frame["pnl"], [p for _, _, p in expected], atol=1e-9)


def test_statistics_of_closed_trades_worked_by_hand() -> None:
    stats = trade_statistics([420.0, -120.0, 40.0, -30.0, 10.0, 10.0, 0.0])
    # 7 trades, 4 wins (480 in all), 2 losses (150 in all); the flat one is neither.
    assert stats == TradeStatistics(
        count=7, win_rate=4 / 7, profit_factor=3.2, average_win=120.0, average_loss=75.0
    )


def test_statistics_where_a_figure_is_undefined() -> None:
    none = trade_statistics([])
    assert none.count == 0
    assert np.isnan([none.win_rate, none.profit_factor, none.average_win, none.average_loss]).all()
    wins = trade_statistics([5.0, 3.0])
    assert (wins.win_rate, wins.profit_factor, wins.average_win) == (1.0, np.inf, 4.0)
    assert np.isnan(wins.average_loss)
    losses = trade_statistics([-2.0])
    assert (losses.win_rate, losses.profit_factor, losses.average_loss) == (0.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="must be numbers"):
        trade_statistics([1.0, np.nan])
