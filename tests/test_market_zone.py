"""The market's time zone is the policy's `market.timezone`, and nothing else's.

A copy of the shipped policy moves the desk to the London Stock Exchange (XLON,
Europe/London). Every instant below is one where New York and London disagree, so a
hard-coded New York zone (or NYSE hours) anywhere on the path fails the test.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from riskwatch.calendar import MarketCalendar, MarketPhase
from riskwatch.policy import load_policy
from riskwatch.report.breaches import first_crossing
from riskwatch.report.html import build_view, render_text
from riskwatch.report.model import ReportData, Series, report_window
from riskwatch.report.schedule import DailyReport
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from tests.support.calendar import shipped_zone
from tests.support.policy import policy_copy

LONDON = ZoneInfo("Europe/London")
DAY = date(2026, 11, 24)  # a Tuesday; London is on GMT, New York on EST (UTC-5)
# 08:30 London: the LSE has been open half an hour; it is 03:30 in New York, before
# even NYSE's pre-market.
LONDON_MORNING = datetime.combine(DAY, time(8, 30), LONDON)


def _london(data: dict[str, Any]) -> None:
    data["market"].update(exchange="XLON", timezone="Europe/London")


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return policy_copy(tmp_path_factory.mktemp("london"), _london)


@pytest.fixture(scope="module")
def calendar(policy_file: Path) -> MarketCalendar:
    return MarketCalendar(load_policy(policy_file).market)


def test_the_shipped_zone_is_not_the_one_under_test() -> None:
    # Otherwise the tests below could not tell the policy's zone from a constant.
    assert shipped_zone() != LONDON


def test_the_calendar_keeps_the_policys_zone_and_the_exchanges_hours(
    calendar: MarketCalendar,
) -> None:
    assert calendar.zone == LONDON
    assert calendar.session_times(DAY) == (
        datetime.combine(DAY, time(8), LONDON),
        datetime.combine(DAY, time(16, 30), LONDON),
    )
    assert calendar.phase_at(LONDON_MORNING) is MarketPhase.REGULAR
    # The policy's extended hours are wall-clock times in the policy's zone.
    pre_open, after_close = calendar.trading_hours(DAY) or (None, None)
    assert pre_open == datetime.combine(DAY, time(4), LONDON)
    assert after_close == datetime.combine(DAY, time(20), LONDON)
    # 'Today' starts at London's midnight, not New York's.
    late = datetime.combine(DAY, time(23, 30), LONDON)  # 18:30 in New York
    assert calendar.session_start(late) == datetime.combine(DAY, time(0), LONDON)
    assert calendar.session_start(late).utcoffset() == LONDON_MORNING.utcoffset()


def test_the_report_shows_the_policys_local_times(calendar: MarketCalendar) -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 12:00 London, 07:00 New York
    w = report_window(DAY, now, calendar)
    assert w.zone == LONDON
    assert w.start == datetime.combine(DAY, time(0), LONDON)
    assert w.session == calendar.session_times(DAY)
    data = ReportData(w, now, "http://prom", "http://recv")
    view = build_view(data)
    assert view.as_of == "Day in progress: as of 12:00 London time"
    assert "Generated 2026-11-24 12:00 London time" in render_text(view, [])
    crossed = first_crossing(Series("beta", (LONDON_MORNING.timestamp(),), (0.2,)), 0.1, w.zone)
    assert crossed is not None and crossed.strftime("%H:%M") == "08:30"


def test_the_report_is_due_at_schedule_time_in_the_policys_zone(
    policy_file: Path, tmp_path: Path
) -> None:
    settings: Settings = load_settings(
        policy_file=str(policy_file), report={"out_dir": str(tmp_path), "schedule_time": "16:30"}
    )
    job = DailyReport(settings)
    # 16:35 London is 11:35 in New York: due in London, not yet in New York.
    assert job.due(datetime.combine(DAY, time(16, 35), LONDON)) == DAY
    assert job.due(datetime.combine(DAY, time(16, 25), LONDON)) is None


def test_the_synthetic_market_trades_the_policys_hours(calendar: MarketCalendar) -> None:
    market = SyntheticMarket(universe_size=6, calendar=calendar)
    assert market.zone == LONDON
    assert market.in_regular_hours(LONDON_MORNING)
    # 15:00 in New York, NYSE's afternoon: 20:00 in London, the LSE long closed.
    assert not market.in_regular_hours(datetime.combine(DAY, time(20), LONDON))
