"""The market-data exporter: per source, the age of the last tick, ticks, gaps and
rate-limit hits.

Each scrape asks the source for the last trade of the watched symbols. A tick is new
when its timestamp is later than the one seen before for that symbol; a watched
symbol with no tick newer than `stale_seconds` is a gap. The counters are the only
state kept between scrapes, as counters must be.

Sample output::

    marketdata_tick_age_seconds{source="polygon"} 0.8
    marketdata_ticks_total{source="polygon"} 1234.0
    marketdata_gaps_total{source="polygon"} 2.0
    marketdata_rate_limited_total{source="polygon"} 5.0
    marketdata_scrape_success 1.0
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from riskwatch import catalog
from riskwatch.exporters.base import TimedCollector
from riskwatch.sources.base import MarketDataSource


class MarketDataCollector:
    """Watches `symbols` on `source`."""

    def __init__(
        self,
        source: MarketDataSource,
        symbols: Sequence[str],
        stale_seconds: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.symbols = list(symbols)
        self.stale_seconds = stale_seconds
        self.now = now
        self._lock = threading.Lock()
        self._last_seen: dict[str, datetime] = {}
        self._ticks = 0
        self._gaps = 0

    def _counters(self) -> Iterator[Any]:
        name = self.source.name
        ticks = catalog.family("marketdata_ticks_total")
        gaps = catalog.family("marketdata_gaps_total")
        limited = catalog.family("marketdata_rate_limited_total")
        with self._lock:
            ticks.add_metric([name], float(self._ticks))
            gaps.add_metric([name], float(self._gaps))
        # Only sources that can be rate-limited (Polygon) count 429 answers.
        limited.add_metric([name], float(getattr(self.source, "rate_limited", 0)))
        yield from (ticks, gaps, limited)

    def collect(self) -> Iterator[Any]:
        try:
            trades = self.source.last_trades(self.symbols)
        except Exception:
            yield from self._counters()  # the failure itself is scrape_success 0
            raise
        now = self.now()
        with self._lock:
            for symbol in self.symbols:
                tick = trades.get(symbol)
                previous = self._last_seen.get(symbol)
                if tick is not None and (previous is None or tick.timestamp > previous):
                    self._ticks += 1
                    self._last_seen[symbol] = tick.timestamp
                seen = self._last_seen.get(symbol)
                if seen is None or (now - seen).total_seconds() > self.stale_seconds:
                    self._gaps += 1
            newest = max(self._last_seen.values(), default=None)
        yield from self._counters()
        if newest is not None:
            age = catalog.family("marketdata_tick_age_seconds")
            age.add_metric([self.source.name], max(0.0, (now - newest).total_seconds()))
            yield age


def make_collector(
    source: MarketDataSource, symbols: Sequence[str], stale_seconds: float, timeout_seconds: float
) -> TimedCollector:
    """The market-data exporter's collector."""
    collector = MarketDataCollector(source, symbols, stale_seconds)
    return TimedCollector("marketdata", collector.collect, timeout_seconds)
