"""A client of the receiver's API (`GET /api/alerts`, `POST /api/alerts/<id>/ack`), for
the report, the demo's judging and the tests: one way to ask for the audit trail, with
the bearer token when one is configured, and one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests


class ReceiverError(Exception):
    """The receiver could not be reached or refused; one line naming it."""


class ReceiverClient:
    """The stored alerts, as the receiver's API lists them."""

    def __init__(
        self, url: str, token: str | None = None, page_size: int = 1000, timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.page_size = page_size
        self.timeout = timeout

    def alerts(self, since: datetime | None = None, **params: Any) -> list[dict[str, Any]]:
        """Alerts newest first (one page of `page_size`); `since` keeps those that
        started at or after it; other query parameters pass as given."""
        query: dict[str, Any] = {"limit": self.page_size, **params}
        if since is not None:
            query["since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        alerts: list[dict[str, Any]] = self._call("GET", "/api/alerts", params=query)["alerts"]
        return alerts

    def ack(self, alert_id: int, note: str) -> dict[str, Any]:
        """Acknowledge alert `alert_id` with `note`, as whoever the token belongs to (the
        receiver records the authenticated user, never a name sent); returns the alert
        with its history."""
        return self._call("POST", f"/api/alerts/{alert_id}/ack", json={"note": note})

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = requests.request(
                method, f"{self.url}{path}", headers=self.headers, timeout=self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            detail = " ".join(str(exc).split())
            raise ReceiverError(f"cannot reach the receiver at {self.url}: {detail}") from None
        if resp.status_code != 200:
            try:
                detail = str(resp.json().get("error", ""))
            except ValueError:
                detail = ""
            raise ReceiverError(
                f"the receiver at {self.url} answered HTTP {resp.status_code}"
                + (f": {detail}" if detail else "")
            )
        body: dict[str, Any] = resp.json()
        return body
