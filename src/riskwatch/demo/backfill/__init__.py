"""Historical mode: N days of the trading agent's series, backfilled into Prometheus.

Agents push to the Pushgateway, which cannot carry timestamps, so history is written
as OpenMetrics text with timestamps and turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics``, straight into the Prometheus data
directory. The dashboards then show a month on first open.

What is generated, for every portfolio of ``settings.trading.portfolios``, from
``SyntheticMarket(settings.trading.seed, calendar=...)`` and one ``SyntheticBroker`` per portfolio:
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
  recorded before the market's midnight, peak since the first recorded value.
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

Prometheus 2.42 loads new block folders at start, and on its own once a minute (the
TSDB's periodic reload); no API call makes it look sooner (reload, snapshot and
clean_tombstones do not re-read the folder unless a block had tombstones, and the
admin API is off anyway, docs/security.md). So when the Prometheus is the stack's own
(started by `riskwatch stack up` from this state folder), `backfill` restarts it
through the stack runner (`Stack.restart_prometheus`: a clean shutdown keeps what it
holds in memory in its WAL, replayed at start) and waits for it to be ready: a
second or so instead of up to a minute. Not while an alert with a `for` duration is
pending or firing (`Api.held_alerts`): a restart would start its `for` over, delaying
a page or resolving and re-firing one. Then it waits for them to clear or for the
periodic reload, whichever comes first; any other Prometheus it leaves to the reload.
Either way `backfill` returns once a query sees samples only the new blocks hold.
What a restart costs: no scrape for that second (the Pushgateway keeps what is pushed
meanwhile), and a series that vanished from its target just before it gets no
staleness marker, so queries see its last value for the 5-minute lookback instead of
not at all (why the tour's recordings, written as its worlds remove their groups, are
waited for instead: `recorded.write_recordings`).

A sample repeating the previous one is not written unless four minutes have passed
since the last written one: every query sees the same values (Prometheus looks back
five minutes for the latest sample), and a month of synthetic prices, which move once
a minute and rest outside trading hours, is ten times smaller at the 15 s default.

The modules, by job: `timeline` (the sample instants, trading phases and lead-in),
`desk` (the synthetic desk's market days, books and fills, and the recording
rules), `figures` (every series of one book, and the trailing daily history),
`series` (the series and families computed), `writer` (thinning, OpenMetrics text,
promtool and the blocks), `prometheus` (the queries against the running Prometheus)
and `base` (the errors and types they share); this module is the API.

Prometheus holds a month; the model validation needs a year. `forecasts` writes the
year of close records (VaR and ES forecasts, realised returns) the trading agent would
have kept in the forecast log (`backfill_forecasts`), and runs the desk validation on
it (`validate_desk`), so the traffic light has a verdict from the start.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from riskwatch.alerting.rules import RECORDING_RULES
from riskwatch.clock import Clock, system_clock
from riskwatch.demo.backfill.base import BackfillError, IntArray, NothingToBackfill, Progress
from riskwatch.demo.backfill.desk import History
from riskwatch.demo.backfill.forecasts import Written, backfill_forecasts, validate_desk
from riskwatch.demo.backfill.prometheus import PRESENCE_STEP_SECONDS, Api
from riskwatch.demo.backfill.writer import Writer, build_blocks, format_labels, name_selector
from riskwatch.policy import duration_seconds
from riskwatch.publish import PUSH_JOB
from riskwatch.settings import Settings
from riskwatch.sources.synthetic import HISTORY_DAYS
from riskwatch.stack.errors import StackError
from riskwatch.stack.runner import Stack

__all__ = [
    "BackfillError",
    "BackfillResult",
    "History",
    "Loaded",
    "NothingToBackfill",
    "Progress",
    "Written",
    "backfill",
    "backfill_forecasts",
    "history",
    "load_blocks",
    "max_days",
    "validate_desk",
]

DAY_SECONDS = 86_400
MAX_RESOLUTION_SECONDS = 60
DEFAULT_END_MARGIN = timedelta(minutes=1)


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
    """Having Prometheus load the new blocks: restarting the stack's own until it is
    ready and sees them, or waiting for the periodic reload."""
    restarted: bool = False
    """Whether Prometheus was restarted to load the blocks (see the module doc)."""


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
    leave_out: Sequence[tuple[datetime, datetime]] = (),
    restart: bool = True,
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
        leave_out: spans [from, to) kept free of the desk's history, as if samples
            were there: the tour's days, which its worlds' recordings fill
            (`riskwatch.demo.backfill.recorded`); nothing is written within ten
            minutes of them either.
        restart: restart the stack's own Prometheus to load the blocks (see the
            module doc); False waits for its periodic reload instead, up to a minute.

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
    tsdb, promtool, api = target(settings, prometheus_url)
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
    kept_free = _instants(leave_out)
    present = {
        "agent": _merged(api.presence(format_labels(agent_labels), start, stop), kept_free),
        "rules": _merged(
            api.presence(name_selector(f.name for f in rules), start, stop), kept_free
        ),
    }
    writer = Writer(
        history.timeline, families, present, agent_labels, _block_seconds(retention_days)
    )
    if writer.samples == 0:
        raise NothingToBackfill(
            f"nothing to backfill: agent {agent_id!r} already has samples all over "
            f"{start:%Y-%m-%d %H:%M} to {stop:%Y-%m-%d %H:%M} UTC"
        )
    with tempfile.TemporaryDirectory(prefix="riskwatch-backfill-") as text_dir:
        built = build_blocks(writer, Path(text_dir), tsdb, promtool, report, stop)
    report("loading", 0.8)
    loaded = load_blocks(
        settings, api, writer.probes, lambda f: report("loading", 0.8 + 0.2 * f), restart=restart
    )
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
        load_seconds=loaded.seconds,
        restarted=loaded.restarted,
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


def target(settings: Settings, prometheus_url: str | None) -> tuple[Path, str, Api]:
    """Where blocks go (the stack's TSDB folder), the promtool that makes them, and the
    running Prometheus that owns that folder (checked: blocks elsewhere never load)."""
    tsdb = Stack(settings).layout.root / "prometheus"
    promtool = shutil.which(settings.stack.promtool_bin)
    if promtool is None:
        raise BackfillError(
            f"promtool not found as {settings.stack.promtool_bin!r} (stack.promtool_bin); "
            "`riskwatch stack install` installs it"
        )
    api = Api(prometheus_url or settings.url.prometheus)
    api.check_data_dir(tsdb)
    return tsdb, promtool, api


@dataclass(frozen=True)
class Loaded:
    """How Prometheus came to serve new blocks."""

    seconds: float
    restarted: bool


def load_blocks(
    settings: Settings,
    api: Api,
    probes: Sequence[tuple[int, str]],
    progress: Callable[[float], None],
    *,
    restart: bool = True,
) -> Loaded:
    """Have Prometheus serve the blocks just moved into its data folder, until each
    probe (an instant and a selector only the new blocks have samples for) answers.
    With `restart`, the stack's own Prometheus is restarted to read them at once, as
    soon as no alert with a `for` is pending or firing (see the module doc: on a
    fresh stack, its targets' first scrapes hold a few for seconds); otherwise, or
    until then, the periodic reload is waited for.

    Raises:
        BackfillError: the restarted Prometheus not ready, or the blocks not loaded in
            time.
    """
    began = time.monotonic()
    stack = Stack(settings)

    def restarted() -> bool:
        if api.held_alerts():
            return False
        try:
            return stack.restart_prometheus() is not None
        except StackError as exc:
            raise BackfillError(f"restarting Prometheus to load the blocks: {exc}") from None

    ours = restart and api.url == settings.url.prometheus.rstrip("/")
    done = api.wait_for_blocks(probes, progress, restarted if ours else None)
    return Loaded(time.monotonic() - began, done)


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


def _instants(spans: Sequence[tuple[datetime, datetime]]) -> IntArray:
    """The minutes of `spans`, as `Api.presence` reports instants with data."""
    step = PRESENCE_STEP_SECONDS
    parts = [
        np.arange(int(a.timestamp()) // step * step, int(b.timestamp()) + step, step)
        for a, b in spans
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)


def _merged(a: IntArray, b: IntArray) -> IntArray:
    return np.unique(np.concatenate([a, b])).astype(np.int64)


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
