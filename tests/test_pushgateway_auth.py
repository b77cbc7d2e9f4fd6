"""The local stack's Pushgateway takes pushes from agents only, and nothing of ours
runs an admin or lifecycle API it does not need.

Prometheus scrapes the Pushgateway with `honor_labels: true`, so whoever may push may
pose as any agent, and whoever may DELETE may silence one: without the agents' login,
both get 401. The login is in the file `stack status --json` names.
"""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.error
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway
from prometheus_client.parser import text_string_to_metric_families

from riskwatch.publish import Publisher, RetryPolicy
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.stack.runner import Stack
from tests.support.stack import (
    delete_group,
    gateway_access,
    prom_query,
    push_gauges,
    pushgateway_get,
    run_cli,
    stack_env,
    wait_for,
)

pytestmark = pytest.mark.stack

AGENT = f"auth-probe-{os.getpid()}"


def _registry(value: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("trading_drawdown_ratio", "d", ["portfolio"], registry=registry).labels("auth").set(value)
    return registry


def _groups(stack: Stack) -> list[dict[str, str]]:
    data = pushgateway_get(stack.settings, "/api/v1/metrics").json()["data"]
    return [g["labels"] for g in data]


def test_status_names_the_login_file_and_it_is_owner_only(stack: Stack) -> None:
    status = run_cli("stack", "status", "--json", env=stack_env(stack))
    assert status.returncode == 0, status.stderr[-2000:]
    path = Path(json.loads(status.stdout)["pushgateway_auth_file"])
    user, sep, password = path.read_text().partition(":")
    assert sep and user == stack.settings.stack.pushgateway_username and len(password) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Another tool pushes with that file alone, and Prometheus scrapes what it pushed.
    access = PushgatewayAccess.parse(path.read_text())
    gw = stack.settings.url.pushgateway
    push_to_gateway(
        gw, job="riskwatch", registry=_registry(0.01), grouping_key={"agent": AGENT},
        handler=access.handler(),
    )  # fmt: skip
    try:
        query = f'trading_drawdown_ratio{{agent="{AGENT}"}}'
        wait_for(lambda: prom_query(stack.settings.url.prometheus, query), "a scrape", timeout=30)
    finally:
        delete_group(stack.settings, AGENT)


def test_a_push_without_the_login_gets_401_and_changes_nothing(stack: Stack) -> None:
    gw = stack.settings.url.pushgateway
    with pytest.raises(urllib.error.HTTPError) as refused:
        push_to_gateway(gw, job="riskwatch", registry=_registry(0.5), grouping_key={"agent": AGENT})
    assert refused.value.code == 401
    wrong = PushgatewayAccess(stack.settings.stack.pushgateway_username, "not-the-password")
    with pytest.raises(urllib.error.HTTPError) as refused:
        push_to_gateway(
            gw, job="riskwatch", registry=_registry(0.5), grouping_key={"agent": AGENT},
            handler=wrong.handler(),
        )  # fmt: skip
    assert refused.value.code == 401
    assert not [g for g in _groups(stack) if g.get("agent") == AGENT]
    assert requests.get(f"{gw}/metrics", timeout=5).status_code == 401  # reading too


def test_a_delete_without_the_login_gets_401_and_the_group_stays(stack: Stack) -> None:
    push_gauges(stack.settings, AGENT, [("trading_drawdown_ratio", {"portfolio": "auth"}, 0.02)])
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            delete_from_gateway(
                stack.settings.url.pushgateway, job="riskwatch", grouping_key={"agent": AGENT}
            )
        assert refused.value.code == 401
        assert [g for g in _groups(stack) if g.get("agent") == AGENT]
    finally:
        delete_group(stack.settings, AGENT)
    assert not [g for g in _groups(stack) if g.get("agent") == AGENT]


def test_the_pushgateway_admin_api_is_off_even_with_the_login(stack: Stack) -> None:
    push_gauges(stack.settings, AGENT, [("trading_drawdown_ratio", {"portfolio": "auth"}, 0.03)])
    try:
        wipe = requests.put(
            f"{stack.settings.url.pushgateway}/api/v1/admin/wipe",
            headers=gateway_access(stack.settings).headers(),
            timeout=5,
        )
        assert wipe.status_code in (404, 405), wipe.status_code
        assert [g for g in _groups(stack) if g.get("agent") == AGENT]
    finally:
        delete_group(stack.settings, AGENT)


def test_prometheus_runs_without_lifecycle_or_admin_api(stack: Stack) -> None:
    prom = stack.settings.url.prometheus
    assert requests.post(f"{prom}/-/reload", timeout=5).status_code == 403
    assert requests.post(f"{prom}/-/quit", timeout=5).status_code == 403
    snapshot = requests.post(f"{prom}/api/v1/admin/tsdb/snapshot", timeout=5)
    assert snapshot.status_code >= 400 and "admin APIs disabled" in snapshot.text


def test_up_again_reloads_prometheus_by_signal(stack: Stack) -> None:
    """`up` on a running stack re-renders and reloads: with the lifecycle API off, by
    SIGHUP, which Prometheus' own reload metrics confirm."""

    def config_gauges() -> dict[str, float]:
        text = requests.get(f"{stack.settings.url.prometheus}/metrics", timeout=5).text
        return {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.startswith("prometheus_config_last_reload_success")
        }

    before = config_gauges()["prometheus_config_last_reload_success_timestamp_seconds"]
    stack.up()  # returns once the reload is confirmed
    after = config_gauges()
    assert after["prometheus_config_last_reload_success_timestamp_seconds"] > before
    assert after["prometheus_config_last_reload_successful"] == 1


def test_a_publisher_without_the_login_fails_at_once_and_counts_it(stack: Stack) -> None:
    """401 is not a network blip: no retry can fix it, so there is none."""
    pub = Publisher(
        AGENT,
        stack.settings.url.pushgateway,
        retry=RetryPolicy(timeout_seconds=2, max_attempts=5, initial_backoff_seconds=2.0),
    )
    pub.gauge("trading_drawdown_ratio").labels("auth").set(0.04)
    started = time.monotonic()
    try:
        assert pub.push(wait=True) is False
    finally:
        pub.close()
    assert time.monotonic() - started < 2.0  # the first backoff would be 2 s
    assert pub.push_failures.labels(AGENT)._value.get() == 1
    assert not [g for g in _groups(stack) if g.get("agent") == AGENT]
