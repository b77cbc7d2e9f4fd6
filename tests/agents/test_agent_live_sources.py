"""The trading agent on the real adapters: Polygon's wire (a local server answering
with recorded JSON) and IBKR's (a fake TWS speaking the TWS API), with a Polygon that
rate-limits, then recovers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.trading import TradingAgent
from riskwatch.calendar import MarketPhase
from riskwatch.runtime import TaskContext
from riskwatch.settings import load_settings
from riskwatch.sources.base import SourceError
from tests.sources.fake_tws import FakeContract, FakeTws, Holding, running
from tests.sources.polygon_server import FakePolygon, Reply, fixture, serve_polygon
from tests.support.policy import policy_copy
from tests.support.stack import free_port, wait_for


@pytest.fixture
def gateway() -> Iterator[FakeTws]:
    tws = FakeTws(
        account_values=[
            ("AccountCode", "DU1234567", ""),
            ("NetLiquidation", "60000.00", "USD"),
            ("TotalCashValue", "20000.00", "USD"),
        ],
        holdings=[
            Holding(FakeContract(265598, "AAPL", exchange="SMART"), 100, 180.5, 192.25),
            Holding(FakeContract(272093, "MSFT", exchange="SMART"), 50, 400.0, 415.13),
        ],
        executions=[],
    )
    with running(tws) as fake:
        yield fake


@pytest.fixture
def polygon() -> Iterator[FakePolygon]:
    with serve_polygon() as fake:
        yield fake


def trade_requests(polygon: FakePolygon, ticker: str) -> int:
    return sum("/last/trade/" in seen.path for seen in polygon.seen(ticker))


def trade_now(polygon: FakePolygon, *tickers: str) -> None:
    """Serve each ticker's recorded last trade once more, stamped now: a price ages from
    its quote's time, and the recording's is years old."""
    for ticker in tickers:
        body = json.loads(fixture(f"last_trade_{ticker}.json"))
        stamp = time.time_ns()
        body["results"].update(t=stamp, y=stamp, f=stamp)
        polygon.script(ticker, Reply(200, json.dumps(body).encode()))


def ctx() -> TaskContext:
    return TaskContext(datetime.now(UTC), MarketPhase.REGULAR, trace.INVALID_SPAN)


def stale_after_300ms(policy: dict[str, Any]) -> None:
    policy["ops"]["market_data_stale_seconds"] = 0.3


def test_rate_limited_polygon_goes_stale_then_recovers(
    gateway: FakeTws, polygon: FakePolygon, tmp_path: Path
) -> None:
    settings = load_settings(
        agent={"id": "live-sources", "pushgateway_url": f"http://127.0.0.1:{free_port()}"},
        trading={
            "data_source": "polygon",
            "broker": "ibkr",
            "benchmark": None,
            "portfolios": [{"name": "live", "broker_account": "DU1234567"}],
            "polygon": {
                "api_key": "test-key",
                "base_url": polygon.url,
                "requests_per_minute": 1000,
                "max_retries": 2,
                "backoff_initial_seconds": 0.01,
                "backoff_max_seconds": 0.05,
            },
            "ibkr": {"port": gateway.port, "client_id": 11, "reconnect_initial_seconds": 0.05},
        },
        # A stale-data limit (DAT_001's) of a fraction of a second lets the test see
        # data go stale without waiting five minutes.
        policy_file=policy_copy(tmp_path, stale_after_300ms),
    )
    runtime, agent = build_runtime("trading", settings)
    assert isinstance(agent, TradingAgent)
    broker = agent.books[0].broker
    try:
        wait_for(lambda: broker.connected, "the IBKR connection", timeout=15)
        dat = runtime.publisher.gauge("compliance_violation_active").labels(
            "live", "DAT_001", "LOW"
        )

        # The runtime reads the market phase before any task: this year's exchange
        # calendar is built by then (a third of a second, more than the limit).
        agent.calendar.phase_at(datetime.now(UTC))
        trade_now(polygon, "AAPL", "MSFT")
        agent.portfolio_task(ctx())  # fresh prices from the recorded JSON
        book = agent.books[0]
        assert set(book.prices) == {"AAPL", "MSFT"}
        assert book.value == pytest.approx(
            20_000 + 100 * book.prices["AAPL"] + 50 * book.prices["MSFT"]
        )
        assert (
            runtime.publisher.registry.get_sample_value(
                "riskwatch_broker_connected", {"broker": "ibkr"}
            )
            == 1
        )
        agent.compliance_task(ctx())
        assert dat._value.get() == 0

        # Rate-limited past the retries: the cycle fails and nothing fresh is published.
        polygon.script("AAPL", *[Reply.error(429, "0")] * 3)
        stale_value = book.value
        with pytest.raises(SourceError, match="429"):
            agent.portfolio_task(ctx())
        assert trade_requests(polygon, "AAPL") == 1 + 3  # the first call, then 1 try + 2 retries
        assert book.value == stale_value
        wait_for(
            lambda: (datetime.now(UTC) - agent.last_market_update).total_seconds() > 0.3,  # type: ignore[operator]
            "the data to age past DAT_001's limit",
            timeout=5,
            interval=0.05,
        )
        agent.compliance_task(ctx())
        assert dat._value.get() == 1, "DAT_001 is violated while the data is stale"

        # 429 once, then 200: backoff, recovery, fresh data, DAT_001 clear again.
        polygon.script("AAPL", Reply.error(429, "0"))
        trade_now(polygon, "AAPL", "MSFT")
        before = trade_requests(polygon, "AAPL")
        agent.portfolio_task(ctx())
        assert trade_requests(polygon, "AAPL") == before + 2
        agent.compliance_task(ctx())
        assert dat._value.get() == 0
    finally:
        broker.close()  # type: ignore[attr-defined]
        runtime.publisher.close()
