"""Silences in Alertmanager, through its v2 API, for "ack and silence for N hours".

A silence matches every label of the alert with equality matchers, so it silences
exactly that alert (its fingerprint is the hash of that label set) and nothing that
merely shares an alertname. Alertmanager records `createdBy` and `comment`, so its own
UI and amtool show who silenced and why, as the receiver's trail does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)


class SilenceError(Exception):
    """Alertmanager could not be reached, or refused the request; the message says which."""


@dataclass(frozen=True)
class CreatedSilence:
    """A silence Alertmanager accepted."""

    silence_id: str
    ends_at: datetime


class Alertmanager:
    """The silences API of one Alertmanager (``<url>/api/v2/silences``)."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout_seconds

    def create(
        self, labels: dict[str, str], hours: float, created_by: str, comment: str
    ) -> CreatedSilence:
        """Silence the alert with exactly `labels` from now for `hours`."""
        now = datetime.now(UTC)
        ends_at = now + timedelta(hours=hours)
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(labels.items())
            ],
            "startsAt": now.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = self._call("POST", "/api/v2/silences", json=body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise SilenceError(f"Alertmanager at {self.url} answered without a silenceID")
        log.info("silence created id=%s by=%s hours=%s", silence_id, created_by, hours)
        return CreatedSilence(silence_id, ends_at)

    def expire(self, silence_id: str) -> str:
        """Expire the silence now. Returns what Alertmanager held before: ``active``
        (or ``pending``), ``expired`` (nothing to do) or ``unknown`` (it has no such
        silence, e.g. its state was lost)."""
        found = self.get(silence_id)
        if found is None:
            return "unknown"
        state = str(found.get("status", {}).get("state", "active"))
        if state == "expired":
            return state  # Alertmanager 0.25 answers 500 to expiring it again
        try:
            self._call("DELETE", _silence_path(silence_id))
        except _NotFoundError:
            return "unknown"
        log.info("silence expired id=%s", silence_id)
        return state

    def get(self, silence_id: str) -> dict[str, Any] | None:
        """The silence as Alertmanager holds it, None if unknown."""
        try:
            found = self._call("GET", _silence_path(silence_id))
        except _NotFoundError:
            return None
        return found if isinstance(found, dict) else None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = requests.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise SilenceError(f"Alertmanager at {self.url} is unreachable: {exc}") from None
        if response.status_code == 404:
            raise _NotFoundError
        if response.status_code >= 400:
            text = response.text.strip()[:300]
            raise SilenceError(
                f"Alertmanager at {self.url} refused {method} {path}: {response.status_code} {text}"
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SilenceError(f"Alertmanager at {self.url} answered non-JSON") from None


class _NotFoundError(Exception):
    """Alertmanager answered 404."""


def _silence_path(silence_id: str) -> str:
    return f"/api/v2/silence/{quote(silence_id, safe='')}"
