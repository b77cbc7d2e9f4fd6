"""Real market history that ships with `arch`: the offline datasets.

`arch.data.sp500` and `arch.data.nasdaq` hold daily prices of the S&P 500 and the
NASDAQ Composite from 1999 to 2018: the dot-com crash, 2008, 2011 and 2018, with no
network and no vendor key. Each offline dataset backtests one index alone and a book
of the two (half in each, rebalanced daily), on simple close-to-close returns of the
adjusted close.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

SP500: Final = "sp500"
NASDAQ: Final = "nasdaq"
BOOK: Final = "sp500_nasdaq"
"""The portfolio label of the book of both indices."""

# Each index under its symbol label, and the arch module that ships it.
_SOURCES: Final = MappingProxyType({SP500: "arch.data.sp500", NASDAQ: "arch.data.nasdaq"})
_CLOSE: Final = "Adj Close"
_HALF: Final = 0.5


@dataclass(frozen=True)
class OfflineDataset:
    """An offline dataset: its symbols and its portfolios' weights on them."""

    name: str
    portfolios: MappingProxyType[str, MappingProxyType[str, float]]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every symbol a portfolio holds, in a stable order."""
        return tuple(sorted({s for weights in self.portfolios.values() for s in weights}))


def _book(*holdings: tuple[str, float]) -> MappingProxyType[str, float]:
    return MappingProxyType(dict(holdings))


OFFLINE: Final = MappingProxyType(
    {
        SP500: OfflineDataset(
            SP500,
            MappingProxyType(
                {SP500: _book((SP500, 1.0)), BOOK: _book((SP500, _HALF), (NASDAQ, _HALF))}
            ),
        ),
        NASDAQ: OfflineDataset(
            NASDAQ,
            MappingProxyType(
                {NASDAQ: _book((NASDAQ, 1.0)), BOOK: _book((SP500, _HALF), (NASDAQ, _HALF))}
            ),
        ),
    }
)
"""The offline datasets by name."""


@cache
def _index_closes(symbol: str) -> pd.Series:
    frame = importlib.import_module(_SOURCES[symbol]).load()
    closes: pd.Series = frame[_CLOSE].astype(float)
    closes.index = pd.DatetimeIndex(closes.index).normalize()
    closes.index.name = "date"
    return closes.rename(symbol)


def closes(symbols: tuple[str, ...]) -> pd.DataFrame:
    """Daily adjusted closes of the shipped indices, one column per symbol, indexed by
    session date; a day one index lacks is NaN there."""
    return pd.concat([_index_closes(s) for s in symbols], axis=1).sort_index()


def portfolio_returns(
    prices: pd.DataFrame, portfolios: MappingProxyType[str, MappingProxyType[str, float]]
) -> pd.DataFrame:
    """Each portfolio's daily simple return, rebalanced to its weights every day.

    A day on which a held symbol has no return (its bar or the previous one missing)
    is NaN for the portfolio: a book's return is not guessed from part of it.
    """
    returns = prices.pct_change(fill_method=None)
    out = {}
    for name, weights in portfolios.items():
        held = returns[list(weights)].to_numpy()
        out[name] = held @ np.array(list(weights.values()))
    return pd.DataFrame(out, index=prices.index)
