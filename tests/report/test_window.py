"""The day a report covers, at fixed instants of the NYSE calendar (no stack needed).

What a report of a day shows depends on when it is asked for: the part of the day that
has happened, whether the exchange opened, how long the day is. Each test sets the
clock to the instants of tests/support/calendar.py instead of inheriting the wall
clock's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from riskwatch.clock import FixedClock
from riskwatch.report.build import build_report
from riskwatch.report.collect import collect
from riskwatch.report.html import build_view
from riskwatch.report.model import ReportData, ReportError, report_window
from riskwatch.report.validation import validation_due
from riskwatch.settings import load_settings
from tests.report.sample import SESSIONS
from tests.support.calendar import SITUATIONS, Situation, shipped_calendar, situations
from tests.support.stack import free_port

CALENDAR = shipped_calendar()

# Hours in the day; every situation on a daylight-saving day is after the 02:00 change.
DAY_HOURS = {"dst-spring-forward": 23, "dst-fall-back": 25}


def hours_of(s: Situation) -> int:
    return DAY_HOURS.get(s.name, 24)


def test_every_situation_has_its_expected_session() -> None:
    # Keeps SESSIONS (sample.py) in step with tests/support/calendar.py.
    assert {s.name for s in SITUATIONS} == set(SESSIONS)


@pytest.mark.parametrize("s", situations())
def test_the_day_so_far(s: Situation) -> None:
    clock = FixedClock(s.at)
    day = s.at.date()
    w = report_window(day, clock(), CALENDAR)
    assert w.day == day
    assert w.start == datetime.combine(day, time(0), CALENDAR.zone)
    assert w.end == s.at and not w.complete
    since_midnight = s.at.hour * 3600 + s.at.minute * 60 + (hours_of(s) - 24) * 3600
    assert w.seconds == max(60, since_midnight)
    expected = SESSIONS[s.name]
    if expected is None:
        assert w.session is None
    else:
        assert w.session is not None
        assert (f"{w.session[0]:%H:%M}", f"{w.session[1]:%H:%M}") == expected

    view = build_view(ReportData(w, clock(), "http://prom", "http://recv"))
    assert view.as_of == f"Day in progress: as of {s.local[-5:]} New York time"
    if expected is None:
        assert view.session == "Exchange closed (weekend or holiday)"
    else:
        assert view.session == f"Regular session {expected[0]}\u2013{expected[1]}"


@pytest.mark.parametrize("s", situations())
def test_the_day_once_it_is_over(s: Situation) -> None:
    clock = FixedClock(s.at)
    clock.advance(timedelta(days=1))
    # The same instant in New York time or in UTC (what system_clock returns): the
    # same window, of the day's true length.
    for now in (clock(), clock().astimezone(UTC)):
        w = report_window(s.at.date(), now, CALENDAR)
        assert w.complete
        assert w.end == datetime.combine(s.at.date() + timedelta(days=1), time(0), CALENDAR.zone)
        assert w.seconds == hours_of(s) * 3600
        view = build_view(ReportData(w, now, "http://prom", "http://recv"))
        assert view.as_of == "Full day, 00:00\u201324:00 New York time"


@pytest.mark.parametrize("s", situations())
def test_the_next_day_has_not_started(s: Situation, tmp_path: Path) -> None:
    clock = FixedClock(s.at)
    settings = load_settings()
    tomorrow = s.at.date() + timedelta(days=1)
    message = f"{tomorrow} has not started yet in New York; pick today or a past date"
    with pytest.raises(ReportError, match=message):
        collect(settings, tomorrow, clock=clock)
    with pytest.raises(ReportError, match=message):
        build_report(settings, tomorrow, tmp_path, clock=clock)
    # Today passes the date check: the report gets as far as asking Prometheus.
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ReportError, match="cannot reach Prometheus"):
        build_report(settings, s.at.date(), tmp_path, prometheus_url=dead, clock=clock)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # Years after the wall clock, and twenty before it.
        pytest.param(date(2030, 11, 28), None, id="thanksgiving-2030"),
        pytest.param(date(2030, 11, 29), ("09:30", "13:00"), id="half-day-2030"),
        pytest.param(date(2005, 11, 24), None, id="thanksgiving-2005"),
        # Either side of a year's end (the calendar is built per year).
        pytest.param(date(2026, 12, 31), ("09:30", "16:00"), id="last-session-2026"),
        pytest.param(date(2027, 1, 1), None, id="new-year-2027"),
    ],
)
def test_a_days_session_does_not_depend_on_when_it_is_asked(
    day: date, expected: tuple[str, str] | None
) -> None:
    # The calendar library's default span follows the wall clock (twenty years back,
    # one ahead); past it, a holiday would read as a regular weekday.
    times = CALENDAR.session_times(day)
    if expected is None:
        assert times is None
    else:
        assert times is not None
        assert (f"{times[0]:%H:%M}", f"{times[1]:%H:%M}") == expected


# The close whose validation a report of the situation's day expects: the last NYSE
# session before that day, from the exchange's published calendar.
DUE = {
    "weekday-regular-hours": "2026-11-17 16:00",
    "weekday-overnight": "2026-11-17 16:00",
    "saturday": "2026-11-13 16:00",
    "after-a-holiday": "2026-09-04 16:00",  # Labor Day Monday had no session
    "half-day": "2026-11-25 16:00",  # Thanksgiving Thursday had none
    "monday-after-thanksgiving": "2026-11-27 13:00",  # Friday closed early
    "dst-spring-forward": "2026-03-06 16:00",
    "dst-fall-back": "2026-10-30 16:00",
}


@pytest.mark.parametrize("s", situations())
def test_the_validation_due_is_the_last_exchange_day_before_the_report(s: Situation) -> None:
    w = report_window(s.at.date(), s.at, CALENDAR)
    due = validation_due(w, load_settings().policy)
    assert f"{due.astimezone(CALENDAR.zone):%Y-%m-%d %H:%M}" == DUE[s.name]
