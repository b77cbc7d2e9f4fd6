"""What time it is: the one injectable source of "now".

Everything whose outcome depends on the date or the time of day (the backfill, the
report's day, the schedules, the demo's tour) takes a `Clock` and defaults to
`system_clock`. Tests pass a `FixedClock` set to the instant they mean (a Saturday,
a half day, a daylight-saving change), so no test inherits the hour it happens to run
at. A clock returns a timezone-aware instant; callers convert to the market's zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A zero-argument callable returning the current instant, timezone-aware."""


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


class FixedClock:
    """A clock that says one instant until it is moved: for tests and replays."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def __call__(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        """From now on, say `at`."""
        self._at = _aware(at)

    def advance(self, delta: timedelta) -> None:
        """Move the clock by `delta` (which may be negative)."""
        self._at = self._at + delta

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a clock's instant must be timezone-aware, got {at!r}")
    return at
