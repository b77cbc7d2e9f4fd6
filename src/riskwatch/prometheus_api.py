"""The Prometheus HTTP API, as every part of riskwatch that queries Prometheus calls it
(the dashboards' checks and previews, the report, the backfill).

Errors are one line (`PrometheusError`) that names the server and what went wrong,
for callers to pass on as their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests


class PrometheusError(Exception):
    """Prometheus refused a query (a syntax error) or could not be reached."""


class Prometheus:
    """The query, range and label endpoints of the Prometheus HTTP API."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def get(self, path: str, params: Mapping[str, str | float]) -> Any:
        """The `data` of an API call; PrometheusError if unreachable or refused."""
        try:
            resp = self.session.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            detail = " ".join(str(exc).split())
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {detail}") from None
        try:
            body = resp.json()
        except ValueError:
            raise PrometheusError(
                f"Prometheus at {self.url} answered HTTP {resp.status_code}, not its API"
            ) from None
        if body.get("status") != "success":
            query = f" {params['query']!r}" if "query" in params else ""
            raise PrometheusError(
                f"Prometheus refused{query}: {body.get('errorType', 'error')}: "
                f"{body.get('error', body)}"
            )
        return body["data"]

    def instant(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The result vector of an instant query (`value` is [time, "text"])."""
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.get("/api/v1/query", params)
        result = data["result"]
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": result}]
        assert isinstance(result, list)
        return result

    def range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """The result matrix of a range query (`values` is [[time, "text"], ...])."""
        data = self.get(
            "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step}
        )
        result = data["result"]
        assert isinstance(result, list)
        return result

    def label_values(self, selector: str, label: str) -> list[str]:
        """Values of `label` over the series `selector` matches, as a variable lists them."""
        params: dict[str, str | float] = {"match[]": selector} if selector else {}
        values = self.get(f"/api/v1/label/{label}/values", params)
        assert isinstance(values, list)
        return sorted(str(v) for v in values)
