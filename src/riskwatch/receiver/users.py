"""Named users of the receiver's API, their roles and their API tokens.

A token is ``rwt_<id>_<secret>``: `id` is public (16 hex digits, the row's key) and
`secret` comes from ``secrets.token_urlsafe(32)``. Only a bcrypt hash of the secret is
stored. bcrypt is slow on purpose (cost 12 is about 250 ms), so a request looks its
token up by id and verifies that one hash, and `TokenVerifier` remembers a successful
verification for a short while; the cheap indexed lookup that says whether the token
is revoked and its user active still runs on every request.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

import bcrypt
from psycopg.rows import dict_row

from riskwatch.migrations import apply_migrations, load_migrations
from riskwatch.receiver.db import MIGRATION_SCOPE, Connection

Role = Literal["viewer", "responder", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

TOKEN_PREFIX: Final = "rwt"
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_TOKEN = re.compile(r"rwt_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
# The names the receiver gives its configured credentials (auth.py) and its open mode:
# a user called so would be indistinguishable from them in the audit trail.
RESERVED_NAMES: Final = frozenset({"admin", "alertmanager", "anonymous"})

BCRYPT_ROUNDS = 12
"""bcrypt's cost for new tokens; the tests lower it."""


class UserError(Exception):
    """A user or token operation refused; one line naming why."""


@dataclass(frozen=True)
class User:
    """One user as `list_users` reports it."""

    name: str
    role: Role
    active: bool
    created_at: datetime
    tokens: int
    """Tokens not revoked."""


def migrate(conn: Connection) -> None:
    """Apply the receiver's pending migrations on `conn` (the users tables among them)."""
    apply_migrations(conn, MIGRATION_SCOPE, load_migrations("riskwatch.receiver"))


def check_name(name: str) -> str:
    """`name` if it may name a user, else UserError."""
    if not _NAME.fullmatch(name):
        raise UserError(
            f"user name {name!r} must be 1 to 64 characters: lowercase letters, digits, "
            "'.', '_', '@' and '-', starting with a letter or digit"
        )
    if name in RESERVED_NAMES:
        raise UserError(f"user name {name!r} is reserved for the receiver's own credentials")
    return name


def check_role(role: str) -> Role:
    """`role` if it is one, else UserError."""
    for known in ROLES:
        if role == known:
            return known
    raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


def add_user(conn: Connection, name: str, role: str) -> str:
    """Create user `name` with `role` and a first token; returns the token."""
    check_name(name)
    checked = check_role(role)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO users (name, role) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING "
            "RETURNING id",
            (name, checked),
        ).fetchone()
        if row is None:
            raise UserError(f"user {name!r} already exists")
        return _insert_token(conn, int(row[0]))


def add_token(conn: Connection, name: str) -> str:
    """A new token for the active user `name`."""
    with conn.transaction():
        row = conn.execute("SELECT id FROM users WHERE name = %s AND active", (name,)).fetchone()
        if row is None:
            raise UserError(f"no active user {name!r}")
        return _insert_token(conn, int(row[0]))


def _insert_token(conn: Connection, user_id: int) -> str:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    hashed = bcrypt.hashpw(secret.encode("ascii"), bcrypt.gensalt(BCRYPT_ROUNDS))
    conn.execute(
        "INSERT INTO user_tokens (id, user_id, secret_hash) VALUES (%s, %s, %s)",
        (token_id, user_id, hashed.decode("ascii")),
    )
    return f"{TOKEN_PREFIX}_{token_id}_{secret}"


def list_users(conn: Connection) -> list[User]:
    """Every user, by name, with how many tokens they hold that are not revoked."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT u.name, u.role, u.active, u.created_at, "
            "count(t.id) FILTER (WHERE t.revoked_at IS NULL) AS tokens "
            "FROM users u LEFT JOIN user_tokens t ON t.user_id = u.id "
            "GROUP BY u.id ORDER BY u.name"
        ).fetchall()
    return [
        User(r["name"], check_role(r["role"]), r["active"], r["created_at"], r["tokens"])
        for r in rows
    ]


@dataclass(frozen=True)
class Token:
    """One token of a user, as `list_tokens` reports it (never its secret)."""

    id: str
    created_at: datetime
    revoked_at: datetime | None


def list_tokens(conn: Connection, name: str) -> list[Token]:
    """Every token of user `name`, oldest first; UserError for an unknown user."""
    with conn.transaction():
        user = conn.execute("SELECT id FROM users WHERE name = %s", (name,)).fetchone()
        if user is None:
            raise UserError(f"no user {name!r}")
        rows = conn.execute(
            "SELECT id, created_at, revoked_at FROM user_tokens WHERE user_id = %s "
            "ORDER BY created_at, id",
            (user[0],),
        ).fetchall()
    return [Token(*row) for row in rows]


def revoke(conn: Connection, name: str, token_id: str | None = None) -> int:
    """Revoke every token of user `name`, or only `token_id`; returns how many were
    revoked now. UserError for an unknown user or a token that is not theirs."""
    with conn.transaction():
        user = conn.execute("SELECT id FROM users WHERE name = %s", (name,)).fetchone()
        if user is None:
            raise UserError(f"no user {name!r}")
        params: dict[str, Any] = {"user_id": user[0], "token_id": token_id}
        if token_id is not None:
            owned = conn.execute(
                "SELECT 1 FROM user_tokens WHERE id = %(token_id)s AND user_id = %(user_id)s",
                params,
            ).fetchone()
            if owned is None:
                raise UserError(f"user {name!r} has no token {token_id!r}")
        revoked = conn.execute(
            "UPDATE user_tokens SET revoked_at = now() "
            "WHERE user_id = %(user_id)s AND revoked_at IS NULL "
            "AND (%(token_id)s::text IS NULL OR id = %(token_id)s) RETURNING id",
            params,
        ).fetchall()
    return len(revoked)


def active_user(conn: Connection, name: str) -> tuple[str, Role] | None:
    """`(name, role)` of the active user `name`, else None."""
    row = conn.execute(
        "SELECT name, role FROM users WHERE name = %s AND active", (name,)
    ).fetchone()
    return None if row is None else (row[0], check_role(row[1]))


MIN_PASSWORD_LENGTH: Final = 12
# bcrypt reads at most 72 bytes; a longer password would be silently cut there.
MAX_PASSWORD_BYTES: Final = 72


def set_password(conn: Connection, name: str, password: str) -> None:
    """Set the console password of user `name` (bcrypt); UserError for an unknown user
    or a password shorter than MIN_PASSWORD_LENGTH or longer than bcrypt reads."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES or "\x00" in password:
        raise UserError(f"a password has at most {MAX_PASSWORD_BYTES} bytes and no NUL")
    hashed = bcrypt.hashpw(encoded, bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")
    row = conn.execute(
        "UPDATE users SET password_hash = %s WHERE name = %s RETURNING id", (hashed, name)
    ).fetchone()
    if row is None:
        raise UserError(f"no user {name!r}")


@functools.cache
def _unknown_user_hash() -> bytes:
    """A hash at the tokens' cost that no password is checked true against: compared
    when the user is unknown, so the time a failed login takes does not say whether
    the name exists. Made on first use: it costs as much as a login."""
    return bcrypt.hashpw(secrets.token_bytes(32), bcrypt.gensalt(BCRYPT_ROUNDS))


def check_password(conn: Connection, name: str, password: str) -> tuple[str, Role] | None:
    """`(name, role)` when `password` is the active user `name`'s, else None."""
    row = conn.execute(
        "SELECT name, role, password_hash FROM users WHERE name = %s AND active", (name,)
    ).fetchone()
    stored = row[2] if row is not None and row[2] else None
    encoded = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    matches = bcrypt.checkpw(encoded, stored.encode("ascii") if stored else _unknown_user_hash())
    if row is None or stored is None or not matches:
        return None
    return row[0], check_role(row[1])


def set_active(conn: Connection, name: str, active: bool) -> None:
    """Enable or disable user `name`: a disabled user's tokens are all refused, and the
    user stays, since the audit trail names them. UserError for an unknown user."""
    row = conn.execute(
        "UPDATE users SET active = %s WHERE name = %s RETURNING id", (active, name)
    ).fetchone()
    if row is None:
        raise UserError(f"no user {name!r}")


def token_id_of(token: str) -> str | None:
    """The public id of a well-formed user token, else None."""
    match = _TOKEN.fullmatch(token)
    return None if match is None else match["id"]


@dataclass(frozen=True)
class TokenOwner:
    """Who a verified user token belongs to."""

    name: str
    role: Role
    token_id: str


class TokenVerifier:
    """Verifies user tokens against the database, caching bcrypt's verdict.

    The cache is keyed by a SHA-256 of the whole token (never the token itself) and
    holds successful verifications for `ttl_seconds`; the lookup that finds the token
    not revoked and its user active is never cached.
    """

    def __init__(self, ttl_seconds: float = 300.0, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._verified: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def verify(self, conn: Connection, token: str) -> TokenOwner | None:
        """The owner of `token` if it is a valid, unrevoked token of an active user."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        token_id = match["id"]
        row = conn.execute(
            "SELECT t.secret_hash, u.name, u.role FROM user_tokens t "
            "JOIN users u ON u.id = t.user_id "
            "WHERE t.id = %s AND t.revoked_at IS NULL AND u.active",
            (token_id,),
        ).fetchone()
        if row is None:
            return None
        secret_hash, name, role = row
        key = hashlib.sha256(token.encode("ascii")).digest()
        now = time.monotonic()
        with self._lock:
            cached = self._verified.get(key)
        if cached is None or cached[0] != token_id or cached[1] < now:
            if not bcrypt.checkpw(match["secret"].encode("ascii"), secret_hash.encode("ascii")):
                return None
            with self._lock:
                if len(self._verified) >= self.max_entries:
                    self._verified.clear()
                self._verified[key] = (token_id, now + self.ttl_seconds)
        return TokenOwner(name, check_role(role), token_id)
