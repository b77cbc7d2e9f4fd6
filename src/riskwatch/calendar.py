"""Market phases from the exchange calendar of the policy (holidays and half days).

PRE_MARKET from the policy's `extended_open` to the open, REGULAR the open to the
close (earlier on half days), AFTER_HOURS the close to `extended_close`
(`half_day_extended_close` after a half day), CLOSED otherwise and all day on
weekends and holidays; all in the policy's `market.timezone` (`MarketCalendar.zone`).

Each fact has one home: the zone and the extended hours are the policy's, the
sessions and the regular hours the exchange calendar's; nothing here repeats them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

from riskwatch.policy import Market

log = logging.getLogger("riskwatch.calendar")


class MarketPhase(StrEnum):
    PRE_MARKET = "PRE_MARKET"
    REGULAR = "REGULAR"
    AFTER_HOURS = "AFTER_HOURS"
    CLOSED = "CLOSED"


@lru_cache(maxsize=16)
def _calendar(name: str, year: int) -> xc.ExchangeCalendar | None:
    """`name`'s calendar over `year` and a month either side, or None for a year it
    does not record.

    Built per year rather than over the library's default span, which runs from twenty
    years before the wall clock to one year after it: with that span a given date's
    session (Thanksgiving next year, say) would depend on the day the code runs.
    Loading one parses its rules (~0.3 s), so each is kept.
    """
    base = xc.get_calendar(name)  # only for its bounds, which are fixed per calendar
    low, high = base.bound_min(), base.bound_max()
    start = pd.Timestamp(year - 1, 12, 1)
    end = pd.Timestamp(year + 1, 1, 31)
    if low is not None:
        start = max(start, low)
    if high is not None:
        end = min(end, high)
    if start.year > year or end.year < year:
        return None
    return xc.get_calendar(name, start=start, end=end)


_Since = tuple[pd.Timestamp | None, time]


def _in_force(times: Sequence[_Since], day: date) -> time:
    """The time of `times` (exchange-calendars' ``(from date, time)`` pairs, oldest
    first) that applies on `day`."""
    ts = pd.Timestamp(day)
    return next(t for start, t in reversed(times) if start is None or start <= ts)


@lru_cache(maxsize=16)
def _hours(name: str) -> tuple[ZoneInfo, Sequence[_Since], Sequence[_Since]]:
    """`name`'s zone, open times and close times: fixed per calendar, whatever its span."""
    base = xc.get_calendar(name)
    return ZoneInfo(str(base.tz)), base.open_times, base.close_times


def regular_hours(name: str, day: date) -> tuple[datetime, datetime]:
    """Exchange `name`'s regular (full-day) open and close on `day`, in its own zone.

    From the exchange calendar's definition rather than its sessions, so it answers
    for any day, holidays and days past the calendar's horizon included.
    """
    zone, opens, closes = _hours(name)
    return (
        datetime.combine(day, _in_force(opens, day), zone),
        datetime.combine(day, _in_force(closes, day), zone),
    )


def _clock(text: str) -> timedelta:
    """``HH:MM`` (24:00 allowed) as the wall-clock time since midnight."""
    hours, minutes = (int(part) for part in text.split(":"))
    return timedelta(hours=hours, minutes=minutes)


class MarketCalendar:
    """Answers 'which phase is it?' for the policy's market (exchange and hours)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self.name = market.exchange
        self.pre_open = _clock(market.extended_open)
        """When the extended hours begin: wall-clock time since midnight."""
        self.after_close = _clock(market.extended_close)
        """When the extended hours end after a full day: wall-clock time since midnight."""
        self._half_day_after_close = _clock(market.half_day_extended_close)

    @property
    def zone(self) -> ZoneInfo:
        """The market's time zone (the policy's `market.timezone`): the desk's days,
        sessions and clock times are all in it."""
        return self.market.zone

    def session_times(self, day: date) -> tuple[datetime, datetime] | None:
        """Regular open and close in the market's zone, or None when there is no session."""
        cal = _calendar(self.name, day.year)
        ts = pd.Timestamp(day)
        if cal is not None and cal.first_session <= ts <= cal.last_session:
            if not cal.is_session(ts):
                return None
            open_ = cal.session_open(ts).tz_convert(self.zone).to_pydatetime()
            close = cal.session_close(ts).tz_convert(self.zone).to_pydatetime()
            return open_, close
        # Past the calendar's horizon we know weekends but not holidays: say so.
        log.warning(
            "%s: %s is outside the calendar; assuming a regular weekday session", self.name, day
        )
        if day.weekday() >= 5:
            return None
        open_, close = regular_hours(self.name, day)
        return open_.astimezone(self.zone), close.astimezone(self.zone)

    def sessions(self, start: date, end: date) -> tuple[date, ...]:
        """The exchange days from `start` to `end`, both included, oldest first.

        The days `session_times` says have a session, from one exchange calendar built
        over the span (twenty years one day at a time, a calendar a year, took ~10 s).
        Days past the calendar's bounds follow `session_times`'s weekday rule.
        """
        if start > end:
            return ()
        base = xc.get_calendar(self.name)  # only for its bounds, fixed per calendar
        low = base.bound_min().date() if base.bound_min() is not None else date.min
        high = base.bound_max().date() if base.bound_max() is not None else date.max
        inside_from, inside_to = max(start, low), min(end, high)
        found: list[date] = []
        if inside_from <= inside_to:
            # A fortnight either side (within the bounds): a calendar over a span
            # without a session, such as a weekend, cannot be built.
            pad = timedelta(days=14)
            cal = xc.get_calendar(
                self.name,
                start=pd.Timestamp(max(inside_from - pad, low)),
                end=pd.Timestamp(min(inside_to + pad, high)),
            )
            found += [
                d for d in (ts.date() for ts in cal.sessions) if inside_from <= d <= inside_to
            ]
        outside = [
            start + timedelta(days=k)
            for k in range((end - start).days + 1)
            if not inside_from <= start + timedelta(days=k) <= inside_to
        ]
        found += [d for d in outside if self.session_times(d) is not None]
        return tuple(sorted(found))

    def trading_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """When the trading phases (extended hours) of `day` begin and end, in the
        market's zone; None on a day without a session."""
        session = self.session_times(day)
        return None if session is None else self._extended(day, session[1])

    def _extended(self, day: date, close: datetime) -> tuple[datetime, datetime]:
        """The extended hours of `day`, whose regular session closes at `close`."""
        half_day = close < regular_hours(self.name, day)[1]
        # Wall-clock arithmetic on an aware datetime: the same local time on DST days.
        midnight = datetime.combine(day, time(0, 0), self.zone)
        end = self._half_day_after_close if half_day else self.after_close
        return midnight + self.pre_open, midnight + end

    def phase_at(self, when: datetime) -> MarketPhase:
        """The market phase at an aware datetime."""
        local = when.astimezone(self.zone)
        session = self.session_times(local.date())
        if session is None:
            return MarketPhase.CLOSED
        open_, close = session
        pre_open, after_close = self._extended(local.date(), close)
        if open_ <= local < close:
            return MarketPhase.REGULAR
        if pre_open <= local < open_:
            return MarketPhase.PRE_MARKET
        if close <= local < after_close:
            return MarketPhase.AFTER_HOURS
        return MarketPhase.CLOSED

    def is_regular_session(self, when: datetime) -> bool:
        """True during regular hours of an exchange day (compliance rule OPS_001)."""
        return self.phase_at(when) is MarketPhase.REGULAR

    def session_start(self, when: datetime) -> datetime:
        """Midnight in the market's zone of `when`'s day: where 'today' starts for daily
        P&L."""
        local = when.astimezone(self.zone)
        return datetime.combine(local.date(), time(0, 0), self.zone)

    def previous_session_close(self, when: datetime) -> datetime:
        """The regular close of the last session that ended before `when`."""
        day = when.astimezone(self.zone).date()
        for back in range(0, 15):
            session = self.session_times(day - timedelta(days=back))
            if session is not None and session[1] <= when:
                return session[1]
        raise ValueError(f"no session in the two weeks before {when}")
