"""The data-source interface the agents read through.

A market-data source gives prices and daily bars; a broker source gives the account,
positions and executions. Sources return plain dataclasses so the agents never see a
vendor type. Prices are validated before use (`validate_price`): NaN, zero and negative
prices are rejected, logged and counted, never published.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol, runtime_checkable

import pandas as pd

Side = Literal["buy", "sell"]


@dataclass(frozen=True)
class Tick:
    """The last trade of a symbol."""

    symbol: str
    price: float
    timestamp: datetime  # timezone-aware, UTC
    size: float = 0.0


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: float
    avg_cost: float
    sector: str = "unknown"


@dataclass(frozen=True)
class Execution:
    """One fill. `exec_id` is for de-duplication only: it never becomes a label."""

    exec_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    timestamp: datetime


@dataclass(frozen=True)
class Account:
    cash: float
    net_liquidation: float
    currency: str = "USD"


class SourceError(Exception):
    """The source could not answer (unreachable, rate-limited past the budget, bad data)."""


class RejectedTick(ValueError):  # noqa: N818 - a rejected tick is an outcome, not a fault
    """A price that must not be used; `reason` is a bounded label value."""

    def __init__(self, symbol: str, price: float, reason: Literal["nan", "non_positive"]) -> None:
        super().__init__(f"rejected tick {symbol}={price!r}: {reason}")
        self.symbol = symbol
        self.price = price
        self.reason = reason


def validate_price(symbol: str, price: float) -> float:
    """The price if usable, else RejectedTick with a reason."""
    if price is None or not math.isfinite(price):
        raise RejectedTick(symbol, price, "nan")
    if price <= 0:
        raise RejectedTick(symbol, price, "non_positive")
    return float(price)


@runtime_checkable
class MarketDataSource(Protocol):
    """Prices and history for a set of symbols."""

    name: str

    def last_trades(self, symbols: Sequence[str]) -> dict[str, Tick]:
        """The last trade per symbol; symbols without a usable trade are left out."""
        ...

    def daily_bars(self, symbols: Sequence[str], days: int) -> pd.DataFrame:
        """Daily bars, oldest first: a frame indexed by session date with a
        (field, symbol) column MultiIndex, fields `close` and `volume`."""
        ...


@runtime_checkable
class MinuteBarSource(Protocol):
    """A market source that also serves a day's 1-minute bars.

    A capability of its own rather than part of `MarketDataSource`: not every feed
    keeps minute history, and a reader (the validation's session completeness) asks
    `isinstance(source, MinuteBarSource)` before relying on it.
    """

    def minute_bars(self, symbols: Sequence[str], day: date) -> pd.DataFrame:
        """The 1-minute closes of `day`'s regular trading hours: one column per symbol
        (in `symbols` order), indexed by each bar's start minute (timezone-aware, UTC),
        oldest first. A minute without a usable bar is NaN or absent; a symbol without
        any bar has an all-NaN column. Callers wanting the exchange's exact session (a
        half day closes early) reindex onto its minutes."""
        ...


@runtime_checkable
class BrokerSource(Protocol):
    """The account as the broker sees it."""

    name: str

    @property
    def connected(self) -> bool: ...

    def account(self) -> Account: ...

    def positions(self) -> list[Position]: ...

    def executions(self, since: datetime) -> list[Execution]: ...
