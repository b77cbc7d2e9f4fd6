"""Which exchange days a validation covers, from the policy's market calendar.

A run validates as of one exchange day (`as_of`) over a span of sessions ending on
it (`Span`). The sessions are the calendar's, never the data's: a day the calendar
expects and the data lacks is a missing bar, which is what completeness counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from riskwatch.calendar import MarketCalendar

# Long enough that any exchange has a session in it (Christmas to New Year, a week
# of national holidays), short enough to fail fast on a calendar with none.
_SESSION_SEARCH_DAYS = 15


class SpanError(ValueError):
    """A date the run cannot validate as of (in the future, before the data, not an
    exchange day), phrased as one line for the operator."""


@dataclass(frozen=True)
class Span:
    """The sessions a run covers, oldest first; `as_of` is the last."""

    sessions: tuple[date, ...]

    def __post_init__(self) -> None:
        if not self.sessions:
            raise SpanError("the validated span holds no exchange day")

    @property
    def since(self) -> date:
        """The first session."""
        return self.sessions[0]

    @property
    def as_of(self) -> date:
        """The last session: the day validated as of."""
        return self.sessions[-1]

    def last(self, count: int) -> tuple[date, ...]:
        """The last `count` sessions (all of them if the span is shorter)."""
        return self.sessions[-count:]


def sessions_between(calendar: MarketCalendar, start: date, end: date) -> tuple[date, ...]:
    """The exchange's sessions from `start` to `end`, both included."""
    return calendar.sessions(start, end)


def sessions_ending(calendar: MarketCalendar, end: date, count: int) -> tuple[date, ...]:
    """The `count` sessions ending on `end` (which must be one), oldest first."""
    # Exchanges trade about 252 days in 365: a year and a half per 252 is ample, and
    # the loop widens the reach for a calendar with unusually many closures.
    reach = timedelta(days=count * 3 // 2 + 10)
    while True:
        found = calendar.sessions(end - reach, end)
        if len(found) >= count:
            return found[-count:]
        reach *= 2


def last_completed_session(calendar: MarketCalendar, now: datetime) -> date:
    """The last exchange day whose regular session had closed at `now`."""
    return calendar.previous_session_close(now).date()


def check_session(calendar: MarketCalendar, day: date, what: str) -> date:
    """`day` if it is an exchange day; SpanError naming the previous one otherwise."""
    if calendar.session_times(day) is not None:
        return day
    for back in range(1, _SESSION_SEARCH_DAYS):
        earlier = day - timedelta(days=back)
        if calendar.session_times(earlier) is not None:
            raise SpanError(
                f"{what} {day} is not an exchange day of {calendar.name}; "
                f"the one before it is {earlier}"
            )
    raise SpanError(f"{what} {day} is not an exchange day of {calendar.name}")


def check_not_future(calendar: MarketCalendar, day: date, now: datetime) -> date:
    """`day` if its session has closed by `now`; SpanError otherwise."""
    last = last_completed_session(calendar, now)
    if day > last:
        raise SpanError(
            f"--date {day} has not closed yet; the last completed exchange day is {last}"
        )
    return day
