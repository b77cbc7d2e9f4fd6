"""Operational endpoints: ``/healthz``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

import json
import logging
from typing import Final

import psycopg
from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from riskwatch.receiver import metrics
from riskwatch.receiver.api import RECEIVER_SETTINGS
from riskwatch.receiver.db import get_db, is_connection_error, request_connection
from riskwatch.receiver.openapi import openapi_document
from riskwatch.receiver.schema import Health

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

OPENAPI_DOCUMENT: Final = json.dumps(openapi_document()).encode("utf-8")
"""The OpenAPI description (openapi.py), generated once at import: it depends on the
code only, and documents the default caps of the receiver settings."""


def _database_answers(probe: str, timeout: float | None = None) -> bool:
    """Ask the database for `SELECT 1`, and set `riskwatch_receiver_database_up` from the answer.

    Asking for a connection also applies migrations that were postponed because the
    database was down at start, so a probe is what finishes a late start.
    """
    try:
        get_db(timeout).execute("SELECT 1")
    except psycopg.Error as exc:
        if not is_connection_error(exc, request_connection()):
            raise  # answered 500 by the app; the database is not down
        metrics.current().database_up.set(0)
        log.warning("%s: database down error=%r", probe, str(exc))
        return False
    return True  # get_db() set the gauge to 1


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """200 when the database answers, else 503; the process itself keeps serving."""
    if not _database_answers("health check"):
        return Health(status="degraded", database="down").model_dump(), 503
    return Health(status="ok", database="up").model_dump(), 200


@bp.get("/metrics", endpoint="metrics")
def prometheus_metrics() -> Response:
    """The app's own registry in the Prometheus text exposition format.

    Each scrape probes the database first. Otherwise `riskwatch_receiver_database_up` would only
    change when a webhook or an API call happened to arrive, and a database that died
    on a quiet night would read "up" until the next alert, which then could not be
    stored. The probe waits at most `scrape_probe_timeout_seconds` for a connection, so
    a down database still gets a quick scrape that reports the 0.
    """
    settings = current_app.config[RECEIVER_SETTINGS]
    _database_answers("scrape", settings.scrape_probe_timeout_seconds)
    body = generate_latest(metrics.current().registry)
    return Response(body, status=200, headers={"Content-Type": CONTENT_TYPE_LATEST})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API, generated from its models (openapi.py)."""
    return Response(OPENAPI_DOCUMENT, status=200, mimetype="application/json")
