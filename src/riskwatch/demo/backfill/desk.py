"""The synthetic desk's history on a timeline: market days, books, fills, recording rules.

`History.generate` builds the timeline, reads the synthetic market's minute prices
and each day's fills, and has `figures` compute every series of every book; the
recording rules are then evaluated from their definitions over those series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from riskwatch.alerting.rules import RecordingRule
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import Clock
from riskwatch.demo.backfill.base import FloatArray, Progress
from riskwatch.demo.backfill.figures import BookFigures, DailyHistory
from riskwatch.demo.backfill.series import Families, Family, Series
from riskwatch.demo.backfill.timeline import Timeline, midnight
from riskwatch.settings import PortfolioSettings, Settings
from riskwatch.sources.base import Execution
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker

log = logging.getLogger("riskwatch.demo.backfill")

MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Book:
    """One portfolio's constant book."""

    settings: PortfolioSettings
    symbols: list[str]
    quantity: FloatArray
    sectors: list[str]
    cash: float


def desk_brokers(settings: Settings, market: SyntheticMarket) -> dict[str, SyntheticBroker]:
    """A synthetic broker per portfolio of `settings.trading`, its book built at the
    market's now, like the live agent's brokers: the same book the live agent holds."""
    return {
        p.name: SyntheticBroker(market, p.name, p.initial_value_usd, p.positions)
        for p in settings.trading.portfolios
    }


def book_of(portfolio: PortfolioSettings, broker: SyntheticBroker) -> Book:
    """What `broker` holds for `portfolio` now, as the constant book the history keeps."""
    held = broker.positions()
    return Book(
        portfolio,
        [h.symbol for h in held],
        np.array([h.quantity for h in held], dtype=np.float64),
        [h.sector for h in held],
        broker.account().cash,
    )


class _Clock:
    """The market's clock: the backfill's clock, or a past instant while fills are
    asked for."""

    def __init__(self, now: Clock) -> None:
        self.now = now
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or self.now()


@dataclass(frozen=True)
class Fill:
    index: int
    """The first recorded instant at or after the fill: when the agent counts it."""
    execution: Execution


class History:
    """The synthetic desk's history on a timeline: prices, books, fills and figures."""

    def __init__(
        self,
        settings: Settings,
        timeline: Timeline,
        market: SyntheticMarket,
        clock: _Clock,
        books: list[Book],
    ) -> None:
        self.settings = settings
        self.timeline = timeline
        self.market = market
        self.clock = clock
        self.books = books
        self.calendar = MarketCalendar(settings.policy.market)
        self.symbols = sorted({s for b in books for s in b.symbols})
        self.prices: FloatArray = np.empty((0, 0))
        self.fills: dict[str, list[Fill]] = {b.settings.name: [] for b in books}
        self.seconds = 0.0
        self.family = Families()

    @classmethod
    def generate(
        cls,
        settings: Settings,
        start: datetime,
        end: datetime,
        resolution: int,
        report: Progress,
        now: Clock,
    ) -> History:
        """Prices, fills and every figure of every book over [start, end)."""
        began = time.monotonic()
        calendar = MarketCalendar(settings.policy.market)
        timeline = Timeline.build(start, end, resolution, calendar)
        clock = _Clock(now)
        market = SyntheticMarket(settings.trading.seed, clock=clock, calendar=calendar)
        brokers = desk_brokers(settings, market)
        books = [book_of(p, brokers[p.name]) for p in settings.trading.portfolios]
        history = cls(settings, timeline, market, clock, books)
        history._market_days(brokers, lambda f: report("prices", 0.45 * f))
        history._figures(lambda f: report("figures", 0.45 + 0.15 * f))
        history.seconds = time.monotonic() - began
        return history

    # -------------------------------------------------------------- market
    def _market_days(
        self, brokers: Mapping[str, SyntheticBroker], done: Callable[[float], None]
    ) -> None:
        """Minute prices of every held symbol on every day, and each day's fills.

        SyntheticMarket.price_at is one minute of one symbol: a month of the demo book
        is ~2 million calls. Its per-day minute path (`_intraday`, the numbers
        price_at reads) gives a whole day at once; the tests check the two agree.
        """
        tl = self.timeline
        rows = np.empty((len(tl.days) * MINUTES_PER_DAY, len(self.symbols)))
        last = tl.at(tl.size - 1) + timedelta(seconds=1)
        for d, day in enumerate(tl.days):
            block = rows[d * MINUTES_PER_DAY : (d + 1) * MINUTES_PER_DAY]
            for k, symbol in enumerate(self.symbols):
                previous_close, path = self.market._intraday(symbol, day)
                block[:, k] = previous_close * np.exp(path)
            # The day's fills, while its paths are cached. The broker reports fills up
            # to its market's clock, so the clock is set to the day's end meanwhile.
            day_start = midnight(day, self.calendar.market.zone)
            self.clock.at = min(day_start + timedelta(days=1), last)
            try:
                for name, broker in brokers.items():
                    self._count(name, broker.executions(day_start))
            finally:
                self.clock.at = None
            done((d + 1) / len(tl.days))
        self.prices = rows

    def _count(self, portfolio: str, executions: Iterable[Execution]) -> None:
        """Keep the fills the agent would count, at the instant it would count them."""
        tl = self.timeline
        for ex in executions:
            at = int(np.searchsorted(tl.times, ex.timestamp.timestamp()))
            # The agent sees a fill at its next cycle, the same day; fills of days it
            # does not run (holidays) are never seen.
            if at >= tl.size or not tl.recorded[at]:
                continue
            if (
                tl.days[int(tl.day[at])]
                != ex.timestamp.astimezone(self.calendar.market.zone).date()
            ):
                continue
            self.fills[portfolio].append(Fill(at, ex))

    # ------------------------------------------------------------- figures
    def _figures(self, done: Callable[[float], None]) -> None:
        tl = self.timeline
        held = tl.held()
        at = np.maximum(held, 0)
        column = {s: k for k, s in enumerate(self.symbols)}
        # Every instant reads the prices of its latest recorded instant: between the
        # agent's runs the Pushgateway keeps serving what it pushed last.
        rows = (tl.day * MINUTES_PER_DAY + tl.minute)[at]
        daily = DailyHistory(self.market, self.settings, self.books, tl)
        for i, book in enumerate(self.books):
            columns = np.array([column[s] for s in book.symbols], dtype=np.int64)
            prices = self.prices[np.ix_(rows, columns)]
            prices[held < 0] = np.nan  # before the agent's first run: nothing published
            BookFigures(self, book, prices, at, daily).publish()
            done((i + 1) / len(self.books))

    def values(self, name: str, **labels: str) -> pd.Series:
        """One series from the start of the span on (the lead-in is left out), indexed
        by UTC instant; NaN where nothing is published. Labels are the agent's, without
        ``job`` and ``agent``."""
        tl = self.timeline
        families = {f.name: f for f in self.families()}
        if name not in families:
            raise KeyError(f"no family {name!r}; have {sorted(families)}")
        matches = [s for s in families[name].series if s.labels == labels]
        if len(matches) != 1:
            known = [s.labels for s in families[name].series][:5]
            raise KeyError(f"{name}{labels}: {len(matches)} series match; e.g. {known}")
        index = pd.to_datetime(tl.times[tl.first :], unit="s", utc=True)
        return pd.Series(matches[0].values[tl.first :], index=index, name=name)

    def families(self) -> list[Family]:
        """The agent's families (labels without job and agent, added when written)."""
        return list(self.family.by_name.values())

    def recording_rules(self, rules: Sequence[RecordingRule]) -> list[Family]:
        """Each recording rule evaluated over the agent's series, in rule order."""
        return evaluate_rules(rules, self.families())


def evaluate_rules(rules: Sequence[RecordingRule], families: Sequence[Family]) -> list[Family]:
    """Each recording rule evaluated over `families` (one agent's series on one
    timeline), in rule order: Prometheus evaluates rules only live, so whatever is
    written into the past carries its rules' series too. A rule over a series that is
    not there is skipped, with a warning."""
    sources = {f.name: f.series for f in families}
    out = []
    for rule in rules:
        series = _evaluate(rule, sources)
        if series is None:
            log.warning(
                "backfill skips recording rule %s: cannot evaluate %r", rule.record, rule.expr
            )
            continue
        sources[rule.record] = series
        out.append(Family(rule.record, "gauge", f"Recording rule: {rule.expr}", "rules", series))
    return out


def _evaluate(rule: RecordingRule, sources: Mapping[str, list[Series]]) -> list[Series] | None:
    """The rule's result over `sources`, from its definition (a sum or max by labels, or
    a ratio on matching labels); None when a series it reads is not backfilled."""
    if rule.op == "ratio":
        assert rule.denominator is not None  # RecordingRule checks it
        numerators, denominators = sources.get(rule.source), sources.get(rule.denominator)
        if numerators is None or denominators is None:
            return None
        by_labels = {frozenset(s.labels.items()): s.values for s in denominators}
        out = []
        for s in numerators:
            denominator = by_labels.get(frozenset(s.labels.items()))
            if denominator is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    quotient = s.values / denominator
                out.append(
                    Series(dict(s.labels), np.where(np.isfinite(quotient), quotient, np.nan))
                )
        return out
    if rule.source not in sources:
        return None
    groups: dict[tuple[str, ...], list[FloatArray]] = {}
    for s in sources[rule.source]:
        groups.setdefault(tuple(s.labels.get(k, "") for k in rule.by), []).append(s.values)
    out = []
    for key, members in groups.items():
        stack = np.vstack(members)
        absent = np.isnan(stack).all(axis=0)
        reduced = np.fmax.reduce(stack) if rule.op == "max" else np.nansum(stack, axis=0)
        labels = {k: v for k, v in zip(rule.by, key, strict=True) if v}
        out.append(Series(labels, np.where(absent, np.nan, reduced)))
    return out
