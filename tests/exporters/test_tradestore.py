"""The trade-store exporter against real PostgreSQL data."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import CollectorRegistry

from riskwatch.exporters.tradestore import ensure_schema, make_collector
from riskwatch.stack.runner import Stack
from tests.support.stack import free_port

pytestmark = pytest.mark.stack

T0 = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def dsn(stack: Stack) -> Iterator[str]:
    """A fresh database on the session's cluster, with the trade-store schema and a day of data."""
    base = stack.database_dsn()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS tradestore_test")
        conn.execute("CREATE DATABASE tradestore_test")
    url = base.replace("/riskwatch?", "/tradestore_test?")
    assert ensure_schema(url) is False  # no TimescaleDB here: plain tables
    assert ensure_schema(url) is False  # idempotent
    orders = [
        ("o1", "alpha", "AAPL", "buy", 100, 100.0, "filled", T0),
        ("o2", "alpha", "MSFT", "sell", 50, 200.0, "filled", T0),
        ("o3", "alpha", "XOM", "buy", 10, 50.0, "rejected", T0),
        ("o4", "beta", "AAPL", "buy", 20, 100.0, "filled", T0),
    ]
    fills = [
        ("f1", "o1", "alpha", "AAPL", "buy", 60, 100.10, T0 + timedelta(seconds=0.05)),
        ("f2", "o1", "alpha", "AAPL", "buy", 40, 100.20, T0 + timedelta(seconds=3)),
        ("f3", "o2", "alpha", "MSFT", "sell", 50, 199.80, T0 + timedelta(seconds=0.5)),
        ("f4", "o4", "beta", "AAPL", "buy", 20, 99.90, T0 + timedelta(seconds=120)),
    ]
    with psycopg.connect(url) as conn:
        conn.cursor().executemany(
            "INSERT INTO trade_orders (order_id, portfolio, symbol, side, quantity, "
            "arrival_price, status, submitted_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            orders,
        )
        conn.cursor().executemany(
            "INSERT INTO trade_fills (fill_id, order_id, portfolio, symbol, side, quantity, "
            "price, filled_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
            fills,
        )
        conn.cursor().executemany(
            "INSERT INTO internal_positions (portfolio, symbol, quantity) VALUES (%s,%s,%s)",
            [("alpha", "AAPL", 100), ("alpha", "MSFT", -50), ("beta", "AAPL", 20)],
        )
        conn.cursor().executemany(
            "INSERT INTO broker_positions (portfolio, symbol, quantity) VALUES (%s,%s,%s)",
            [
                ("alpha", "AAPL", 100),
                ("alpha", "MSFT", -40),
                ("beta", "AAPL", 20),
                ("beta", "TSLA", 5),
            ],
        )
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("DROP DATABASE tradestore_test WITH (FORCE)")


def scrape(url: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(make_collector(url, 5.0, day_start=lambda: T0 - timedelta(hours=1)))
    return registry


def test_counts_latency_slippage_and_reconciliation(dsn: str) -> None:
    r = scrape(dsn)
    v = r.get_sample_value
    assert v("tradestore_scrape_success") == 1.0
    assert v("tradestore_fills_total", {"portfolio": "alpha", "side": "buy"}) == 2
    assert v("tradestore_fills_total", {"portfolio": "alpha", "side": "sell"}) == 1
    assert v("tradestore_orders_rejected_total", {"portfolio": "alpha"}) == 1
    assert v("tradestore_orders_rejected_total", {"portfolio": "beta"}) == 0
    # First fills: o1 after 0.05 s, o2 after 0.5 s (alpha); o4 after 120 s (beta).
    alpha = {"portfolio": "alpha"}
    assert v("tradestore_order_fill_latency_seconds_count", alpha) == 2
    assert math.isclose(v("tradestore_order_fill_latency_seconds_sum", alpha), 0.55)
    assert v("tradestore_order_fill_latency_seconds_bucket", {**alpha, "le": "0.05"}) == 1
    assert v("tradestore_order_fill_latency_seconds_bucket", {**alpha, "le": "0.5"}) == 2
    beta_le = {"portfolio": "beta", "le": "60.0"}
    assert v("tradestore_order_fill_latency_seconds_bucket", beta_le) == 0
    # alpha: buys 60 @ +10 bps and 40 @ +20 bps; sell 50 @ 199.80 vs 200 = +10 bps.
    expected = (60 * 10 + 40 * 20 + 50 * 10) / 150
    assert math.isclose(v("tradestore_slippage_bps", alpha), expected, rel_tol=1e-9)
    assert math.isclose(v("tradestore_slippage_bps", {"portfolio": "beta"}), -10, rel_tol=1e-9)
    assert v("tradestore_reconciliation_difference", {**alpha, "symbol": "MSFT"}) == 10
    assert v("tradestore_reconciliation_difference", {**alpha, "symbol": "AAPL"}) is None
    assert v("tradestore_reconciliation_difference", {"portfolio": "beta", "symbol": "TSLA"}) == 5
    assert v("tradestore_reconciliation_breaks", alpha) == 1
    assert v("tradestore_reconciliation_breaks", {"portfolio": "beta"}) == 1


def test_unreachable_database_sets_scrape_success_to_zero() -> None:
    url = f"postgresql://riskwatch@127.0.0.1:{free_port()}/riskwatch?connect_timeout=1"
    r = scrape(url)
    assert r.get_sample_value("tradestore_scrape_success") == 0.0
    assert r.get_sample_value("tradestore_scrape_duration_seconds") is not None
    assert (
        r.get_sample_value("tradestore_fills_total", {"portfolio": "alpha", "side": "buy"}) is None
    )


def test_cli_serves_metrics_and_healthz(dsn: str) -> None:
    import subprocess
    import sys

    import requests

    from tests.support.stack import wait_for

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "riskwatch",
            "exporter",
            "tradestore",
            "--web.listen-address",
            f"127.0.0.1:{port}",
        ],
        env={**__import__("os").environ, "RISKWATCH_DATABASE_URL": dsn},
    )
    try:

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
            except requests.RequestException:
                return proc.poll() is not None  # exited: stop waiting, assert below

        wait_for(healthy, "the tradestore exporter", timeout=30)
        assert proc.poll() is None
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert "tradestore_scrape_success 1.0" in body
        assert 'tradestore_fills_total{portfolio="alpha",side="buy"} 2.0' in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)
