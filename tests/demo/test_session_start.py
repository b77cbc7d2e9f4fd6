"""Which exchange day the demo simulates, at fixed instants (issue #19): the day comes
from the caller's clock, and a scenario never plays on a half day it would outlast."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from riskwatch.calendar import MarketCalendar
from riskwatch.demo.scenarios import SCENARIOS
from riskwatch.demo.world import session_start
from tests.support.calendar import SITUATIONS, Situation, shipped_calendar, situations

LONGEST = max(s.duration for s in SCENARIOS.values())

# The demo's morning for a `make demo` started at each instant.
DAY = {
    "weekday-regular-hours": date(2026, 11, 18),
    "weekday-overnight": date(2026, 11, 18),  # that day's 10:00, still ahead
    "saturday": date(2026, 11, 13),
    "after-a-holiday": date(2026, 9, 8),
    # Friday is a half day (closes 13:00) and Thursday Thanksgiving: back to Wednesday.
    "half-day": date(2026, 11, 25),
    "monday-after-thanksgiving": date(2026, 11, 30),
    "dst-spring-forward": date(2026, 3, 6),
    "dst-fall-back": date(2026, 10, 30),
}


@pytest.fixture(scope="module")
def calendar() -> MarketCalendar:
    return shipped_calendar()


def test_every_situation_has_an_expected_day() -> None:
    assert set(DAY) == {s.name for s in SITUATIONS}


@pytest.mark.parametrize("situation", situations())
def test_session_start_at_fixed_instants(situation: Situation, calendar: MarketCalendar) -> None:
    start = session_start(calendar, situation.at, length=LONGEST)
    local = start.astimezone(calendar.zone)
    assert (local.date(), local.hour, local.minute) == (DAY[situation.name], 10, 0), situation.why
    # Every scenario, the longest included, plays inside that day's regular hours.
    for minute in range(0, int(LONGEST.total_seconds() // 60), 10):
        assert calendar.is_regular_session(start + timedelta(minutes=minute)), minute


def test_a_short_span_may_play_on_a_half_day(calendar: MarketCalendar) -> None:
    # The half day's morning is a regular session: only a span past 13:00 skips it.
    half_day = next(s for s in SITUATIONS if s.name == "half-day").at
    assert session_start(calendar, half_day).date() == date(2026, 11, 27)
    assert session_start(calendar, half_day, length=timedelta(hours=3)).date() == date(2026, 11, 27)
    assert session_start(calendar, half_day, length=timedelta(hours=3, minutes=1)).date() == (
        date(2026, 11, 25)
    )
