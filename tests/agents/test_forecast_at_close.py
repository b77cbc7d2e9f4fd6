"""At each exchange day's close the trading agent records in the forecast log, for every
book, method and both confidences, its VaR and ES forecast for the next exchange day,
and the day's realised return from its equity closes; once, across a restart, and after
an outage of the database.

The agent runs on the synthetic market through the week of Thanksgiving 2026 on an
injected clock: Thursday the 26th is a holiday, Friday the 27th closes at 13:00.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import pandas as pd
import pytest

from riskwatch.clock import FixedClock
from riskwatch.forecast_log import ForecastLog
from riskwatch.stack.runner import Stack
from tests.support.calendar import shipped_zone
from tests.support.desk_database import (
    DatabaseDesk,
    database_desk,
    desk_settings,
    unique_portfolio,
)
from tests.support.stack import free_port

pytestmark = pytest.mark.stack

ZONE = shipped_zone()
TUESDAY, WEDNESDAY, FRIDAY, MONDAY = (date(2026, 11, d) for d in (24, 25, 27, 30))


def at(day: date, hhmm: str) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=ZONE)


def published_at_close(desk: DatabaseDesk, when: datetime, portfolio: str) -> dict[str, float]:
    """Run the cycle at `when`; the value, VaR and ES the agent published in it."""
    desk.cycle_at(when)
    figures: dict[str, float] = {}
    for family in desk.runtime.publisher.registry.collect():
        for s in family.samples:
            if s.labels.get("portfolio") != portfolio:
                continue
            if s.name == "trading_portfolio_value_usd":
                figures["value"] = s.value
            elif s.name in ("risk_var_ratio", "risk_expected_shortfall_ratio"):
                figures[f"{s.name}/{s.labels['method']}/{s.labels['confidence']}"] = s.value
    return figures


def test_the_close_record_lands_once_per_exchange_day(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = stack.database_dsn()
    name = unique_portfolio("close")
    settings = desk_settings(dsn, [name])
    tail = settings.policy.tail_risk
    clock = FixedClock(at(TUESDAY, "15:59"))
    desk = database_desk(settings, clock)
    desk.cycle_at(at(TUESDAY, "15:59"))  # the first run, before the close: nothing due
    log = ForecastLog(dsn)
    assert log.history(portfolios=[name]).empty

    closes = {TUESDAY: published_at_close(desk, at(TUESDAY, "16:00"), name)}
    desk.cycle_at(at(TUESDAY, "16:01"))
    closes[WEDNESDAY] = published_at_close(desk, at(WEDNESDAY, "16:00"), name)

    # A restart after Wednesday's close: the new process makes Wednesday's record again,
    # and writes none of it over what the first one wrote.
    restarted = database_desk(settings, clock)
    restarted.cycle_at(at(WEDNESDAY, "17:30"))
    # Friday, a half day after the holiday, closes at 13:00.
    closes[FRIDAY] = published_at_close(restarted, at(FRIDAY, "13:00"), name)
    restarted.cycle_at(at(FRIDAY, "13:01"))

    history = log.history(portfolios=[name])
    methods, confidences = set(tail.methods), {0.99, 0.975}
    made = {WEDNESDAY: TUESDAY, FRIDAY: WEDNESDAY, MONDAY: FRIDAY}
    assert sorted(set(history["day"])) == sorted(made), "one record per close, for the next day"
    for day, closed in made.items():
        rows = history[history["day"] == day]
        assert len(rows) == len(methods) * len(confidences)
        assert set(zip(rows["method"], rows["confidence"], strict=True)) == {
            (m, c) for m in methods for c in confidences
        }
        # Made by the first run at or after the close, whatever ran later.
        close_time = at(closed, "13:00" if closed == FRIDAY else "16:00")
        assert set(rows["made_at"]) == {pd.Timestamp(close_time)}
        # The figures logged are those the agent published at that close.
        published = closes[closed]
        for r in rows.itertuples():
            if r.confidence == tail.var_confidence:
                assert r.var == published[f"risk_var_ratio/{r.method}/0.99"]
            if r.confidence == tail.expected_shortfall_confidence:
                assert r.es == published[f"risk_expected_shortfall_ratio/{r.method}/0.975"]

    # The realised return of each day is its equity close over the previous exchange
    # day's. Tuesday's has no Monday close to go from: not recorded, and said so.
    realised = log.realised(portfolios=[name]).set_index("day")["realised_return"]
    assert list(realised.index) == [WEDNESDAY, FRIDAY]
    value = {day: figures["value"] for day, figures in closes.items()}
    assert realised[WEDNESDAY] == pytest.approx(value[WEDNESDAY] / value[TUESDAY] - 1, rel=1e-12)
    assert realised[FRIDAY] == pytest.approx(value[FRIDAY] / value[WEDNESDAY] - 1, rel=1e-12)
    joined = history.set_index(["day", "method", "confidence"])["realised_return"]
    assert joined[(FRIDAY, "historical", 0.99)] == realised[FRIDAY]
    assert any(
        f"realised return of {name} on {TUESDAY} not recorded" in r.getMessage()
        for r in caplog.records
    )


def test_a_close_during_a_database_outage_is_written_when_it_returns(stack: Stack) -> None:
    dsn = stack.database_dsn()
    name = unique_portfolio("outage")
    settings = desk_settings(dsn, [name])
    clock = FixedClock(at(TUESDAY, "15:58"))
    desk = database_desk(settings, clock)
    tuesday = published_at_close(desk, at(TUESDAY, "16:00"), name)

    down = f"postgresql://riskwatch@127.0.0.1:{free_port()}/riskwatch"
    assert desk.agent.closes is not None
    desk.agent.equity.dsn = desk.agent.closes.forecast_log.dsn = down
    desk.cycle_at(at(WEDNESDAY, "15:59"))
    # The close while the database is down: the agent keeps publishing.
    wednesday = published_at_close(desk, at(WEDNESDAY, "16:00"), name)
    assert wednesday["value"] != tuesday["value"]
    desk.cycle_at(at(WEDNESDAY, "16:30"))

    desk.agent.equity.dsn = desk.agent.closes.forecast_log.dsn = dsn  # it is back
    desk.cycle_at(at(FRIDAY, "08:00"))
    log = ForecastLog(dsn)
    history = log.history(portfolios=[name])
    # Tuesday's record and Wednesday's, made in the outage, both written now.
    assert sorted(set(history["day"])) == [WEDNESDAY, FRIDAY]
    assert set(history[history["day"] == FRIDAY]["made_at"]) == {
        pd.Timestamp(at(WEDNESDAY, "16:00"))
    }
    realised = log.realised(portfolios=[name]).set_index("day")["realised_return"]
    # Wednesday's equity close waited in memory too.
    assert realised[WEDNESDAY] == pytest.approx(wednesday["value"] / tuesday["value"] - 1)


def test_a_close_missed_until_the_next_open_is_said_to_be_lost(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    name = unique_portfolio("missed")
    settings = desk_settings(stack.database_dsn(), [name])
    clock = FixedClock(at(TUESDAY, "15:00"))
    desk = database_desk(settings, clock)
    desk.cycle_at(at(TUESDAY, "15:00"))
    # The agent was up at Tuesday's close, but ran nothing until Wednesday's session.
    caplog.set_level(logging.ERROR, "riskwatch.agents.realised")
    desk.cycle_at(at(WEDNESDAY, "10:00"))
    assert ForecastLog(stack.database_dsn()).history(portfolios=[name]).empty
    (lost,) = [r.getMessage() for r in caplog.records if "no close record" in r.getMessage()]
    assert f"no close record for {TUESDAY}" in lost
    assert f"its forecasts for {WEDNESDAY} are lost" in lost
