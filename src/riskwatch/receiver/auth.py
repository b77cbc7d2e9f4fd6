"""Who is asking, and may they: identities and roles for every endpoint but the health
check and metrics.

Probes and Prometheus scrape /healthz and /metrics without credentials, and neither
reveals an alert. Everything else demands ``Authorization: Bearer <token>``, where the
token is one of

- the admin token (`Settings.receiver_admin_token()`: ``receiver_token``, else the
  local stack's generated one): identity ``admin``, role admin;
- Alertmanager's webhook credential (`Settings.receiver_webhook_credential()`):
  identity ``alertmanager``, role webhook, which may only post to the webhook;
- a user's API token (users.py): the user's name and role.

A request from a trusted authenticating proxy (``receiver.trusted_proxies``) without a
bearer token may instead name an active user in ``X-Auth-Request-User`` or
``X-Forwarded-User``. Missing or invalid credentials get 401 with a challenge; a role
that may not use the endpoint gets 403. Both are logged with the identity, never the
token.

| endpoint | roles |
|---|---|
| ``POST /webhook/alertmanager`` | admin, webhook |
| ``GET /api/...``, ``/openapi.json`` | viewer, responder, admin |
| ``POST /api/alerts/<id>/ack``, ``POST /api/silences/<id>/expire`` | responder, admin |
| anything else | admin |

The console (``/console/``) signs people in with a session cookie instead of a bearer
token (console/session.py), and checks the same table: its pages are listed here too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Final, Literal

from flask import Flask, current_app, g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from riskwatch.receiver.db import get_db
from riskwatch.receiver.users import TokenVerifier, active_user, token_id_of
from riskwatch.settings import ConfigError, Settings

log = logging.getLogger(__name__)

IdentityRole = Literal["viewer", "responder", "admin", "webhook"]

OPEN_ENDPOINTS: Final = frozenset({"ops.healthz", "ops.metrics"})
ADMIN_NAME: Final = "admin"
WEBHOOK_NAME: Final = "alertmanager"
ANONYMOUS_NAME: Final = "anonymous"
PROXY_USER_HEADERS: Final = ("X-Auth-Request-User", "X-Forwarded-User")

_READERS: Final[frozenset[IdentityRole]] = frozenset({"viewer", "responder", "admin"})
_RESPONDERS: Final[frozenset[IdentityRole]] = frozenset({"responder", "admin"})
ALLOWED_ROLES: Final[dict[str, frozenset[IdentityRole]]] = {
    "webhook.alertmanager": frozenset({"admin", "webhook"}),
    "api.alerts_index": _READERS,
    "api.alert_detail": _READERS,
    "api.alert_ack": _RESPONDERS,
    "api.silence_expire": _RESPONDERS,
    "api.export_csv": _READERS,
    "api.actions_index": _READERS,
    "ops.openapi": _READERS,
    "console.logout": _READERS,
    "console.index": _READERS,
    "console.detail": _READERS,
    "console.ack": _RESPONDERS,
    "console.expire": _RESPONDERS,
    "console.export_csv": _READERS,
    "console.go": _READERS,
}
CONSOLE_BLUEPRINT: Final = "console"
_ADMIN_ONLY: Final[frozenset[IdentityRole]] = frozenset({"admin"})
_CHALLENGE: Final = WWWAuthenticate("bearer", {"realm": "riskwatch-receiver"})
_EXTENSION: Final = "riskwatch.receiver.auth"


@dataclass(frozen=True)
class Identity:
    """The authenticated caller: the name the audit trail records, and its role."""

    name: str
    role: IdentityRole


class Authenticator:
    """The credentials one app accepts."""

    def __init__(self, settings: Settings) -> None:
        self.admin = _configured(settings.receiver_admin_token(), "receiver_token")
        self.webhook = _configured(settings.receiver_webhook_credential(), "receiver_webhook_token")
        if self.admin is not None and self.admin == self.webhook:
            raise ConfigError(
                "receiver_webhook_token must differ from receiver_token: Alertmanager's "
                "credential may only post to the webhook"
            )
        self.open = self.admin is None and self.webhook is None
        if self.open and not settings.receiver.insecure_no_auth:
            raise ConfigError(
                "the receiver has no credential: set receiver_token [RISKWATCH_RECEIVER_TOKEN] "
                "(`riskwatch stack up` generates one), or pass --insecure-no-auth to serve "
                "open on a loopback address"
            )
        try:
            self.proxies = [
                ipaddress.ip_network(cidr, strict=False)
                for cidr in settings.receiver.trusted_proxies
            ]
        except ValueError as exc:
            raise ConfigError(f"receiver.trusted_proxies: {exc}") from None
        self.tokens = TokenVerifier(settings.receiver.token_cache_seconds)

    def identify(self) -> Identity | None:
        """The current request's identity, None if its credentials are missing or wrong."""
        if self.open:
            return Identity(ANONYMOUS_NAME, "admin")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        token = given.strip()
        if scheme.lower() == "bearer" and token:
            return self.by_token(token)
        if scheme:
            return None
        return self.by_proxy()

    def by_token(self, token: str) -> Identity | None:
        """The identity `token` authenticates (admin, webhook or a user), else None."""
        given = token.encode("utf-8")
        # compare_digest on bytes: constant time, and str input would have to be ASCII.
        # Both are compared, so the time taken does not say which one was close.
        is_admin = self.admin is not None and hmac.compare_digest(given, self.admin)
        is_webhook = self.webhook is not None and hmac.compare_digest(given, self.webhook)
        if is_admin:
            return Identity(ADMIN_NAME, "admin")
        if is_webhook:
            return Identity(WEBHOOK_NAME, "webhook")
        if token_id_of(token) is None:
            return None  # not a user token: no need to ask the database
        owner = self.tokens.verify(get_db(), token)
        return None if owner is None else Identity(owner.name, owner.role)

    def admin_fingerprint(self) -> str | None:
        """A digest of the admin token, to tie a console login made with it to it: the
        login ends when the token is changed. None when there is no admin token."""
        if self.admin is None:
            return None
        return hashlib.sha256(b"riskwatch-console\x00" + self.admin).hexdigest()[:32]

    def by_proxy(self) -> Identity | None:
        """The active user a trusted proxy names in its identity header, else None."""
        if not self.proxies or request.remote_addr is None:
            return None
        try:
            remote = ipaddress.ip_address(request.remote_addr)
        except ValueError:
            return None
        if not any(remote in network for network in self.proxies):
            return None
        name = next((request.headers[h] for h in PROXY_USER_HEADERS if h in request.headers), None)
        if not name:
            return None
        found = active_user(get_db(), name.strip())
        return None if found is None else Identity(*found)


def _configured(value: str | None, setting: str) -> bytes | None:
    if value is None:
        return None
    if not value.strip():
        # An empty token would let "Authorization: Bearer " through.
        raise ConfigError(f"{setting} is set but empty [RISKWATCH_{setting.upper()}]")
    return value.encode("utf-8")


def init_app(app: Flask, settings: Settings) -> None:
    """Authenticate and authorize every request to `app` but the open endpoints.

    Raises ConfigError when no credential is configured and the settings do not ask
    for an open receiver (`receiver.insecure_no_auth`).
    """
    authenticator = Authenticator(settings)
    app.extensions[_EXTENSION] = authenticator
    if authenticator.open:
        log.warning("receiver has no credential configured: every request is allowed")

    @app.before_request
    def authorize() -> None:
        if request.endpoint in OPEN_ENDPOINTS or request.blueprint == CONSOLE_BLUEPRINT:
            return  # the console checks its session and these roles itself
        identity = authenticator.identify()
        if identity is None:
            log.warning(
                "unauthorized request path=%s remote=%s credentials=%s",
                request.path,
                request.remote_addr,
                "wrong" if request.headers.get("Authorization") else "missing",
            )
            raise Unauthorized("missing or invalid bearer token", www_authenticate=_CHALLENGE)
        g.identity = identity
        if request.endpoint is None:
            return  # no such route: 404 or 405, which reveal nothing
        allowed = ALLOWED_ROLES.get(request.endpoint, _ADMIN_ONLY)
        if identity.role not in allowed:
            log.warning(
                "forbidden request path=%s remote=%s identity=%s role=%s",
                request.path,
                request.remote_addr,
                identity.name,
                identity.role,
            )
            raise Forbidden(f"role {identity.role} may not {request.method} {request.path}")


def current_identity() -> Identity:
    """The identity `init_app` authenticated for the current request."""
    identity = g.get("identity")
    if not isinstance(identity, Identity):
        raise RuntimeError("no authenticated identity for this request")
    return identity


def authenticator_of(app: Flask | None = None) -> Authenticator:
    """The Authenticator `init_app` attached to `app` (default: the current app)."""
    found = (app or current_app).extensions[_EXTENSION]
    assert isinstance(found, Authenticator)
    return found
