"""Secret files: written owner-only from the first byte, and the ones the stack generates.

A file created and chmod-ed afterwards is readable by anyone for the moment between
the two: `write_secret` creates it with mode 0600 at open (O_CREAT with the mode, the
umask only ever removing bits), and narrows an existing file before writing into it.

`riskwatch stack up` (and `riskwatch stack secrets`, for compose) generate what no
operator should have to invent, so that nothing runs open by default: the receiver's
admin token (``receiver_token``), Alertmanager's webhook-only credential
(``receiver_webhook_token``) and the key that signs the console's session cookies
(``receiver_session_key``) when none is configured, and the agents' Pushgateway
password, kept three ways because three programs read it differently:

- ``pushgateway_auth``: ``user:password``, for the agents and for other tools;
- ``pushgateway_password``: the password alone, Prometheus' ``password_file``;
- ``pushgateway_web.yml``: the Pushgateway's web config (exporter-toolkit), holding only
  a bcrypt hash, and a TLS certificate when the deployment gives one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import yaml
from pydantic import SecretStr

from riskwatch.settings import (
    PUSHGATEWAY_AUTH_FILE,
    RECEIVER_SESSION_KEY_FILE,
    RECEIVER_TOKEN_FILE,
    RECEIVER_WEBHOOK_TOKEN_FILE,
    Settings,
)
from riskwatch.stack.errors import StackError

# A file name, not a password.
PUSHGATEWAY_PASSWORD_FILE = "pushgateway_password"  # nosec B105
PUSHGATEWAY_WEB_CONFIG = "pushgateway_web.yml"
BCRYPT_COST = 12
"""bcrypt's work factor for the web config hash; exporter-toolkit caches a verified
password, so the cost is paid once per credential, not once per push."""


def secure_dir(path: Path) -> Path:
    """`path` as an owner-only (0700) folder, created if missing."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_secret(path: Path, value: str, mode: int = 0o600) -> Path:
    """Write `value` to `path`, readable by its owner only from the moment it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    return path


@dataclass(frozen=True)
class PushgatewayAuth:
    """Where the Pushgateway's generated credentials are."""

    username: str
    auth_file: Path
    password_file: Path
    web_config: Path


def ensure_pushgateway_auth(settings: Settings, folder: Path | None = None) -> PushgatewayAuth:
    """The agents' Pushgateway credentials in `folder` (default: the state's secrets).

    Configured credentials (`pushgateway_auth` or its file) are used as given; else an
    existing auth file is kept, so a restart does not lock out running agents; else a
    new password is generated. The web config is rewritten each time from the
    credentials, so the hash always matches the password.
    """
    folder = secure_dir(folder or settings.secrets_dir)
    auth_file = folder / PUSHGATEWAY_AUTH_FILE
    configured = settings.pushgateway_auth
    if configured is not None:
        credentials = configured.get_secret_value()
    elif auth_file.is_file():
        credentials = auth_file.read_text().strip()
    else:
        credentials = f"{settings.stack.pushgateway_username}:{secrets.token_urlsafe(32)}"
    username, sep, password = credentials.partition(":")
    if not sep or not username or not password:
        raise StackError(f"the Pushgateway credentials ({auth_file}) must read user:password")
    write_secret(auth_file, credentials)
    password_file = write_secret(folder / PUSHGATEWAY_PASSWORD_FILE, password)
    web = _web_config(settings, username, password, _existing_hash(folder, username, password))
    web_config = write_secret(folder / PUSHGATEWAY_WEB_CONFIG, web)
    return PushgatewayAuth(username, auth_file, password_file, web_config)


def _existing_hash(folder: Path, username: str, password: str) -> str | None:
    """The hash already in the web config when it still matches: bcrypt is slow on
    purpose, and an unchanged file keeps `stack up` idempotent."""
    with contextlib.suppress(OSError, yaml.YAMLError, LookupError, TypeError, ValueError):
        data = yaml.safe_load((folder / PUSHGATEWAY_WEB_CONFIG).read_text())
        hashed = str(data["basic_auth_users"][username])
        if bcrypt.checkpw(password.encode(), hashed.encode()):
            return hashed
    return None


def _web_config(settings: Settings, username: str, password: str, hashed: str | None) -> str:
    if hashed is None:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    config: dict[str, object] = {"basic_auth_users": {username: hashed}}
    st = settings.stack
    if st.pushgateway_tls_cert_file is not None and st.pushgateway_tls_key_file is not None:
        config["tls_server_config"] = {
            "cert_file": str(st.pushgateway_tls_cert_file.resolve()),
            "key_file": str(st.pushgateway_tls_key_file.resolve()),
        }
    header = "# Generated by riskwatch (stack/secrets.py): the agents' Pushgateway login.\n"
    return header + yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True)
class ReceiverTokens:
    """Where the receiver's tokens are: the admin's, and Alertmanager's webhook-only one."""

    admin_file: Path
    webhook_file: Path
    session_key_file: Path


def ensure_receiver_tokens(settings: Settings, folder: Path | None = None) -> ReceiverTokens:
    """The receiver's admin token, Alertmanager's credential and the console's cookie
    key in `folder` (default: the
    state's secrets): configured values as given, else the existing files (a restart
    keeps them), else new random tokens."""
    folder = secure_dir(folder or settings.secrets_dir)
    return ReceiverTokens(
        _token_file(folder / RECEIVER_TOKEN_FILE, settings.receiver_token),
        _token_file(folder / RECEIVER_WEBHOOK_TOKEN_FILE, settings.receiver_webhook_token),
        _token_file(folder / RECEIVER_SESSION_KEY_FILE, settings.receiver_session_key),
    )


def _token_file(path: Path, configured: SecretStr | None) -> Path:
    if configured is not None:
        return write_secret(path, configured.get_secret_value())
    if path.is_file() and path.read_text().strip():
        return path
    return write_secret(path, secrets.token_urlsafe(32))
