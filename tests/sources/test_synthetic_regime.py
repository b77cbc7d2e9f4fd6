"""The synthetic market's volatility regime (`set_daily_volatility`): from its date on,
every daily return is the factor times the seed's, and nothing else changes."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from riskwatch.clock import FixedClock
from riskwatch.sources.synthetic import BENCHMARK, SyntheticMarket
from tests.support.calendar import shipped_calendar, shipped_zone

AT = datetime(2026, 3, 4, 10, 0, tzinfo=shipped_zone())
SINCE = date(2026, 1, 5)
# Index ETFs: their daily moves are far from the ±50% clip even tripled.
SYMBOLS = [BENCHMARK, "MTUM", "VLUE"]


def market() -> SyntheticMarket:
    return SyntheticMarket(7, clock=FixedClock(AT), calendar=shipped_calendar())


def returns(m: SyntheticMarket) -> pd.DataFrame:
    closes: pd.DataFrame = m.daily_bars(SYMBOLS, 300)["close"][SYMBOLS]
    moves: pd.DataFrame = closes.pct_change().iloc[1:]
    return moves


def test_returns_from_the_date_on_are_scaled_and_earlier_ones_kept() -> None:
    calm, volatile = market(), market()
    volatile.set_daily_volatility(3.0, SINCE)
    before, after = returns(calm), returns(volatile)
    regime = pd.DatetimeIndex(before.index) >= pd.Timestamp(SINCE)
    assert regime.sum() > 30 and (~regime).sum() > 30
    np.testing.assert_array_equal(after[~regime].to_numpy(), before[~regime].to_numpy())
    np.testing.assert_allclose(after[regime].to_numpy(), 3.0 * before[regime].to_numpy(), rtol=1e-9)


def test_the_regime_is_deterministic_and_a_later_one_takes_over() -> None:
    first, second = market(), market()
    for m in (first, second):
        m.set_daily_volatility(3.0, SINCE)
        m.set_daily_volatility(1.0, date(2026, 2, 2))  # the regime ends
    pd.testing.assert_frame_equal(returns(first), returns(second))
    calm, ended = returns(market()), returns(first)
    days = pd.DatetimeIndex(calm.index)
    tripled = (days >= pd.Timestamp(SINCE)) & (days < pd.Timestamp(2026, 2, 2))
    np.testing.assert_allclose(ended[tripled].to_numpy(), 3 * calm[tripled].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(ended[~tripled].to_numpy(), calm[~tripled].to_numpy(), rtol=1e-9)


def test_history_read_before_the_regime_is_not_served_after_it() -> None:
    m = market()
    calm = returns(m)  # fills the market's caches
    m.set_daily_volatility(2.0, SINCE)
    assert not returns(m).equals(calm)


def test_the_minute_path_keeps_its_own_volatility() -> None:
    """Today's prices start from the regime's close, and move as on any day."""
    calm, volatile = market(), market()
    volatile.set_daily_volatility(3.0, SINCE)
    minutes = [AT.replace(hour=h, minute=m) for h, m in ((9, 31), (11, 0), (15, 59))]
    for symbol in SYMBOLS:
        calm_close = calm.daily_bars([symbol], 1)["close"][symbol].iloc[-1]
        volatile_close = volatile.daily_bars([symbol], 1)["close"][symbol].iloc[-1]
        assert volatile_close != pytest.approx(calm_close)
        for at in minutes:
            moved = volatile.price_at(symbol, at) / volatile_close
            assert moved == pytest.approx(calm.price_at(symbol, at) / calm_close, rel=1e-12)


@pytest.mark.parametrize("factor", [0.0, -1.0, float("nan"), float("inf")])
def test_a_factor_that_is_not_a_positive_number_is_refused(factor: float) -> None:
    with pytest.raises(ValueError, match="positive number"):
        market().set_daily_volatility(factor, SINCE)
