"""SQL for the alert audit trail: storing webhook payloads, listing, history, acks.

Functions take a connection and leave transactions to themselves, so callers never
see half of a payload or half of an acknowledgement written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from riskwatch.receiver.db import Connection
from riskwatch.receiver.models import AlertStatus, WebhookPayload

Row = dict[str, Any]

ALERT_COLUMNS = sql.SQL(
    "id, fingerprint, status, alertname, severity, team, portfolio, labels, annotations, "
    "starts_at, ends_at, generator_url, first_received_at, last_received_at, "
    "acked_at, acked_by"
)

# A "firing" message that arrives after the alert was stored as resolved is an old
# retry or an out-of-order delivery: it may add its event to the history but must
# not turn the alert back to firing. (An alert that fires again gets a new startsAt
# from Prometheus, so it is a new row, not this one.)
_UPSERT_ALERT = """
INSERT INTO alerts AS a (
    fingerprint, starts_at, status, alertname, severity, team, portfolio,
    labels, annotations, ends_at, generator_url
) VALUES (
    %(fingerprint)s, %(starts_at)s, %(status)s, %(alertname)s, %(severity)s, %(team)s,
    %(portfolio)s, %(labels)s, %(annotations)s, %(ends_at)s, %(generator_url)s
)
ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
    last_received_at = now(),
    status = CASE WHEN a.status = 'resolved' THEN a.status ELSE EXCLUDED.status END,
    ends_at = CASE WHEN a.status = 'resolved' AND EXCLUDED.status = 'firing'
                   THEN a.ends_at ELSE EXCLUDED.ends_at END,
    annotations = CASE WHEN a.status = 'resolved' AND EXCLUDED.status = 'firing'
                       THEN a.annotations ELSE EXCLUDED.annotations END,
    generator_url = EXCLUDED.generator_url
RETURNING id
"""

_INSERT_EVENT = """
INSERT INTO alert_events (alert_id, status, ends_at, receiver, group_key)
VALUES (%(alert_id)s, %(status)s, %(ends_at)s, %(receiver)s, %(group_key)s)
ON CONFLICT (alert_id, status) DO NOTHING
RETURNING alert_id
"""


@dataclass
class StoreResult:
    """What storing one payload did: new events by status, and repeats of known ones."""

    stored: Counter[AlertStatus] = field(default_factory=Counter)
    duplicates: int = 0

    @property
    def stored_total(self) -> int:
        """Alerts that added an event, whatever their status."""
        return sum(self.stored.values())


def store_payload(conn: Connection, payload: WebhookPayload) -> StoreResult:
    """Upsert every alert of `payload` and add its event, all in one transaction.

    An alert counts as stored when this added an event (a new alert, or a status
    not seen before for it) and as a duplicate otherwise.
    """
    result = StoreResult()
    if not payload.alerts:
        return result
    alert_rows = [
        {
            "fingerprint": alert.fingerprint,
            "starts_at": alert.starts_at,
            "status": alert.status,
            "alertname": alert.labels.get("alertname"),
            "severity": alert.labels.get("severity"),
            "team": alert.labels.get("team"),
            "portfolio": alert.labels.get("portfolio"),
            "labels": Jsonb(alert.labels),
            "annotations": Jsonb(alert.annotations),
            "ends_at": alert.ends_at,
            "generator_url": alert.generator_url,
        }
        for alert in payload.alerts
    ]
    with conn.transaction(), conn.cursor() as cur:
        # executemany pipelines the statements: one round trip for the whole batch.
        cur.executemany(_UPSERT_ALERT, alert_rows, returning=True)
        alert_ids = _first_column_per_statement(cur, len(alert_rows))
        event_rows = [
            {
                "alert_id": alert_id,
                "status": alert.status,
                "ends_at": alert.ends_at,
                "receiver": payload.receiver,
                "group_key": payload.group_key,
            }
            for alert_id, alert in zip(alert_ids, payload.alerts, strict=True)
        ]
        cur.executemany(_INSERT_EVENT, event_rows, returning=True)
        inserted = _first_column_per_statement(cur, len(event_rows))
    for alert, new_event in zip(payload.alerts, inserted, strict=True):
        if new_event is None:
            result.duplicates += 1
        else:
            result.stored[alert.status] += 1
    return result


def _first_column_per_statement(cur: Any, statements: int) -> list[Any]:
    """The first column of each statement's single row, None where one returned no row."""
    values: list[Any] = []
    for index in range(statements):
        row = cur.fetchone()
        values.append(None if row is None else row[0])
        if index < statements - 1:
            cur.nextset()
    return values


@dataclass(frozen=True)
class AlertFilter:
    """Conditions of ``GET /api/alerts``; None means no condition."""

    status: AlertStatus | None = None
    alertname: str | None = None
    severity: str | None = None
    portfolio: str | None = None
    since: datetime | None = None
    """Only alerts that started at or after this instant."""


def list_alerts(conn: Connection, where: AlertFilter, limit: int) -> list[Row]:
    """Alerts matching `where`, newest first (starts_at, then id, descending)."""
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": limit}
    for column in ("status", "alertname", "severity", "portfolio"):
        value = getattr(where, column)
        if value is not None:
            clauses.append(
                sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            )
            params[column] = value
    if where.since is not None:
        clauses.append(sql.SQL("starts_at >= %(since)s"))
        params["since"] = where.since
    condition = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")
    query = sql.SQL(
        "SELECT {columns} FROM alerts WHERE {condition} "
        "ORDER BY starts_at DESC, id DESC LIMIT %(limit)s"
    ).format(columns=ALERT_COLUMNS, condition=condition)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def get_alert(conn: Connection, alert_id: int) -> Row | None:
    """One alert with its history: `events` (by time received) and `acks` (oldest first)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        query = sql.SQL("SELECT {columns} FROM alerts WHERE id = %s").format(columns=ALERT_COLUMNS)
        alert = cur.execute(query, (alert_id,)).fetchone()
        if alert is None:
            return None
        alert["events"] = cur.execute(
            "SELECT status, received_at, ends_at, receiver, group_key FROM alert_events "
            "WHERE alert_id = %s ORDER BY received_at, id",
            (alert_id,),
        ).fetchall()
        alert["acks"] = cur.execute(
            "SELECT who, why, at FROM alert_acks WHERE alert_id = %s ORDER BY at, id",
            (alert_id,),
        ).fetchall()
    return alert


def acknowledge(conn: Connection, alert_id: int, who: str, why: str) -> bool:
    """Record an acknowledgement and mark the alert acked; False if there is no such alert."""
    with conn.transaction():
        updated = conn.execute(
            "UPDATE alerts SET acked_at = now(), acked_by = %s WHERE id = %s RETURNING id",
            (who, alert_id),
        ).fetchone()
        if updated is None:
            return False
        conn.execute(
            "INSERT INTO alert_acks (alert_id, who, why) VALUES (%s, %s, %s)",
            (alert_id, who, why),
        )
    return True
