"""The backfill and the live trading agent compute every shared figure the same way.

Both are fed the same synthetic desk (the `SyntheticMarket` of the settings and its
brokers, at the same instant): the agent runs one cycle there, the backfill computes
its history up to that instant, and every series the agent published of the shared
families must be in the backfill with the same labels and the same value. The figures
come from one set of `riskwatch.analytics` functions (N = 1 for the agent, N rows for
the backfill), so a formula changed on either side fails here.

Daily figures (VaR and ES, performance, crowding, compliance) are compared at 04:00,
the first run of the day, when the backfill computes them; intraday ones also at
11:00, after the day's first fills (turnover). Drawdown, peak and daily P&L, which the
agent keeps in its EquityStore, are compared by feeding the store the backfill's values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from riskwatch.agents.equity import EquityStore
from riskwatch.agents.trading import PERFORMANCE_METRICS
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock
from riskwatch.demo.backfill import History, history
from riskwatch.settings import Settings, load_settings
from tests.support.agents import synthetic_desk

DAY = date(2026, 11, 18)  # a Wednesday with a full session
RESOLUTION = 60
RTOL = 1e-12

INTRADAY = (
    "trading_portfolio_value_usd",
    "trading_cash_balance_usd",
    "trading_gross_exposure_usd",
    "trading_net_exposure_usd",
    "trading_position_quantity",
    "trading_position_market_value_usd",
    "trading_position_weight_ratio",
    "trading_sector_weight_ratio",
    "trading_positions",
    "trading_turnover_ratio",
)
DAILY = (
    *PERFORMANCE_METRICS.values(),
    "risk_var_ratio",
    "risk_expected_shortfall_ratio",
    "crowding_hhi",
    "crowding_gini",
    "crowding_level",
    "crowding_absorption_ratio",
    "compliance_rule_value",
    "compliance_rule_limit",
    "compliance_violation_active",
)


def both_at(
    settings: Settings, at: datetime
) -> tuple[dict[tuple[str, frozenset[tuple[str, str]]], float], History]:
    """What the agent publishes after one cycle at `at`, and the backfill up to `at`."""
    clock = FixedClock(at)
    desk = synthetic_desk(settings, clock=clock)
    desk.cycle()
    published = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in desk.publisher.registry.collect()
        for sample in family.samples
    }
    computed = history(
        settings,
        at - timedelta(days=1),
        at + timedelta(seconds=RESOLUTION),
        clock=clock,
        resolution_seconds=RESOLUTION,
    )
    return published, computed


def compare(
    published: dict[tuple[str, frozenset[tuple[str, str]]], float],
    computed: History,
    at: datetime,
    families: tuple[str, ...],
) -> None:
    for family in families:
        live = {labels: value for (name, labels), value in published.items() if name == family}
        assert live, f"the agent published no {family}"
        for labels, value in live.items():
            backfilled = computed.values(family, **dict(labels))[at]
            np.testing.assert_allclose(
                backfilled, value, rtol=RTOL, atol=1e-15, err_msg=f"{family}{dict(labels)}"
            )


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def first_run(settings: Settings) -> datetime:
    hours = MarketCalendar(settings.policy.market).trading_hours(DAY)
    assert hours is not None
    return hours[0].astimezone(UTC)


def test_daily_and_intraday_figures_at_the_first_run_of_the_day(settings: Settings) -> None:
    at = first_run(settings)
    published, computed = both_at(settings, at)
    compare(published, computed, at, INTRADAY + DAILY)


def test_intraday_figures_after_the_days_first_fills(settings: Settings) -> None:
    at = first_run(settings) + timedelta(hours=7)
    published, computed = both_at(settings, at)
    turnover = [v for (name, _), v in published.items() if name == "trading_turnover_ratio"]
    assert any(v > 0 for v in turnover), "no fills yet: pick a later instant"
    compare(published, computed, at, INTRADAY)


def test_drawdown_peak_and_daily_pnl_are_the_equity_stores(settings: Settings) -> None:
    """The agent's EquityStore, fed every value the backfill records, says what the
    backfill says at every recorded instant."""
    at = first_run(settings) + timedelta(hours=7)
    computed = history(
        settings, at - timedelta(days=1), at, clock=FixedClock(at), resolution_seconds=RESOLUTION
    )
    calendar = MarketCalendar(settings.policy.market)
    tl = computed.timeline
    families = {f.name: f for f in computed.families()}

    def series(name: str, portfolio: str) -> np.ndarray:
        (found,) = [s for s in families[name].series if s.labels == {"portfolio": portfolio}]
        return found.values

    for p in settings.trading.portfolios:
        value = series("trading_portfolio_value_usd", p.name)
        store = EquityStore(None)
        got = []
        for i in np.flatnonzero(tl.recorded).tolist():
            when = tl.at(i)
            state = store.record(p.name, when, float(value[i]), calendar.session_start(when))
            got.append((state.drawdown, state.peak, state.daily_pnl))
        expected = np.column_stack(
            [
                series(name, p.name)[tl.recorded]
                for name in (
                    "trading_drawdown_ratio",
                    "trading_peak_value_usd",
                    "trading_daily_pnl_usd",
                )
            ]
        )
        np.testing.assert_allclose(np.array(got), expected, rtol=RTOL, atol=1e-9)
