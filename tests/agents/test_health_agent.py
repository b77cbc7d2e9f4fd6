"""The health agent sees every component and notices a trading agent that stopped."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.health import HealthAgent
from riskwatch.calendar import MarketPhase
from riskwatch.runtime import TaskContext
from riskwatch.settings import ConfigError, Settings, load_settings
from riskwatch.stack.runner import Stack
from tests.support.policy import policy_copy
from tests.support.stack import free_port, push_gauges

pytestmark = pytest.mark.stack


def push_heartbeat(settings: Settings, agent: str, at: float) -> None:
    push_gauges(
        settings,
        agent,
        [
            (
                "riskwatch_agent_last_success_timestamp_seconds",
                {"agent": agent, "task": "heartbeat"},
                at,
            )
        ],
    )


def health_agent(stack: Stack, policy_file: Path | None = None, **health: object) -> HealthAgent:
    policy = {} if policy_file is None else {"policy_file": policy_file}
    settings = load_settings(
        state_dir=stack.settings.state_dir,
        stack=stack.settings.stack.model_dump(),
        database_url=stack.database_dsn(),
        agent={"id": "health-test"},
        health=health,
        **policy,
    )
    _, agent = build_runtime("health", settings)
    assert isinstance(agent, HealthAgent)
    return agent


def test_silent_trading_agent_is_reported_stopped(stack: Stack) -> None:
    gateway = stack.settings
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


def disk_full_at_any_share(policy: dict[str, Any]) -> None:
    policy["ops"]["disk_min_free_ratio"] = 0.999  # the highest a ratio limit may be


def test_disk_check_publishes_the_free_share_against_the_policys_limit(
    stack: Stack, tmp_path: Path
) -> None:
    missing = tmp_path / "not-mounted"
    agent = health_agent(
        stack,
        policy_file=policy_copy(tmp_path, disk_full_at_any_share),
        disk_paths=[str(tmp_path), str(missing)],
    )
    agent.health_task(TaskContext(datetime.now(UTC), MarketPhase.CLOSED, trace.INVALID_SPAN))
    registry = agent.pub.registry

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    usage = shutil.disk_usage(tmp_path)
    free = sample("riskwatch_disk_free_ratio", path=str(tmp_path))
    assert free == pytest.approx(usage.free / usage.total, abs=0.01)
    # Below the policy's limit (as every test disk is at 99.9%): the figure is
    # DiskSpaceLow's to page; the check itself worked, so ComponentDown stays quiet.
    assert sample("riskwatch_component_up", component=f"disk:{tmp_path}") == 1
    results = {r.component: r for r in agent.last_results}
    assert "below the 99.9% limit" in results[f"disk:{tmp_path}"].detail
    # A path it cannot read is down, with no figure rather than a made-up one.
    assert sample("riskwatch_component_up", component=f"disk:{missing}") == 0
    assert sample("riskwatch_disk_free_ratio", path=str(missing)) is None


def test_the_disk_limit_lives_in_the_policy_only() -> None:
    with pytest.raises(ConfigError, match=r"ops\.disk_min_free_ratio in policy\.yaml"):
        load_settings(health={"disk_min_free_ratio": 0.2})
