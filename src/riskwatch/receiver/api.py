"""The JSON API over the alert trail (``/api``): list, detail, ack (and silence),
expire a silence, the CSV export of a period and the log of actions.

Everything the console does is here too. Timestamps are RFC 3339 strings in UTC.
Every answer passes through its model in schema.py, which /openapi.json is built from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from flask import Blueprint, Response, current_app, request, stream_with_context
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest, NotFound

from riskwatch.receiver import actions, audit, export
from riskwatch.receiver.actions import RECEIVER_SETTINGS
from riskwatch.receiver.auth import current_identity
from riskwatch.receiver.db import get_db
from riskwatch.receiver.models import AckRequest, describe
from riskwatch.receiver.query import parse_filter, parse_instant, parse_limit, refuse_unknown
from riskwatch.receiver.schema import (
    AckResponse,
    ActionPage,
    AlertDetail,
    AlertPage,
    SilenceResponse,
)
from riskwatch.receiver.store import MAX_ID, AlertFilter, Cursor, Row, get_alert, list_alerts
from riskwatch.settings import ReceiverSettings

__all__ = ["RECEIVER_SETTINGS", "alert_json", "bp", "rfc3339"]

bp = Blueprint("api", __name__, url_prefix="/api")

_EXPORT_PARAMETERS: Final = ("since", "until")


def _settings() -> ReceiverSettings:
    settings: ReceiverSettings = current_app.config[RECEIVER_SETTINGS]
    return settings


@bp.get("/alerts")
def alerts_index() -> dict[str, Any]:
    """``{"alerts": [...], "next": cursor}``, newest first, filtered by the query.

    `since` and `until` bound when alerts *started*, so the filter and the order use
    the same column. `next` is null on the last page; else pass it as `before`.
    """
    where, limit = parse_filter(request.args, _settings())
    page, cursor = alert_page(where, limit)
    body = {"alerts": [alert_json(row) for row in page], "next": cursor}
    return AlertPage.model_validate(body).model_dump(mode="json")


def alert_page(where: AlertFilter, limit: int) -> tuple[list[Row], str | None]:
    """One page of the list, and the cursor of the next one (None on the last)."""
    # One row more than the page says whether there is a next page, without a count.
    rows = list_alerts(get_db(), where, limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    cursor = Cursor(page[-1]["starts_at"], page[-1]["id"]).encode() if more else None
    return page, cursor


@bp.get("/alerts/<int:alert_id>")
def alert_detail(alert_id: int) -> dict[str, Any]:
    """One alert with its `events`, `acks` and `silences`; 404 if unknown."""
    return AlertDetail.model_validate(alert_with_history(alert_id)).model_dump(mode="json")


@bp.post("/alerts/<int:alert_id>/ack")
def alert_ack(alert_id: int) -> dict[str, Any]:
    """Acknowledge an alert (``{"note": ..., "silence_hours": N}``) as the authenticated
    user; returns it with its history, the `ack`, and the `silence_id` (or null)."""
    try:
        body = AckRequest.model_validate_json(request.get_data(cache=False))
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None
    done = actions.ack_alert(alert_id, current_identity(), body.note, body.silence_hours)
    result = alert_with_history(alert_id)
    result["ack"] = ack_json(done.ack)
    result["silence_id"] = done.silence_id
    return AckResponse.model_validate(result).model_dump(mode="json")


@bp.post("/silences/<silence_id>/expire")
def silence_expire(silence_id: str) -> dict[str, Any]:
    """Expire a silence an ack created; returns it. 404 if the trail has no such
    silence, 409 if it is expired already, 502 if Alertmanager fails."""
    body = {"silence": silence_json(actions.expire(silence_id, current_identity()))}
    return SilenceResponse.model_validate(body).model_dump(mode="json")


@bp.get("/export.csv")
def export_csv() -> Response:
    """The trail of [since, until) as CSV (export.py); both are required."""
    since, until = export_period(request.args)
    return csv_response(since, until)


def export_period(args: Any) -> tuple[datetime, datetime]:
    """The export's [since, until) from `args`; BadRequest if missing or reversed."""
    refuse_unknown(args, _EXPORT_PARAMETERS)
    missing = [name for name in _EXPORT_PARAMETERS if not args.get(name)]
    if missing:
        raise BadRequest(f"query parameter {' and '.join(missing)} required: the period")
    since = parse_instant("since", args["since"], lenient=True)
    until = parse_instant("until", args["until"], lenient=True)
    if until <= since:
        raise BadRequest("until must be after since")
    try:
        # In UTC here, as the action log and the file name write them.
        return since.astimezone(UTC), until.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00, before year 1 in UTC
        raise BadRequest("the period must lie within the years 1 to 9999 in UTC") from None


def csv_response(since: datetime, until: datetime) -> Response:
    """The CSV export as a download, recorded in the action log first."""
    conn, limit = get_db(), _settings().max_export_rows
    rows = export.count_rows(conn, since, until)
    if rows > limit:
        raise BadRequest(
            f"the period holds {rows} rows, more than receiver.max_export_rows ({limit}): "
            "export a shorter one"
        )
    with conn.transaction():
        audit.record(
            conn,
            current_identity().name,
            "export",
            remote_addr=request.remote_addr,
            since=rfc3339(since),
            until=rfc3339(until),
            rows=rows,
        )
    name = f"riskwatch-trail-{since:%Y%m%dT%H%M%SZ}-{until:%Y%m%dT%H%M%SZ}.csv"
    return Response(
        stream_with_context(export.stream_csv(conn, since, until)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/actions")
def actions_index() -> dict[str, Any]:
    """``{"actions": [...]}``: the newest actions people took (logins, acks, silences,
    expiries, exports), newest first; `limit` as for alerts."""
    refuse_unknown(request.args, ("limit",))
    limit = parse_limit(request.args.get("limit"), _settings())
    body = {"actions": [{**row, "at": rfc3339(row["at"])} for row in audit.recent(get_db(), limit)]}
    return ActionPage.model_validate(body).model_dump(mode="json")


def alert_with_history(alert_id: int) -> dict[str, Any]:
    """The API shape of one alert with its timeline; NotFound if unknown."""
    row = get_alert(get_db(), alert_id) if alert_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    result = alert_json(row)
    result["events"] = [
        {
            "status": event["status"],
            "received_at": rfc3339(event["received_at"]),
            "ends_at": rfc3339(event["ends_at"]),
            "receiver": event["receiver"],
            "group_key": event["group_key"],
        }
        for event in row["events"]
    ]
    result["acks"] = [ack_json(ack) for ack in row["acks"]]
    result["silences"] = [silence_json(silence) for silence in row["silences"]]
    return result


def ack_json(ack: Row) -> dict[str, Any]:
    """The API shape of one acknowledgement."""
    return {
        "who": ack["who"],
        "why": ack["why"],
        "at": rfc3339(ack["at"]),
        "silence_id": ack["silence_id"],
    }


def silence_json(silence: Row) -> dict[str, Any]:
    """The API shape of one silence an ack created."""
    return {
        "silence_id": silence["silence_id"],
        "alert_id": silence["alert_id"],
        "created_by": silence["created_by"],
        "created_at": rfc3339(silence["created_at"]),
        "ends_at": rfc3339(silence["ends_at"]),
        "expired_at": rfc3339(silence["expired_at"]),
        "expired_by": silence["expired_by"],
    }


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
        "starts_at": rfc3339(row["starts_at"]),
        "ends_at": rfc3339(row["ends_at"]),
        "generator_url": row["generator_url"],
        "first_received_at": rfc3339(row["first_received_at"]),
        "last_received_at": rfc3339(row["last_received_at"]),
        "acked": row["acked_at"] is not None,
        "acked_by": row["acked_by"],
        "acked_at": rfc3339(row["acked_at"]),
    }


def rfc3339(value: datetime | None) -> str | None:
    """`value` as RFC 3339 in UTC (``...Z``), None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
