"""The report's Prometheus queries: instant vectors and range matrices as the report
uses them, every failure a `ReportError`.

Every section of the report is collected through it, over the one Prometheus API
client of `riskwatch.prometheus_api`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from riskwatch.prometheus_api import Prometheus, PrometheusError
from riskwatch.report.model import STEP_SECONDS, ReportError, Series

HTTP_TIMEOUT_SECONDS = 15.0


class PrometheusClient:
    """The report's queries over the shared Prometheus API client; every failure is a
    ReportError."""

    def __init__(self, url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        self.api = Prometheus(url, timeout)
        self.url = self.api.url

    def _data(self, path: str, params: dict[str, str | float]) -> Any:
        try:
            return self.api.get(path, params)
        except PrometheusError as exc:
            raise ReportError(str(exc)) from None

    def vector(self, expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of each series of an instant query; NaN values are dropped."""
        data = self._data("/api/v1/query", {"query": expr, "time": at.timestamp()})
        out = []
        for item in data.get("result", []):
            value = float(item["value"][1])
            if math.isfinite(value):
                out.append((dict(item["metric"]), value))
        return out

    def matrix(
        self, expr: str, start: datetime, end: datetime, step: int = STEP_SECONDS
    ) -> list[tuple[dict[str, str], Series]]:
        """(labels, series) of a range query whose last step falls exactly on `end`."""
        span = end.timestamp() - start.timestamp()
        # Align the steps backwards from `end`, so the newest sample (a push seconds
        # ago, or the day's last one) is always in the chart.
        first = end.timestamp() - step * math.floor(span / step)
        data = self._data(
            "/api/v1/query_range",
            {"query": expr, "start": first, "end": end.timestamp(), "step": step},
        )
        out = []
        for item in data.get("result", []):
            points = [(float(t), float(v)) for t, v in item["values"] if math.isfinite(float(v))]
            if points:
                times, values = zip(*points, strict=True)
                out.append((dict(item["metric"]), Series("", times, values)))
        return out


def by_labels(rows: Iterable[tuple[dict[str, str], float]], *labels: str) -> dict[Any, float]:
    """Values keyed by one label's value, or by a tuple of several labels' values."""
    out: dict[Any, float] = {}
    for metric, value in rows:
        key = tuple(metric.get(name, "") for name in labels)
        out[key[0] if len(key) == 1 else key] = value
    return out
