"""Fixed instants for tests whose outcome depends on the date or the time of day.

Each `Situation` is a moment of the NYSE calendar that once broke, or could break,
something that reads the clock: tests take it as a parameter (`SITUATIONS`) and pass
`FixedClock(situation.at)` instead of inheriting the hour they happen to run at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from riskwatch.calendar import MarketCalendar, MarketPhase
from riskwatch.policy import POLICY_FILE, load_policy

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Situation:
    """A named instant, given in the shipped market's time zone (New York)."""

    name: str
    local: str
    """``YYYY-MM-DD HH:MM`` in `shipped_zone()`."""
    why: str

    @property
    def at(self) -> datetime:
        return datetime.strptime(self.local, "%Y-%m-%d %H:%M").replace(tzinfo=shipped_zone())


SITUATIONS = (
    Situation("weekday-regular-hours", "2026-11-18 11:00", "Wednesday, market open"),
    Situation("weekday-overnight", "2026-11-18 02:00", "Wednesday before pre-market"),
    Situation("saturday", "2026-11-14 12:00", "weekend: values held since Friday"),
    Situation("after-a-holiday", "2026-09-08 11:00", "Tuesday after Labor Day"),
    Situation("half-day", "2026-11-27 18:00", "Friday after Thanksgiving, closed at 13:00"),
    Situation(
        "monday-after-thanksgiving",
        "2026-11-30 05:40",
        "the run of issue #19: a day back is Sunday, Friday a half day, Thursday a holiday",
    ),
    Situation("dst-spring-forward", "2026-03-08 12:00", "Sunday of a 23-hour day"),
    Situation("dst-fall-back", "2026-11-01 12:00", "Sunday of a 25-hour day"),
)


def situations() -> list[object]:
    """`SITUATIONS` as pytest parameters, with readable ids."""
    return [pytest.param(s, id=s.name) for s in SITUATIONS]


def shipped_calendar() -> MarketCalendar:
    """The market calendar of the shipped policy."""
    return MarketCalendar(load_policy(ROOT / POLICY_FILE).market)


@cache
def shipped_zone() -> ZoneInfo:
    """The shipped policy's market time zone: the zone a test means by "local time".

    Tests take it from here rather than naming America/New_York, so the policy stays
    the one place that says which zone the desk's market is in.
    """
    return shipped_calendar().zone


def last_run(calendar: MarketCalendar, when: datetime) -> datetime:
    """The latest minute at or before `when` at which an agent runs (trading phases)."""
    minute = when.replace(second=0, microsecond=0)
    while calendar.phase_at(minute) is MarketPhase.CLOSED:
        minute -= timedelta(minutes=1)
    return minute
