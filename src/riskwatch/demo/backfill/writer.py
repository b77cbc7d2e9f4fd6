"""Writing a backfill: which samples to write, OpenMetrics text, promtool, the blocks.

Repeats are thinned out, nothing is written near samples Prometheus already has, one
OpenMetrics file is written per block window and turned into a block by promtool
(several at once), and the blocks are renamed into the TSDB when all are complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from riskwatch.demo.backfill.base import BackfillError, BoolArray, FloatArray, IntArray, Progress
from riskwatch.demo.backfill.series import Family
from riskwatch.demo.backfill.timeline import Timeline

LOOKBACK_SECONDS = 300
"""Prometheus's default lookback delta: how far a query looks back for a sample."""
HEARTBEAT_SECONDS = 240
"""A repeated value is still written every 4 minutes: with at most a minute's
resolution, written samples are always less than the 5-minute lookback apart."""


@dataclass(frozen=True)
class _Kept:
    """The samples of one series that get written: output indices and values."""

    family: Family
    labels: str
    index: IntArray
    values: FloatArray


class Writer:
    """Chooses the samples to write and writes them as OpenMetrics, one file per block."""

    def __init__(
        self,
        timeline: Timeline,
        families: Sequence[Family],
        present: Mapping[str, IntArray],
        agent_labels: Mapping[str, str],
        window_seconds: int,
    ) -> None:
        self.times = timeline.times[timeline.first :]
        self.window_seconds = window_seconds
        window = self.times // window_seconds
        self.windows = [int(w) for w in np.unique(window)]
        self.bounds = np.searchsorted(window, [*self.windows, self.windows[-1] + 1])
        self._stamps = np.array([f" {t}\n" for t in self.times.tolist()], dtype=object)
        heartbeat = self.times // HEARTBEAT_SECONDS
        self.kept: list[_Kept] = []
        first_last: dict[str, tuple[int, int]] = {}
        for family in families:
            taken = near(self.times, present.get(family.group, np.empty(0, dtype=np.int64)))
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
                labels = format_labels({**fixed, **series.labels})
                self.kept.append(_Kept(family, labels, index, values[index]))
                lo, hi = first_last.get(family.group, (index[0], index[-1]))
                first_last[family.group] = (min(lo, int(index[0])), max(hi, int(index[-1])))
        self.samples = sum(k.index.size for k in self.kept)
        self.series = len(self.kept)
        # Probes for the wait: instants only the new blocks have samples at (written
        # samples are at least five minutes from any existing one of their group).
        selectors = {
            "agent": format_labels(agent_labels),
            "rules": name_selector(f.name for f in families if f.group == "rules"),
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
            family: Family | None = None
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
                # One string per series: "name{labels} value time\n" for each sample,
                # the name and labels joined in between rather than added to each.
                prefix = f"{kept.family.name}{kept.labels} "
                stamps = self._stamps[kept.index[a:b]].tolist()
                values = map(repr, kept.values[a:b].tolist())
                out.write(prefix + prefix.join(map(str.__add__, values, stamps)))
                written += int(b - a)
            out.write("# EOF\n")
        return written


def near(times: IntArray, present: IntArray) -> BoolArray:
    """Instants within 10 minutes of an instant at which data is present.

    Data seen at t lies in (t - 5 min, t]; the 5-minute margin beyond that keeps any
    written sample out of the lookback of every existing one, so the two never mix."""
    if present.size == 0:
        return np.zeros(times.shape, dtype=np.bool_)
    margin = 2 * LOOKBACK_SECONDS
    nxt = np.searchsorted(present, times - margin, side="right")
    candidate = present[np.minimum(nxt, present.size - 1)]
    return (nxt < present.size) & (candidate < times + margin)


def format_labels(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def name_selector(names: Iterable[str]) -> str:
    return '{__name__=~"' + "|".join(re.escape(n) for n in sorted(set(names))) + '"}'


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(frozen=True)
class Built:
    blocks: int
    write_seconds: float
    promtool_seconds: float


def build_blocks(
    writer: Writer,
    text_dir: Path,
    tsdb: Path,
    promtool: str,
    report: Progress,
    end: datetime,
) -> Built:
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
        return Built(len(blocks), written, seconds)
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
