"""SQL for the alert audit trail: storing webhook payloads, listing, history, acks.

Functions take a connection and leave transactions to themselves, so callers never
see half of a payload or half of an acknowledgement written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from riskwatch.receiver import audit
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
class Cursor:
    """Where a page of the newest-first list ended: its last alert's (starts_at, id).

    The next page is the alerts strictly before it in that order, found by the index
    the filter uses (keyset pagination): page 1,000 costs what page 1 does, and an
    alert arriving meanwhile neither repeats nor skips a row, as OFFSET would.
    """

    starts_at: datetime
    id: int

    def encode(self) -> str:
        """The cursor as the API hands it out: ``<microseconds since epoch>_<id>``."""
        delta = self.starts_at - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        return f"{micros}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse what `encode` wrote; ValueError for anything else."""
        micros, sep, ident = text.partition("_")
        if not sep or not _is_integer(micros) or not ident.isascii() or not ident.isdigit():
            raise ValueError(f"not a cursor this API handed out: {text!r}")
        alert_id = int(ident)
        if not 1 <= alert_id <= MAX_ID:
            raise ValueError(f"cursor id out of range: {text!r}")
        try:
            starts_at = _EPOCH + timedelta(microseconds=int(micros))
        except OverflowError:
            raise ValueError(f"cursor time out of range: {text!r}") from None
        return cls(starts_at, alert_id)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ID: Final = 2**63 - 1
"""The largest bigserial id; a larger one cannot exist and would overflow the query."""


def _is_integer(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 19


@dataclass(frozen=True)
class AlertFilter:
    """Conditions of the alert list; None means no condition."""

    status: AlertStatus | None = None
    alertname: str | None = None
    severity: str | None = None
    team: str | None = None
    portfolio: str | None = None
    since: datetime | None = None
    """Only alerts that started at or after this instant."""
    until: datetime | None = None
    """Only alerts that started before this instant."""
    before: Cursor | None = None
    """Only alerts after this cursor in the newest-first order (the next page)."""


_EQUALITY_FILTERS: Final = ("status", "alertname", "severity", "team", "portfolio")


def list_alerts(conn: Connection, where: AlertFilter, limit: int) -> list[Row]:
    """Alerts matching `where`, newest first (starts_at, then id, descending)."""
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": limit}
    for column in _EQUALITY_FILTERS:
        value = getattr(where, column)
        if value is not None:
            clauses.append(
                sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            )
            params[column] = value
    if where.since is not None:
        clauses.append(sql.SQL("starts_at >= %(since)s"))
        params["since"] = where.since
    if where.until is not None:
        clauses.append(sql.SQL("starts_at < %(until)s"))
        params["until"] = where.until
    if where.before is not None:
        # A row comparison the (..., starts_at DESC, id DESC) indexes answer as a range.
        clauses.append(sql.SQL("(starts_at, id) < (%(before_at)s, %(before_id)s)"))
        params["before_at"] = where.before.starts_at
        params["before_id"] = where.before.id
    condition = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("TRUE")
    query = sql.SQL(
        "SELECT {columns} FROM alerts WHERE {condition} "
        "ORDER BY starts_at DESC, id DESC LIMIT %(limit)s"
    ).format(columns=ALERT_COLUMNS, condition=condition)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def find_alert_id(conn: Connection, fingerprint: str, starts_at: datetime | None) -> int | None:
    """The alert with `fingerprint` that started at `starts_at` (a notification's link),
    else that fingerprint's newest one; None if the trail has neither."""
    row = conn.execute(
        "SELECT id FROM alerts WHERE fingerprint = %(fingerprint)s "
        "ORDER BY starts_at = %(starts_at)s DESC NULLS LAST, starts_at DESC, id DESC LIMIT 1",
        {"fingerprint": fingerprint, "starts_at": starts_at},
    ).fetchone()
    return None if row is None else int(row[0])


def get_alert(conn: Connection, alert_id: int) -> Row | None:
    """One alert with its history: `events` (by time received), `acks` (oldest first)
    and the `silences` acks created."""
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
            "SELECT who, why, at, silence_id FROM alert_acks WHERE alert_id = %s ORDER BY at, id",
            (alert_id,),
        ).fetchall()
        alert["silences"] = cur.execute(
            sql.SQL(
                "SELECT {} FROM alert_silences WHERE alert_id = %s ORDER BY created_at, id"
            ).format(SILENCE_COLUMNS),
            (alert_id,),
        ).fetchall()
    return alert


SILENCE_COLUMNS: Final = sql.SQL(
    "silence_id, alert_id, created_by, created_at, ends_at, expired_at, expired_by"
)


@dataclass(frozen=True)
class NewSilence:
    """A silence Alertmanager has just created for an ack."""

    silence_id: str
    ends_at: datetime


def acknowledge(
    conn: Connection,
    alert_id: int,
    who: str,
    why: str,
    silence: NewSilence | None = None,
    remote_addr: str | None = None,
) -> Row | None:
    """Record an acknowledgement (and the silence it created), mark the alert acked and
    log the action, in one transaction; returns the ack, None if there is no such alert."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        updated = cur.execute(
            "UPDATE alerts SET acked_at = now(), acked_by = %s WHERE id = %s RETURNING id",
            (who, alert_id),
        ).fetchone()
        if updated is None:
            return None
        if silence is not None:
            cur.execute(
                "INSERT INTO alert_silences (silence_id, alert_id, created_by, ends_at) "
                "VALUES (%s, %s, %s, %s)",
                (silence.silence_id, alert_id, who, silence.ends_at),
            )
        ack = cur.execute(
            "INSERT INTO alert_acks (alert_id, who, why, silence_id) VALUES (%s, %s, %s, %s) "
            "RETURNING who, why, at, silence_id",
            (alert_id, who, why, None if silence is None else silence.silence_id),
        ).fetchone()
        audit.record(
            cur,
            who,
            "ack",
            alert_id=alert_id,
            remote_addr=remote_addr,
            note=why,
            silence_id=None if silence is None else silence.silence_id,
        )
    return ack


def get_silence(conn: Connection, silence_id: str) -> Row | None:
    """A silence an ack created, None if the trail has no such silence."""
    with conn.cursor(row_factory=dict_row) as cur:
        query = sql.SQL("SELECT {} FROM alert_silences WHERE silence_id = %s")
        return cur.execute(query.format(SILENCE_COLUMNS), (silence_id,)).fetchone()


def expire_silence(
    conn: Connection, silence_id: str, who: str, remote_addr: str | None = None, **detail: Any
) -> Row | None:
    """Record that `who` expired the silence, and log it; None if it was not recorded
    as active (unknown, or expired already)."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        query = sql.SQL(
            "UPDATE alert_silences SET expired_at = now(), expired_by = %s "
            "WHERE silence_id = %s AND expired_at IS NULL RETURNING {}"
        )
        row = cur.execute(query.format(SILENCE_COLUMNS), (who, silence_id)).fetchone()
        if row is not None:
            audit.record(
                cur,
                who,
                "expire_silence",
                alert_id=row["alert_id"],
                remote_addr=remote_addr,
                silence_id=silence_id,
                **detail,
            )
    return row
