"""The momentum model's daily returns and the model backtest's windows, against
plain loops written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskwatch.analytics.strategy import momentum_positions, momentum_returns, rolling_windows


def reference_momentum(returns: list[list[float]]) -> list[float]:
    """Day by day, symbol by symbol: hold the sign of yesterday's move, equal weight
    over the symbols that have both a position and a return today."""
    out = []
    for t, today in enumerate(returns):
        pnl = []
        for i, r in enumerate(today):
            if t == 0 or math.isnan(returns[t - 1][i]) or math.isnan(r):
                continue
            previous = returns[t - 1][i]
            position = 1.0 if previous > 0 else -1.0 if previous < 0 else 0.0
            pnl.append(position * r)
        out.append(sum(pnl) / len(pnl) if pnl else math.nan)
    return out


def test_momentum_matches_the_loop_with_gaps_and_flat_days() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.01, (60, 4))
    returns[5, 1] = np.nan  # a missing bar: no return that day, no position the next
    returns[9, 2] = 0.0  # a flat day: position 0 the next
    returns[20, :] = np.nan  # nobody trades the day after nor that day
    expected = reference_momentum(returns.tolist())
    np.testing.assert_allclose(momentum_returns(returns), expected, equal_nan=True)
    assert math.isnan(momentum_returns(returns)[0])
    assert momentum_positions(returns)[10, 2] == 0.0


def test_a_trend_pays_and_a_zigzag_loses() -> None:
    trend = np.full(10, 0.01)
    zigzag = np.array([0.01, -0.01] * 5)
    assert np.allclose(momentum_returns(trend)[1:], 0.01)
    assert np.allclose(momentum_returns(zigzag)[1:], -0.01)


@pytest.mark.parametrize(
    ("length", "window", "step", "starts"),
    [
        (10, 4, 3, [0, 3, 6]),  # the last window ends on the last row
        (11, 4, 3, [1, 4, 7]),
        (4, 4, 1, [0]),
        (3, 4, 1, []),
    ],
)
def test_windows_are_anchored_on_the_newest_day(
    length: int, window: int, step: int, starts: list[int]
) -> None:
    assert rolling_windows(length, window, step).tolist() == starts
