"""The health agent sees every component and notices a trading agent that stopped."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.health import HealthAgent
from riskwatch.settings import load_settings
from riskwatch.stack.runner import Stack
from tests.support.stack import free_port

pytestmark = pytest.mark.stack


def push_heartbeat(gateway: str, agent: str, at: float) -> None:
    registry = CollectorRegistry()
    g = Gauge("agent_last_success_timestamp_seconds", "h", ["agent", "task"], registry=registry)
    g.labels(agent, "heartbeat").set(at)
    push_to_gateway(gateway, job="riskwatch", registry=registry, grouping_key={"agent": agent})


def health_agent(stack: Stack, **health: object) -> HealthAgent:
    settings = load_settings(
        state_dir=stack.settings.state_dir,
        stack=stack.settings.stack.model_dump(),
        database_url=stack.database_dsn(),
        agent={"id": "health-test"},
        health=health,
    )
    _, agent = build_runtime("health", settings)
    assert isinstance(agent, HealthAgent)
    return agent


def test_silent_trading_agent_is_reported_stopped(stack: Stack) -> None:
    gateway = stack.settings.url.pushgateway
    agent = health_agent(stack)  # built first: the ages count from the pushes below
    now = time.time()
    push_heartbeat(gateway, "trading-alive", now - 10)
    push_heartbeat(gateway, "trading-silent", now - 301)  # default timeout: 5 minutes
    results = {r.component: r for r in agent.run_checks()}
    assert results["agent:trading-alive"].up
    assert not results["agent:trading-silent"].up
    assert "301s ago" in results["agent:trading-silent"].detail


def test_every_component_checked_and_a_dead_one_is_down(stack: Stack) -> None:
    agent = health_agent(stack, urls={"alertmanager": f"http://127.0.0.1:{free_port()}"})
    results = {r.component: r for r in agent.run_checks()}
    # The default settings' synthetic portfolios, each broker connection on its own.
    for name in (
        "prometheus",
        "pushgateway",
        "receiver",
        "postgresql",
        "broker:alpha",
        "broker:beta",
    ):
        assert results[name].up, results[name]
    assert not results["alertmanager"].up
    assert any(name.startswith("disk:") and r.up for name, r in results.items())
    assert all(r.seconds >= 0 for r in results.values())


def test_full_disk_threshold_reports_down(stack: Stack) -> None:
    agent = health_agent(stack, disk_min_free_ratio=1.0)
    results = [r for r in agent.run_checks() if r.component.startswith("disk:")]
    assert results and not any(r.up for r in results)
