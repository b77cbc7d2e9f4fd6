"""Historical mode: N days of the trading agent's series, backfilled into Prometheus.

Agents push to the Pushgateway, which cannot carry timestamps, so history is written
as OpenMetrics text with timestamps and turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics``, straight into the Prometheus data
directory. The dashboards then show a month on first open.

What is generated, for every portfolio of ``settings.trading.portfolios``, from
``SyntheticMarket(settings.trading.seed)`` and one ``SyntheticBroker`` per portfolio:
the series the live trading agent publishes (same names, same labels, plus
``job="riskwatch"`` and ``agent=<agent_id>``; the live ``instance=""`` is dropped by
Prometheus as empty, so it is omitted), and the recording rules of
``riskwatch.alerting.rules.RECORDING_RULES`` over them, because Prometheus only
evaluates rules live and the executive dashboard reads them.

How the history is made, and where it departs from a live agent:

- The book is the brokers' constant book, built now, held over the whole history
  (the synthetic broker's fills are reports, they do not change holdings).
- The agent "runs" in the trading phases of the exchange calendar (04:00-20:00 New
  York on exchange days): values are recorded at every ``resolution_seconds`` step
  there and held, as the Pushgateway holds them, at night, weekends and holidays.
- Daily P&L, peak and drawdown follow the agent's EquityStore: P&L from the last value
  recorded before New York midnight, peak since the first recorded value.
- VaR and ES by method, the performance figures, crowding and compliance are
  recomputed once per exchange day at its first recorded instant (04:00), from the
  trailing daily history up to the previous day, and held until the next.
- The model is the live ``MomentumModel``, fed the book's prices once a minute; its
  confidence, accuracy and reward are read every five minutes.
- Operational series (agent heartbeats, task timings, push and market-data health)
  are not generated: their history would be invented, not derived.

Three rules keep live data intact (each was checked against Prometheus 2.42):

- Blocks never reach into the head block's time range: the end is capped at the
  oldest in-memory sample. Prometheus takes the newest block's end as the head's
  minimum valid time when it restarts, so a block overlapping the head makes it drop
  every in-memory (not yet persisted) sample older than that block's end.
- Where this agent already has samples (live, or from an earlier backfill), nothing
  is written within ten minutes of them; likewise for the recording rules' series.
  Two writers of one series would interleave their samples. A rerun therefore only
  fills the gaps, e.g. the time since the previous backfill.
- Blocks are built in a staging folder inside the data directory (on the same file
  system, and not named like a block, so Prometheus ignores it) and renamed into
  place only when every one is complete.

Prometheus 2.42 loads new block folders on its own once a minute (the TSDB's
periodic reload); no API call makes it look sooner (reload, snapshot and
clean_tombstones do not re-read the folder unless a block had tombstones). So
`backfill` waits, polling a query for samples only the new blocks hold, before it
returns: up to a minute.

A sample repeating the previous one is not written unless four minutes have passed
since the last written one: every query sees the same values (Prometheus looks back
five minutes for the latest sample), and a month of synthetic prices, which move once
a minute and rest outside trading hours, is ten times smaller at the 15 s default.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from riskwatch import analytics, catalog
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.publish import PUSH_JOB
from riskwatch.agents.sources.base import Execution
from riskwatch.agents.sources.synthetic import HISTORY_DAYS, SyntheticBroker, SyntheticMarket
from riskwatch.agents.trading import ADV_WINDOW, CROWDING_LEVELS, PERFORMANCE_METRICS
from riskwatch.alerting.rules import RECORDING_RULES, RecordingRule
from riskwatch.calendar import NEW_YORK, MarketCalendar
from riskwatch.clock import Clock, system_clock
from riskwatch.policy import duration_seconds
from riskwatch.prometheus_api import Prometheus, PrometheusError
from riskwatch.settings import PortfolioSettings, Settings
from riskwatch.stack.runner import Stack

log = logging.getLogger("riskwatch.demo.backfill")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[str, float], None]

DAY_SECONDS = 86_400
MINUTES_PER_DAY = 24 * 60
LOOKBACK_SECONDS = 300
"""Prometheus's default lookback delta: how far a query looks back for a sample."""
MAX_RESOLUTION_SECONDS = 60
PRESENCE_STEP_SECONDS = 60
HEARTBEAT_SECONDS = 240
"""A repeated value is still written every 4 minutes: with at most a minute's
resolution, written samples are always less than the 5-minute lookback apart."""
MODEL_READ_SECONDS = 300
"""How often the model's figures are read: reading them is a pass over its hour."""
LOAD_TIMEOUT_SECONDS = 150.0
"""Two of Prometheus's one-minute block reloads, and slack for a slow compaction."""
DEFAULT_END_MARGIN = timedelta(minutes=1)
SIDES = ("buy", "sell")


class BackfillError(RuntimeError):
    """The backfill could not be done; the message says why and what to do."""


class NothingToBackfill(BackfillError):  # noqa: N818 - an outcome, not a fault
    """The range asked for is already in Prometheus: a rerun has nothing to add."""


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill wrote, over which span, and where the time went."""

    samples: int
    series: int
    seconds: float
    """Wall time of the whole call, including the wait for Prometheus to load."""
    start: datetime
    end: datetime
    """The written span is [start, end); `end` may be earlier than asked (see module doc)."""
    blocks: int
    generate_seconds: float
    """Computing the series and writing the OpenMetrics text."""
    promtool_seconds: float
    """promtool's wall time, summed over its runs (one per block, as many at once as
    there are CPUs, beside the writing of the next block's text)."""
    load_seconds: float
    """Waiting for Prometheus to load the new blocks."""


# ------------------------------------------------------------------ the API
def backfill(
    settings: Settings,
    days: int,
    *,
    resolution_seconds: int = 15,
    end: datetime | None = None,
    agent_id: str = "demo-trading",
    prometheus_url: str | None = None,
    progress: Progress | None = None,
    clock: Clock = system_clock,
) -> BackfillResult:
    """Backfill `days` days of the trading agent's history into the stack's Prometheus.

    Args:
        settings: the stack's settings: the TSDB is ``<state_dir>/prometheus``, promtool
            is ``settings.stack.promtool_bin``, the book is ``settings.trading``.
        days: how many days before `end` to cover, 1 up to the retention in days.
        resolution_seconds: spacing of the computed samples, 1-60 (the live agent
            records every 15 s; synthetic prices move once a minute).
        end: the exclusive end of the history (timezone-aware); default a minute ago.
            It is moved earlier to the oldest sample Prometheus holds in memory.
        agent_id: the ``agent`` label, as the live agent that continues it uses.
        prometheus_url: the running Prometheus that owns the TSDB; default the stack's.
        progress: called as ``progress(stage, fraction)`` with the stage being worked
            on ("prices", "figures", "blocks", "loading") and the fraction of the whole
            backfill done so far, 0 to 1 and never decreasing.
        clock: what "now" is: the default end, the check that `end` is past, and the
            instant the brokers' book is built at (as a live agent starting then).

    Raises:
        ValueError: `days`, `resolution_seconds` or `end` out of range.
        BackfillError: Prometheus unreachable or using another data directory,
            promtool missing or failing, or the blocks not loaded in time.
    """
    began = time.monotonic()
    report = _Reporter(progress)
    now = clock()
    retention_days = _check_arguments(settings, days, resolution_seconds, end, now)
    asked_end = end if end is not None else now - DEFAULT_END_MARGIN
    tsdb = Stack(settings).layout.root / "prometheus"
    promtool = shutil.which(settings.stack.promtool_bin)
    if promtool is None:
        raise BackfillError(
            f"promtool not found as {settings.stack.promtool_bin!r} (stack.promtool_bin); "
            "`riskwatch stack install` installs it"
        )
    api = _Api(prometheus_url or settings.url.prometheus)
    api.check_data_dir(tsdb)
    start = asked_end - timedelta(days=days)
    stop = api.safe_end(asked_end)
    if stop <= start:
        raise NothingToBackfill(
            f"nothing to backfill: Prometheus already holds in memory everything since "
            f"{stop:%Y-%m-%d %H:%M} UTC, before the {days}-day span asked for began"
        )
    report("prices", 0.0)
    history = History.generate(settings, start, stop, resolution_seconds, report, clock)
    rules = history.recording_rules(RECORDING_RULES)
    families = history.families() + rules
    agent_labels = {"job": PUSH_JOB, "agent": agent_id}
    present = {
        "agent": api.presence(_labels(agent_labels), start, stop),
        "rules": api.presence(_name_selector(f.name for f in rules), start, stop),
    }
    writer = _Writer(
        history.timeline, families, present, agent_labels, _block_seconds(retention_days)
    )
    if writer.samples == 0:
        raise NothingToBackfill(
            f"nothing to backfill: agent {agent_id!r} already has samples all over "
            f"{start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC"
        )
    with tempfile.TemporaryDirectory(prefix="riskwatch-backfill-") as text_dir:
        built = _build_blocks(writer, Path(text_dir), tsdb, promtool, report, stop)
    report("loading", 0.8)
    waited = api.wait_for_blocks(writer.probes, lambda f: report("loading", 0.8 + 0.2 * f))
    report("loading", 1.0)
    return BackfillResult(
        samples=writer.samples,
        series=writer.series,
        seconds=time.monotonic() - began,
        start=start,
        end=stop,
        blocks=built.blocks,
        generate_seconds=history.seconds + built.write_seconds,
        promtool_seconds=built.promtool_seconds,
        load_seconds=waited,
    )


def history(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    resolution_seconds: int = 15,
    clock: Clock = system_clock,
) -> History:
    """The series a backfill of [start, end) computes, without writing them anywhere.

    No Prometheus is needed: this is what `backfill` writes before thinning repeats,
    for checking the figures at chosen instants (`History.values`).
    """
    if start.tzinfo is None or end.tzinfo is None or not start < end:
        raise ValueError(f"need timezone-aware start < end, got {start!r} and {end!r}")
    return History.generate(settings, start, end, resolution_seconds, _Reporter(None), clock)


def max_days(settings: Settings) -> int:
    """The longest history worth writing: Prometheus deletes what is older than retention."""
    return int(duration_seconds(settings.stack.prometheus_retention) // DAY_SECONDS)


def _check_arguments(
    settings: Settings, days: int, resolution_seconds: int, end: datetime | None, now: datetime
) -> int:
    longest = max_days(settings)
    if not 1 <= days <= longest:
        raise ValueError(
            f"days must be between 1 and {longest}, got {days}: Prometheus keeps "
            f"{settings.stack.prometheus_retention} (stack.prometheus_retention) and "
            "deletes older samples"
        )
    if not 1 <= resolution_seconds <= MAX_RESOLUTION_SECONDS:
        raise ValueError(
            f"resolution_seconds must be between 1 and {MAX_RESOLUTION_SECONDS}, got "
            f"{resolution_seconds}: samples further apart fall out of Prometheus's "
            "5-minute lookback once repeats are thinned out, and the graphs break up"
        )
    if end is not None and (end.tzinfo is None or end.utcoffset() is None):
        raise ValueError(f"end must be timezone-aware, got {end!r}")
    if end is not None and end > now:
        raise ValueError(f"end {end.isoformat()} is in the future; history ends in the past")
    needed = settings.trading.history_days + days + 30
    if needed > HISTORY_DAYS:
        raise ValueError(
            f"trading.history_days {settings.trading.history_days} plus {days} days exceeds "
            f"the synthetic market's {HISTORY_DAYS}-day history"
        )
    return longest


def _block_seconds(retention_days: int) -> int:
    """The longest block Prometheus itself would build at this retention.

    Prometheus compacts into 2h x 3^k blocks no longer than a tenth of the retention
    (at most 31 days); blocks of that size need no further compaction. promtool re-reads
    its whole input once per block, so one input file per block keeps it linear.
    """
    limit = min(retention_days * DAY_SECONDS / 10, 31 * DAY_SECONDS)
    size = 2 * 3600
    while size * 3 <= limit:
        size *= 3
    return size


class _Reporter:
    """Progress as a never-decreasing fraction of the whole backfill."""

    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.done = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        self.done = max(self.done, min(1.0, fraction))
        if self.callback is not None:
            self.callback(stage, self.done)


# ------------------------------------------------------------ Prometheus
class _Api(Prometheus):
    """The queries a backfill needs, with errors phrased for the operator."""

    def _data(self, path: str, params: Mapping[str, str | float]) -> object:
        try:
            return self.get(path, params)
        except PrometheusError as exc:
            raise BackfillError(f"{exc} (is the stack up? `riskwatch stack up`)") from None

    def check_data_dir(self, tsdb: Path) -> None:
        """Blocks written anywhere else would never be loaded: refuse early."""
        flags = self._data("/api/v1/status/flags", {})
        assert isinstance(flags, dict)
        used = Path(str(flags.get("storage.tsdb.path", ""))).resolve()
        if used != tsdb.resolve():
            raise BackfillError(
                f"Prometheus at {self.url} keeps its data in {used}, not in {tsdb}: "
                "give the settings (state_dir, stack ports) of the stack it belongs to"
            )

    def safe_end(self, asked: datetime) -> datetime:
        """`asked`, or earlier: the oldest sample of the head block (see module doc)."""
        status = self._data("/api/v1/status/tsdb", {})
        assert isinstance(status, dict)
        head = status.get("headStats", {})
        head_min, head_max = int(head.get("minTime", 0)), int(head.get("maxTime", 0))
        if head_min > head_max:  # an empty head holds nothing to protect
            return asked
        return min(asked, datetime.fromtimestamp(head_min / 1000, UTC))

    def presence(self, selector: str, start: datetime, end: datetime) -> IntArray:
        """Instants, a minute apart over [start - 10 min, end + 10 min], at which
        `selector` has a sample in Prometheus's lookback (the 5 minutes before).

        An instant selector, because range functions drop metric names and then
        refuse two series of one agent with equal labels; a series cut short by a
        staleness marker within a minute of its last sample is the one blind spot,
        which the margins of `_near` cover."""
        first = int(start.timestamp()) // PRESENCE_STEP_SECONDS * PRESENCE_STEP_SECONDS - 600
        last = int(end.timestamp()) + 600
        found: list[int] = []
        chunk = 10_000 * PRESENCE_STEP_SECONDS  # Prometheus answers at most 11,000 points
        for lo in range(first, last + 1, chunk):
            hi = min(last, lo + chunk - PRESENCE_STEP_SECONDS)
            for series in self._range(f"count({selector})", lo, hi):
                values = series["values"]
                assert isinstance(values, list)
                found.extend(int(float(at)) for at, _ in values)
        return np.array(sorted(found), dtype=np.int64)

    def _range(self, expr: str, start: int, end: int) -> list[dict[str, object]]:
        try:
            return self.range(expr, start, end, PRESENCE_STEP_SECONDS)
        except PrometheusError as exc:
            raise BackfillError(f"{exc} (is the stack up? `riskwatch stack up`)") from None

    def wait_for_blocks(
        self, probes: Sequence[tuple[int, str]], progress: Callable[[float], None]
    ) -> float:
        """Seconds until every probe (a time and a selector written only by the new
        blocks) answers; Prometheus picks new blocks up on its one-minute reload."""
        began = time.monotonic()
        pending = list(probes)
        while pending:
            at, selector = pending[0]
            found = self._data("/api/v1/query", {"query": f"count({selector})", "time": at})
            assert isinstance(found, dict)
            if found.get("result"):
                pending.pop(0)
                continue
            waited = time.monotonic() - began
            if waited > LOAD_TIMEOUT_SECONDS:
                raise BackfillError(
                    f"Prometheus at {self.url} has not loaded the new blocks after "
                    f"{waited:.0f} s; its log says why (e.g. <state_dir>/logs/prometheus.log)"
                )
            progress(min(0.99, waited / 60.0))
            time.sleep(0.5)
        return time.monotonic() - began


def _name_selector(names: Iterable[str]) -> str:
    return '{__name__=~"' + "|".join(re.escape(n) for n in sorted(set(names))) + '"}'


# ------------------------------------------------------------------ time
@dataclass(frozen=True)
class _Timeline:
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
    """The New York dates covered, in order."""
    day: IntArray
    """Index into `days` per instant."""
    minute: IntArray
    """Minute of the New York day per instant, as SyntheticMarket.price_at reads it."""
    recorded: BoolArray
    """True where the live agent runs: trading phases of exchange days."""

    @classmethod
    def build(
        cls, start: datetime, end: datetime, resolution: int, calendar: MarketCalendar
    ) -> _Timeline:
        lead = _lead_in(start, calendar).timestamp()
        first_time = math.ceil(lead / resolution) * resolution
        times = np.arange(first_time, math.ceil(end.timestamp()), resolution, dtype=np.int64)
        local = pd.DatetimeIndex(pd.to_datetime(times, unit="s", utc=True)).tz_convert(NEW_YORK)
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
    recorded before its New York midnight: on the session before it (Wednesday's,
    when Thursday was a holiday). So the timeline starts at the midnight before that
    earlier session, however many weekend days and holidays lie between.
    """
    held_day = calendar.previous_session_close(start).astimezone(NEW_YORK).date()
    base_close = calendar.previous_session_close(_midnight(held_day))
    return _midnight(base_close.astimezone(NEW_YORK).date())


def _midnight(day: date) -> datetime:
    """The start of `day` in New York (daylight saving included)."""
    return datetime.combine(day, datetime.min.time(), NEW_YORK)


def _trading_minutes(calendar: MarketCalendar, day: date) -> tuple[int, int]:
    """Minutes of the day at which the trading phases begin and end ((0, 0) on a day
    without a session), as the agent's calendar has them."""
    hours = calendar.trading_hours(day)
    if hours is None:
        return 0, 0
    midnight = _midnight(day)
    start, end = ((t.replace(tzinfo=None) - midnight.replace(tzinfo=None)) for t in hours)
    return int(start.total_seconds()) // 60, int(end.total_seconds()) // 60


# ---------------------------------------------------------------- series
@dataclass
class _Series:
    labels: dict[str, str]
    values: FloatArray
    """One value per timeline instant; NaN where the series has no sample."""


@dataclass
class _Family:
    name: str
    type: Literal["gauge", "counter"]
    help: str
    group: Literal["agent", "rules"]
    series: list[_Series] = field(default_factory=list)

    def add(self, values: FloatArray, **labels: str) -> None:
        self.series.append(_Series(labels, values))


class _Families:
    """Catalog families by name, created in first-use order."""

    def __init__(self) -> None:
        self.by_name: dict[str, _Family] = {}

    def __call__(self, name: str) -> _Family:
        if name not in self.by_name:
            spec = catalog.spec(name)
            assert spec.type in ("gauge", "counter"), name
            self.by_name[name] = _Family(name, spec.type, spec.help, "agent")
        return self.by_name[name]


@dataclass(frozen=True)
class _Book:
    """One portfolio's constant book."""

    settings: PortfolioSettings
    symbols: list[str]
    quantity: FloatArray
    sectors: list[str]
    cash: float


class _Clock:
    """The market's clock: the backfill's clock, or a past instant while fills are
    asked for."""

    def __init__(self, now: Clock) -> None:
        self.now = now
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or self.now()


@dataclass(frozen=True)
class _Fill:
    index: int
    """The first recorded instant at or after the fill: when the agent counts it."""
    execution: Execution

    @property
    def notional(self) -> float:
        return abs(float(self.execution.quantity) * float(self.execution.price))


class History:
    """The synthetic desk's history on a timeline: prices, books, fills and figures."""

    def __init__(
        self,
        settings: Settings,
        timeline: _Timeline,
        market: SyntheticMarket,
        clock: _Clock,
        books: list[_Book],
    ) -> None:
        self.settings = settings
        self.timeline = timeline
        self.market = market
        self.clock = clock
        self.books = books
        self.calendar = MarketCalendar(settings.policy.market)
        self.symbols = sorted({s for b in books for s in b.symbols})
        self.prices: FloatArray = np.empty((0, 0))
        self.fills: dict[str, list[_Fill]] = {b.settings.name: [] for b in books}
        self.seconds = 0.0
        self.family = _Families()

    @classmethod
    def generate(
        cls,
        settings: Settings,
        start: datetime,
        end: datetime,
        resolution: int,
        report: _Reporter,
        now: Clock,
    ) -> History:
        """Prices, fills and every figure of every book over [start, end)."""
        began = time.monotonic()
        calendar = MarketCalendar(settings.policy.market)
        timeline = _Timeline.build(start, end, resolution, calendar)
        clock = _Clock(now)
        market = SyntheticMarket(settings.trading.seed, clock=clock)
        # Built now, like the live agent's brokers: the same book the live agent holds.
        brokers = {
            p.name: SyntheticBroker(market, p.name, p.initial_value_usd, p.positions)
            for p in settings.trading.portfolios
        }
        books = []
        for p in settings.trading.portfolios:
            held = brokers[p.name].positions()
            books.append(
                _Book(
                    p,
                    [h.symbol for h in held],
                    np.array([h.quantity for h in held], dtype=np.float64),
                    [h.sector for h in held],
                    brokers[p.name].account().cash,
                )
            )
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
            midnight = _midnight(day)
            self.clock.at = min(midnight + timedelta(days=1), last)
            try:
                for name, broker in brokers.items():
                    self._count(name, broker.executions(midnight))
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
            if tl.days[int(tl.day[at])] != ex.timestamp.astimezone(NEW_YORK).date():
                continue
            self.fills[portfolio].append(_Fill(at, ex))

    # ------------------------------------------------------------- figures
    def _figures(self, done: Callable[[float], None]) -> None:
        tl = self.timeline
        held = tl.held()
        at = np.maximum(held, 0)
        column = {s: k for k, s in enumerate(self.symbols)}
        # Every instant reads the prices of its latest recorded instant: between the
        # agent's runs the Pushgateway keeps serving what it pushed last.
        rows = (tl.day * MINUTES_PER_DAY + tl.minute)[at]
        daily = _DailyHistory(self.market, self.settings, self.books, tl)
        for i, book in enumerate(self.books):
            columns = np.array([column[s] for s in book.symbols], dtype=np.int64)
            prices = self.prices[np.ix_(rows, columns)]
            prices[held < 0] = np.nan  # before the agent's first run: nothing published
            _BookFigures(self, book, prices, at, daily).publish()
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

    def families(self) -> list[_Family]:
        """The agent's families (labels without job and agent, added when written)."""
        return list(self.family.by_name.values())

    def recording_rules(self, rules: Sequence[RecordingRule]) -> list[_Family]:
        """Each recording rule evaluated over the agent's series, in rule order."""
        sources = {f.name: f.series for f in self.families()}
        out = []
        for rule in rules:
            series = _evaluate(rule, sources)
            if series is None:
                log.warning(
                    "backfill skips recording rule %s: cannot evaluate %r", rule.record, rule.expr
                )
                continue
            sources[rule.record] = series
            out.append(
                _Family(rule.record, "gauge", f"Recording rule: {rule.expr}", "rules", series)
            )
        return out


def _evaluate(rule: RecordingRule, sources: Mapping[str, list[_Series]]) -> list[_Series] | None:
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
                    _Series(dict(s.labels), np.where(np.isfinite(quotient), quotient, np.nan))
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
        out.append(_Series(labels, np.where(absent, np.nan, reduced)))
    return out


class _DailyHistory:
    """The trailing daily history as of each exchange day of the timeline.

    The daily bars are fetched once, as the live agent fetches them today; the window
    as of an earlier day is the `history_days` rows before it. Like the live agent,
    a day's figures use no data of that day itself.
    """

    def __init__(
        self,
        market: SyntheticMarket,
        settings: Settings,
        books: Sequence[_Book],
        timeline: _Timeline,
    ) -> None:
        t = settings.trading
        wanted = {s for b in books for s in b.symbols} | set(t.factor_proxies.values())
        if t.benchmark:
            wanted.add(t.benchmark)
        self.symbols = sorted(wanted)
        self.length = t.history_days
        updates = timeline.daily_updates()
        self.updates = updates
        days = [timeline.days[int(timeline.day[u])] for u in updates]
        rows = t.history_days + (timeline.days[-1] - timeline.days[0]).days + 10
        bars = market.daily_bars(self.symbols, rows)
        self.closes = bars["close"][self.symbols].to_numpy(dtype=np.float64)
        self.volumes = bars["volume"][self.symbols].to_numpy(dtype=np.float64)
        dates = pd.DatetimeIndex(bars.index)
        # Rows strictly before each update's day: its history ends the day before.
        self.cut = np.searchsorted(dates, pd.DatetimeIndex([pd.Timestamp(d) for d in days]))
        if len(self.cut) and int(self.cut.min()) < self.length:
            raise BackfillError("the synthetic market's daily history is too short")
        self.column = {s: k for k, s in enumerate(self.symbols)}
        steps = np.arange(self.length - 1)
        # Row k of a returns array is the move from close k to close k + 1; the window
        # as of an update is the length - 1 moves between its `length` closes.
        self.window = (self.cut - self.length)[None, :] + steps[:, None]

    def columns(self, symbols: Sequence[str]) -> list[int]:
        return [self.column[s] for s in symbols]

    def returns(self, closes: FloatArray) -> FloatArray:
        """Daily simple returns, per update in columns (or per update x column)."""
        moves: FloatArray = closes[1:] / closes[:-1] - 1.0
        windows: FloatArray = moves[self.window]
        return windows

    def adv(self, index: int) -> dict[str, float]:
        """20-day average daily volume as of update `index`, as compliance reads it."""
        cut = int(self.cut[index])
        mean = self.volumes[cut - ADV_WINDOW : cut].mean(axis=0)
        return dict(zip(self.symbols, mean.tolist(), strict=True))


class _BookFigures:
    """Every series of one book, added to the history's families."""

    def __init__(
        self,
        history: History,
        book: _Book,
        prices: FloatArray,
        at: IntArray,
        daily: _DailyHistory,
    ) -> None:
        self.h = history
        self.book = book
        self.name = book.settings.name
        self.prices = prices
        self.at = at
        self.daily = daily
        self.values = prices * book.quantity
        self.value = book.cash + self.values.sum(axis=1)

    def publish(self) -> None:
        self._portfolio()
        self._positions()
        self._trades()
        self._model()
        self._daily()

    def _add(self, metric: str, values: FloatArray, **labels: str) -> None:
        self.h.family(metric).add(values, portfolio=self.name, **labels)

    def _constant(self, number: float) -> FloatArray:
        return np.where(np.isnan(self.value), np.nan, number)

    # -------------------------------------------------------------- portfolio
    def _portfolio(self) -> None:
        tl, value = self.h.timeline, self.value
        peak = np.fmax.accumulate(value)
        # Daily P&L as the EquityStore has it: from the last value recorded before New
        # York midnight (held values make that the value just before midnight), or from
        # the day's first value when nothing was recorded before.
        starts = tl.day_starts()
        before = value[np.maximum(starts - 1, 0)]
        first_of_day = np.full(len(tl.days), np.nan)
        first_of_day[tl.day[self.daily.updates]] = value[self.daily.updates]
        base = np.where((starts > 0) & ~np.isnan(before), before, first_of_day)
        self._add("trading_portfolio_value_usd", value)
        self._add("trading_cash_balance_usd", self._constant(self.book.cash))
        self._add("trading_daily_pnl_usd", value - base[tl.day[self.at]])
        self._add("trading_drawdown_ratio", np.clip(1.0 - value / peak, 0.0, 1.0))
        self._add("trading_peak_value_usd", peak)
        self._add("trading_gross_exposure_usd", np.abs(self.values).sum(axis=1))
        self._add("trading_net_exposure_usd", self.values.sum(axis=1))

    def _positions(self) -> None:
        b = self.book
        weights = self.values / self.value[:, None]
        for k, (symbol, sector) in enumerate(zip(b.symbols, b.sectors, strict=True)):
            self._add(
                "trading_position_quantity", self._constant(float(b.quantity[k])), symbol=symbol
            )
            self._add(
                "trading_position_market_value_usd", self.values[:, k], symbol=symbol, sector=sector
            )
            self._add("trading_position_weight_ratio", weights[:, k], symbol=symbol)
        self._add("trading_positions", self._constant(float(len(b.symbols))))
        for sector in dict.fromkeys(b.sectors):
            members = [k for k, s in enumerate(b.sectors) if s == sector]
            exposure = np.abs(self.values[:, members]).sum(axis=1)
            self._add("trading_sector_weight_ratio", exposure / self.value, sector=sector)

    def _trades(self) -> None:
        tl = self.h.timeline
        fills = self.h.fills[self.name]
        index = np.array([f.index for f in fills], dtype=np.int64)
        notional = np.array([f.notional for f in fills], dtype=np.float64)
        sides = np.array([f.execution.side for f in fills])
        for side in SIDES:
            mine = sides == side
            count = np.bincount(index[mine], minlength=tl.size).cumsum().astype(np.float64)
            traded = np.bincount(index[mine], notional[mine], minlength=tl.size).cumsum()
            # Counters start at 0 with the (notional) agent at the start of the history.
            self._add("trading_trades_total", self._constant(0.0) + count, side=side)
            self._add("trading_traded_notional_usd_total", self._constant(0.0) + traded, side=side)
        # Turnover: today's traded notional over value, today being the latest run's day.
        total = np.bincount(index, notional, minlength=tl.size).cumsum()
        day_start = tl.day_starts()[tl.day[self.at]]
        today = total[self.at] - np.where(day_start > 0, total[np.maximum(day_start - 1, 0)], 0.0)
        self._add("trading_turnover_ratio", today / self.value)

    def _model(self) -> None:
        """The live MomentumModel, fed the book's prices once a minute while the agent
        runs (its model task's interval), so confidence, accuracy and reward are the
        model's own and not a lookalike; they are read every five minutes."""
        tl, b = self.h.timeline, self.book
        minute = tl.times // 60
        observed = np.flatnonzero(tl.recorded & np.r_[True, minute[1:] != minute[:-1]])
        read = tl.times[observed] // MODEL_READ_SECONDS
        read_at = np.r_[True, read[1:] != read[:-1]]
        model = MomentumModel(b.settings.model)
        figures = np.full((observed.size, 3), np.nan)
        for j, i in enumerate(observed.tolist()):
            model.observe(dict(zip(b.symbols, self.prices[i].tolist(), strict=True)), tl.at(i))
            if read_at[j]:
                accuracy, reward = model.accuracy(), model.episode_reward()
                figures[j] = (
                    model.confidence(),
                    np.nan if accuracy is None else accuracy,
                    np.nan if reward is None else reward,
                )
        events = observed[read_at]
        spread = _spread(figures[read_at], events, self.at)
        for k, metric in enumerate(
            ("model_confidence_ratio", "model_accuracy_ratio", "model_episode_reward")
        ):
            self._add(metric, spread[:, k], model=model.name)

    # ------------------------------------------------------------------ daily
    def _daily(self) -> None:
        """Risk, crowding and compliance, once per exchange day (see the module doc)."""
        s, d, b = self.h.settings.trading, self.daily, self.book
        tail = self.h.settings.policy.tail_risk
        n = len(d.updates)
        equity = d.closes[:, d.columns(b.symbols)] @ b.quantity + b.cash
        returns = d.returns(equity)
        figures: dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray] = {}
        if n:
            bench = d.returns(d.closes[:, d.column[s.benchmark]]) if s.benchmark else None
            performance = analytics.performance_metrics(returns, benchmark=bench)
            for key, metric in PERFORMANCE_METRICS.items():
                if key in performance:
                    figures[metric, ()] = np.asarray(performance[key], dtype=np.float64)
            for method in tail.methods:
                var = analytics.value_at_risk(returns, tail.var_confidence, method)
                es = analytics.expected_shortfall(
                    returns, tail.expected_shortfall_confidence, method
                )
                var_labels = (("confidence", tail.var_label), ("method", method))
                es_labels = (("confidence", tail.expected_shortfall_label), ("method", method))
                figures["risk_var_ratio", var_labels] = np.asarray(var, dtype=np.float64)
                figures["risk_expected_shortfall_ratio", es_labels] = np.asarray(
                    es, dtype=np.float64
                )
            var_99 = (
                np.asarray(analytics.value_at_risk(returns, tail.var_confidence, "historical"))
                if "historical" in tail.methods
                else np.zeros(n)
            )
            figures.update(self._crowding())
            figures.update(self._compliance(var_99))
        for (metric, labels), per_update in figures.items():
            values = _spread(per_update[:, None], d.updates, self.at)[:, 0]
            self._add(metric, values, **dict(labels))

    def _crowding(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray]:
        s, d, b = self.h.settings.trading, self.daily, self.book
        factors = list(s.factor_proxies)
        proxies = d.returns(d.closes[:, d.columns(list(s.factor_proxies.values()))])
        held = d.returns(d.closes[:, d.columns(b.symbols)])
        crowding = self.h.settings.policy.crowding
        thresholds = analytics.CrowdingThresholds(
            crowding.hhi_medium, crowding.hhi_high, crowding.gini_medium, crowding.gini_high
        )
        top_k = min(crowding.absorption_top_k, len(b.symbols))
        out = np.full((len(d.updates), 4), np.nan)
        for j, u in enumerate(d.updates.tolist()):
            design = np.column_stack([np.ones(proxies.shape[0]), proxies[:, j]])
            # Factor loadings of every holding at once, as the live agent fits them.
            coef, *_ = np.linalg.lstsq(design, held[:, j], rcond=None)
            weights = self.values[u] / self.value[u]
            exposures = dict(zip(factors, (coef[1:] @ weights).tolist(), strict=True))
            result = analytics.factor_crowding(exposures, thresholds)
            absorption = analytics.absorption_ratio(held[:, j], top_k)
            out[j] = (result.hhi, result.gini, CROWDING_LEVELS[result.level.name], absorption)
        names = ("crowding_hhi", "crowding_gini", "crowding_level", "crowding_absorption_ratio")
        return {(name, ()): out[:, k] for k, name in enumerate(names)}

    def _compliance(
        self, var_99: FloatArray
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray]:
        d, b, h = self.daily, self.book, self.h
        policy = self.h.settings.policy
        rules = analytics.rules_from(policy.compliance_specs())
        limits = analytics.ComplianceLimits.from_mapping(
            overrides=policy.compliance_overrides(), rules=rules
        )
        out: dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray] = {}

        def put(metric: str, labels: tuple[tuple[str, str], ...], j: int, number: float) -> None:
            out.setdefault((metric, labels), np.full(len(d.updates), np.nan))[j] = number

        for j, u in enumerate(d.updates.tolist()):
            now = h.timeline.at(u)
            day = h.timeline.day[u]
            adv = d.adv(j)
            orders = [
                analytics.Order(
                    f.execution.symbol,
                    f.execution.quantity if f.execution.side == "buy" else -f.execution.quantity,
                    f.execution.price,
                    f.execution.timestamp,
                    adv.get(f.execution.symbol, 0.0),
                )
                for f in h.fills[self.name]
                if f.index <= u and h.timeline.day[f.index] == day
            ]
            snapshot = analytics.ComplianceSnapshot(
                portfolio_id=self.name,
                portfolio_value=float(self.value[u]),
                now=now,
                positions=dict(zip(b.symbols, self.values[u].tolist(), strict=True)),
                sectors=dict(zip(b.symbols, b.sectors, strict=True)),
                var_99=float(var_99[j]),
                orders=orders,
                # The agent refreshes prices just before it checks compliance.
                market_data_updated={self.h.market.name: now},
            )
            results = analytics.evaluate(
                snapshot, limits, rules=rules, is_session_open=h.calendar.is_regular_session
            )
            for r in results:
                rule = (("rule", r.rule_id),)
                put(
                    "compliance_violation_active",
                    (*rule, ("severity", r.severity.value)),
                    j,
                    float(r.violated),
                )
                # An infinite ADV fraction is published as a large finite number, as live.
                observed = r.observed if math.isfinite(r.observed) else 1e9
                put("compliance_rule_value", rule, j, observed)
                put("compliance_rule_limit", rule, j, r.limit)
                # Evidence keys of orders are SYMBOL@time; the label keeps the symbol.
                for subject in {key.split("@", 1)[0] for key in r.evidence} if r.violated else ():
                    put("compliance_violation_evidence_info", (*rule, ("subject", subject)), j, 1.0)
        return out


def _spread(per_event: FloatArray, events: IntArray, at: IntArray) -> FloatArray:
    """Values known at event instants, seen at every instant from each event on (NaN
    before the first): `at` is each instant's latest recorded instant."""
    which = np.searchsorted(events, at, side="right") - 1
    out = per_event[np.maximum(which, 0)].astype(np.float64)
    out[which < 0] = np.nan
    return out


# ---------------------------------------------------------------- writing
@dataclass(frozen=True)
class _Kept:
    """The samples of one series that get written: output indices and values."""

    family: _Family
    labels: str
    index: IntArray
    values: FloatArray


class _Writer:
    """Chooses the samples to write and writes them as OpenMetrics, one file per block."""

    def __init__(
        self,
        timeline: _Timeline,
        families: Sequence[_Family],
        present: Mapping[str, IntArray],
        agent_labels: Mapping[str, str],
        window_seconds: int,
    ) -> None:
        self.times = timeline.times[timeline.first :]
        self.window_seconds = window_seconds
        window = self.times // window_seconds
        self.windows = [int(w) for w in np.unique(window)]
        self.bounds = np.searchsorted(window, [*self.windows, self.windows[-1] + 1])
        self._stamps = [f" {t}\n" for t in self.times.tolist()]
        heartbeat = self.times // HEARTBEAT_SECONDS
        self.kept: list[_Kept] = []
        first_last: dict[str, tuple[int, int]] = {}
        for family in families:
            taken = _near(self.times, present.get(family.group, np.empty(0, dtype=np.int64)))
            fixed = agent_labels if family.group == "agent" else {}
            for series in family.series:
                values = series.values[timeline.first :]
                ok = np.isfinite(values) & ~taken
                previous_ok = np.r_[False, ok[:-1]]
                changed = np.r_[True, values[1:] != values[:-1]]
                beat = np.r_[True, heartbeat[1:] != heartbeat[:-1]]
                index = np.flatnonzero(ok & (~previous_ok | changed | beat)).astype(np.int64)
                if index.size == 0:
                    continue
                labels = _labels({**fixed, **series.labels})
                self.kept.append(_Kept(family, labels, index, values[index]))
                lo, hi = first_last.get(family.group, (index[0], index[-1]))
                first_last[family.group] = (min(lo, int(index[0])), max(hi, int(index[-1])))
        self.samples = sum(k.index.size for k in self.kept)
        self.series = len(self.kept)
        # Probes for the wait: instants only the new blocks have samples at (written
        # samples are at least five minutes from any existing one of their group).
        selectors = {
            "agent": _labels(agent_labels),
            "rules": _name_selector(f.name for f in families if f.group == "rules"),
        }
        self.probes = [
            (int(self.times[i]), selectors[group])
            for group, (lo, hi) in first_last.items()
            for i in sorted({lo, hi})
        ]

    def write(self, number: int, path: Path) -> int:
        """Write block window `number` of `self.windows` to `path`; returns its samples."""
        lo, hi = int(self.bounds[number]), int(self.bounds[number + 1])
        written = 0
        with path.open("w", encoding="utf-8") as out:
            family: _Family | None = None
            for kept in self.kept:
                a, b = np.searchsorted(kept.index, [lo, hi])
                if a == b:
                    continue
                if kept.family is not family:
                    family = kept.family
                    # OpenMetrics names a counter family without its _total suffix.
                    name = (
                        family.name.removesuffix("_total")
                        if family.type == "counter"
                        else family.name
                    )
                    out.write(
                        f"# HELP {name} {_escape(family.help)}\n# TYPE {name} {family.type}\n"
                    )
                prefix = f"{kept.family.name}{kept.labels} "
                stamps = [self._stamps[i] for i in kept.index[a:b].tolist()]
                values = map(prefix.__add__, map(repr, kept.values[a:b].tolist()))
                out.writelines(map(str.__add__, values, stamps))
                written += int(b - a)
            out.write("# EOF\n")
        return written


def _near(times: IntArray, present: IntArray) -> BoolArray:
    """Instants within 10 minutes of an instant at which data is present.

    Data seen at t lies in (t - 5 min, t]; the 5-minute margin beyond that keeps any
    written sample out of the lookback of every existing one, so the two never mix."""
    if present.size == 0:
        return np.zeros(times.shape, dtype=np.bool_)
    margin = 2 * LOOKBACK_SECONDS
    nxt = np.searchsorted(present, times - margin, side="right")
    candidate = present[np.minimum(nxt, present.size - 1)]
    return (nxt < present.size) & (candidate < times + margin)


def _labels(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(frozen=True)
class _Built:
    blocks: int
    write_seconds: float
    promtool_seconds: float


def _build_blocks(
    writer: _Writer,
    text_dir: Path,
    tsdb: Path,
    promtool: str,
    report: _Reporter,
    end: datetime,
) -> _Built:
    """One OpenMetrics file per block window, promtool on each as soon as it is
    written (in parallel with the next), then every block renamed into the TSDB."""
    staging = Path(tempfile.mkdtemp(prefix=".riskwatch-backfill-", dir=tsdb))
    hours = writer.window_seconds // 3600
    runs: list[Future[float]] = []
    written = 0.0
    try:
        workers = max(1, min(len(writer.windows), os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for number, window in enumerate(writer.windows):
                began = time.monotonic()
                text = text_dir / f"{window}.om"
                writer.write(number, text)
                written += time.monotonic() - began
                runs.append(pool.submit(_promtool, promtool, text, staging / str(window), hours))
                report("blocks", 0.6 + 0.15 * (number + 1) / len(writer.windows))
            seconds = sum(run.result() for run in runs)
        blocks = sorted(
            (json.loads((meta := folder / "meta.json").read_text())["minTime"], meta.parent)
            for output in staging.iterdir()
            for folder in output.iterdir()
            if (folder / "meta.json").is_file()
        )
        latest = max(
            (json.loads((b / "meta.json").read_text())["maxTime"] for _, b in blocks), default=0
        )
        if latest > end.timestamp() * 1000 + 1:  # never: the writer stops at `end`
            raise BackfillError("promtool made a block reaching past the backfill's end")
        # Oldest first: once the newest is visible, Prometheus has seen them all.
        for _, block in blocks:
            os.rename(block, tsdb / block.name)
        report("blocks", 0.8)
        return _Built(len(blocks), written, seconds)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _promtool(promtool: str, text: Path, output: Path, hours: int) -> float:
    began = time.monotonic()
    done = subprocess.run(
        [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            f"--max-block-duration={hours}h",
            str(text),
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()[-2000:]
        raise BackfillError(f"promtool failed on {text.name}: {detail}")
    return time.monotonic() - began
