"""Market phases in New York time, from the NYSE calendar (holidays and half days).

PRE_MARKET 04:00 to the open, REGULAR the open to the close (13:00 on half days),
AFTER_HOURS the close to 20:00 (17:00 after a half day, when extended hours end
early too), CLOSED otherwise and all day on weekends and holidays.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xc
import pandas as pd

log = logging.getLogger("riskwatch.agents.schedule")

NEW_YORK = ZoneInfo("America/New_York")
PRE_MARKET_OPEN = time(4, 0)
AFTER_HOURS_CLOSE = time(20, 0)
HALF_DAY_AFTER_HOURS_CLOSE = time(17, 0)
REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)


class MarketPhase(StrEnum):
    PRE_MARKET = "PRE_MARKET"
    REGULAR = "REGULAR"
    AFTER_HOURS = "AFTER_HOURS"
    CLOSED = "CLOSED"


@lru_cache(maxsize=4)
def _calendar(name: str) -> xc.ExchangeCalendar:
    # Loading a calendar parses years of rules (~0.3 s): once per process is enough.
    return xc.get_calendar(name)


class MarketCalendar:
    """Answers 'which phase is it?' for an exchange calendar (default NYSE, XNYS)."""

    def __init__(self, name: str = "XNYS") -> None:
        self.name = name
        self._cal = _calendar(name)

    def _session_times(self, day: date) -> tuple[datetime, datetime] | None:
        """Regular open and close in New York time, or None when there is no session."""
        ts = pd.Timestamp(day)
        if self._cal.first_session <= ts <= self._cal.last_session:
            if not self._cal.is_session(ts):
                return None
            open_ = self._cal.session_open(ts).tz_convert(NEW_YORK).to_pydatetime()
            close = self._cal.session_close(ts).tz_convert(NEW_YORK).to_pydatetime()
            return open_, close
        # Past the calendar's horizon we know weekends but not holidays: say so once.
        log.warning(
            "%s: %s is outside the calendar; assuming a regular weekday session", self.name, day
        )
        if day.weekday() >= 5:
            return None
        return (
            datetime.combine(day, REGULAR_OPEN, NEW_YORK),
            datetime.combine(day, REGULAR_CLOSE, NEW_YORK),
        )

    def phase_at(self, when: datetime) -> MarketPhase:
        """The market phase at an aware datetime."""
        local = when.astimezone(NEW_YORK)
        session = self._session_times(local.date())
        if session is None:
            return MarketPhase.CLOSED
        open_, close = session
        half_day = close.time() < REGULAR_CLOSE
        after_end = HALF_DAY_AFTER_HOURS_CLOSE if half_day else AFTER_HOURS_CLOSE
        pre_start = datetime.combine(local.date(), PRE_MARKET_OPEN, NEW_YORK)
        after_close = datetime.combine(local.date(), after_end, NEW_YORK)
        if open_ <= local < close:
            return MarketPhase.REGULAR
        if pre_start <= local < open_:
            return MarketPhase.PRE_MARKET
        if close <= local < after_close:
            return MarketPhase.AFTER_HOURS
        return MarketPhase.CLOSED

    def is_regular_session(self, when: datetime) -> bool:
        """True during regular hours of an exchange day (compliance rule OPS_001)."""
        return self.phase_at(when) is MarketPhase.REGULAR

    def session_start(self, when: datetime) -> datetime:
        """Midnight New York time of `when`'s day: where 'today' starts for daily P&L."""
        local = when.astimezone(NEW_YORK)
        return datetime.combine(local.date(), time(0, 0), NEW_YORK)

    def previous_session_close(self, when: datetime) -> datetime:
        """The regular close of the last session that ended before `when`."""
        day = when.astimezone(NEW_YORK).date()
        for back in range(0, 15):
            session = self._session_times(day - timedelta(days=back))
            if session is not None and session[1] <= when:
                return session[1]
        raise ValueError(f"no session in the two weeks before {when}")
