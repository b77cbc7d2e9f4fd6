"""The exporters' web server: the Prometheus exporter conventions.

`--web.listen-address`, `--web.telemetry-path` and `--web.config.file`, where the web
config is the exporter toolkit's YAML (the file the Pushgateway and node_exporter read)::

    tls_server_config:
      cert_file: exporter.crt        # relative paths are from the config's folder
      key_file: exporter.key
      client_ca_file: clients.crt    # optional: verify client certificates
      client_auth_type: RequireAndVerifyClientCert  # or VerifyClientCertIfGiven, NoClientCert
      min_version: TLS12             # TLS10 .. TLS13; max_version likewise
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hashes only

The server is the standard library's threading WSGI server (prometheus_client's
`ThreadingWSGIServer`) with an `ssl.SSLContext` when TLS is configured. waitress, which
serves the receiver, has no TLS at all; this server does, with the interpreter's own
OpenSSL, and the TLS handshake runs in the connection's worker thread under a timeout,
so a client that connects and says nothing holds one thread, never the accept loop.
Every path (landing page, telemetry, /healthz) is behind basic auth when users are
configured, as in the exporter toolkit.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import logging
import re
import socket
import ssl
import threading
from base64 import b64decode
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import BaseServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import bcrypt
import yaml
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger("riskwatch.exporters")

DEFAULT_TELEMETRY_PATH = "/metrics"
HEALTH_PATH = "/healthz"
REALM = "riskwatch"
HANDSHAKE_TIMEOUT_SECONDS = 10.0
REQUEST_TIMEOUT_SECONDS = 30.0

TLS_KEYS = frozenset(
    {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"}
)
TOP_KEYS = frozenset({"tls_server_config", "basic_auth_users"})
# Exporter-toolkit settings this server cannot honour: refused by name, never ignored.
UNSUPPORTED = frozenset(
    {
        "http_server_config",
        "rate_limit",
        "cert",
        "key",
        "client_ca",
        "cipher_suites",
        "curve_preferences",
        "prefer_server_cipher_suites",
        "client_allowed_sans",
    }
)
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# RequestClientCert and RequireAnyClientCert accept a certificate without verifying
# it; OpenSSL as Python exposes it can only verify, so those are refused.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")


class WebConfigError(ValueError):
    """A web config file that cannot be used; the message is one line for the operator."""


@dataclass(frozen=True)
class WebConfig:
    """What a web config file asks for: TLS (a ready context) and basic-auth users."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, str] = field(default_factory=dict)


def load_web_config(path: Path) -> WebConfig:
    """Read and check an exporter-toolkit web config; WebConfigError says what is wrong."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise WebConfigError(f"cannot read web config {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise WebConfigError(f"web config {path} is not valid YAML{where}") from exc
    if data is None:
        return WebConfig()
    if not isinstance(data, dict):
        raise WebConfigError(f"web config {path} must be a mapping")
    _check_keys(path, data, TOP_KEYS, "")
    tls = data.get("tls_server_config")
    users = data.get("basic_auth_users")
    return WebConfig(
        tls=None if tls is None else _tls_context(path, tls),
        users={} if users is None else _users(path, users),
    )


def _check_keys(path: Path, data: Mapping[Any, Any], known: frozenset[str], prefix: str) -> None:
    for key in data:
        name = f"{prefix}{key}"
        if key in UNSUPPORTED:
            raise WebConfigError(
                f"web config {path}: {name} is not supported by riskwatch's exporters"
            )
        if key not in known:
            raise WebConfigError(f"web config {path}: unknown key {name}")


def _tls_context(path: Path, tls: object) -> ssl.SSLContext:
    if not isinstance(tls, dict):
        raise WebConfigError(f"web config {path}: tls_server_config must be a mapping")
    _check_keys(path, tls, TLS_KEYS, "tls_server_config.")
    for key, value in tls.items():
        if not isinstance(value, str) or not value:
            raise WebConfigError(f"web config {path}: tls_server_config.{key} must be a string")
    folder = path.parent

    def file(key: str) -> Path | None:
        value = tls.get(key)
        return None if value is None else folder / Path(value).expanduser()

    cert, key, ca = file("cert_file"), file("key_file"), file("client_ca_file")
    if cert is None or key is None:
        raise WebConfigError(
            f"web config {path}: tls_server_config needs both cert_file and key_file"
        )
    auth_type = tls.get("client_auth_type") or (
        "RequireAndVerifyClientCert" if ca is not None else "NoClientCert"
    )
    if auth_type not in CLIENT_AUTH:
        choices = ", ".join(CLIENT_AUTH)
        raise WebConfigError(
            f"web config {path}: tls_server_config.client_auth_type {auth_type} is not "
            f"supported (one of {choices})"
        )
    verify = CLIENT_AUTH[auth_type]
    if verify != ssl.CERT_NONE and ca is None:
        raise WebConfigError(
            f"web config {path}: client_auth_type {auth_type} needs "
            "tls_server_config.client_ca_file"
        )
    if verify == ssl.CERT_NONE and ca is not None:
        raise WebConfigError(
            f"web config {path}: client_ca_file is set but client_auth_type is NoClientCert"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _version(path, tls, "min_version", ssl.TLSVersion.TLSv1_2)
    context.maximum_version = _version(path, tls, "max_version", ssl.TLSVersion.MAXIMUM_SUPPORTED)
    try:
        context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise WebConfigError(
            f"web config {path}: cannot load the certificate {cert} and key {key}: {reason}"
        ) from exc
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise WebConfigError(
                f"web config {path}: cannot load client_ca_file {ca}: {reason}"
            ) from exc
    context.verify_mode = verify
    return context


def _version(
    path: Path, tls: Mapping[str, str], key: str, default: ssl.TLSVersion
) -> ssl.TLSVersion:
    value = tls.get(key)
    if value is None:
        return default
    if value not in TLS_VERSIONS:
        raise WebConfigError(
            f"web config {path}: tls_server_config.{key} {value} is not one of "
            + ", ".join(TLS_VERSIONS)
        )
    return TLS_VERSIONS[value]


def _users(path: Path, users: object) -> dict[str, str]:
    if not isinstance(users, dict):
        raise WebConfigError(f"web config {path}: basic_auth_users must map names to hashes")
    checked: dict[str, str] = {}
    for name, hashed in users.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise WebConfigError(
                f"web config {path}: basic_auth_users has a bad user name {name!r}"
            )
        if not isinstance(hashed, str) or not BCRYPT_HASH.match(hashed):
            raise WebConfigError(f"web config {path}: basic_auth_users.{name} is not a bcrypt hash")
        checked[name] = hashed
    return checked


class BasicAuth:
    """Checks `Authorization: Basic` against bcrypt hashes, remembering verified pairs.

    bcrypt costs a quarter of a second on purpose; Prometheus sends the same pair on
    every scrape, so a pair once verified is remembered (as a keyed digest, not the
    password) and later scrapes cost a hash lookup. A user that does not exist is
    checked against a dummy hash, so the answer takes as long as for a wrong password.
    """

    def __init__(self, users: Mapping[str, str], cache_size: int = 64) -> None:
        self.users = dict(users)
        self.cache_size = cache_size
        self._key = bcrypt.gensalt()  # per-process key for the cache's digests
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        # As costly as the users' own hashes (`$2b$12$...`), so a name that does not
        # exist is refused as slowly as a wrong password.
        cost = max((int(h[4:6]) for h in self.users.values()), default=12)
        self._dummy = bcrypt.hashpw(b"riskwatch-no-such-user", bcrypt.gensalt(cost))

    def allows(self, header: str | None) -> bool:
        credentials = _basic_credentials(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        digest = hmac.new(
            self._key,
            b"\0".join((user.encode(), (hashed or "").encode(), password.encode())),
            hashlib.sha256,
        ).digest()
        with self._lock:
            if digest in self._verified:
                self._verified.move_to_end(digest)
                return True
        if hashed is None:
            bcrypt.checkpw(password.encode(), self._dummy)
            return False
        if not bcrypt.checkpw(password.encode(), hashed.encode()):
            return False
        with self._lock:
            self._verified[digest] = None
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return True


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


LANDING = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>{title}</h1>
<p>{description}</p>
<p>Version: {version}</p>
<ul>
<li><a href="{metrics}">Metrics</a></li>
<li><a href="{health}">Health</a></li>
</ul>
</body>
</html>
"""


def landing_page(name: str, version: str, telemetry_path: str, description: str) -> bytes:
    """node_exporter's kind of landing page: the exporter, its version, its links."""
    return LANDING.format(
        title=html.escape(f"riskwatch {name} exporter"),
        description=html.escape(description),
        version=html.escape(version),
        metrics=html.escape(telemetry_path.lstrip("/") or "."),
        health=html.escape(HEALTH_PATH.lstrip("/")),
    ).encode()


def exporter_app(
    registry: CollectorRegistry,
    *,
    name: str,
    version: str,
    telemetry_path: str = DEFAULT_TELEMETRY_PATH,
    auth: BasicAuth | None = None,
    description: str = "",
) -> WSGIApplication:
    """The telemetry path through prometheus_client, a landing page at /, and /healthz
    (the process is up, whatever the source says); every path behind `auth` if given."""
    metrics = make_wsgi_app(registry)
    page = landing_page(name, version, telemetry_path, description or f"{name} exporter")

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if auth is not None and not auth.allows(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("WWW-Authenticate", f'Basic realm="{REALM}"'),
                ],
            )
            return [b"Unauthorized\n"]
        path = environ.get("PATH_INFO", "") or "/"
        if path == telemetry_path:
            body: Iterable[bytes] = metrics(environ, start_response)
            return body
        if path == HEALTH_PATH:
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found: metrics are at {telemetry_path}\n".encode()]

    return app


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the debug log, not to stderr; no interpreter version told."""

    server_version = "riskwatch-exporter"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class ExporterServer(ThreadingWSGIServer):
    """A thread per connection, TLS (when given) negotiated in that thread."""

    def __init__(
        self, address: tuple[str, int], family: socket.AddressFamily, tls: ssl.SSLContext | None
    ) -> None:
        self.address_family = family
        self.tls = tls
        super().__init__(address, _QuietHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        conn: socket.socket = request
        conn.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                with contextlib.suppress(OSError):
                    request.close()
                return
        conn.settimeout(REQUEST_TIMEOUT_SECONDS)
        super().process_request_thread(conn, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error serving %s", client_address, exc_info=True)


def make_server(
    host: str, port: int, app: WSGIApplication, tls: ssl.SSLContext | None = None
) -> ExporterServer:
    """Bind `app` on host:port (IPv4 or IPv6, brackets allowed), with `tls` if given."""
    host = host.strip("[]")
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    server = ExporterServer((host, port), info[0][0], tls)
    server.set_app(app)
    if tls is not None:
        server.base_environ["HTTPS"] = "on"
    return server


def serve_forever(server: BaseServer) -> None:
    """Serve until interrupted."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
