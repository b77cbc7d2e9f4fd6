"""Serve the receiver with waitress (``riskwatch receiver --listen HOST:PORT``)."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from waitress.server import create_server

from riskwatch.receiver.app import create_app
from riskwatch.receiver.auth import authenticator_of
from riskwatch.receiver.db import close_pool
from riskwatch.settings import ConfigError, Settings

log = logging.getLogger(__name__)

# waitress buffers a whole body before the app sees it (to a temp file past 512 KiB),
# so its own cap is what bounds the disk and memory an unauthenticated client can
# use. It sits above the app's limit so that an ordinary oversize payload still gets
# the app's JSON 413 and is counted in riskwatch_receiver_payloads_rejected_total; only absurd
# bodies meet waitress's plain 413.
_SERVER_BODY_LIMIT_FACTOR = 2


def check_listen(settings: Settings, host: str) -> None:
    """Refuse (ConfigError) to serve an open receiver anywhere but on loopback.

    `receiver.insecure_no_auth` lets a receiver without any credential start, and
    only when `host` is a loopback address (127.0.0.0/8, ::1, localhost).
    """
    has_credential = (
        settings.receiver_admin_token() is not None
        or settings.receiver_webhook_credential() is not None
    )
    if has_credential or not settings.receiver.insecure_no_auth:
        return  # create_app refuses the uncredentialed case without the flag
    if not _is_loopback(host):
        raise ConfigError(
            f"--insecure-no-auth serves the receiver open, so only on a loopback address "
            f"(127.0.0.1, ::1), not {host}"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_server(app: Flask, settings: Settings, host: str, port: int) -> Any:
    """A bound, not yet running waitress server for `app` (port 0 picks a free port).

    Its `effective_port` is the port bound, `run()` serves until `close()`.
    """
    return create_server(
        app,
        host=host,
        port=port,
        threads=settings.receiver.threads,
        max_request_body_size=_SERVER_BODY_LIMIT_FACTOR * settings.receiver.max_payload_bytes,
        ident="riskwatch-receiver",
    )


def run(settings: Settings, host: str, port: int) -> None:
    """Migrate the schema, then serve until interrupted.

    A database that is down at start is logged, not fatal: /healthz reports it, the
    webhook answers 503 and the migrations run on the first request that reaches the
    database once it is back.
    """
    check_listen(settings, host)
    app = create_app(settings)
    try:
        server = build_server(app, settings, host, port)
        log.info(
            "receiver listening host=%s port=%d threads=%d auth=%s",
            host,
            server.effective_port,
            settings.receiver.threads,
            "none" if authenticator_of(app).open else "bearer",
        )
        try:
            server.run()
        except KeyboardInterrupt:
            log.info("receiver stopping")
        finally:
            server.close()
    finally:
        close_pool(app)


@contextmanager
def serving_in_thread(settings: Settings, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve a new receiver app from a background thread; yields its base URL.

    For tests and benchmarks that need real HTTP. Leaving the block stops the server
    and closes the app's pool.
    """
    check_listen(settings, host)
    app = create_app(settings)
    try:
        server = build_server(app, settings, host, port)
        thread = threading.Thread(target=server.run, name="receiver-waitress", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.effective_port}"
        finally:
            server.close()
            thread.join(timeout=5)
    finally:
        close_pool(app)
