"""The backfill's Prometheus: the queries it needs, with errors phrased for the operator.

It checks that Prometheus keeps its data where the blocks go, caps the end at the
head block, finds where samples are already present, and waits for the new blocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from riskwatch.demo.backfill.base import BackfillError, IntArray
from riskwatch.prometheus_api import Prometheus, PrometheusError

PRESENCE_STEP_SECONDS = 60
LOAD_TIMEOUT_SECONDS = 150.0
"""Two of Prometheus's one-minute block reloads, and slack for a slow compaction."""


class Api(Prometheus):
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
        """`asked`, or earlier: the oldest sample of the head block (see the package doc)."""
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
        which the margins of `writer.near` cover."""
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

    def held_alerts(self) -> list[str]:
        """Alerts pending or firing under a rule with a `for` duration, by name.

        A restart starts their `for` over (Prometheus restores it only past its
        10-minute grace period): a pending page would come later, and a firing
        alert not re-sent within Alertmanager's resolve timeout would resolve and fire
        again. Alerts without `for` (the Watchdog) fire again at the first evaluation.
        """
        found = self._data("/api/v1/rules", {"type": "alert"})
        assert isinstance(found, dict)
        return sorted(
            {
                str(rule.get("name"))
                for group in found.get("groups", [])
                for rule in group.get("rules", [])
                if rule.get("duration", 0) and rule.get("alerts")
            }
        )

    def wait_for_blocks(
        self,
        probes: Sequence[tuple[int, str]],
        progress: Callable[[float], None],
        restart: Callable[[], bool] | None = None,
    ) -> bool:
        """Poll until every probe (a time and a selector written only by the new blocks)
        answers: Prometheus picks new blocks up at start and on its one-minute reload.
        At each poll until then, `restart` may restart it to load them at once; it
        says whether it did, and is not called again once it has. Returns whether it
        did."""
        began = time.monotonic()
        pending = list(probes)
        restarted = False
        while pending:
            at, selector = pending[0]
            found = self._data("/api/v1/query", {"query": f"count({selector})", "time": at})
            assert isinstance(found, dict)
            if found.get("result"):
                pending.pop(0)
                continue
            if restart is not None and not restarted and restart():
                restarted = True
                continue
            waited = time.monotonic() - began
            if waited > LOAD_TIMEOUT_SECONDS:
                raise BackfillError(
                    f"Prometheus at {self.url} has not loaded the new blocks after "
                    f"{waited:.0f} s; its log says why (e.g. <state_dir>/logs/prometheus.log)"
                )
            progress(min(0.99, waited / 60.0))
            time.sleep(0.5)
        return restarted
