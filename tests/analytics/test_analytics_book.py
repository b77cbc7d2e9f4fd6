"""The N-row functions the agent (one row) and the backfill (N rows) share.

Each is checked against a plain reference, and row k of an N-row call against the
same function called on row k alone: the agent's and the backfill's numbers agree
only if a row's result does not depend on the rows around it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskwatch import analytics

RNG = np.random.default_rng(11)


def test_book_values_per_row_and_reference() -> None:
    prices = RNG.uniform(10, 200, size=(7, 5))
    prices[0] = np.nan  # before the first run: nothing to value
    quantity = np.array([10.0, -5.0, 3.0, 0.0, 8.0])
    sectors = ["tech", "energy", "tech", "health", "energy"]
    book = analytics.book_values(prices, quantity, 1000.0, sectors)
    values = prices * quantity
    value = 1000.0 + values.sum(axis=1)
    np.testing.assert_allclose(book.value, value, rtol=1e-15)
    np.testing.assert_allclose(book.gross, np.abs(values).sum(axis=1), rtol=1e-15)
    np.testing.assert_allclose(book.net, values.sum(axis=1), rtol=1e-15)
    np.testing.assert_allclose(book.weights, values / value[:, None], rtol=1e-15)
    assert list(book.sector_weights) == ["tech", "energy", "health"]
    tech = (np.abs(values[:, 0]) + np.abs(values[:, 2])) / value
    np.testing.assert_allclose(book.sector_weights["tech"], tech, rtol=1e-15)
    assert np.isnan(book.value[0]) and np.isnan(book.weights[0]).all()
    for k in range(1, 7):
        one = analytics.book_values(prices[k : k + 1], quantity, 1000.0, sectors)
        assert one.value[0] == book.value[k]
        np.testing.assert_array_equal(one.weights[0], book.weights[k])


def test_peak_drawdown_and_pnl() -> None:
    value = np.array([np.nan, 100.0, 110.0, np.nan, 99.0, 120.0])
    peak = analytics.running_peak(value)
    np.testing.assert_array_equal(peak, [np.nan, 100.0, 110.0, 110.0, 110.0, 120.0])
    np.testing.assert_allclose(analytics.drawdown(value[4], peak[4]), 0.1)
    assert analytics.drawdown(120.0, 120.0) == 0.0
    assert analytics.running_peak([95.0], 110.0)[-1] == 110.0  # a peak recorded earlier
    assert analytics.pnl_since(105.0, 100.0) == 5.0


def test_notional_turnover_and_returns() -> None:
    assert analytics.notional([-3.0, 2.0], [10.0, 5.0]).tolist() == [30.0, 10.0]
    assert analytics.turnover_ratio(40.0, 200.0) == 0.2
    levels = np.array([[100.0, 50.0], [110.0, 45.0], [99.0, 45.0]])
    expected = pd.DataFrame(levels).pct_change().iloc[1:].to_numpy()
    np.testing.assert_allclose(analytics.simple_returns(levels), expected, rtol=1e-15)


def test_trailing_mean_is_pandas_mean_of_the_window_before_each_end() -> None:
    volumes = RNG.uniform(1e5, 1e6, size=(30, 3))
    volumes[25, 1] = np.nan
    ends = np.array([5, 26, 30])
    means = analytics.trailing_mean(volumes, ends, 20)
    frame = pd.DataFrame(volumes)
    for row, end in zip(means, ends, strict=True):
        np.testing.assert_allclose(row, frame.iloc[:end].iloc[-20:].mean().to_numpy(), rtol=1e-12)


def test_loadings_are_each_windows_least_squares_fit() -> None:
    proxies = RNG.normal(0, 0.01, size=(4, 60, 3))
    held = RNG.normal(0, 0.02, size=(4, 60, 6))
    loadings = analytics.factor_loadings(proxies, held)
    assert loadings.shape == (4, 3, 6)
    for n in range(4):
        design = np.column_stack([np.ones(60), proxies[n]])
        coef, *_ = np.linalg.lstsq(design, held[n], rcond=None)
        np.testing.assert_allclose(loadings[n], coef[1:], rtol=1e-9, atol=1e-12)
    weights = RNG.uniform(0, 0.2, size=(4, 6))
    exposures = analytics.factor_exposures(loadings, weights)
    np.testing.assert_allclose(exposures[2], loadings[2] @ weights[2], rtol=1e-14)


def test_crowding_rows_are_factor_crowding_per_row() -> None:
    exposures = RNG.normal(0, 1, size=(9, 5))
    exposures[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # one bet: HIGH
    rows = analytics.crowding_rows(exposures)
    for k, row in enumerate(exposures):
        one = analytics.factor_crowding(row)
        assert rows.hhi[k] == pytest.approx(one.hhi, rel=1e-14)
        assert rows.gini[k] == pytest.approx(one.gini, rel=1e-14, abs=1e-15)
        assert rows.level[k] == analytics.LEVEL_CODES[one.level]
    assert rows.level[0] == 2


def test_absorption_ratios_are_each_blocks() -> None:
    returns = RNG.normal(0, 0.01, size=(3, 80, 7))
    ratios = analytics.absorption_ratios(returns, 2)
    for n in range(3):
        eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(returns[n], rowvar=False)))[::-1]
        reference = eigenvalues[:2].sum() / eigenvalues.sum()
        assert ratios[n] == pytest.approx(reference, rel=1e-12)
        assert analytics.absorption_ratio(returns[n], 2) == ratios[n]
