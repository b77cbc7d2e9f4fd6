"""The database going away: 503 with nothing half-written, then exactly-once on retry."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from flask.testing import FlaskClient

from riskwatch.migrations import load_migrations
from riskwatch.stack.postgres import LocalPostgres

from .conftest import START_TIMEOUT_SECONDS, AppFactory, free_port
from .payloads import alert, payload
from .support import WEBHOOK, metric_value, wait_until

FAST_TIMEOUT = {"db_timeout_seconds": 0.3}


def assert_unavailable(client: FlaskClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "degraded", "database": "down"}
    response = client.post(WEBHOOK, json=payload(alert()))
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "database unavailable" in response.get_json()["error"]
    assert client.get("/api/alerts").status_code == 503
    assert metric_value(client, "riskwatch_receiver_database_up") == 0


def test_database_on_a_closed_port(make_app: AppFactory) -> None:
    url = f"postgresql://riskwatch@127.0.0.1:{free_port()}/riskwatch?connect_timeout=2"
    client = make_app(url=url, **FAST_TIMEOUT).test_client()  # starting does not fail
    assert_unavailable(client)
    rejected = "riskwatch_receiver_payloads_rejected_total"
    assert metric_value(client, rejected, reason="database_unavailable") == 1
    assert metric_value(client, "riskwatch_receiver_alerts_received_total", status="firing") == 1
    # Liveness itself is fine: metrics and the API description are still served.
    assert client.get("/openapi.json").status_code == 200


def test_outage_and_recovery_store_exactly_once(
    make_app: AppFactory, make_cluster: Callable[[], LocalPostgres]
) -> None:
    cluster = make_cluster()  # initialized, not started
    client = make_app(url=cluster.dsn, **FAST_TIMEOUT).test_client()

    def healthy() -> bool:
        return client.get("/healthz").status_code == 200

    # Down at start: the app serves 503s, then migrates once the database appears.
    assert_unavailable(client)
    cluster.start(START_TIMEOUT_SECONDS)
    wait_until(healthy, 15, "the receiver to reconnect")
    first = payload(alert("First"))
    assert client.post(WEBHOOK, json=first).get_json() == {"stored": 1, "duplicates": 0}

    # Down while running: a scrape alone shows it, with no webhook or API call to
    # notice it first (a quiet night), then Alertmanager's notification fails ...
    assert metric_value(client, "riskwatch_receiver_database_up") == 1
    cluster.stop()
    assert metric_value(client, "riskwatch_receiver_database_up") == 0
    second = payload(alert("Second"), alert("Third"))
    response = client.post(WEBHOOK, json=second)
    assert response.status_code == 503
    assert metric_value(client, "riskwatch_receiver_database_up") == 0

    # ... and its retry after the outage is stored exactly once. Scrapes see the
    # database back on their own.
    cluster.start(START_TIMEOUT_SECONDS)
    wait_until(
        lambda: metric_value(client, "riskwatch_receiver_database_up") == 1,
        15,
        "a scrape to see it back",
    )
    assert client.post(WEBHOOK, json=second).get_json() == {"stored": 2, "duplicates": 0}
    assert client.post(WEBHOOK, json=second).get_json() == {"stored": 0, "duplicates": 2}
    assert metric_value(client, "riskwatch_receiver_database_up") == 1
    assert metric_value(client, "riskwatch_receiver_alerts_stored_total", status="firing") == 3

    # The receiver's own account, not row counts (unique keys cap those whatever it
    # does): three stored, the repeat counted as two duplicates.
    assert metric_value(client, "riskwatch_receiver_alerts_duplicate_total") == 2
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        versions = conn.execute(
            "SELECT version FROM riskwatch_migrations WHERE scope = 'receiver' ORDER BY 1"
        ).fetchall()
        assert versions == [(m.version,) for m in load_migrations("riskwatch.receiver")]
