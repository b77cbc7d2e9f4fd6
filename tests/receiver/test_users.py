"""Named users, their roles and API tokens; the ack records who is authenticated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from .clitools import isolate, riskwatch
from .conftest import AppFactory
from .payloads import alert, payload
from .support import WEBHOOK

ADMIN = "admin-s3cret"
HOOK = "hook-s3cret"
TOKEN_LINE = re.compile(r"rwt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def client(make_app: AppFactory) -> FlaskClient:
    return make_app(token=ADMIN, webhook_token=HOOK).test_client()


def add_user(database_url: str, name: str, role: str) -> str:
    result = riskwatch("users", "add", name, "--role", role, database_url=database_url)
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert TOKEN_LINE.fullmatch(token), result.stdout
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_alert_id(client: FlaskClient) -> int:
    sent = client.post(WEBHOOK, json=payload(alert()), headers=bearer(HOOK))
    assert sent.status_code == 200
    listed = client.get("/api/alerts", headers=bearer(ADMIN)).get_json()["alerts"]
    alert_id: int = listed[0]["id"]
    return alert_id


def test_users_add_prints_the_token_alone_on_the_last_line(database_url: str) -> None:
    result = riskwatch("users", "add", "alice", "--role", "viewer", database_url=database_url)
    assert result.exit_code == 0
    assert TOKEN_LINE.fullmatch(result.stdout.splitlines()[-1])
    assert result.stdout.endswith("\n")


def test_the_ack_records_the_authenticated_user(
    client: FlaskClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    alice = add_user(database_url, "alice", "responder")
    alert_id = stored_alert_id(client)
    forged = client.post(
        f"/api/alerts/{alert_id}/ack", json={"who": "bob", "note": "x"}, headers=bearer(alice)
    )
    assert forged.status_code == 400
    assert "who" in forged.get_json()["error"]

    acked = client.post(
        f"/api/alerts/{alert_id}/ack", json={"note": "on it"}, headers=bearer(alice)
    )
    assert acked.status_code == 200
    assert acked.get_json()["acked_by"] == "alice"
    rows = db.execute("SELECT who, why FROM alert_acks WHERE alert_id = %s", (alert_id,))
    assert rows.fetchall() == [("alice", "on it")]

    by_admin = client.post(
        f"/api/alerts/{alert_id}/ack", json={"note": "ok"}, headers=bearer(ADMIN)
    )
    assert by_admin.get_json()["acked_by"] == "admin"


def test_roles(client: FlaskClient, database_url: str) -> None:
    viewer = add_user(database_url, "vera", "viewer")
    responder = add_user(database_url, "rita", "responder")
    alert_id = stored_alert_id(client)
    ack = f"/api/alerts/{alert_id}/ack"

    assert client.get("/api/alerts", headers=bearer(viewer)).status_code == 200
    assert client.get(f"/api/alerts/{alert_id}", headers=bearer(viewer)).status_code == 200
    refused = client.post(ack, json={"note": "x"}, headers=bearer(viewer))
    assert refused.status_code == 403
    assert "viewer" in refused.get_json()["error"]
    assert client.post(ack, json={"note": "x"}, headers=bearer(responder)).status_code == 200
    # A user may not forge alerts: only Alertmanager's credential and the admin post them.
    for token in (viewer, responder):
        assert client.post(WEBHOOK, json=payload(alert()), headers=bearer(token)).status_code == 403
    assert client.post(WEBHOOK, json=payload(alert()), headers=bearer(ADMIN)).status_code == 200


def test_revoked_token_is_refused_on_the_very_next_request(
    client: FlaskClient, database_url: str
) -> None:
    token = add_user(database_url, "alice", "viewer")
    spare = riskwatch("users", "token", "alice", database_url=database_url).stdout.splitlines()[-1]
    for _ in range(2):  # the second one is verified from the cache
        assert client.get("/api/alerts", headers=bearer(token)).status_code == 200

    token_id = token.split("_")[1]
    listed = riskwatch("users", "tokens", "alice", database_url=database_url).stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["ID", token_id, spare.split("_")[1]]
    result = riskwatch(
        "users", "revoke", "alice", "--token-id", token_id, database_url=database_url
    )
    assert result.exit_code == 0, result.output
    refused = client.get("/api/alerts", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/alerts", headers=bearer(spare)).status_code == 200

    assert riskwatch("users", "revoke", "alice", database_url=database_url).exit_code == 0
    assert client.get("/api/alerts", headers=bearer(spare)).status_code == 401
    listed = riskwatch("users", "tokens", "alice", database_url=database_url).stdout.splitlines()
    assert all(line.split()[-1] != "-" for line in listed[1:])


def test_disabled_user_is_refused_until_enabled(client: FlaskClient, database_url: str) -> None:
    token = add_user(database_url, "alice", "viewer")
    assert client.get("/api/alerts", headers=bearer(token)).status_code == 200
    assert riskwatch("users", "disable", "alice", database_url=database_url).exit_code == 0
    assert client.get("/api/alerts", headers=bearer(token)).status_code == 401
    listed = riskwatch("users", "list", database_url=database_url).stdout.splitlines()
    assert listed[1].split()[-1] == "no"
    assert riskwatch("users", "enable", "alice", database_url=database_url).exit_code == 0
    assert client.get("/api/alerts", headers=bearer(token)).status_code == 200


def test_a_wrong_secret_with_a_real_token_id_is_refused(
    client: FlaskClient, database_url: str
) -> None:
    token = add_user(database_url, "alice", "admin")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.get("/api/alerts", headers=bearer(forged)).status_code == 401
    assert client.get("/api/alerts", headers=bearer(token + " ")).status_code == 200  # stripped


def test_users_list(database_url: str) -> None:
    add_user(database_url, "alice", "responder")
    riskwatch("users", "revoke", "alice", database_url=database_url)
    add_user(database_url, "bob", "viewer")
    result = riskwatch("users", "list", database_url=database_url)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "CREATED", "TOKENS", "ACTIVE"]
    assert [line.split()[:2] + line.split()[-2:] for line in lines[1:]] == [
        ["alice", "responder", "0", "yes"],
        ["bob", "viewer", "1", "yes"],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "add", "carol", "--role", "root"], "unknown role 'root'"),
        (["users", "add", "admin", "--role", "viewer"], "reserved"),
        (["users", "add", "Carol Smith", "--role", "viewer"], "user name"),
        (["users", "revoke", "nobody"], "no user 'nobody'"),
        (["users", "token", "nobody"], "no active user 'nobody'"),
        (["users", "tokens", "nobody"], "no user 'nobody'"),
        (["users", "disable", "nobody"], "no user 'nobody'"),
        (["users", "revoke", "alice", "--token-id", "0123456789abcdef"], "has no token"),
    ],
)
def test_users_errors_are_one_line(database_url: str, args: list[str], message: str) -> None:
    add_user(database_url, "alice", "viewer")
    result = riskwatch(*args, database_url=database_url)
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_duplicate_user_is_refused(database_url: str) -> None:
    add_user(database_url, "alice", "viewer")
    result = riskwatch("users", "add", "alice", "--role", "admin", database_url=database_url)
    assert result.exit_code != 0
    assert "already exists" in result.stderr


def test_trusted_proxy_names_the_user(make_app: AppFactory, database_url: str) -> None:
    add_user(database_url, "alice", "responder")
    proxied = make_app(token=ADMIN, trusted_proxies=["127.0.0.0/8"]).test_client()
    elsewhere = make_app(token=ADMIN, trusted_proxies=["10.0.0.0/8"]).test_client()
    alert_id = stored_alert_id_as_admin(proxied)
    ack = f"/api/alerts/{alert_id}/ack"
    as_alice = {"X-Forwarded-User": "alice"}
    acked = proxied.post(ack, json={"note": "seen"}, headers=as_alice)
    assert acked.status_code == 200
    assert acked.get_json()["acked_by"] == "alice"
    assert proxied.get("/api/alerts", headers={"X-Auth-Request-User": "mallory"}).status_code == 401
    assert elsewhere.get("/api/alerts", headers=as_alice).status_code == 401


def stored_alert_id_as_admin(client: FlaskClient) -> int:
    assert client.post(WEBHOOK, json=payload(alert()), headers=bearer(ADMIN)).status_code == 200
    alert_id: int = client.get("/api/alerts", headers=bearer(ADMIN)).get_json()["alerts"][0]["id"]
    return alert_id
