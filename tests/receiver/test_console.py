"""The console's pages, sessions and safeguards through Flask's test client on a real
PostgreSQL (the browser drives the same pages in test_console_browser.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from riskwatch.receiver import users
from riskwatch.receiver.console.session import CONTENT_SECURITY_POLICY
from riskwatch.receiver.models import NOTE_MAX_LENGTH

from .conftest import AppFactory, free_port
from .payloads import alert, payload
from .support import WEBHOOK, count_rows

TOKEN = "console-admin-token"  # throwaway test credentials
PASSWORD = "a long enough password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app_client(make_app: AppFactory) -> Iterator[FlaskClient]:
    # Nobody listens on the Alertmanager port: a silence must fail cleanly (502).
    app = make_app(
        token=TOKEN,
        alertmanager_url=f"http://127.0.0.1:{free_port()}",
        login_attempts=3,
        default_page_size=2,
    )
    yield app.test_client()


def _user(database_url: str, name: str, role: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        users.migrate(conn)
        users.add_user(conn, name, role)
        users.set_password(conn, name, PASSWORD)


def _csrf(client: FlaskClient, path: str = "/console/login") -> str:
    found = _CSRF.search(client.get(path).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def _login(client: FlaskClient, name: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/console/login",
        data={"name": name, "password": password, "csrf_token": _csrf(client)},
    )


def _store(client: FlaskClient, *alerts: dict[str, Any]) -> None:
    response = client.post(
        WEBHOOK, json=payload(*alerts), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def _api(client: FlaskClient, path: str) -> Any:
    response = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_pages_need_a_login_and_then_go_where_asked(
    app_client: FlaskClient, database_url: str
) -> None:
    _user(database_url, "rita", "responder")
    first = app_client.get("/console/?severity=critical")
    assert first.status_code == 302
    assert "/console/login?next=" in first.headers["Location"]

    done = app_client.post(
        "/console/login",
        data={
            "name": "rita",
            "password": PASSWORD,
            "csrf_token": _csrf(app_client),
            "next": "/console/?severity=critical",
        },
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/console/?severity=critical"
    cookie = done.headers["Set-Cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=Lax", "riskwatch_session="):
        assert flag in cookie
    page = app_client.get("/console/")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["Cache-Control"] == "no-store"
    assert "rita" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "target", ["https://evil.example/console/", "//evil.example/x", "/api/alerts", "javascript:1"]
)
def test_login_never_redirects_off_the_console(
    app_client: FlaskClient, database_url: str, target: str
) -> None:
    _user(database_url, "rita", "responder")
    done = app_client.post(
        "/console/login",
        data={
            "name": "rita",
            "password": PASSWORD,
            "csrf_token": _csrf(app_client),
            "next": target,
        },
    )
    assert done.headers["Location"] == "/console/"


def test_failed_logins_are_recorded_and_rate_limited(
    app_client: FlaskClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    _user(database_url, "rita", "responder")
    for _ in range(3):  # login_attempts=3
        assert _login(app_client, "rita", "wrong password!").status_code == 401
    # The right password no longer helps until the window passes: 429 names the wait.
    limited = _login(app_client, "rita")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    rows = db.execute("SELECT who, action FROM audit_actions ORDER BY id").fetchall()
    assert rows == [("rita", "login_failed")] * 3


def test_a_post_without_its_csrf_token_changes_nothing(
    app_client: FlaskClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    _user(database_url, "rita", "responder")
    _store(app_client, alert("A"))
    assert _login(app_client, "rita").status_code == 302
    alert_id = _api(app_client, "/api/alerts").get_json()["alerts"][0]["id"]
    for form in ({"note": "no token"}, {"note": "wrong token", "csrf_token": "x" * 43}):
        refused = app_client.post(f"/console/alerts/{alert_id}/ack", data=form)
        assert refused.status_code == 400
        assert "CSRF token" in refused.get_data(as_text=True)
    assert count_rows(db, "alert_acks") == 0
    # With its token, the same form works.
    token = _csrf(app_client, f"/console/alerts/{alert_id}/ack")
    done = app_client.post(
        f"/console/alerts/{alert_id}/ack", data={"note": "on it", "csrf_token": token}
    )
    assert done.status_code == 302
    assert db.execute("SELECT who, why FROM alert_acks").fetchall() == [("rita", "on it")]


def test_a_silence_alertmanager_does_not_make_records_nothing(
    app_client: FlaskClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    _user(database_url, "rita", "responder")
    _store(app_client, alert("A"))
    _login(app_client, "rita")
    alert_id = _api(app_client, "/api/alerts").get_json()["alerts"][0]["id"]
    token = _csrf(app_client, f"/console/alerts/{alert_id}/ack")
    failed = app_client.post(
        f"/console/alerts/{alert_id}/ack",
        data={"note": "silence it", "silence_hours": "2", "csrf_token": token},
    )
    assert failed.status_code == 502
    assert "unreachable" in failed.get_data(as_text=True)  # said in the dialog
    too_long = app_client.post(
        f"/console/alerts/{alert_id}/ack",
        data={"note": "silence it", "silence_hours": "1000", "csrf_token": token},
    )
    assert too_long.status_code == 400
    assert "max_silence_hours" in too_long.get_data(as_text=True)
    # The API's own bounds on the form: no negative silence, no note past its length.
    for form in (
        {"note": "silence it", "silence_hours": "-1"},
        {"note": "silence it", "silence_hours": "nan"},
        {"note": "x" * (NOTE_MAX_LENGTH + 1)},
        {"note": "   "},
    ):
        refused = app_client.post(
            f"/console/alerts/{alert_id}/ack", data={**form, "csrf_token": token}
        )
        assert refused.status_code == 400, form
    assert count_rows(db, "alert_acks") == count_rows(db, "alert_silences") == 0
    api = app_client.post(
        f"/api/alerts/{alert_id}/ack",
        json={"note": "x", "silence_hours": 1},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert api.status_code == 502
    assert count_rows(db, "alert_acks") == 0


def test_a_disabled_user_is_logged_out_at_once(app_client: FlaskClient, database_url: str) -> None:
    _user(database_url, "rita", "responder")
    _login(app_client, "rita")
    assert app_client.get("/console/").status_code == 200
    with psycopg.connect(database_url, autocommit=True) as conn:
        users.set_active(conn, "rita", active=False)
    assert app_client.get("/console/").status_code == 302


def test_viewer_reads_but_may_not_ack(app_client: FlaskClient, database_url: str) -> None:
    _user(database_url, "vera", "viewer")
    _store(app_client, alert("A"))
    _login(app_client, "vera")
    alert_id = _api(app_client, "/api/alerts").get_json()["alerts"][0]["id"]
    detail = app_client.get(f"/console/alerts/{alert_id}")
    assert detail.status_code == 200
    assert "Acknowledge…" not in detail.get_data(as_text=True)
    token = _csrf(app_client, f"/console/alerts/{alert_id}")
    refused = app_client.post(
        f"/console/alerts/{alert_id}/ack", data={"note": "x", "csrf_token": token}
    )
    assert refused.status_code == 403
    assert "role viewer may not" in refused.get_data(as_text=True)


def test_list_filters_and_pages_by_cursor(app_client: FlaskClient, database_url: str) -> None:
    _user(database_url, "vera", "viewer")
    stamps = [f"2024-05-01T09:{minute:02d}:00Z" for minute in range(5)]
    _store(
        app_client,
        *(alert("A", starts_at=s, portfolio=f"p{i}", team="risk") for i, s in enumerate(stamps)),
        alert("B", starts_at="2024-05-01T10:00:00Z", team="ops"),
    )
    # The API pages by cursor: five "risk" alerts, two a page, newest first.
    seen: list[str] = []
    url = "/api/alerts?team=risk&limit=2"
    while True:
        body = _api(app_client, url).get_json()
        seen += [a["portfolio"] for a in body["alerts"]]
        if body["next"] is None:
            break
        url = f"/api/alerts?team=risk&limit=2&before={body['next']}"
    assert seen == ["p4", "p3", "p2", "p1", "p0"]

    _login(app_client, "vera")
    page = app_client.get("/console/?team=risk&status=&severity=").get_data(as_text=True)
    assert page.count("<tr class=") == 2  # default_page_size=2
    assert 'http-equiv="refresh"' in page
    older = re.search(r'rel="next" href="([^"]+)"', page)
    assert older
    second = app_client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert ">p2<" in second and ">p1<" in second and ">p4<" not in second
    assert 'http-equiv="refresh"' not in second  # an older page holds still
    assert "rita" not in page
    bad = app_client.get("/console/?since=yesterday")
    assert bad.status_code == 400
    assert "RFC 3339" in bad.get_data(as_text=True)


def test_notification_links_lead_to_the_alert(app_client: FlaskClient, database_url: str) -> None:
    _user(database_url, "vera", "viewer")
    first = alert("A", starts_at="2024-05-01T09:00:00Z", fingerprint="abc123")
    again = alert("A", starts_at="2024-05-01T11:00:00Z", fingerprint="abc123")
    _store(app_client, first, again)
    ids = {a["starts_at"]: a["id"] for a in _api(app_client, "/api/alerts").get_json()["alerts"]}
    _login(app_client, "vera")
    go = app_client.get("/console/go?fingerprint=abc123&starts_at=2024-05-01T09:00:00Z")
    assert go.headers["Location"] == f"/console/alerts/{ids['2024-05-01T09:00:00Z']}"
    # Without a stored instant, the newest episode of that fingerprint.
    newest = app_client.get("/console/go?fingerprint=abc123")
    assert newest.headers["Location"] == f"/console/alerts/{ids['2024-05-01T11:00:00Z']}"
    assert app_client.get("/console/go?fingerprint=nope").status_code == 404


def test_csv_export_of_a_period(
    app_client: FlaskClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    _user(database_url, "rita", "responder")
    _store(app_client, alert("=HYPERLINK(1)", portfolio="alpha"))
    _login(app_client, "rita")
    alert_id = _api(app_client, "/api/alerts").get_json()["alerts"][0]["id"]
    token = _csrf(app_client, f"/console/alerts/{alert_id}/ack")
    app_client.post(
        f"/console/alerts/{alert_id}/ack", data={"note": "-1 is fine", "csrf_token": token}
    )
    (since, until) = (
        db.execute("SELECT now() - interval '1 hour', now() + interval '1 hour'").fetchone() or ()
    )
    response = app_client.get(
        "/console/export.csv",
        query_string={
            "since": since.strftime("%Y-%m-%dT%H:%M"),
            "until": until.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["action"], r["who"]) for r in rows] == [("firing", ""), ("ack", "rita")]
    # Cells a spreadsheet would run as formulas are defused.
    assert rows[0]["alertname"] == "'=HYPERLINK(1)"
    assert rows[1]["note"] == "'-1 is fine"
    assert db.execute("SELECT action FROM audit_actions WHERE action = 'export'").fetchall()
    reversed_period = app_client.get(
        "/api/export.csv?since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert reversed_period.status_code == 400


def test_log_in_with_an_api_token_but_only_as_its_owner(
    app_client: FlaskClient, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        users.migrate(conn)
        rita_token = users.add_user(conn, "rita", "responder")
        users.add_user(conn, "vera", "viewer")
    # Another user's token, Alertmanager's, or the admin's under a user's name: refused.
    assert _login(app_client, "vera", rita_token).status_code == 401
    assert _login(app_client, "rita", TOKEN).status_code == 401
    assert _login(app_client, "rita", rita_token).status_code == 302
    page = app_client.get("/console/").get_data(as_text=True)
    assert "rita" in page and "responder" in page


def test_the_admin_logs_in_with_the_admin_token(make_app: AppFactory) -> None:
    app = make_app(token=TOKEN, webhook_token="hook-token-for-this-test")
    client = app.test_client()
    assert _login(client, "alertmanager", "hook-token-for-this-test").status_code == 401
    assert _login(client, "admin", "not the token").status_code == 401
    assert _login(client, "admin", TOKEN).status_code == 302
    assert client.get("/console/").status_code == 200
    # The login is tied to that token: a receiver with another admin token (same cookie
    # key) does not take the cookie.
    other = make_app(token="a-rotated-admin-token")
    other.config["SECRET_KEY"] = app.config["SECRET_KEY"]
    cookie = client.get_cookie("riskwatch_session")
    assert cookie is not None
    rotated = other.test_client()
    rotated.set_cookie("riskwatch_session", cookie.value)
    assert rotated.get("/console/").status_code == 302


def test_an_open_receiver_opens_the_console_too(make_app: AppFactory) -> None:
    client = make_app().test_client()  # --insecure-no-auth, loopback only
    page = client.get("/console/")
    assert page.status_code == 200
    assert "anonymous" in page.get_data(as_text=True)


def test_expiring_an_unknown_silence_is_404(app_client: FlaskClient, database_url: str) -> None:
    _user(database_url, "rita", "responder")
    _login(app_client, "rita")
    token = _csrf(app_client, "/console/")
    for silence_id in ("no-such-silence", "nul%00inside"):
        response = app_client.post(
            f"/console/silences/{silence_id}/expire", data={"csrf_token": token}
        )
        assert response.status_code == 404, silence_id
