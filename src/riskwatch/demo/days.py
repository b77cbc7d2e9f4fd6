"""The tour's days: the past exchange days its scenarios play, and which one is the demo day.

Each desk scenario of the tour plays 10:00 market time on a day of its own, the
latest exchange days before the clock's (market) date, oldest first in tour order, so
that the recordings of their sessions (`riskwatch.demo.backfill.recorded`) can be
written at their simulated instants next to the month of history: each day is whole
in the past, and no two worlds publish one portfolio at the same instant (their sums
would add up). A scenario that replays a day of its own (`Scenario.replay`) keeps it
and is not recorded: its day is outside Prometheus's retention.

The history (`riskwatch demo --mode historical`) leaves these days out, and the tour
plays on them: both compute them from the same clock, and the tour writes down the
days it played (`remember`) for `make demo`'s closing lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from riskwatch.calendar import MarketCalendar
from riskwatch.demo.backfill.timeline import midnight
from riskwatch.demo.scenarios import SCENARIOS
from riskwatch.demo.world import session_start

DEMO_SCENARIO = "drawdown_crisis"
"""The demo day is this scenario's day: the sell-off whose story the report tells."""
DAYS_FILE = Path("demo") / "tour-days.json"
"""Under the state folder: the days the last tour played, written by the tour."""


@dataclass(frozen=True)
class TourDays:
    """Each recorded scenario's session start, in the market's zone."""

    starts: dict[str, datetime]
    zone: ZoneInfo

    @property
    def demo_day(self) -> date | None:
        """The drawdown crisis's day, or the last day when the tour has no crisis."""
        if not self.starts:
            return None
        start = self.starts.get(DEMO_SCENARIO) or max(self.starts.values())
        return start.date()

    def spans(self) -> list[tuple[datetime, datetime]]:
        """Each day whole, midnight to midnight in the market's zone: the history's
        calm desk must not publish beside the scenario's world on that day."""
        return [
            (midnight(s.date(), self.zone), midnight(s.date() + timedelta(days=1), self.zone))
            for s in self.starts.values()
        ]

    def dashboard_range(self) -> tuple[datetime, datetime]:
        """From the first day's session start to the end of the longest session after
        the last one: the range over which the dashboards show every scenario."""
        first = min(self.starts.values())
        last = max(self.starts.values())
        longest = max(SCENARIOS[n].duration for n in self.starts)
        return first, last + longest


def recorded_scenarios(names: Sequence[str]) -> list[str]:
    """The scenarios of `names` that get a day of their own and are recorded."""
    return [n for n in names if SCENARIOS[n].replay is None]


def tour_days(calendar: MarketCalendar, now: datetime, names: Sequence[str]) -> TourDays:
    """The session start of each recorded scenario of `names` (see the module doc):
    the latest exchange days strictly before `now`'s date in the market's zone whose
    regular hours outlast the longest of them, oldest first in the order of `names`."""
    recorded = recorded_scenarios(names)
    if not recorded:
        return TourDays({}, calendar.zone)
    length = max(SCENARIOS[n].duration for n in recorded)
    today = now.astimezone(calendar.zone).date()
    before = midnight(today, calendar.zone) - timedelta(minutes=1)
    starts: list[datetime] = []
    for _ in recorded:
        found = session_start(calendar, before, length=length)
        starts.append(found)
        before = midnight(found.date(), calendar.zone) - timedelta(minutes=1)
    return TourDays(dict(zip(recorded, reversed(starts), strict=True)), calendar.zone)


def remember(state_dir: Path, days: TourDays) -> Path:
    """Write the days the tour played under `state_dir`; returns the file."""
    path = state_dir / DAYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    start, end = days.dashboard_range() if days.starts else (None, None)
    path.write_text(
        json.dumps(
            {
                "demo_day": str(days.demo_day) if days.demo_day else None,
                "starts": {n: s.isoformat() for n, s in days.starts.items()},
                "dashboard_from": start.isoformat() if start else None,
                "dashboard_to": end.isoformat() if end else None,
                # Grafana's URL parameters: from=&to= in Unix milliseconds.
                "grafana_range": (
                    f"from={int(start.timestamp() * 1000)}&to={int(end.timestamp() * 1000)}"
                    if start and end
                    else None
                ),
            },
            indent=2,
        )
        + "\n"
    )
    return path
