"""The receiver's Flask application factory.

`create_app` wires settings, the per-app metrics registry, bearer-token auth, the
database pool (migrating the schema at start when the database answers) and the
blueprints. Every error is answered as JSON ``{"error": "..."}``: 503 when the
database cannot be reached (reported down), 500 for any other database error.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

import psycopg
from flask import Flask, Response, g, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from riskwatch.receiver import actions, api, auth, console, db, ops, webhook
from riskwatch.receiver.metrics import ReceiverMetrics, RejectReason, current
from riskwatch.receiver.silences import Alertmanager
from riskwatch.settings import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

# Webhook rejections counted in riskwatch_receiver_payloads_rejected_total, by HTTP status.
_WEBHOOK_REJECTIONS: Final[dict[int, RejectReason]] = {
    400: "invalid",
    401: "unauthorized",
    403: "unauthorized",  # a credential that may not post the webhook
    413: "too_large",
}
# How soon a client may retry after a 503; Alertmanager keeps its own backoff.
_RETRY_AFTER_SECONDS: Final = "5"
# A payload holds up to max_alerts_per_payload alerts; the log line names the first few.
_MAX_FINGERPRINTS_LOGGED: Final = 50


def create_app(
    settings: Settings | None = None, test_config: Mapping[str, Any] | None = None
) -> Flask:
    """Build a receiver app; `settings` default to `load_settings()`.

    `test_config` is merged into ``app.config`` last (e.g. ``{"TESTING": True}``).
    Raises ConfigError when no database URL is configured, or no credential is and
    `receiver.insecure_no_auth` is not set (auth.py). A database that is down
    does not stop the app: it answers 503 until the database is back.
    """
    settings = settings if settings is not None else load_settings()
    if settings.database_url is None:
        raise ConfigError("the receiver needs database_url [RISKWATCH_DATABASE_URL]")

    app = Flask(__name__, static_folder=None)
    receiver = settings.receiver
    app.config.from_mapping(
        # Werkzeug enforces it while reading any request body: 413 past this size.
        MAX_CONTENT_LENGTH=receiver.max_payload_bytes,
        SESSION_COOKIE_NAME="riskwatch_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: a link from an email or Slack must arrive logged in. Every
        # POST also needs its form's CSRF token (console/session.py).
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=receiver.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=receiver.session_hours),
    )
    app.config[actions.RECEIVER_SETTINGS] = receiver
    app.config[actions.PUBLIC_URL] = settings.receiver_public_url()
    app.config[actions.ALERTMANAGER] = Alertmanager(
        settings.receiver_alertmanager_url(), receiver.alertmanager_timeout_seconds
    )
    if test_config is not None:
        app.config.from_mapping(test_config)

    ReceiverMetrics.create().install(app)
    auth.init_app(app, settings)
    # After auth: a receiver refused for having no credential says only that.
    app.config["SECRET_KEY"] = _session_key(settings)
    _register_error_handlers(app)
    app.register_blueprint(webhook.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(ops.bp)
    console.init_app(app, receiver)
    db.init_app(app, settings.database_url.get_secret_value(), settings.receiver)
    return app


def _session_key(settings: Settings) -> str:
    key = settings.receiver_session_secret()
    if key is None:
        log.warning(
            "no receiver_session_key configured: console logins last until this process "
            "exits (`riskwatch stack up` generates one)"
        )
        return secrets.token_urlsafe(32)
    return key


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        if request.blueprint == webhook.bp.name and code in _WEBHOOK_REJECTIONS:
            current().reject(_WEBHOOK_REJECTIONS[code])
            log.warning("webhook payload rejected status=%d error=%r", code, exc.description)
        if request.blueprint == console.bp.name:
            response = make_response(console.render_error(exc))  # people read a page
        else:
            response = jsonify(error=exc.description or exc.name)
        # Keep what the exception says beyond its body: WWW-Authenticate, Allow,
        # Retry-After.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, code

    @app.errorhandler(psycopg.Error)
    def database_error(exc: psycopg.Error) -> tuple[Response, int]:
        if db.is_connection_error(exc, db.request_connection()):
            return _database_unavailable(exc)
        return _database_refused(exc)


def _database_unavailable(exc: psycopg.Error) -> tuple[Response, int]:
    """503: the database cannot be reached, so it is reported down; retry later."""
    metrics = current()
    metrics.database_up.set(0)
    if request.blueprint == webhook.bp.name:
        metrics.reject("database_unavailable")
    log.warning("database unavailable path=%s error=%r", request.path, str(exc))
    response = jsonify(error="database unavailable; nothing was stored, retry later")
    response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
    return response, 503


def _database_refused(exc: psycopg.Error) -> tuple[Response, int]:
    """500: the database answered but refused this request (a PostgreSQL limit, a
    constraint, a privilege). The database stays reported up; nothing was stored, since
    each write is one transaction."""
    if request.blueprint == webhook.bp.name:
        current().reject("database_error")
    fingerprints: list[str] = g.get("webhook_fingerprints", [])
    shown = fingerprints[:_MAX_FINGERPRINTS_LOGGED]
    more = len(fingerprints) - len(shown)
    log.error(
        "database error path=%s sqlstate=%s error=%r fingerprints=%s%s",
        request.path,
        exc.sqlstate,
        str(exc),
        ",".join(shown) or "-",
        f" (and {more} more)" if more > 0 else "",
    )
    message = f"database error (SQLSTATE {exc.sqlstate or 'unknown'}); nothing was stored"
    return jsonify(error=message), 500
