"""Helpers for the receiver tests: reading /metrics, counting rows, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

WEBHOOK = "/webhook/alertmanager"


def metric_value(client: FlaskClient, sample: str, **labels: str) -> float | None:
    """The value of one sample scraped from /metrics, None if it is not exposed."""
    response = client.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for found in family.samples:
            if found.name == sample and found.labels == labels:
                return float(found.value)
    return None


def count_rows(db: psycopg.Connection[Any], table: str) -> int:
    """Rows in `table`."""
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    row = db.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
