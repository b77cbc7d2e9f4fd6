"""MarketCalendar.sessions lists exactly the days session_times says have a session."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from riskwatch.calendar import MarketCalendar
from riskwatch.settings import Settings


def _day_by_day(calendar: MarketCalendar, start: date, end: date) -> tuple[date, ...]:
    days = (start + timedelta(days=k) for k in range((end - start).days + 1))
    return tuple(d for d in days if calendar.session_times(d) is not None)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2008, 9, 1), date(2009, 3, 31)),  # a crisis, Thanksgiving to New Year
        (date(2012, 10, 26), date(2012, 11, 2)),  # Hurricane Sandy's two closed days
        (date(2026, 11, 20), date(2027, 1, 10)),  # across a year end
        (date(2026, 11, 28), date(2026, 11, 29)),  # a weekend: none
        (date(2026, 11, 30), date(2026, 11, 29)),  # an empty range
    ],
)
def test_sessions_are_the_days_with_a_session(start: date, end: date) -> None:
    calendar = MarketCalendar(Settings().policy.market)
    assert calendar.sessions(start, end) == _day_by_day(calendar, start, end)


def test_twenty_years_in_one_call() -> None:
    calendar = MarketCalendar(Settings().policy.market)
    days = calendar.sessions(date(1999, 1, 1), date(2018, 12, 31))
    assert len(days) == 5031  # the days arch's S&P 500 history has, 1999-2018
    assert date(2001, 9, 11) not in days and date(2001, 9, 17) in days
