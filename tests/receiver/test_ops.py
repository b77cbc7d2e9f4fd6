"""/healthz, /metrics, /openapi.json and the schema migrations."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import psycopg
from flask import Flask
from flask.testing import FlaskClient

from riskwatch.migrations import apply_migrations, load_migrations
from riskwatch.receiver.auth import CONSOLE_BLUEPRINT
from riskwatch.receiver.db import MIGRATION_SCOPE
from riskwatch.receiver.openapi import OPERATIONS

from .conftest import AppFactory
from .payloads import alert, payload, resolved
from .support import WEBHOOK, count_rows, metric_value

DbConn = psycopg.Connection[Any]


def test_healthz_reports_the_database_up(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "up"}


def test_metrics_count_received_stored_duplicate_and_rejected(client: FlaskClient) -> None:
    def value(sample: str, **labels: str) -> float | None:
        return metric_value(client, sample, **labels)

    # Every label value is exposed at zero before anything happens.
    assert value("riskwatch_receiver_alerts_received_total", status="resolved") == 0
    assert value("riskwatch_receiver_payloads_rejected_total", reason="database_unavailable") == 0
    assert value("riskwatch_receiver_storage_duration_seconds_count") == 0

    a, b = alert("A"), alert("B")
    client.post(WEBHOOK, json=payload(a, b))
    client.post(WEBHOOK, json=payload(a, b))  # a retry: duplicates
    client.post(WEBHOOK, json=payload(resolved(a)))
    client.post(WEBHOOK, data=b"{", content_type="application/json")

    assert value("riskwatch_receiver_alerts_received_total", status="firing") == 4
    assert value("riskwatch_receiver_alerts_received_total", status="resolved") == 1
    assert value("riskwatch_receiver_alerts_stored_total", status="firing") == 2
    assert value("riskwatch_receiver_alerts_stored_total", status="resolved") == 1
    assert value("riskwatch_receiver_alerts_duplicate_total") == 2
    assert value("riskwatch_receiver_payloads_rejected_total", reason="invalid") == 1
    assert value("riskwatch_receiver_payloads_rejected_total", reason="too_large") == 0
    assert value("riskwatch_receiver_storage_duration_seconds_count") == 3
    assert value("riskwatch_receiver_database_up") == 1


def test_too_large_payloads_are_counted(make_app: AppFactory) -> None:
    client = make_app(max_payload_bytes=100).test_client()
    assert client.post(WEBHOOK, json=payload(alert())).status_code == 413
    assert (
        metric_value(client, "riskwatch_receiver_payloads_rejected_total", reason="too_large") == 1
    )


def test_metrics_are_per_app(make_app: AppFactory) -> None:
    first, second = make_app().test_client(), make_app().test_client()
    first.post(WEBHOOK, json=payload(alert()))
    assert metric_value(first, "riskwatch_receiver_alerts_received_total", status="firing") == 1
    assert metric_value(second, "riskwatch_receiver_alerts_received_total", status="firing") == 0


def test_openapi_describes_every_route(app: Flask, client: FlaskClient) -> None:
    """Every route but the console's HTML pages is in the served document, and nothing
    else is: a route added without its description (or removed) fails here."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.get_data())
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        # Flask's <int:alert_id> is OpenAPI's {alert_id}.
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.partition(".")[0] != CONSOLE_BLUEPRINT and rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert served == documented
    # The operations name the endpoints they describe, which decide their security.
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {operation.endpoint for operation in OPERATIONS} <= endpoints


RECEIVER_MIGRATIONS = "FROM riskwatch_migrations WHERE scope = 'receiver'"


def _migrations(db: DbConn) -> list[tuple[int, str]]:
    rows = db.execute(f"SELECT version, name {RECEIVER_MIGRATIONS} ORDER BY version").fetchall()
    return [(int(version), str(name)) for version, name in rows]


def test_migrations_are_recorded_and_applied_once(make_app: AppFactory, db: DbConn) -> None:
    expected = [(m.version, m.name) for m in load_migrations("riskwatch.receiver")]
    assert expected == [(1, "alerts"), (2, "history"), (3, "users"), (4, "console")]
    first = make_app().test_client()
    first.post(WEBHOOK, json=payload(alert()))
    applied_at = db.execute(f"SELECT max(applied_at) {RECEIVER_MIGRATIONS}").fetchone()

    # A second receiver (or a restart) on the same database changes nothing.
    second = make_app().test_client()
    assert _migrations(db) == expected
    assert db.execute(f"SELECT max(applied_at) {RECEIVER_MIGRATIONS}").fetchone() == applied_at
    assert len(second.get("/api/alerts").get_json()["alerts"]) == 1


def test_concurrent_migrations_apply_each_version_once(database_url: str, db: DbConn) -> None:
    barrier = threading.Barrier(4)
    applied: list[int] = []
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait()
                migrations = load_migrations("riskwatch.receiver")
                done = apply_migrations(conn, MIGRATION_SCOPE, migrations)
                applied.extend(m.version for m in done)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(applied) == [1, 2, 3, 4]
    assert [version for version, _ in _migrations(db)] == [1, 2, 3, 4]
    assert count_rows(db, "alerts") == 0
