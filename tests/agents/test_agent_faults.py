"""The agents survive what goes wrong around them."""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.equity import EquityStore
from riskwatch.calendar import MarketCalendar
from riskwatch.publish import Publisher, RetryPolicy
from riskwatch.runtime import AgentRuntime
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.stack.runner import Stack
from tests.support.calendar import SITUATIONS, shipped_calendar
from tests.support.stack import free_port, wait_for

FIXED_DAY_START = shipped_calendar().session_start(SITUATIONS[0].at)


def agent_settings(pushgateway: str, **agent: object) -> Settings:
    fast = {"interval_seconds": 0.5, "phases": ["PRE_MARKET", "REGULAR", "AFTER_HOURS", "CLOSED"]}
    return load_settings(
        agent={
            "pushgateway_url": pushgateway,
            "tick_seconds": 0.1,
            "push_timeout_seconds": 0.5,
            "push_backoff_initial_seconds": 0.1,
            "push_backoff_max_seconds": 0.2,
            "push_max_attempts": 2,
            "tasks": {"heartbeat": fast, "portfolio": fast},
            **agent,
        },
        trading={"portfolios": [{"name": "solo", "positions": 5}]},
    )


class Gateway:
    """A real Pushgateway on a free port that a test may kill and restart."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "pushgateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("prometheus-pushgateway")
        assert binary, "prometheus-pushgateway is installed by `make test`"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [binary, f"--web.listen-address=127.0.0.1:{self.port}"], stdout=log, stderr=log
            )
        wait_for(self.ready, "the test Pushgateway", timeout=30)

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).ok
        except requests.RequestException:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def heartbeat(self, agent: str) -> float | None:
        try:
            text = requests.get(f"{self.url}/metrics", timeout=1).text
        except requests.RequestException:
            return None
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if (
                    s.name == "riskwatch_agent_last_success_timestamp_seconds"
                    and s.labels.get("agent") == agent
                    and s.labels.get("task") == "heartbeat"
                ):
                    return s.value
        return None


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(tmp_path)
    gw.start()
    yield gw
    if gw.proc and gw.proc.poll() is None:
        gw.kill()


def test_pushgateway_killed_and_restarted(gateway: Gateway) -> None:
    settings = agent_settings(gateway.url, id="fault-pgw")
    runtime, _ = build_runtime("trading", settings)
    thread = threading.Thread(target=runtime.run_forever, daemon=True)
    thread.start()
    try:
        wait_for(lambda: gateway.heartbeat("fault-pgw"), "the first heartbeat", timeout=30)
        gateway.kill()
        failures = runtime.publisher.push_failures.labels("fault-pgw")
        wait_for(lambda: failures._value.get() >= 1, "a counted push failure", timeout=30)
        assert thread.is_alive(), "the agent must survive a dead Pushgateway"
        cycles_before = (
            runtime.publisher.counter("riskwatch_agent_task_runs_total")
            .labels("fault-pgw", "heartbeat")
            ._value.get()
        )
        assert cycles_before >= 2
        gateway.start()  # a fresh Pushgateway: it remembers nothing
        restarted = datetime.now(UTC).timestamp()
        # Within two heartbeat cycles (0.5 s each) plus one push, the metrics are back.
        beat = wait_for(lambda: gateway.heartbeat("fault-pgw"), "metrics after restart", timeout=5)
        assert beat >= restarted - 1.0
        assert thread.is_alive()
    finally:
        runtime.stop_event.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_nan_zero_and_negative_prices_are_rejected_counted_and_never_published(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    settings = agent_settings(gateway.url, id="fault-price")
    market = SyntheticMarket(settings.trading.seed, calendar=MarketCalendar(settings.policy.market))
    runtime, agent = build_runtime("trading", settings, market=market)
    assert runtime.run_once()
    book = agent.books[0]  # type: ignore[union-attr]
    bad = {
        p.symbol: factor for p, factor in zip(book.positions, (math.nan, 0.0, -1.0), strict=False)
    }
    good_prices = {s: book.prices[s] for s in bad}
    for symbol, factor in bad.items():
        market.shock(symbol, factor)
    caplog.set_level(logging.WARNING, logger="riskwatch.agents.trading")
    assert runtime.run_once()
    ticks = [r for r in caplog.records if r.getMessage() == "tick rejected"]
    assert sorted(r.reason for r in ticks) == ["nan", "non_positive", "non_positive"]  # type: ignore[attr-defined]
    assert {r.symbol for r in ticks} == set(bad)  # type: ignore[attr-defined]
    # Fills the broker reports at a broken price are rejected the same way.
    logged = [r for r in caplog.records if r.getMessage().endswith(" rejected")]
    rejected = runtime.publisher.counter("marketdata_rejected_ticks_total")
    for reason in ("nan", "non_positive"):
        expected = sum(r.reason == reason for r in logged)  # type: ignore[attr-defined]
        assert rejected.labels("synthetic", reason)._value.get() == expected
    text = requests.get(f"{gateway.url}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "marketdata_price_usd" and s.labels["symbol"] in bad:
                assert s.value == good_prices[s.labels["symbol"]]
                assert s.value > 0 and math.isfinite(s.value)
            if s.name == "trading_portfolio_value_usd":
                assert s.value > 0 and math.isfinite(s.value)


def test_restart_mid_day_keeps_peak_and_daily_pnl(stack: Stack) -> None:
    dsn = stack.database_dsn()
    portfolio = f"restart-{uuid.uuid4().hex[:12]}"
    # A fixed day: the outcome must not depend on the day the suite runs.
    day_start = FIXED_DAY_START
    yesterday = day_start - timedelta(hours=4)
    first = EquityStore(dsn)
    first.record(portfolio, yesterday, 1_000_000.0, day_start - timedelta(days=1))
    first.record(portfolio, day_start + timedelta(hours=10), 1_050_000.0, day_start)
    before = first.record(portfolio, day_start + timedelta(hours=11), 1_020_000.0, day_start)
    assert before.peak == 1_050_000.0
    assert before.daily_pnl == 20_000.0

    restarted = EquityStore(dsn)  # a new process: nothing in memory
    after = restarted.record(portfolio, day_start + timedelta(hours=12), 1_010_000.0, day_start)
    assert after.peak == 1_050_000.0, "the drawdown peak survives the restart"
    assert after.daily_pnl == 10_000.0, "daily P&L is still measured from yesterday's close"
    assert math.isclose(after.drawdown, 1 - 1_010_000 / 1_050_000)
    with psycopg.connect(dsn) as conn:
        count = conn.execute(
            "SELECT count(*) FROM agent_equity WHERE portfolio = %s", (portfolio,)
        ).fetchone()
    assert count == (4,)


def test_unreachable_database_keeps_points_until_it_returns(stack: Stack) -> None:
    dsn = stack.database_dsn()
    portfolio = f"offline-{uuid.uuid4().hex[:12]}"
    # A fixed day: the outcome must not depend on the day the suite runs.
    day_start = FIXED_DAY_START
    store = EquityStore(
        f"postgresql://riskwatch@127.0.0.1:{free_port()}/riskwatch?connect_timeout=1"
    )
    state = store.record(portfolio, day_start + timedelta(hours=1), 500_000.0, day_start)
    assert state.daily_pnl == 0.0 and state.peak == 500_000.0
    store.dsn = dsn  # the database is back
    store.record(portfolio, day_start + timedelta(hours=2), 490_000.0, day_start)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT value_usd FROM agent_equity WHERE portfolio = %s ORDER BY ts", (portfolio,)
        ).fetchall()
    assert rows == [(500_000.0,), (490_000.0,)]


def test_publisher_push_to_nothing_does_not_block() -> None:
    pub = Publisher(
        "nobody", f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(0.2, 3, 0.05, 0.1)
    )
    started = datetime.now(UTC)
    assert pub.push() is True  # queued, returns at once
    assert (datetime.now(UTC) - started).total_seconds() < 0.1
    assert pub.push(wait=True) is False
    assert pub.push_failures.labels("nobody")._value.get() >= 1
    pub.close()


def test_once_exits_non_zero_when_a_task_fails(gateway: Gateway) -> None:
    # More history than the synthetic market holds: the risk tasks fail for real.
    settings = load_settings(
        agent={"pushgateway_url": gateway.url, "id": "fault-task"},
        trading={"history_days": 5000, "portfolios": [{"name": "solo", "positions": 5}]},
    )
    runtime, _ = build_runtime("trading", settings)
    assert isinstance(runtime, AgentRuntime)
    assert runtime.run_once() is False
    failures = runtime.publisher.counter("riskwatch_agent_task_failures_total")
    assert failures.labels("fault-task", "risk")._value.get() == 1
    assert failures.labels("fault-task", "portfolio")._value.get() == 0
    # The tasks that could run still pushed their figures.
    assert gateway.heartbeat("fault-task") is not None


def run_then_stop(gateway: Gateway, agent: str, **settings: object) -> None:
    """Run a trading agent until its first heartbeat is pushed, then stop it as SIGTERM
    does."""
    runtime, _ = build_runtime("trading", agent_settings(gateway.url, id=agent, **settings))
    thread = threading.Thread(target=runtime.run_forever, daemon=True)
    thread.start()
    wait_for(lambda: gateway.heartbeat(agent), "the first heartbeat", timeout=30)
    runtime.stop_event.set()  # what SIGTERM does
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_stop_keeps_the_group_unless_the_agent_is_ephemeral(gateway: Gateway) -> None:
    run_then_stop(gateway, "fault-stop")
    assert gateway.heartbeat("fault-stop") is not None, "a stopped agent must page AgentDown"

    run_then_stop(gateway, "fault-ephemeral", delete_on_exit=True)
    assert gateway.heartbeat("fault-ephemeral") is None, "an ephemeral agent leaves nothing"
