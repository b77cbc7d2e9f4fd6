"""What people do to alerts, shared by the JSON API and the console: acknowledge
(optionally silencing in Alertmanager) and expire a silence.

The order makes failures lose nothing and record nothing false. Alertmanager is asked
first, outside any transaction: if it refuses or cannot be reached, nothing is
recorded and the caller gets 502 to retry. Then the ack, the silence and the audit
row are written in one transaction; if that fails, the silence just created is
expired again, so no silence exists that the trail does not explain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from flask import current_app, request
from werkzeug.exceptions import BadGateway, BadRequest, Conflict, NotFound

from riskwatch.receiver.auth import Identity
from riskwatch.receiver.db import get_db
from riskwatch.receiver.silences import Alertmanager, SilenceError
from riskwatch.receiver.store import (
    MAX_ID,
    NewSilence,
    Row,
    acknowledge,
    expire_silence,
    get_alert,
    get_silence,
)
from riskwatch.settings import ReceiverSettings

log = logging.getLogger(__name__)

ALERTMANAGER: str = "RISKWATCH_RECEIVER_ALERTMANAGER"
"""The app.config key of the `Alertmanager` silences are created in."""
RECEIVER_SETTINGS: str = "RISKWATCH_RECEIVER_SETTINGS"
"""The app.config key of the receiver's settings section."""
PUBLIC_URL: str = "RISKWATCH_RECEIVER_PUBLIC_URL"
"""The app.config key of where people reach the console (links in silence comments)."""


@dataclass(frozen=True)
class AckResult:
    """An acknowledgement as stored, and the silence it created, if any."""

    ack: Row
    silence_id: str | None


def ack_alert(
    alert_id: int, identity: Identity, note: str, silence_hours: float | None
) -> AckResult:
    """Acknowledge `alert_id` as `identity`, silencing it for `silence_hours` if given.

    Raises NotFound for an unknown alert, BadRequest for a silence longer than
    ``receiver.max_silence_hours``, BadGateway when Alertmanager does not create it.
    """
    settings: ReceiverSettings = current_app.config[RECEIVER_SETTINGS]
    conn = get_db()
    alert = get_alert(conn, alert_id) if alert_id <= MAX_ID else None
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    silence = None
    if silence_hours is not None:
        if silence_hours > settings.max_silence_hours:
            raise BadRequest(
                f"silence_hours must be at most {settings.max_silence_hours:g} "
                "(receiver.max_silence_hours)"
            )
        silence = _create_silence(alert, identity, note, silence_hours)
    try:
        ack = acknowledge(conn, alert_id, identity.name, note, silence, request.remote_addr)
    except psycopg.Error:
        if silence is not None:
            _undo_silence(silence.silence_id)
        raise
    if ack is None:  # the alert cannot vanish (no deletes), but say so if it did
        raise NotFound(f"no alert with id {alert_id}")
    log.info(
        "alert acknowledged id=%d who=%r silence=%s",
        alert_id,
        identity.name,
        silence.silence_id if silence else "-",
    )
    return AckResult(ack, None if silence is None else silence.silence_id)


def _create_silence(alert: Row, identity: Identity, note: str, hours: float) -> NewSilence:
    link = f"{current_app.config[PUBLIC_URL]}/console/alerts/{alert['id']}"
    comment = f"riskwatch ack of alert {alert['id']} by {identity.name}: {note} ({link})"
    try:
        created = _alertmanager().create(alert["labels"], hours, identity.name, comment)
    except SilenceError as exc:
        log.error("silence not created alert=%d error=%s", alert["id"], exc)
        raise BadGateway(f"{exc}; nothing was recorded, retry") from None
    return NewSilence(created.silence_id, created.ends_at)


def _undo_silence(silence_id: str) -> None:
    try:
        _alertmanager().expire(silence_id)
    except SilenceError as exc:
        # Say loudly: this silence is in Alertmanager but not in the trail.
        log.error("silence %s created but not recorded, and not expired: %s", silence_id, exc)


def expire(silence_id: str, identity: Identity) -> Row:
    """Expire a silence an ack created, and record who did; NotFound if the trail has
    none such, Conflict if it is expired already, BadGateway if Alertmanager fails."""
    conn = get_db()
    # PostgreSQL text cannot hold U+0000, so no silence has one: asking would be a 500.
    found = None if "\x00" in silence_id else get_silence(conn, silence_id)
    if found is None:
        raise NotFound(f"no silence {silence_id} in the trail")
    if found["expired_at"] is not None:
        raise Conflict(f"silence {silence_id} was expired by {found['expired_by']} already")
    try:
        before = _alertmanager().expire(silence_id)
    except SilenceError as exc:
        raise BadGateway(f"{exc}; the silence is unchanged, retry") from None
    row = expire_silence(
        conn, silence_id, identity.name, request.remote_addr, alertmanager_state=before
    )
    if row is None:
        raise Conflict(f"silence {silence_id} was expired meanwhile")
    log.info("silence expired id=%s who=%r was=%s", silence_id, identity.name, before)
    return row


def _alertmanager() -> Alertmanager:
    found = current_app.config[ALERTMANAGER]
    assert isinstance(found, Alertmanager)
    return found
