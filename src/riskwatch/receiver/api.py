"""The read and acknowledge API over the stored alerts (``/api/alerts``).

Timestamps are RFC 3339 strings in UTC. Shapes are documented in openapi.json.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from flask import Blueprint, current_app, request
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, NotFound

from riskwatch.receiver.auth import current_identity
from riskwatch.receiver.db import get_db
from riskwatch.receiver.models import AckRequest, AlertStatus, describe
from riskwatch.receiver.store import AlertFilter, Row, acknowledge, get_alert, list_alerts
from riskwatch.settings import ReceiverSettings

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")

RECEIVER_SETTINGS: Final = "RISKWATCH_RECEIVER_SETTINGS"
_QUERY_PARAMETERS: Final = ("status", "alertname", "severity", "portfolio", "since", "limit")
_STATUSES: Final[dict[str, AlertStatus]] = {"firing": "firing", "resolved": "resolved"}
_MAX_ID: Final = 2**63 - 1  # bigserial; larger ids cannot exist and would overflow the query


@bp.get("/alerts")
def alerts_index() -> dict[str, Any]:
    """``{"alerts": [...]}``, newest first, filtered by the query parameters.

    `since` keeps alerts that *started* at or after that instant, so the filter and
    the order use the same column.
    """
    where, limit = _parse_query(request.args, current_app.config[RECEIVER_SETTINGS])
    rows = list_alerts(get_db(), where, limit)
    return {"alerts": [alert_json(row) for row in rows]}


@bp.get("/alerts/<int:alert_id>")
def alert_detail(alert_id: int) -> dict[str, Any]:
    """One alert with its `events` and `acks`; 404 if unknown."""
    return _alert_with_history(alert_id)


@bp.post("/alerts/<int:alert_id>/ack")
def alert_ack(alert_id: int) -> dict[str, Any]:
    """Acknowledge an alert (``{"note": ...}``) as the authenticated user; returns it
    with its history."""
    try:
        ack = AckRequest.model_validate_json(request.get_data(cache=False))
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None
    who = current_identity().name
    if alert_id > _MAX_ID or not acknowledge(get_db(), alert_id, who, ack.note):
        raise NotFound(f"no alert with id {alert_id}")
    log.info("alert acknowledged id=%d who=%r", alert_id, who)
    return _alert_with_history(alert_id)


def _alert_with_history(alert_id: int) -> dict[str, Any]:
    row = get_alert(get_db(), alert_id) if alert_id <= _MAX_ID else None
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    result = alert_json(row)
    result["events"] = [
        {
            "status": event["status"],
            "received_at": _rfc3339(event["received_at"]),
            "ends_at": _rfc3339(event["ends_at"]),
            "receiver": event["receiver"],
            "group_key": event["group_key"],
        }
        for event in row["events"]
    ]
    result["acks"] = [
        {"who": ack["who"], "why": ack["why"], "at": _rfc3339(ack["at"])} for ack in row["acks"]
    ]
    return result


def alert_json(row: Row) -> dict[str, Any]:
    """The API shape of one alert row."""
    return {
        "id": row["id"],
        "fingerprint": row["fingerprint"],
        "status": row["status"],
        "alertname": row["alertname"],
        "severity": row["severity"],
        "team": row["team"],
        "portfolio": row["portfolio"],
        "labels": row["labels"],
        "annotations": row["annotations"],
        "starts_at": _rfc3339(row["starts_at"]),
        "ends_at": _rfc3339(row["ends_at"]),
        "generator_url": row["generator_url"],
        "first_received_at": _rfc3339(row["first_received_at"]),
        "last_received_at": _rfc3339(row["last_received_at"]),
        "acked": row["acked_at"] is not None,
        "acked_by": row["acked_by"],
        "acked_at": _rfc3339(row["acked_at"]),
    }


def _rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_query(args: MultiDict[str, str], settings: ReceiverSettings) -> tuple[AlertFilter, int]:
    # A misspelt filter silently ignored would return the wrong alerts: refuse it.
    unknown = sorted(set(args) - set(_QUERY_PARAMETERS))
    if unknown:
        raise BadRequest(
            f"unknown query parameter {', '.join(unknown)}; allowed: {', '.join(_QUERY_PARAMETERS)}"
        )
    for name in args:
        if not args[name]:
            raise BadRequest(f"query parameter {name} is empty")
    for name, value in args.items(multi=True):
        # PostgreSQL text cannot hold U+0000: a filter with one would be a 500.
        if "\x00" in value:
            raise BadRequest(f"query parameter {name} must not contain NUL (U+0000) characters")
    status = args.get("status")
    if status is not None and status not in _STATUSES:
        raise BadRequest(f"query parameter status must be firing or resolved (got {status!r})")
    since_text = args.get("since")
    where = AlertFilter(
        status=None if status is None else _STATUSES[status],
        alertname=args.get("alertname"),
        severity=args.get("severity"),
        portfolio=args.get("portfolio"),
        since=None if since_text is None else _parse_since(since_text),
    )
    return where, _parse_limit(args.get("limit"), settings)


def _parse_since(text: str) -> datetime:
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        hint = " (a '+' in a URL reads as a space: write %2B or Z)" if " " in text else ""
        raise BadRequest(
            f"query parameter since must be an RFC 3339 timestamp with an offset, "
            f"e.g. 2024-05-01T09:30:00Z (got {text!r}){hint}"
        )
    return since


def _parse_limit(text: str | None, settings: ReceiverSettings) -> int:
    maximum = settings.max_page_size
    if text is None:
        return min(settings.default_page_size, maximum)
    # int() alone would also take " 5", "+5" and "1_0".
    limit = int(text) if text.isascii() and text.isdigit() else 0
    if not 1 <= limit <= maximum:
        raise BadRequest(f"query parameter limit must be an integer from 1 to {maximum}")
    return limit
