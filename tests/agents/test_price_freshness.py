"""Freshness is per symbol, not per feed.

A real trading agent on the synthetic market, on an injected clock: one held symbol
stops trading (a halt: the feed's last trade for it stays the one at the halt's start)
or its ticks turn NaN (rejected), while every other symbol goes on updating. Its last
good price stays in the valuation and ages from its own time; past the policy's
`ops.market_data_stale_seconds` it is stale: counted in `trading_stale_positions`,
named in DAT_001's evidence, and the feed's timestamp stays at its price's time.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from riskwatch.clock import FixedClock
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from tests.support.agents import SyntheticDesk, synthetic_desk

NEW_YORK = ZoneInfo("America/New_York")
WEDNESDAY = datetime(2026, 11, 18, 11, 0, tzinfo=NEW_YORK)  # a full session
FEED = "marketdata_last_update_timestamp_seconds"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def desk_at(settings: Settings, at: datetime) -> tuple[SyntheticDesk, FixedClock, SyntheticMarket]:
    clock = FixedClock(at)
    desk = synthetic_desk(settings, "freshness", clock)
    market = desk.agent.market
    assert isinstance(market, SyntheticMarket)
    return desk, clock, market


def run_until(desk: SyntheticDesk, clock: FixedClock, end: datetime) -> None:
    """A cycle now, then one a minute until `end`."""
    desk.cycle()
    while clock() < end:
        clock.advance(timedelta(minutes=1))
        desk.cycle()


def evidence(desk: SyntheticDesk, portfolio: str) -> set[str]:
    """DAT_001's evidence subjects for `portfolio`."""
    return {
        s.labels["subject"]
        for family in desk.publisher.registry.collect()
        for s in family.samples
        if s.name == "compliance_violation_evidence_info"
        and s.labels["portfolio"] == portfolio
        and s.labels["rule"] == "DAT_001"
        and s.value == 1
    }


def dat_001(desk: SyntheticDesk, portfolio: str) -> float | None:
    return desk.value(
        "compliance_violation_active", portfolio=portfolio, rule="DAT_001", severity="LOW"
    )


def feed_age(desk: SyntheticDesk, source: str) -> float:
    """How old the published feed timestamp says the data is (the alert's expression)."""
    stamp = desk.value(FEED, source=source)
    assert stamp is not None
    return time.time() - stamp


def test_a_halted_symbol_goes_stale_while_the_others_update(settings: Settings) -> None:
    desk, clock, market = desk_at(settings, WEDNESDAY)
    alpha = desk.agent.books[0]
    desk.cycle()
    halted = alpha.positions[0].symbol
    others = [p.symbol for p in alpha.positions[1:]]
    halted_price = alpha.prices[halted]
    limit = settings.policy.ops.market_data_stale_seconds
    market.halt([halted], clock(), clock() + timedelta(hours=1))

    run_until(desk, clock, WEDNESDAY + timedelta(seconds=limit))
    # At the limit, not yet stale (DAT_001 is "age <= limit").
    assert desk.value("trading_stale_positions", portfolio=alpha.name) == 0
    assert dat_001(desk, alpha.name) == 0

    clock.advance(timedelta(minutes=1))
    desk.cycle()
    age = limit + 60
    assert desk.value("trading_price_age_seconds", portfolio=alpha.name, symbol=halted) == age
    for symbol in others:
        assert desk.value("trading_price_age_seconds", portfolio=alpha.name, symbol=symbol) == 0
    assert desk.value("trading_stale_positions", portfolio=alpha.name) == 1
    # Valued at its last good price, not dropped and not at another.
    assert alpha.prices[halted] == halted_price
    assert alpha.prices[others[0]] == market.price_at(others[0], clock())

    assert dat_001(desk, alpha.name) == 1
    assert evidence(desk, alpha.name) == {halted}
    assert desk.value("compliance_rule_value", portfolio=alpha.name, rule="DAT_001") == age
    # The other book holds no halted symbol: nothing to say there.
    beta = desk.agent.books[1]
    if halted not in {p.symbol for p in beta.positions}:
        assert dat_001(desk, beta.name) == 0
        assert desk.value("trading_stale_positions", portfolio=beta.name) == 0

    # Every other symbol updated this minute, yet the feed is as old as its oldest
    # held price: MarketDataStale reads this.
    assert feed_age(desk, market.name) == pytest.approx(age, abs=5)

    # Trading resumes: fresh again, the evidence cleared.
    clock.advance(timedelta(hours=1))
    desk.cycle()
    assert desk.value("trading_stale_positions", portfolio=alpha.name) == 0
    assert dat_001(desk, alpha.name) == 0
    assert evidence(desk, alpha.name) == set()
    assert feed_age(desk, market.name) == pytest.approx(0, abs=5)


def test_a_rejected_price_keeps_the_last_good_one_and_ages_into_stale(
    settings: Settings,
) -> None:
    desk, clock, market = desk_at(settings, WEDNESDAY)
    alpha = desk.agent.books[0]
    desk.cycle()
    broken = alpha.positions[-1].symbol
    last_good = alpha.prices[broken]
    market.shock(broken, math.nan)  # its ticks are NaN from now on
    limit = settings.policy.ops.market_data_stale_seconds

    run_until(desk, clock, WEDNESDAY + timedelta(seconds=limit + 60))
    rejected = desk.value("marketdata_rejected_ticks_total", source=market.name, reason="nan")
    assert rejected is not None and rejected >= limit / 60
    assert alpha.prices[broken] == last_good
    assert math.isfinite(alpha.value)
    assert desk.value("trading_stale_positions", portfolio=alpha.name) == 1
    assert dat_001(desk, alpha.name) == 1
    assert evidence(desk, alpha.name) == {broken}
    assert feed_age(desk, market.name) == pytest.approx(limit + 60, abs=5)


def test_all_fresh_flags_nothing(settings: Settings) -> None:
    desk, clock, market = desk_at(settings, WEDNESDAY)
    run_until(desk, clock, WEDNESDAY + timedelta(minutes=3))
    for book in desk.agent.books:
        assert desk.value("trading_stale_positions", portfolio=book.name) == 0
        for p in book.positions:
            assert (
                desk.value("trading_price_age_seconds", portfolio=book.name, symbol=p.symbol) == 0
            )
        assert dat_001(desk, book.name) == 0
        assert evidence(desk, book.name) == set()
    assert feed_age(desk, market.name) == pytest.approx(0, abs=5)


def test_a_price_ages_only_while_the_exchange_is_in_session(settings: Settings) -> None:
    """The close's last trade is not stale overnight; unchanged by the next open plus
    the limit, it is."""
    close = WEDNESDAY.replace(hour=16)
    desk, clock, market = desk_at(settings, close - timedelta(minutes=2))
    alpha = desk.agent.books[0]
    desk.cycle()
    halted = alpha.positions[0].symbol
    market.halt([halted], clock(), close + timedelta(days=1))
    limit = settings.policy.ops.market_data_stale_seconds

    def age() -> float | None:
        return desk.value("trading_price_age_seconds", portfolio=alpha.name, symbol=halted)

    clock.set(close.replace(hour=20))  # after hours: four hours old, two minutes of session
    desk.cycle()
    assert age() == 120
    assert dat_001(desk, alpha.name) == 0

    opening = close.replace(hour=9, minute=30) + timedelta(days=1)
    clock.set(opening + timedelta(seconds=limit - 120))
    desk.cycle()
    assert age() == limit
    assert desk.value("trading_stale_positions", portfolio=alpha.name) == 0

    clock.advance(timedelta(minutes=1))
    desk.cycle()
    assert age() == limit + 60
    assert desk.value("trading_stale_positions", portfolio=alpha.name) == 1
    assert evidence(desk, alpha.name) == {halted}
