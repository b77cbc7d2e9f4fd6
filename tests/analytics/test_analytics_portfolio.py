"""Portfolio figures from positions and prices, against plain loops and pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analytics_reference import property_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from riskwatch.analytics import (
    adv_fraction,
    average_daily_volume,
    current_drawdown,
    daily_pnl,
    drawdown_series,
    equity_curve,
    gross_exposure,
    market_values,
    net_exposure,
    portfolio_figures,
    position_weights,
    sector_weights,
    turnover,
)

SECTORS = {"AAPL": "Tech", "MSFT": "Tech", "XOM": "Energy"}


def _book(seed: int = 0, days: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-03-01", periods=days)
    symbols = ["AAPL", "MSFT", "XOM", "GLD"]
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (days, 4)), axis=0)),
        index=dates,
        columns=symbols,
    )
    positions = pd.DataFrame(
        rng.integers(-50, 100, (days, 4)).astype(float), index=dates, columns=symbols
    )
    positions.iloc[5, :] = 0.0  # a flat day
    return positions, prices


def test_market_values_pnl_and_equity_match_loops() -> None:
    positions, prices = _book()
    q, p = positions.to_numpy(), prices.to_numpy()
    np.testing.assert_allclose(market_values(positions, prices).to_numpy(), q * p, rtol=1e-12)
    expected_pnl = [0.0] + [
        sum(q[t - 1, i] * (p[t, i] - p[t - 1, i]) for i in range(4)) for t in range(1, len(q))
    ]
    pnl = daily_pnl(positions, prices)
    np.testing.assert_allclose(pnl.to_numpy(), expected_pnl, rtol=1e-9, atol=1e-9)
    assert pnl.index.equals(positions.index)
    equity = equity_curve(positions, prices, 1e6)
    np.testing.assert_allclose(equity.to_numpy(), 1e6 + np.cumsum(expected_pnl), rtol=1e-12)


def test_drawdown_matches_running_peak_loop() -> None:
    equity = pd.Series([100.0, 110.0, 99.0, 120.0, 60.0, 90.0])
    peak, expected = -np.inf, []
    for value in equity:
        peak = max(peak, value)
        expected.append(1 - value / peak)
    np.testing.assert_allclose(drawdown_series(equity).to_numpy(), expected, rtol=1e-12)
    assert current_drawdown(equity) == pytest.approx(0.25)
    frame = pd.DataFrame({"a": equity, "b": equity * 2})
    np.testing.assert_allclose(drawdown_series(frame).to_numpy()[:, 1], expected, rtol=1e-12)


def test_exposures_and_weights() -> None:
    values = pd.DataFrame({"AAPL": [50.0, 0.0], "XOM": [-30.0, 0.0], "GLD": [20.0, 0.0]})
    assert gross_exposure(values).tolist() == [100.0, 0.0]
    assert net_exposure(values).tolist() == [40.0, 0.0]
    weights = position_weights(values)
    assert weights.iloc[0].tolist() == [0.5, -0.3, 0.2]
    assert weights.iloc[1].tolist() == [0.0, 0.0, 0.0]  # no book, no weight
    assert position_weights(values, 200.0).iloc[0].tolist() == [0.25, -0.15, 0.1]
    by_date = pd.Series([100.0, 50.0])
    assert position_weights(values, by_date).iloc[0].tolist() == [0.5, -0.3, 0.2]


def test_sector_weights() -> None:
    weights = pd.Series({"AAPL": 0.3, "MSFT": -0.2, "XOM": 0.4, "GLD": 0.1})
    gross = sector_weights(weights, SECTORS)
    assert gross.to_dict() == pytest.approx({"Energy": 0.4, "Tech": 0.5, "UNKNOWN": 0.1})
    net = sector_weights(weights, SECTORS, absolute=False)
    assert net["Tech"] == pytest.approx(0.1)
    frame = pd.DataFrame([weights, weights * 2])
    summed = sector_weights(frame, SECTORS)
    assert list(summed.columns) == ["Energy", "Tech", "UNKNOWN"]
    assert summed.iloc[1].tolist() == pytest.approx([0.8, 1.0, 0.2])


def test_turnover() -> None:
    dates = pd.bdate_range("2024-01-02", periods=3)
    positions = pd.DataFrame({"A": [10.0, 20.0, 0.0], "B": [0.0, 0.0, 5.0]}, index=dates)
    prices = pd.DataFrame({"A": [1.0, 2.0, 2.0], "B": [4.0, 4.0, 4.0]}, index=dates)
    result = turnover(positions, prices)
    assert np.isnan(result.iloc[0])
    # Day 2: traded 10 A at 2 = 20; gross 10 and 40 -> average 25.
    assert result.iloc[1] == pytest.approx(20 / 25)
    # Day 3: sold 20 A at 2, bought 5 B at 4 = 60; gross 40 and 20 -> average 30.
    assert result.iloc[2] == pytest.approx(60 / 30)
    assert turnover(positions, prices, 100.0).iloc[2] == pytest.approx(0.6)
    flat = turnover(positions * 0, prices)
    assert flat.iloc[1:].tolist() == [0.0, 0.0]


def test_average_daily_volume_and_adv_fraction() -> None:
    rng = np.random.default_rng(2)
    volumes = pd.DataFrame(rng.integers(1_000, 10_000, (30, 3)).astype(float))
    expected = volumes.rolling(20).mean()
    pd.testing.assert_frame_equal(average_daily_volume(volumes), expected, rtol=1e-12)
    assert adv_fraction(-500, 10_000) == 0.05
    np.testing.assert_allclose(adv_fraction([100, -300], [1_000, 1_000]), [0.1, 0.3])


def test_portfolio_figures_bundle() -> None:
    positions, prices = _book(3)
    figures = portfolio_figures(positions, prices, 1e5, SECTORS)
    equity = equity_curve(positions, prices, 1e5)
    pd.testing.assert_series_equal(figures.equity, equity)
    assert figures.current_drawdown == pytest.approx(current_drawdown(equity))
    last_values = market_values(positions, prices).iloc[-1]
    np.testing.assert_allclose(
        figures.weights.to_numpy(), last_values.to_numpy() / equity.iloc[-1], rtol=1e-12
    )
    assert set(figures.sector_weights.index) == {"Tech", "Energy", "UNKNOWN"}
    assert figures.sector_weights.sum() == pytest.approx(last_values.abs().sum() / equity.iloc[-1])
    assert len(figures.turnover) == len(positions)


def _with_cell(frame: pd.DataFrame, value: float) -> pd.DataFrame:
    changed = frame.copy()
    changed.iloc[3, 1] = value
    return changed


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("negative price", "non-negative"),
        ("NaN price", "not NaN"),
        ("infinite price", "infinite"),
        ("NaN position", "positions contain NaN"),
        ("shorter prices", "same index"),
        ("missing symbol", "no prices"),
        ("numpy positions", "DataFrames"),
    ],
)
def test_bad_positions_or_prices_raise(case: str, message: str) -> None:
    positions, prices = _book()
    bad = {
        "negative price": (positions, _with_cell(prices, -1.0)),
        "NaN price": (positions, _with_cell(prices, np.nan)),
        "infinite price": (positions, _with_cell(prices, np.inf)),
        "NaN position": (_with_cell(positions, np.nan), prices),
        "shorter prices": (positions, prices.iloc[:-1]),
        "missing symbol": (positions, prices.drop(columns="XOM")),
        "numpy positions": (positions.to_numpy(), prices),
    }[case]
    for figure in (market_values, daily_pnl, turnover):
        with pytest.raises(ValueError, match=message):
            figure(*bad)  # type: ignore[arg-type]


def test_other_bad_inputs_raise() -> None:
    positions, prices = _book()
    with pytest.raises(ValueError, match="initial_equity"):
        equity_curve(positions, prices, 0.0)
    with pytest.raises(ValueError, match="positive running peak"):
        drawdown_series(pd.Series([-1.0, -2.0]))
    with pytest.raises(ValueError, match="NaN"):
        drawdown_series(pd.Series([1.0, np.nan]))
    with pytest.raises(ValueError, match="portfolio_value"):
        position_weights(market_values(positions, prices), 0.0)
    with pytest.raises(ValueError, match="adv"):
        adv_fraction(100, 0)
    with pytest.raises(ValueError, match="volumes"):
        average_daily_volume(pd.DataFrame({"A": [1.0, -1.0]}), window=1)
    with pytest.raises(ValueError, match="too few"):
        portfolio_figures(positions.iloc[:0], prices.iloc[:0], 1e5)


positive_equity = hnp.arrays(
    np.float64,
    st.integers(1, 60),
    elements=st.floats(1e-3, 1e9, allow_nan=False, allow_subnormal=False),
)


@property_settings
@given(positive_equity)
def test_drawdown_is_a_fraction(equity: np.ndarray) -> None:
    drawdown = drawdown_series(pd.Series(equity)).to_numpy()
    assert ((drawdown >= 0) & (drawdown <= 1)).all()


@property_settings
@given(st.floats(1e-3, 1e9), st.integers(1, 50))
def test_constant_equity_has_no_drawdown(value: float, days: int) -> None:
    assert (drawdown_series(pd.Series(np.full(days, value))) == 0).all()


@property_settings
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 10), st.integers(1, 6)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    )
)
def test_default_weights_have_unit_gross(values: np.ndarray) -> None:
    weights = position_weights(pd.DataFrame(values)).to_numpy()
    gross = np.abs(weights).sum(axis=1)
    has_book = np.abs(values).sum(axis=1) > 0
    np.testing.assert_allclose(gross[has_book], 1.0, rtol=1e-12)
    assert (gross[~has_book] == 0).all()
