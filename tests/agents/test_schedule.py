"""Market phases follow the NYSE calendar in New York time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from riskwatch.calendar import MarketCalendar, MarketPhase
from tests.support.calendar import shipped_calendar, shipped_zone

LOCAL = shipped_zone()


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return shipped_calendar()


@pytest.mark.parametrize(
    ("local", "phase"),
    [
        ("2026-11-24 03:59", MarketPhase.CLOSED),
        ("2026-11-24 04:00", MarketPhase.PRE_MARKET),
        ("2026-11-24 09:29", MarketPhase.PRE_MARKET),
        ("2026-11-24 09:30", MarketPhase.REGULAR),
        ("2026-11-24 15:59", MarketPhase.REGULAR),
        ("2026-11-24 16:00", MarketPhase.AFTER_HOURS),
        ("2026-11-24 19:59", MarketPhase.AFTER_HOURS),
        ("2026-11-24 20:00", MarketPhase.CLOSED),
        # Thanksgiving: a holiday, closed all day.
        ("2026-11-26 11:00", MarketPhase.CLOSED),
        # The day after Thanksgiving closes at 13:00; extended hours end at 17:00.
        ("2026-11-27 12:59", MarketPhase.REGULAR),
        ("2026-11-27 13:00", MarketPhase.AFTER_HOURS),
        ("2026-11-27 17:00", MarketPhase.CLOSED),
        # A Saturday.
        ("2026-11-28 11:00", MarketPhase.CLOSED),
    ],
)
def test_phase_at(cal: MarketCalendar, local: str, phase: MarketPhase) -> None:
    when = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=LOCAL)
    assert cal.phase_at(when) is phase


def test_phase_is_computed_in_new_york_time_whatever_the_input_zone(cal: MarketCalendar) -> None:
    utc = datetime(2026, 11, 24, 14, 30, tzinfo=ZoneInfo("UTC"))  # 09:30 in New York
    assert cal.phase_at(utc) is MarketPhase.REGULAR


def test_previous_session_close_skips_the_holiday(cal: MarketCalendar) -> None:
    friday = datetime(2026, 11, 27, 10, 0, tzinfo=LOCAL)
    close = cal.previous_session_close(friday)
    assert close == datetime(2026, 11, 25, 16, 0, tzinfo=LOCAL)
