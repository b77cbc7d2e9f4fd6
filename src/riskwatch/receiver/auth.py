"""Bearer-token authentication for every endpoint but the health check and metrics.

Probes and Prometheus scrape /healthz and /metrics without credentials, and neither
reveals an alert. Everything else, the webhook included, demands
``Authorization: Bearer <token>`` when `receiver_token` is set.
"""

from __future__ import annotations

import hmac
import logging
from typing import Final

from flask import Flask, request
from pydantic import SecretStr
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from riskwatch.settings import ConfigError

log = logging.getLogger(__name__)

OPEN_ENDPOINTS: Final = frozenset({"ops.healthz", "ops.metrics"})
_CHALLENGE: Final = WWWAuthenticate("bearer", {"realm": "riskwatch-receiver"})


def init_app(app: Flask, token: SecretStr | None) -> None:
    """Require `token` on `app`'s protected endpoints; no-op when `token` is None."""
    if token is None:
        return
    expected = token.get_secret_value().encode("utf-8")
    if not expected.strip():
        # An empty token would let "Authorization: Bearer " through.
        raise ConfigError("receiver_token is set but empty [RISKWATCH_RECEIVER_TOKEN]")

    @app.before_request
    def require_token() -> None:
        if request.endpoint in OPEN_ENDPOINTS:
            return
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare_digest on bytes: constant time, and str input would have to be ASCII.
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8"), expected
        ):
            return
        log.warning(
            "unauthorized request path=%s remote=%s credentials=%s",
            request.path,
            request.remote_addr,
            "wrong" if scheme else "missing",
        )
        raise Unauthorized("missing or invalid bearer token", www_authenticate=_CHALLENGE)
