"""Data completeness: bars received over bars the calendar expected.

For each symbol, the sessions of the validated span on which it has a usable daily
close, over the sessions the policy's exchange calendar says there were. A bar on a
day the exchange was closed is not counted: it is not one that was expected.

The same count scores the validated day's minute bars (`minute_completeness`): the
minutes of its regular session with a usable close, over the minutes the calendar
says the session had (a half day has fewer; a pre- or after-market bar is not
counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SymbolCompleteness:
    """One symbol's bars over the span."""

    symbol: str
    received: int
    expected: int

    @property
    def ratio(self) -> float:
        """Bars received over bars expected (1 for a span without sessions)."""
        return self.received / self.expected if self.expected else 1.0


@dataclass(frozen=True)
class Completeness:
    """Every symbol's completeness, and the whole dataset's."""

    symbols: tuple[SymbolCompleteness, ...]

    @property
    def received(self) -> int:
        return sum(s.received for s in self.symbols)

    @property
    def expected(self) -> int:
        return sum(s.expected for s in self.symbols)

    @property
    def ratio(self) -> float:
        """All bars received over all bars expected: a symbol with more sessions in
        the span weighs more. 0 when no symbol was expected at all."""
        return self.received / self.expected if self.expected else 0.0


def completeness(closes: pd.DataFrame) -> Completeness:
    """Completeness of `closes`: one column per symbol, one row per expected session
    (reindexed onto the calendar's sessions, so a missing bar is NaN)."""
    received = np.isfinite(closes.to_numpy(dtype=float)).sum(axis=0)
    return Completeness(
        tuple(
            SymbolCompleteness(str(symbol), int(count), len(closes.index))
            for symbol, count in zip(closes.columns, received, strict=True)
        )
    )


def session_minutes(open_: datetime, close: datetime) -> pd.DatetimeIndex:
    """The start of every minute of the session from `open_` to `close` (UTC)."""
    return pd.date_range(open_.astimezone(UTC), close.astimezone(UTC), freq="min", inclusive="left")


def minute_completeness(minutes: pd.DataFrame, open_: datetime, close: datetime) -> Completeness:
    """Completeness of one session's minute closes (`minutes`: a column per symbol,
    indexed by the bar's start, timezone-aware) over the session's minutes."""
    index = pd.DatetimeIndex(minutes.index)
    # Sources may stamp their minutes in any zone; the session's are compared as instants.
    moved = minutes.set_axis(index.tz_convert(UTC), axis=0)
    moved = moved[~moved.index.duplicated(keep="last")]
    return completeness(moved.reindex(session_minutes(open_, close)))
