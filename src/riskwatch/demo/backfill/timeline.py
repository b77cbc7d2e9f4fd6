"""The sample instants of a backfill and what the agent would be doing at each.

The timeline runs from a lead-in before the start (so the first written sample holds
the values a running agent would have had) to the end, in steps of the resolution,
and marks the trading phases of the exchange calendar, when the agent records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from riskwatch.calendar import MarketCalendar
from riskwatch.demo.backfill.base import BoolArray, IntArray


@dataclass(frozen=True)
class Timeline:
    """Sample instants from a lead-in before `start` up to `end`, and what the agent
    would have been doing at each.

    The lead-in reaches back far enough that the first written sample already holds
    the values, and the daily P&L base, a running agent would have had (`_lead_in`).
    """

    times: IntArray
    """Unix seconds, multiples of the resolution (reruns land on the same instants)."""
    first: int
    """Index of the first instant at or after `start`: what gets written."""
    days: list[date]
    """The market's dates covered, in order."""
    day: IntArray
    """Index into `days` per instant."""
    minute: IntArray
    """Minute of the market's day per instant, as SyntheticMarket.price_at reads it."""
    recorded: BoolArray
    """True where the live agent runs: trading phases of exchange days."""

    @classmethod
    def build(
        cls, start: datetime, end: datetime, resolution: int, calendar: MarketCalendar
    ) -> Timeline:
        lead = _lead_in(start, calendar).timestamp()
        first_time = math.ceil(lead / resolution) * resolution
        times = np.arange(first_time, math.ceil(end.timestamp()), resolution, dtype=np.int64)
        zone = calendar.market.zone
        local = pd.DatetimeIndex(pd.to_datetime(times, unit="s", utc=True)).tz_convert(zone)
        dates = local.tz_localize(None).normalize()
        unique = dates.unique()
        day = np.searchsorted(unique.to_numpy(), dates.to_numpy()).astype(np.int64)
        minute = (local.hour * 60 + local.minute).to_numpy().astype(np.int64)
        days = [d.date() for d in unique]
        # Trading phases per day, from the market calendar (holidays, half days).
        hours = np.array([_trading_minutes(calendar, d) for d in days], dtype=np.int64)
        recorded = (minute >= hours[day, 0]) & (minute < hours[day, 1])
        return cls(
            times=times,
            first=int(np.searchsorted(times, math.ceil(start.timestamp()))),
            days=days,
            day=day,
            minute=minute,
            recorded=recorded,
        )

    @property
    def size(self) -> int:
        return int(self.times.size)

    def held(self) -> IntArray:
        """Per instant, the latest recorded instant at or before it (-1 if none yet):
        outside trading phases the Pushgateway keeps serving the last push."""
        index = np.where(self.recorded, np.arange(self.size), -1)
        return np.maximum.accumulate(index)

    def day_starts(self) -> IntArray:
        """Per day, the index of its first instant."""
        return np.searchsorted(self.day, np.arange(len(self.days))).astype(np.int64)

    def daily_updates(self) -> IntArray:
        """The first recorded instant of each exchange day: when daily figures change."""
        recorded_days = self.day[self.recorded]
        _, first = np.unique(recorded_days, return_index=True)
        return np.flatnonzero(self.recorded)[first].astype(np.int64)

    def at(self, index: int) -> datetime:
        return datetime.fromtimestamp(int(self.times[index]), UTC)


def _lead_in(start: datetime, calendar: MarketCalendar) -> datetime:
    """Where the timeline must begin for the values held at `start` to be exact.

    At `start` the Pushgateway holds the agent's last push, made at the latest on the
    day of the last session that closed before `start` (Friday's, for a Saturday
    start). That day's P&L base is, as in the agent's EquityStore, the last value
    recorded before its midnight in the market's zone: on the session before it (Wednesday's,
    when Thursday was a holiday). So the timeline starts at the midnight before that
    earlier session, however many weekend days and holidays lie between.
    """
    zone = calendar.market.zone
    held_day = calendar.previous_session_close(start).astimezone(zone).date()
    base_close = calendar.previous_session_close(midnight(held_day, zone))
    return midnight(base_close.astimezone(zone).date(), zone)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of `day` in the market's time zone (daylight saving included)."""
    return datetime.combine(day, datetime.min.time(), zone)


def _trading_minutes(calendar: MarketCalendar, day: date) -> tuple[int, int]:
    """Minutes of the day at which the trading phases begin and end ((0, 0) on a day
    without a session), as the agent's calendar has them."""
    hours = calendar.trading_hours(day)
    if hours is None:
        return 0, 0
    day_start = midnight(day, calendar.market.zone)
    start, end = ((t.replace(tzinfo=None) - day_start.replace(tzinfo=None)) for t in hours)
    return int(start.total_seconds()) // 60, int(end.total_seconds()) // 60
