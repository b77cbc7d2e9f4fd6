"""The backfill's figures at fixed instants of the calendar, without a Prometheus.

Each situation of `tests.support.calendar` is "now" for a one-day backfill ending an
hour earlier, the way `make demo` runs it. The values it computes are checked against
an independent computation: the book's value from `SyntheticMarket.price_at` at the
agent's last run, and the daily P&L from the live agent's own `EquityStore`, fed the
last value of every session before it (the base is the last value recorded before
New York midnight, however many weekend days and holidays lie between).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskwatch.agents.equity import EquityStore
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock
from riskwatch.demo.backfill import history
from riskwatch.settings import load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker
from tests.support.calendar import Situation, last_run, shipped_calendar, situations

RESOLUTION = 60
CHECK_EVERY = timedelta(minutes=97)
ZONE = load_settings().policy.market.zone


def midnight_before(when: datetime) -> datetime:
    local = when.astimezone(ZONE)
    return datetime.combine(local.date(), datetime.min.time(), ZONE)


@pytest.mark.parametrize("situation", situations())
def test_values_and_daily_pnl_match_the_live_agent(situation: Situation) -> None:
    settings = load_settings()
    calendar = MarketCalendar(settings.policy.market)
    clock = FixedClock(situation.at)
    end = clock() - timedelta(hours=1)
    start = end - timedelta(days=1)
    computed = history(settings, start, end, resolution_seconds=RESOLUTION, clock=clock)

    market = SyntheticMarket(settings.trading.seed, clock=clock, calendar=calendar)
    first = computed.values("trading_cash_balance_usd", portfolio="alpha").index[0]
    checks = [first.to_pydatetime()]
    while checks[-1] + CHECK_EVERY < end:
        checks.append(checks[-1] + CHECK_EVERY)
    for p in settings.trading.portfolios:
        broker = SyntheticBroker(market, p.name, p.initial_value_usd, p.positions)
        held = {h.symbol: h.quantity for h in broker.positions()}
        cash = broker.account().cash

        def value_at(run: datetime, held: dict[str, float] = held, cash: float = cash) -> float:
            return cash + sum(q * market.price_at(s, run) for s, q in held.items())

        # The live agent's equity store sees the last run of each earlier session, then
        # the runs whose values are checked, in time order.
        runs = {last_run(calendar, when) for when in checks}
        for run in list(runs):
            runs.add(last_run(calendar, midnight_before(run) - timedelta(minutes=1)))
        store = EquityStore(None)
        pnl_at = {}
        for run in sorted(runs):
            state = store.record(p.name, run, value_at(run), calendar.session_start(run))
            pnl_at[run] = state.daily_pnl

        value = computed.values("trading_portfolio_value_usd", portfolio=p.name)
        pnl = computed.values("trading_daily_pnl_usd", portfolio=p.name)
        for when in checks:
            run = last_run(calendar, when)
            assert value[when] == pytest.approx(value_at(run), rel=1e-12), (p.name, when)
            assert pnl[when] == pytest.approx(pnl_at[run], rel=1e-9, abs=1e-6), (p.name, when)


def test_the_situations_are_what_they_say() -> None:
    """Guard the parameters themselves: each instant is the calendar case it names."""
    calendar = shipped_calendar()
    by_name = {s.name: s.at for s in (p.values[0] for p in situations())}  # type: ignore[attr-defined]
    assert calendar.is_regular_session(by_name["weekday-regular-hours"])
    assert by_name["saturday"].weekday() == 5
    assert calendar.previous_session_close(by_name["after-a-holiday"]).date().isoformat() == (
        "2026-09-04"
    )
    half = calendar.previous_session_close(by_name["half-day"]).astimezone(ZONE)
    assert (half.date().isoformat(), half.hour) == ("2026-11-27", 13)
    for name in ("dst-spring-forward", "dst-fall-back"):
        day = midnight_before(by_name[name])
        next_day = midnight_before(day + timedelta(hours=30))
        assert next_day - day == timedelta(days=1), name  # the same wall-clock day...
        assert next_day.astimezone(UTC) - day.astimezone(UTC) != timedelta(days=1), name
