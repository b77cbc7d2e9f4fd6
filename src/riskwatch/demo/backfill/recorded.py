"""The tour's days in their own time: what a world's agent published, at simulated instants.

The tour's worlds push to the Pushgateway at the wall clock (alerts arrive while one
watches), so live Prometheus sees each scenario's session as a few minutes of now.
A `Recording` keeps, beside that, what the agent's registry held at every step of its
simulated clock, stamped with the simulated instant; `write_recordings` turns the
recordings into TSDB blocks the way the backfill writes history (OpenMetrics with
timestamps, promtool, renamed into the data directory, waited for), with the
recording rules evaluated over them. Nothing is computed here that the world did not
publish: the values are the registry's, the instants the world's clock's.

A recorded day must be in the past and clear of the desk's history (`riskwatch demo
--mode historical` leaves the tour's days out, see `riskwatch.demo.days`): two agents
publishing one portfolio at once would add up in the recording rules' sums. A day the
history, or an earlier recording, already holds, or one reaching into Prometheus's head
block, is skipped with the reason, never written over.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from prometheus_client import CollectorRegistry

from riskwatch.alerting.rules import RECORDING_RULES
from riskwatch.calendar import MarketCalendar
from riskwatch.demo.backfill import _block_seconds, max_days, target
from riskwatch.demo.backfill.base import BackfillError
from riskwatch.demo.backfill.desk import evaluate_rules
from riskwatch.demo.backfill.prometheus import Api
from riskwatch.demo.backfill.series import Family, Series
from riskwatch.demo.backfill.timeline import Timeline
from riskwatch.demo.backfill.writer import Writer, build_blocks, name_selector
from riskwatch.publish import PUSH_JOB
from riskwatch.settings import Settings

RECORD_STEP_SECONDS = 15
"""The live agent's recording interval, and the backfill's default resolution."""

_Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Recording:
    """What one agent's registry held at each recorded simulated instant.

    `add` is called from the world's recording thread, `families` after the world
    stopped; a lock keeps the two apart all the same."""

    agent: str
    step_seconds: int = RECORD_STEP_SECONDS
    times: list[int] = field(default_factory=list)
    """Unix seconds, multiples of `step_seconds`, increasing."""
    values: dict[_Key, dict[int, float]] = field(default_factory=dict)
    kinds: dict[str, tuple[Literal["gauge", "counter"], str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_if_new(self, at: int, registry: CollectorRegistry, since: int | None = None) -> None:
        """Keep every gauge and counter sample of `registry` as of instant `at`, unless
        an instant at or after `at` is kept already; with `since`, as of every step
        from `since` to `at` (what was held all along, e.g. since the cycle that
        computed it began).

        Histograms are left out, as the backfill leaves them out: their buckets are
        the agent's own task timings, read live only."""
        first = at if since is None else since
        if at % self.step_seconds or first % self.step_seconds or first > at:
            raise ValueError(f"{first}..{at} is not on the {self.step_seconds} s grid")
        with self._lock:
            if self.times and at <= self.times[-1]:
                return
            if self.times:
                first = max(first, self.times[-1] + self.step_seconds)
            instants = range(first, at + 1, self.step_seconds)
            indices = range(len(self.times), len(self.times) + len(instants))
            self.times.extend(instants)
            for metric in registry.collect():
                if metric.type not in ("gauge", "counter"):
                    continue
                for sample in metric.samples:
                    if sample.name.endswith("_created") or not math.isfinite(sample.value):
                        continue
                    kind: Literal["gauge", "counter"] = (
                        "counter" if metric.type == "counter" else "gauge"
                    )
                    self.kinds.setdefault(sample.name, (kind, metric.documentation))
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    held = self.values.setdefault(key, {})
                    for index in indices:
                        held[index] = float(sample.value)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.times[0], UTC)

    @property
    def end(self) -> datetime:
        """The exclusive end: one step after the last recorded instant."""
        return datetime.fromtimestamp(self.times[-1] + self.step_seconds, UTC)

    def families(self, timeline: Timeline) -> list[Family]:
        """The recorded series on `timeline` (NaN where nothing was recorded)."""
        with self._lock:
            at = timeline.times
            where = np.searchsorted(at, np.array(self.times, dtype=np.int64))
            if not np.array_equal(at[np.minimum(where, at.size - 1)], self.times):
                raise BackfillError("recorded instants are off the timeline's grid")
            out: dict[str, Family] = {}
            for (name, labels), by_index in self.values.items():
                kind, text = self.kinds[name]
                family = out.setdefault(name, Family(name, kind, text, "agent"))
                values = np.full(at.size, np.nan)
                values[where[list(by_index)]] = list(by_index.values())
                family.series.append(Series(dict(labels), values))
            return list(out.values())


@dataclass(frozen=True)
class Written:
    """A recording written into Prometheus, or skipped and why."""

    agent: str
    start: datetime
    end: datetime
    samples: int = 0
    skipped: str = ""


def write_recordings(
    settings: Settings,
    recordings: Sequence[Recording],
    *,
    prometheus_url: str | None = None,
) -> list[Written]:
    """Write each non-empty recording as TSDB blocks at its simulated instants, then
    wait until Prometheus has loaded them all.

    Raises:
        BackfillError: Prometheus unreachable or using another data directory,
            promtool missing or failing, or the blocks not loaded in time.
    """
    tsdb, promtool, api = target(settings, prometheus_url)
    calendar = MarketCalendar(settings.policy.market)
    window = _block_seconds(max_days(settings))
    written: list[Written] = []
    probes: list[tuple[int, str]] = []
    for recording in recordings:
        if not recording.times:
            continue
        start, end = recording.start, recording.end
        reason = _why_not(api, recording, start, end)
        if reason:
            written.append(Written(recording.agent, start, end, skipped=reason))
            continue
        timeline = Timeline.build(start, end, recording.step_seconds, calendar)
        families = recording.families(timeline)
        rules = evaluate_rules(RECORDING_RULES, families)
        agent_labels = {"job": PUSH_JOB, "agent": recording.agent}
        writer = Writer(timeline, families + rules, {}, agent_labels, window)
        with tempfile.TemporaryDirectory(prefix="riskwatch-tour-day-") as text_dir:
            build_blocks(writer, Path(text_dir), tsdb, promtool, lambda *_: None, end)
        probes.extend(writer.probes)
        written.append(Written(recording.agent, start, end, writer.samples))
    if probes:
        # Waited for, not restarted (`load_blocks`): the worlds have just removed their
        # Pushgateway groups, and a restart before the next scrape would leave their
        # series without staleness markers, still seen for five minutes.
        api.wait_for_blocks(probes, lambda _: None)
    return written


def _why_not(api: Api, recording: Recording, start: datetime, end: datetime) -> str:
    """Why the recording must not be written ("" if it may)."""
    if api.safe_end(end) < end:
        return (
            "it reaches into the time Prometheus holds in memory (live samples); "
            "only days before those are written"
        )
    rules = name_selector(r.record for r in RECORDING_RULES)
    lo, hi = int(start.timestamp()), int(end.timestamp())
    # Only inside the span: samples that end before it (the history up to the day
    # before) are out of every written instant's lookback already.
    held = [t for t in api.presence(rules, start, end).tolist() if lo <= t < hi]
    if held:
        first = datetime.fromtimestamp(held[0], UTC)
        return (
            f"Prometheus already holds the desks' figures at {first:%Y-%m-%d %H:%M} UTC "
            "(the history, or an earlier demo): two agents on one portfolio would add up"
        )
    return ""
