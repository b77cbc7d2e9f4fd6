"""``POST /webhook/alertmanager``: Alertmanager's webhook, stored as an audit trail."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, g, request
from pydantic import ValidationError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from riskwatch.clock import system_clock
from riskwatch.receiver import metrics
from riskwatch.receiver.api import RECEIVER_SETTINGS
from riskwatch.receiver.db import get_db
from riskwatch.receiver.limits import describe_problems, payload_problems
from riskwatch.receiver.models import WebhookPayload, describe
from riskwatch.receiver.store import store_payload

log = logging.getLogger(__name__)

bp = Blueprint("webhook", __name__)


@bp.post("/webhook/alertmanager")
def alertmanager() -> dict[str, int]:
    """Validate one payload, store all its alerts in one transaction, report the counts.

    Errors (400 invalid or beyond an input limit, 413 too large, 503 database
    unavailable, 500 any other database error) store nothing; Alertmanager retries a
    5xx, and the retry is then stored exactly once.
    """
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    # Refuse a declared oversize before reading a byte; MAX_CONTENT_LENGTH also stops
    # a chunked body while it is read, since that one declares no length.
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"payload of {request.content_length} bytes exceeds {limit}")
    body = request.get_data(cache=False)
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None
    problems = payload_problems(payload, current_app.config[RECEIVER_SETTINGS], system_clock())
    if problems:
        raise BadRequest(describe_problems(problems))
    # For the database error handler's log line: which alerts were not stored.
    g.webhook_fingerprints = [alert.fingerprint for alert in payload.alerts]

    receiver_metrics = metrics.current()
    for alert in payload.alerts:
        receiver_metrics.alerts_received.labels(status=alert.status).inc()

    conn = get_db()
    started = time.perf_counter()
    result = store_payload(conn, payload)
    receiver_metrics.storage_duration.observe(time.perf_counter() - started)
    for status, count in result.stored.items():
        receiver_metrics.alerts_stored.labels(status=status).inc(count)
    receiver_metrics.alerts_duplicate.inc(result.duplicates)
    log.info(
        "payload stored receiver=%s group_key=%r status=%s alerts=%d stored=%d duplicates=%d "
        "truncated=%d",
        payload.receiver,
        payload.group_key,
        payload.status,
        len(payload.alerts),
        result.stored_total,
        result.duplicates,
        payload.truncated_alerts,
    )
    return {"stored": result.stored_total, "duplicates": result.duplicates}
