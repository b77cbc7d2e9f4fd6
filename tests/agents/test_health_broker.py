"""The health agent checks the configured IBKR gateway for real, on connections of its
own: up while the (fake) gateway runs, down once it goes away, and never stuck when
the gateway is down at start."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.health import HealthAgent
from riskwatch.calendar import MarketPhase
from riskwatch.runtime import AgentRuntime, TaskContext
from riskwatch.settings import ConfigError, Settings, load_settings
from tests.sources.fake_tws import FakeTws, running
from tests.support.stack import free_port, wait_for

TRADING_CLIENT_ID = 11
HEALTH_CLIENT_ID = 21
# Longest the first check waits for the gateway's handshake (check_timeout_seconds).
CHECK_TIMEOUT = 5.0


def ibkr_settings(port: int, **health: Any) -> Settings:
    """Two IBKR portfolios on the gateway at `port`; nothing else of the stack is up."""
    dead = f"http://127.0.0.1:{free_port()}"
    return load_settings(
        agent={"id": "health-ibkr", "pushgateway_url": dead},
        trading={
            "broker": "ibkr",
            "portfolios": [
                {"name": "north", "broker_account": "DU1234567"},
                {"name": "south", "broker_account": "DU1234567"},
            ],
            "ibkr": {
                "port": port,
                "client_id": TRADING_CLIENT_ID,
                "reconnect_initial_seconds": 0.05,
                "reconnect_max_seconds": 0.2,
                "connect_timeout_seconds": 2.0,
            },
        },
        health={
            "ibkr_client_id": HEALTH_CLIENT_ID,
            "check_timeout_seconds": CHECK_TIMEOUT,
            "urls": {c: dead for c in ("prometheus", "alertmanager", "receiver")},
            **health,
        },
    )


def ctx() -> TaskContext:
    return TaskContext(datetime.now(UTC), MarketPhase.CLOSED, trace.INVALID_SPAN)


Build = Callable[[int], tuple[AgentRuntime, HealthAgent]]


@pytest.fixture
def health() -> Iterator[Build]:
    """Builds the health agent as `riskwatch agent health` does, for the gateway on a
    port; its connections are closed afterwards."""
    built: list[tuple[AgentRuntime, HealthAgent]] = []

    def build(port: int) -> tuple[AgentRuntime, HealthAgent]:
        runtime, agent = build_runtime("health", ibkr_settings(port))
        assert isinstance(agent, HealthAgent)
        built.append((runtime, agent))
        return runtime, agent

    yield build
    for runtime, agent in built:
        agent.close()
        runtime.publisher.close()


def published(runtime: AgentRuntime, name: str, **labels: str) -> float | None:
    return runtime.publisher.registry.get_sample_value(name, labels)


def broker_state(runtime: AgentRuntime) -> tuple[float | None, ...]:
    """riskwatch_component_up of both portfolios' connections, then
    riskwatch_broker_connected{ibkr}."""
    return (
        published(runtime, "riskwatch_component_up", component="broker:north"),
        published(runtime, "riskwatch_component_up", component="broker:south"),
        published(runtime, "riskwatch_broker_connected", broker="ibkr"),
    )


def test_up_while_the_gateway_runs_down_after_it_stops(health: Build) -> None:
    with running(FakeTws()) as tws:
        runtime, agent = health(tws.port)
        agent.health_task(ctx())  # the first check awaits the handshake
        assert broker_state(runtime) == (1, 1, 1)
        # Its own connections, beside (not instead of) the trading agent's client ids.
        assert sorted(b.config.client_id for b in agent.brokers.values()) == [  # type: ignore[attr-defined]
            HEALTH_CLIENT_ID,
            HEALTH_CLIENT_ID + 1,
        ]

        tws.stop()  # the gateway goes away

        def reported_down() -> bool:
            agent.health_task(ctx())
            return broker_state(runtime) == (0, 0, 0)

        wait_for(reported_down, "the health agent to report the broker down", timeout=15)
        down = {r.component: r for r in agent.last_results}
        assert "ibkr disconnected" in down["broker:north"].detail


def test_gateway_down_at_start_neither_crashes_nor_hangs(health: Build) -> None:
    with running(FakeTws()) as tws:
        tws.stop()
        started = time.monotonic()
        runtime, agent = health(tws.port)
        agent.health_task(ctx())
        # Waited for the handshake once, bounded by the check timeout, then reported.
        assert time.monotonic() - started < CHECK_TIMEOUT + 5
        assert broker_state(runtime) == (0, 0, 0)

        tws.start()  # the gateway comes up; the sources reconnect on their own

        def reported_up() -> bool:
            agent.health_task(ctx())
            return broker_state(runtime) == (1, 1, 1)

        wait_for(reported_up, "the health agent to see the gateway back", timeout=15)


def test_ibkr_needs_a_client_id_range_of_its_own() -> None:
    port = free_port()  # never listened on: the check fails before any connection
    with pytest.raises(ConfigError, match=r"health\.ibkr_client_id"):
        build_runtime("health", ibkr_settings(port, ibkr_client_id=None))
    with pytest.raises(ConfigError, match="overlap"):
        build_runtime("health", ibkr_settings(port, ibkr_client_id=TRADING_CLIENT_ID + 1))
