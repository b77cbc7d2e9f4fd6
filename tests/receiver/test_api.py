"""GET /api/alerts (filters, order, limit), GET /api/alerts/<id>, POST .../ack."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from .conftest import AppFactory
from .payloads import alert, payload, resolved
from .support import WEBHOOK

ALERT_KEYS = {
    "id",
    "fingerprint",
    "status",
    "alertname",
    "severity",
    "team",
    "portfolio",
    "labels",
    "annotations",
    "starts_at",
    "ends_at",
    "generator_url",
    "first_received_at",
    "last_received_at",
    "acked",
    "acked_by",
    "acked_at",
}


def names(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"/api/alerts{query}")
    assert response.status_code == 200, response.get_json()
    return [item["alertname"] for item in response.get_json()["alerts"]]


@pytest.fixture
def stored(make_app: AppFactory) -> FlaskClient:
    """Four alerts: D newest ... A oldest; B resolved; portfolios and severities vary."""
    client = make_app(default_page_size=3, max_page_size=10).test_client()
    a = alert("A", starts_at="2024-05-01T08:00:00Z", severity="warning", portfolio="alpha")
    b = alert("B", starts_at="2024-05-01T09:00:00Z", severity="critical", portfolio="beta")
    c = alert("C", starts_at="2024-05-01T10:00:00Z", severity="critical", portfolio=None)
    d = alert("D", starts_at="2024-05-01T11:00:00Z", severity="warning", portfolio="alpha")
    for body in (payload(a, b, c, d), payload(resolved(b))):
        assert client.post(WEBHOOK, json=body).status_code == 200
    return client


def test_list_shape_and_newest_first(stored: FlaskClient) -> None:
    body = stored.get("/api/alerts?limit=10").get_json()
    assert set(body) == {"alerts", "next"}
    assert body["next"] is None  # one page holds them all
    assert [item["alertname"] for item in body["alerts"]] == ["D", "C", "B", "A"]
    first = body["alerts"][0]
    assert set(first) == ALERT_KEYS
    assert first["starts_at"] == "2024-05-01T11:00:00Z"
    assert first["ends_at"] is None
    assert first["acked"] is False
    assert first["labels"]["alertname"] == "D"
    assert first["last_received_at"].endswith("Z")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=firing&limit=10", ["D", "C", "A"]),
        ("?status=resolved", ["B"]),
        ("?alertname=C", ["C"]),
        ("?severity=warning", ["D", "A"]),
        ("?portfolio=alpha", ["D", "A"]),
        ("?portfolio=alpha&severity=critical", []),
        ("?since=2024-05-01T09:00:00Z", ["D", "C", "B"]),
        ("?since=2024-05-01T11:00:00%2B02:00&limit=10", ["D", "C", "B"]),
        ("?since=2024-05-01T12:00:00%2B02:00", ["D", "C"]),
        ("", ["D", "C", "B"]),
        ("?limit=1", ["D"]),
        ("?limit=10", ["D", "C", "B", "A"]),
    ],
)
def test_filters_and_limit(stored: FlaskClient, query: str, expected: list[str]) -> None:
    assert names(stored, query) == expected


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("?limit=0", "limit"),
        ("?limit=11", "limit must be an integer from 1 to 10"),
        ("?limit=-1", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=1_0", "limit"),
        ("?status=pending", "status"),
        ("?since=yesterday", "since"),
        ("?since=2024-05-01T09:00:00", "since"),
        ("?since=2024-05-01T09:00:00+02:00", "write %2B or Z"),
        ("?severty=critical", "unknown query parameter severty"),
        ("?alertname=", "alertname is empty"),
        ("?portfolio=a%00b", "portfolio must not contain NUL"),
        ("?alertname=A&alertname=%00", "alertname must not contain NUL"),
    ],
)
def test_bad_query_is_400_naming_the_parameter(
    stored: FlaskClient, query: str, problem: str
) -> None:
    response = stored.get(f"/api/alerts{query}")
    assert response.status_code == 400
    assert problem in response.get_json()["error"]


def _id_of(client: FlaskClient, alertname: str) -> int:
    listed = client.get(f"/api/alerts?alertname={alertname}").get_json()["alerts"]
    alert_id: int = listed[0]["id"]
    return alert_id


def test_detail_has_history(stored: FlaskClient) -> None:
    detail = stored.get(f"/api/alerts/{_id_of(stored, 'B')}").get_json()
    assert set(detail) == ALERT_KEYS | {"events", "acks", "silences"}
    assert detail["status"] == "resolved"
    assert [e["status"] for e in detail["events"]] == ["firing", "resolved"]
    assert detail["events"][0]["receiver"] == "riskwatch-audit"
    assert detail["events"][1]["ends_at"] == "2024-05-01T10:00:00Z"
    assert detail["acks"] == []


@pytest.mark.parametrize("alert_id", ["999999", str(2**63), str(2**70)])
def test_unknown_alert_is_404(stored: FlaskClient, alert_id: str) -> None:
    for response in (
        stored.get(f"/api/alerts/{alert_id}"),
        stored.post(f"/api/alerts/{alert_id}/ack", json={"note": "seen"}),
    ):
        assert response.status_code == 404
        assert "no alert with id" in response.get_json()["error"]


def test_ack_is_stored_and_returned(stored: FlaskClient) -> None:
    # An open receiver (no credential) records its acks as "anonymous"; test_users.py
    # shows an authenticated user's name in the trail.
    alert_id = _id_of(stored, "C")
    first = stored.post(f"/api/alerts/{alert_id}/ack", json={"note": " on it "})
    assert first.status_code == 200
    body: dict[str, Any] = first.get_json()
    assert body["id"] == alert_id
    assert body["acked"] is True
    assert body["acked_by"] == "anonymous"
    assert [(a["who"], a["why"]) for a in body["acks"]] == [("anonymous", "on it")]
    assert body["acks"][0]["at"] == body["acked_at"]

    stored.post(f"/api/alerts/{alert_id}/ack", json={"why": "taking over"})  # alias of note
    detail = stored.get(f"/api/alerts/{alert_id}").get_json()
    assert [a["why"] for a in detail["acks"]] == ["on it", "taking over"]
    listed = stored.get("/api/alerts?alertname=C").get_json()["alerts"][0]
    assert (listed["acked"], listed["acked_by"]) == (True, "anonymous")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "note: Field required"),
        ({"note": "   "}, "note: String should have at least 1 character"),
        ({"note": "y" * 2001}, "note"),
        ({"note": 7}, "note: Input should be a valid string"),
        ({"note": "y", "reason": "z"}, "reason: Extra inputs are not permitted"),
        ({"note": "y\u0000"}, "note: Value error, must not contain NUL"),
        ({"who": "mallory", "note": "y"}, "who: Value error, is not accepted"),
    ],
)
def test_bad_ack_is_400(stored: FlaskClient, body: dict[str, Any], problem: str) -> None:
    alert_id = _id_of(stored, "A")
    response = stored.post(f"/api/alerts/{alert_id}/ack", json=body)
    assert response.status_code == 400
    assert problem in response.get_json()["error"]
    assert stored.get(f"/api/alerts/{alert_id}").get_json()["acks"] == []


def test_ack_with_malformed_json_is_400(stored: FlaskClient) -> None:
    response = stored.post(
        f"/api/alerts/{_id_of(stored, 'A')}/ack", data=b"{", content_type="application/json"
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"]
