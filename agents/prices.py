"""Each symbol's last good price, the time it is current as of, and how old it is.

Freshness is per symbol, not per feed: a feed that answers for most symbols can leave
others behind (a halted or illiquid symbol, a tick rejected as NaN, zero or negative, a
symbol the feed left out). Such a symbol keeps its last good price, so it is never
valued at a bad one, and that price ages from its own time until it is stale.

A price's time is its quote's (the trade's own timestamp, as the source gives it),
never later than when it was fetched. Its age counts regular-session time only: after
the close the last trade is hours old while nothing has moved, and from the next open
it ages again, so a symbol that has not traded five minutes into the session is stale
on yesterday's close. A price is stale when its age exceeds the policy's
`ops.market_data_stale_seconds`, the limit of MarketDataStale and of rule DAT_001.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from riskwatch.calendar import MarketCalendar

LOOKBACK = timedelta(days=10)
"""A price older than this is counted in plain seconds: stale by any limit, and no
need to walk the calendar for it."""


@dataclass(frozen=True)
class LastPrice:
    price: float
    at: datetime
    """When the price was current: its quote's time (timezone-aware)."""


class LastPrices:
    """The last good price of every symbol seen, with its time."""

    def __init__(self, calendar: MarketCalendar, stale_seconds: float) -> None:
        self.calendar = calendar
        self.stale_seconds = stale_seconds
        self._last: dict[str, LastPrice] = {}
        self._sessions: dict[date, tuple[datetime, datetime] | None] = {}

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._last

    def accept(self, symbol: str, price: float, quoted: datetime, fetched: datetime) -> None:
        """A validated price quoted at `quoted`, fetched at `fetched`. A quote older than
        the one held (a late or repeated answer) does not replace it."""
        at = min(quoted, fetched)  # a clock ahead of ours does not make a price fresher
        held = self._last.get(symbol)
        if held is None or at >= held.at:
            self._last[symbol] = LastPrice(price, at)

    def price(self, symbol: str) -> float:
        return self._last[symbol].price

    def ages(self, symbols: Iterable[str], now: datetime) -> dict[str, float]:
        """Seconds of regular session since each known symbol's price was current."""
        return {s: self.session_seconds(self._last[s].at, now) for s in symbols if s in self}

    def stale(self, ages: Mapping[str, float]) -> list[str]:
        """The symbols of `ages` whose price is older than the limit, sorted."""
        return sorted(s for s, age in ages.items() if age > self.stale_seconds)

    def session_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds of the exchange's regular sessions between `start` and `end`."""
        if end <= start:
            return 0.0
        if end - start > LOOKBACK:
            return (end - start).total_seconds()
        zone = self.calendar.zone
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        total = 0.0
        while day <= last:
            session = self._session(day)
            if session is not None:
                overlap = min(session[1], end) - max(session[0], start)
                total += max(overlap.total_seconds(), 0.0)
            day += timedelta(days=1)
        return total

    def _session(self, day: date) -> tuple[datetime, datetime] | None:
        if day not in self._sessions:
            self._sessions[day] = self.calendar.session_times(day)
        return self._sessions[day]
