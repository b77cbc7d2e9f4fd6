"""The console's sessions: login, CSRF tokens, the login rate limit and the security
headers of every console page.

A login is a signed, HttpOnly, SameSite=Lax cookie (Flask's session, signed with
`receiver_session_key`) that expires after ``receiver.session_hours``; it holds the
user's name, not their role, which is read from the database on every request, so a
disabled user or a changed role takes effect at once. Every POST carries the session's
CSRF token in a hidden field; a POST without it is refused before anything runs.
Failed logins are limited per address and per user name (``receiver.login_attempts``
per ``receiver.login_window_seconds``), and each one is in the action log.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from typing import Final

from flask import Response, session
from werkzeug.exceptions import BadRequest

CSRF_FIELD: Final = "csrf_token"
_CSRF_KEY: Final = "csrf"
_USER_KEY: Final = "user"
_ADMIN_KEY: Final = "admin_key"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)


def csrf_token() -> str:
    """The session's CSRF token, made on first use (the login form has one too)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def check_csrf(given: str | None) -> None:
    """BadRequest unless `given` is the session's CSRF token."""
    expected = session.get(_CSRF_KEY)
    if not given or not isinstance(expected, str):
        raise BadRequest("the form's CSRF token is missing: reload the page and try again")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise BadRequest("the form's CSRF token is wrong: reload the page and try again")


def log_in(name: str, admin_key: str | None = None) -> None:
    """Start a fresh session for `name`: anything the browser held before is dropped,
    so a session planted before login (fixation) does not become a logged-in one.
    `admin_key`: for the admin token's login, the token's fingerprint it depends on."""
    session.clear()
    session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME (session_hours)
    session[_USER_KEY] = name
    session[_CSRF_KEY] = secrets.token_urlsafe(32)
    if admin_key is not None:
        session[_ADMIN_KEY] = admin_key


def session_admin_key() -> str | None:
    """The admin token fingerprint the session was logged in with, None if none."""
    key = session.get(_ADMIN_KEY)
    return key if isinstance(key, str) else None


def log_out() -> None:
    """End the session."""
    session.clear()


def session_user() -> str | None:
    """The name the session was logged in as, None if none."""
    name = session.get(_USER_KEY)
    return name if isinstance(name, str) else None


def secure_headers(response: Response) -> Response:
    """The headers every console response carries."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if "Cache-Control" not in response.headers:
        # Pages show the trail: never left in a shared cache or the back button's.
        response.headers["Cache-Control"] = "no-store"
    return response


class LoginLimiter:
    """Failed logins per key (an address, a user name) in a sliding window."""

    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> float:
        """Seconds until a login for `keys` may be tried again; 0 when it may now."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                failures = self._recent(key, now)
                if len(failures) >= self.attempts:
                    wait = max(wait, failures[0] + self.window - now)
                elif not failures:
                    self._failures.pop(key, None)  # keys are the attacker's choice: keep few
        return wait

    def failed(self, *keys: str) -> None:
        """Count one failed login against each of `keys`."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of `keys` (a user who finally typed it right)."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures
