"""A preview's data: the time window and each panel target's series from Prometheus.

The queries run exactly as in Grafana: variables substituted, Grafana's interval
variables ($__rate_interval, $__interval, $__range) filled in for the window, range
queries for time series and state timelines, instant queries for the rest.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskwatch.dashboards.queries import Target, legend, substitute
from riskwatch.prometheus_api import Prometheus

MAX_POINTS = 240
"""About the points Grafana asks for across a panel (its maxDataPoints)."""


@dataclass
class Series:
    """One series of a panel: its display name, labels and values."""

    name: str
    labels: dict[str, str]
    times: list[float]
    values: list[float]
    ref_id: str = ""

    @property
    def last(self) -> float:
        return self.values[-1] if self.values else math.nan


@dataclass
class Window:
    """The time range a preview shows, and Grafana's interval variables for it."""

    end: float
    seconds: float

    @property
    def start(self) -> float:
        return self.end - self.seconds

    @property
    def step(self) -> float:
        # About one point per 7 px, as Grafana's maxDataPoints gives a panel, at least
        # the Pushgateway's 5 s scrape interval.
        return max(5.0, round(self.seconds / MAX_POINTS))

    @property
    def intervals(self) -> dict[str, str]:
        rate = max(60, int(self.step) + 15)  # Grafana: max(4 x scrape, step + scrape)
        return {
            "__rate_interval": f"{rate}s",
            "__interval": f"{int(self.step)}s",
            "__range": f"{int(self.seconds)}s",
        }


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def fetch(
    prometheus: Prometheus,
    target: Target,
    variables: Mapping[str, Sequence[str]],
    window: Window,
    *,
    as_range: bool,
) -> list[Series]:
    """A target's series over the window (a range query) or at its end (instant)."""
    expr = substitute(target.expr, variables, window.intervals)
    found = []
    if as_range:
        for r in prometheus.range(expr, window.start, window.end, window.step):
            values = r.get("values") or []
            found.append(
                Series(
                    legend(target.legend, r["metric"]),
                    dict(r["metric"]),
                    [float(t) for t, _ in values],
                    [_number(v) for _, v in values],
                    target.ref_id,
                )
            )
    else:
        for r in prometheus.instant(expr, at=window.end):
            t, v = r["value"]
            found.append(
                Series(
                    legend(target.legend, r["metric"]),
                    dict(r["metric"]),
                    [float(t)],
                    [_number(v)],
                    target.ref_id,
                )
            )
    return found


def window_of(board: Mapping[str, Any], end: float | None = None) -> Window:
    """The dashboard's default time range (`now-6h` to `now`) ending at `end`."""
    text = str((board.get("time") or {}).get("from", "now-6h"))
    match = re.fullmatch(r"now-(\d+)([smhd])", text)
    seconds = 6 * 3600.0
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return Window(end if end is not None else time.time(), seconds)
