"""The audit console: server-rendered pages over the trail, served by the receiver
under ``/console/``. No build step and no script: forms, links, and a meta refresh on
the list; the stylesheet is ours, served from this package.

Pages and what they need (roles as for the JSON API, auth.ALLOWED_ROLES):

- ``/console/login`` (GET, POST), ``/console/logout`` (POST);
- ``/console/`` the alert list, filtered and paged by cursor; reloads itself;
- ``/console/alerts/<id>`` the alert and its timeline; ``.../ack`` the ack dialog;
- ``/console/silences/<id>/expire`` (POST); ``/console/export.csv`` a period as CSV;
- ``/console/go?fingerprint=&starts_at=`` where notifications link: the alert's page.

The console does nothing the API does not: it calls the same actions (actions.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.exceptions import (
    BadGateway,
    BadRequest,
    Forbidden,
    HTTPException,
    NotFound,
    TooManyRequests,
)

from riskwatch.receiver import actions, api, audit
from riskwatch.receiver.auth import (
    ADMIN_NAME,
    ALLOWED_ROLES,
    ANONYMOUS_NAME,
    Authenticator,
    Identity,
    authenticator_of,
)
from riskwatch.receiver.console.session import (
    CSRF_FIELD,
    LoginLimiter,
    check_csrf,
    csrf_token,
    log_in,
    log_out,
    secure_headers,
    session_admin_key,
    session_user,
)
from riskwatch.receiver.db import get_db
from riskwatch.receiver.models import NOTE_MAX_LENGTH, AckRequest, describe
from riskwatch.receiver.query import FILTERS, parse_filter, parse_instant
from riskwatch.receiver.store import find_alert_id
from riskwatch.receiver.users import active_user, check_password
from riskwatch.settings import ReceiverSettings

log = logging.getLogger(__name__)

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

OPEN_PAGES: Final = frozenset({"console.login", "console.static"})
_LIMITER: Final = "RISKWATCH_CONSOLE_LIMITER"
_MAX_NAME: Final = 128


def _settings() -> ReceiverSettings:
    settings: ReceiverSettings = current_app.config[actions.RECEIVER_SETTINGS]
    return settings


def init_app(app: Any, settings: ReceiverSettings) -> None:
    """Register the console on `app`, with its login limiter."""
    app.config[_LIMITER] = LoginLimiter(settings.login_attempts, settings.login_window_seconds)
    app.register_blueprint(bp)


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    """Pages need a logged-in active user with a role allowed there; POSTs need the
    session's CSRF token."""
    if request.method == "POST":
        check_csrf(request.form.get(CSRF_FIELD))
    if request.endpoint in OPEN_PAGES:
        return None
    authenticator = authenticator_of()
    identity = (
        Identity(ANONYMOUS_NAME, "admin")  # --insecure-no-auth: the API is open too
        if authenticator.open
        else _session_identity(authenticator) or authenticator.by_proxy()
    )
    if identity is None:
        log_out()
        target = request.full_path if request.method == "GET" else url_for("console.index")
        return redirect(url_for("console.login", next=target))
    g.identity = identity
    allowed = ALLOWED_ROLES.get(request.endpoint or "", frozenset({"admin"}))
    if g.identity.role not in allowed:
        log.warning("console: forbidden path=%s user=%s", request.path, g.identity.name)
        raise Forbidden(f"role {g.identity.role} may not {request.method} {request.path}")
    return None


def _session_identity(authenticator: Authenticator) -> Identity | None:
    """Who the session cookie was logged in as, if they still may: an active user (the
    role as it is now), or the admin while the admin token is the one logged in with."""
    name = session_user()
    if name is None:
        return None
    if name == ADMIN_NAME:
        key = authenticator.admin_fingerprint()
        same = key is not None and key == session_admin_key()
        return Identity(ADMIN_NAME, "admin") if same else None
    found = active_user(get_db(), name)
    return None if found is None else Identity(*found)


@bp.after_request
def _headers(response: Response) -> Response:
    return secure_headers(response)


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "csrf_field": CSRF_FIELD, "me": g.get("identity")}


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; on success, back to where the user was going."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    name = request.form.get("name", "").strip()[:_MAX_NAME].replace("\x00", "")
    password = request.form.get("password", "")
    limiter: LoginLimiter = current_app.config[_LIMITER]
    keys = (f"addr:{request.remote_addr}", f"user:{name}")
    wait = limiter.retry_after(*keys)
    if wait > 0:
        log.warning("console: login rate-limited user=%r remote=%s", name, request.remote_addr)
        raise TooManyRequests(
            f"too many failed logins; try again in {int(wait) + 1} s",
            retry_after=int(wait) + 1,
        )
    conn = get_db()
    found = _check_login(name, password) if name and password else None
    with conn.transaction():
        audit.record(
            conn, name or "-", "login" if found else "login_failed", remote_addr=request.remote_addr
        )
    if found is None:
        limiter.failed(*keys)
        log.warning("console: failed login user=%r remote=%s", name, request.remote_addr)
        return render_template("login.html", next=target, error="wrong name or password"), 401
    limiter.succeeded(*keys)
    admin_key = authenticator_of().admin_fingerprint() if found.name == ADMIN_NAME else None
    log_in(found.name, admin_key)
    log.info("console: login user=%s remote=%s", found.name, request.remote_addr)
    return redirect(target)


def _check_login(name: str, secret: str) -> Identity | None:
    """`name`'s identity if `secret` is their console password, or one of their API
    tokens (the admin's: the admin token), else None."""
    found = check_password(get_db(), name, secret)
    if found is not None:
        return Identity(*found)
    by_token = authenticator_of().by_token(secret)
    if by_token is None or by_token.name != name or by_token.role == "webhook":
        return None
    return by_token


def _safe_next(value: str | None) -> str:
    """Where to go after login: a console path only, never another site."""
    default = url_for("console.index")
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/"):
        return default
    if parts.path.startswith(url_for("console.login")):
        return default
    return value


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session; recorded."""
    identity: Identity = g.identity
    conn = get_db()
    with conn.transaction():
        audit.record(conn, identity.name, "logout", remote_addr=request.remote_addr)
    log_out()
    return redirect(url_for("console.login"))


@bp.get("/")
def index() -> str:
    """The alert list: filters, a page, the link to the next one."""
    settings = _settings()
    args = request.args.copy()
    args.setdefault("limit", str(min(settings.default_page_size, settings.max_page_size)))
    where, limit = parse_filter(args, settings, lenient=True)
    page, cursor = api.alert_page(where, limit)
    filters = {name: request.args.get(name, "").strip() for name in FILTERS}
    kept = {k: v for k, v in filters.items() if v}
    next_url = None
    if cursor is not None:
        next_url = url_for("console.index") + "?" + urlencode({**kept, "before": cursor})
    return render_template(
        "list.html",
        alerts=[api.alert_json(row) for row in page],
        filters=filters,
        next_url=next_url,
        paged="before" in request.args,
        first_url=url_for("console.index") + ("?" + urlencode(kept) if kept else ""),
        refresh_seconds=settings.console_refresh_seconds,
        export_since=_default_export_since(),
    )


def _default_export_since() -> str:
    return (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


@bp.get("/alerts/<int:alert_id>")
def detail(alert_id: int) -> str:
    """One alert: labels, annotations, links and its timeline."""
    return _render_detail(alert_id, dialog=False)


@bp.route("/alerts/<int:alert_id>/ack", methods=["GET", "POST"])
def ack(alert_id: int) -> ResponseReturnValue:
    """The ack dialog (GET) and the ack itself (POST): a note and, optionally, a
    silence of N hours in Alertmanager."""
    if request.method == "GET":
        return _render_detail(alert_id, dialog=True)
    note = request.form.get("note", "").strip()
    hours_text = request.form.get("silence_hours", "").strip()
    try:
        # The API's own request model: the same bounds on the note and the hours.
        body = _ack_request(note, _silence_hours(hours_text))
        actions.ack_alert(alert_id, g.identity, body.note, body.silence_hours)
    except (BadRequest, BadGateway) as exc:
        # The dialog again, with what was typed and why it did not work.
        page = _render_detail(alert_id, dialog=True, error=exc.description, note=note)
        return page, exc.code or 400
    return redirect(url_for("console.detail", alert_id=alert_id))


def _silence_hours(text: str) -> float | None:
    """The form's hours as a number; empty or 0 means no silence."""
    if not text or text == "0":
        return None
    try:
        return float(text)
    except ValueError:
        raise BadRequest(f"silence hours must be a number (got {text!r})") from None


def _ack_request(note: str, hours: float | None) -> AckRequest:
    try:
        return AckRequest.model_validate({"note": note, "silence_hours": hours})
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None


@bp.post("/silences/<silence_id>/expire")
def expire(silence_id: str) -> ResponseReturnValue:
    """Expire a silence an ack created; back to its alert."""
    row = actions.expire(silence_id, g.identity)
    return redirect(url_for("console.detail", alert_id=row["alert_id"]))


@bp.get("/export.csv")
def export_csv() -> Response:
    """The trail of a period as CSV (the list page's export form; times in UTC)."""
    since, until = api.export_period(request.args)
    return api.csv_response(since, until)


@bp.get("/go")
def go() -> ResponseReturnValue:
    """Where a notification's link leads: the page of the alert it was about."""
    fingerprint = request.args.get("fingerprint", "")
    if not fingerprint or "\x00" in fingerprint or len(fingerprint) > _MAX_NAME:
        raise BadRequest("the link names no alert fingerprint")
    starts = request.args.get("starts_at")
    starts_at = parse_instant("starts_at", starts) if starts else None
    alert_id = find_alert_id(get_db(), fingerprint, starts_at)
    if alert_id is None:
        raise NotFound(
            f"the trail has no alert {fingerprint} yet: the receiver may not have stored "
            "it; look again in a minute"
        )
    return redirect(url_for("console.detail", alert_id=alert_id))


def _render_detail(alert_id: int, *, dialog: bool, error: str | None = None, note: str = "") -> str:
    alert = api.alert_with_history(alert_id)
    return render_template(
        "detail.html",
        alert=alert,
        timeline=_timeline(alert),
        dialog=dialog,
        error=error,
        note=note,
        can_ack=g.identity.role in ALLOWED_ROLES["console.ack"],
        max_silence_hours=_settings().max_silence_hours,
        note_max_length=NOTE_MAX_LENGTH,
    )


def _timeline(alert: dict[str, Any]) -> list[dict[str, Any]]:
    """Events, acks, silences and expiries of one alert, in time order."""
    entries: list[dict[str, Any]] = [
        {"at": e["received_at"], "kind": e["status"], "who": "Alertmanager", "text": e["receiver"]}
        for e in alert["events"]
    ]
    entries += [
        {
            "at": a["at"],
            "kind": "ack",
            "who": a["who"],
            "text": a["why"],
            "silence": a["silence_id"],
        }
        for a in alert["acks"]
    ]
    for s in alert["silences"]:
        entries.append(
            {
                "at": s["created_at"],
                "kind": "silenced",
                "who": s["created_by"],
                "text": f"until {s['ends_at']}",
                "silence": s["silence_id"],
            }
        )
        if s["expired_at"]:
            entries.append(
                {
                    "at": s["expired_at"],
                    "kind": "silence expired",
                    "who": s["expired_by"],
                    "text": "",
                    "silence": s["silence_id"],
                }
            )
    return sorted(entries, key=lambda entry: entry["at"])


def render_error(exc: HTTPException) -> str:
    """The console page of an HTTP error, e.g. 403 or 404. The app's error handler
    answers it with the error's status and headers (Retry-After of a 429), and the
    console's after-request hook adds the security headers, as to any console page."""
    return render_template(
        "error.html", code=exc.code or 500, name=exc.name, message=exc.description
    )
