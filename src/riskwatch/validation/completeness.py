"""Data completeness: bars received over bars the calendar expected.

For each symbol, the sessions of the validated span on which it has a usable daily
close, over the sessions the policy's exchange calendar says there were. A bar on a
day the exchange was closed is not counted: it is not one that was expected.
"""

from __future__ import annotations

from dataclasses import dataclass

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
