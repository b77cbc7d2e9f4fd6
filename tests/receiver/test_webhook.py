"""POST /webhook/alertmanager: storing, deduplicating and refusing payloads."""

from __future__ import annotations

import io
import json
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from .conftest import AppFactory
from .payloads import GO_ZERO_TIME, alert, payload, resolved
from .support import WEBHOOK, count_rows, metric_value

DbConn = psycopg.Connection[Any]


def post(client: FlaskClient, body: dict[str, Any]) -> Any:
    return client.post(WEBHOOK, json=body)


def test_firing_then_resolved_keeps_one_alert_and_both_events(
    client: FlaskClient, db: DbConn
) -> None:
    firing = alert()
    first = post(client, payload(firing))
    assert first.status_code == 200
    assert first.get_json() == {"stored": 1, "duplicates": 0}

    second = post(client, payload(resolved(firing)))
    assert second.get_json() == {"stored": 1, "duplicates": 0}

    rows = db.execute("SELECT id, status, ends_at, starts_at FROM alerts").fetchall()
    assert len(rows) == 1
    alert_id, status, ends_at, starts_at = rows[0]
    assert status == "resolved"
    assert ends_at.isoformat() == "2024-05-01T10:00:00+00:00"
    # Nanoseconds from Go are cut to PostgreSQL's microseconds, the same way every time.
    assert starts_at.isoformat() == "2024-05-01T09:30:00.123456+00:00"
    events = db.execute(
        "SELECT status FROM alert_events WHERE alert_id = %s ORDER BY received_at, id",
        (alert_id,),
    ).fetchall()
    assert [e[0] for e in events] == ["firing", "resolved"]


def test_retried_payload_is_stored_once(client: FlaskClient, db: DbConn) -> None:
    body = payload(alert("A"), alert("B"), alert("C"))
    assert post(client, body).get_json() == {"stored": 3, "duplicates": 0}
    assert post(client, body).get_json() == {"stored": 0, "duplicates": 3}
    # Not row counts: unique keys make a fourth row impossible whatever the receiver
    # does. What can go wrong is its own account of the retry.
    assert metric_value(client, "riskwatch_receiver_alerts_stored_total", status="firing") == 3
    assert metric_value(client, "riskwatch_receiver_alerts_duplicate_total") == 3
    names = db.execute("SELECT labels->>'alertname' FROM alerts ORDER BY 1").fetchall()
    assert [n[0] for n in names] == ["A", "B", "C"]


def test_same_alert_twice_in_one_payload_counts_once(client: FlaskClient, db: DbConn) -> None:
    one = alert()
    assert post(client, payload(one, one)).get_json() == {"stored": 1, "duplicates": 1}
    assert metric_value(client, "riskwatch_receiver_alerts_stored_total", status="firing") == 1
    assert metric_value(client, "riskwatch_receiver_alerts_duplicate_total") == 1


def test_refiring_with_new_starts_at_is_a_new_alert(client: FlaskClient, db: DbConn) -> None:
    first = alert(starts_at="2024-05-01T09:30:00Z")
    again = alert(starts_at="2024-05-01T11:00:00Z")
    assert first["fingerprint"] == again["fingerprint"]
    post(client, payload(first))
    post(client, payload(resolved(first)))
    assert post(client, payload(again)).get_json() == {"stored": 1, "duplicates": 0}
    statuses = db.execute("SELECT status FROM alerts ORDER BY starts_at").fetchall()
    assert [s[0] for s in statuses] == ["resolved", "firing"]


def test_late_firing_retry_does_not_reopen_a_resolved_alert(
    client: FlaskClient, db: DbConn
) -> None:
    firing = alert(annotations={"summary": "old"})
    post(client, payload(resolved(firing)))
    # The firing notification arrives last (an Alertmanager retry): it joins the
    # history but the alert stays resolved with its end time.
    assert post(client, payload(firing)).get_json() == {"stored": 1, "duplicates": 0}
    row = db.execute("SELECT status, ends_at IS NOT NULL FROM alerts").fetchone()
    assert row == ("resolved", True)
    assert count_rows(db, "alert_events") == 2


def test_labels_are_copied_and_zero_end_time_is_null(client: FlaskClient, db: DbConn) -> None:
    post(client, payload(alert("VarBreach", severity="warning", portfolio=None, team="quant")))
    row = db.execute(
        "SELECT alertname, severity, team, portfolio, ends_at, labels->>'team', "
        "annotations->>'summary' FROM alerts"
    ).fetchone()
    assert row == ("VarBreach", "warning", "quant", None, None, "quant", "VarBreach")


def test_unknown_fields_are_ignored(client: FlaskClient, db: DbConn) -> None:
    body = payload({**alert(), "newAlertField": 1})
    body["someFutureField"] = {"x": 1}
    assert post(client, body).status_code == 200
    assert count_rows(db, "alerts") == 1


def test_empty_alert_list_stores_nothing(client: FlaskClient, db: DbConn) -> None:
    assert post(client, payload()).get_json() == {"stored": 0, "duplicates": 0}
    assert count_rows(db, "alerts") == 0


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _second_alert(**changes: Any) -> dict[str, Any]:
    """A payload whose first alert is valid and second is not: all or nothing."""
    return payload(alert("Fine"), {**alert("Broken"), **changes})


INVALID_BODIES: list[tuple[str, bytes, str]] = [
    ("malformed JSON", b'{"version": "4", "alerts": [', "body is not valid JSON"),
    ("not an object", b"[1, 2]", "body: Input should be an object"),
    ("missing groupKey", json.dumps(_without(payload(alert()), "groupKey")).encode(), "groupKey"),
    (
        "missing fingerprint",
        json.dumps(payload(alert(), _without(alert("X"), "fingerprint"))).encode(),
        "alerts[1].fingerprint: Field required",
    ),
    ("wrong version", json.dumps({**payload(alert()), "version": "3"}).encode(), "version"),
    (
        "timestamp not a date",
        json.dumps(_second_alert(startsAt="yesterday")).encode(),
        "alerts[1].startsAt",
    ),
    (
        "timestamp without offset",
        json.dumps(_second_alert(startsAt="2024-05-01T09:30:00")).encode(),
        "alerts[1].startsAt: Input should have timezone info",
    ),
    (
        "timestamp as a number",
        json.dumps(_second_alert(endsAt=1714555800)).encode(),
        "alerts[1].endsAt",
    ),
    ("unknown status", json.dumps(_second_alert(status="pending")).encode(), "alerts[1].status"),
    (
        "label value not a string",
        json.dumps(_second_alert(labels={"alertname": "X", "count": 3})).encode(),
        "alerts[1].labels.count",
    ),
    (
        "NUL in an annotation",
        json.dumps(_second_alert(annotations={"summary": "a\u0000b"})).encode(),
        "alerts[1].annotations.summary: Value error, must not contain NUL",
    ),
]


@pytest.mark.parametrize(
    ("body", "problem"),
    [(body, problem) for _, body, problem in INVALID_BODIES],
    ids=[case for case, _, _ in INVALID_BODIES],
)
def test_invalid_payload_is_refused_and_nothing_stored(
    client: FlaskClient, db: DbConn, body: bytes, problem: str
) -> None:
    response = client.post(WEBHOOK, data=body, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert problem in error
    assert count_rows(db, "alerts") == 0
    assert count_rows(db, "alert_events") == 0


def test_oversized_body_is_refused_by_content_length(make_app: AppFactory, db: DbConn) -> None:
    client = make_app(max_payload_bytes=2000).test_client()
    body = payload(*(alert(f"Alert{i}") for i in range(20)))
    response = post(client, body)
    assert response.status_code == 413
    assert "exceeds 2000" in response.get_json()["error"]
    assert count_rows(db, "alerts") == 0


def test_oversized_body_without_length_is_cut_while_reading(
    make_app: AppFactory, db: DbConn
) -> None:
    client = make_app(max_payload_bytes=2000).test_client()
    data = json.dumps(payload(*(alert(f"Alert{i}") for i in range(20)))).encode()
    # A chunked request declares no length: only the limit on reading can stop it.
    response = client.post(
        WEBHOOK,
        input_stream=io.BytesIO(data),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert "error" in response.get_json()
    assert count_rows(db, "alerts") == 0


def test_get_on_webhook_is_405_json(client: FlaskClient) -> None:
    response = client.get(WEBHOOK)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert "error" in response.get_json()


def test_body_within_limit_is_accepted(make_app: AppFactory) -> None:
    data = json.dumps(payload(alert(ends_at=GO_ZERO_TIME))).encode()
    client = make_app(max_payload_bytes=len(data)).test_client()
    response = client.post(WEBHOOK, data=data, content_type="application/json")
    assert response.status_code == 200
