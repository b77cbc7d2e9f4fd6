"""Helpers for tests on the real stack: free ports, readiness polling, the CLI as a
user runs it, Prometheus queries, pushes, and what the sinks received.

The fixtures that start the stack are in tests/conftest.py; tests import these from
here, not from conftest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests

from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import Settings
from riskwatch.sinks import Outbox
from riskwatch.stack.postgres import remove_cluster
from riskwatch.stack.runner import Stack

T = TypeVar("T")

PORT_FIELDS = (
    "prometheus_port",
    "pushgateway_port",
    "alertmanager_port",
    "receiver_port",
    "postgres_port",
    "smtp_port",
    "slack_port",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports() -> dict[str, int]:
    """A free port per component, distinct from each other."""
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(PORT_FIELDS):
        ports = {field: free_port() for field in PORT_FIELDS}
    return ports


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 90.0, interval: float = 0.25
) -> T:
    """Readiness polling: call `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, module: str = "riskwatch"
) -> Any:
    """Run the installed `riskwatch` CLI as a user would (or one command group's
    `module` on its own), in its own process."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


TEST_TOKEN = "test-token-" + os.urandom(8).hex()


def prom_query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    """Instant query against the real Prometheus; the result vector."""
    resp = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def stack_env(stack: Stack, **extra: str) -> dict[str, str]:
    """Environment that points a `riskwatch` subprocess at the session's stack."""
    env = {
        f"RISKWATCH_STACK__{field.upper()}": str(getattr(stack.settings.stack, field))
        for field in PORT_FIELDS
    }
    env["RISKWATCH_STATE_DIR"] = str(stack.settings.state_dir)
    env["RISKWATCH_DATABASE_URL"] = stack.database_dsn()
    # The state folder's generated Pushgateway login is found from STATE_DIR alone.
    env.update(extra)
    return env


def gateway_access(settings: Settings) -> PushgatewayAccess:
    """The agents' login to the stack's Pushgateway, which takes no other push."""
    return PushgatewayAccess.from_settings(settings)


def pushgateway_get(settings: Settings, path: str) -> requests.Response:
    """GET `path` of the stack's Pushgateway, logged in as the agents."""
    resp = requests.get(
        f"{settings.url.pushgateway}{path}",
        headers=gateway_access(settings).headers(),
        timeout=10,
    )
    resp.raise_for_status()
    return resp


def push_gauges(
    settings: Settings, agent: str, samples: list[tuple[str, dict[str, str], float]]
) -> None:
    """Push gauges as agent `agent` would (job riskwatch, grouping key agent)."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    for name, labels, value in samples:
        if name not in gauges:
            gauges[name] = Gauge(name, name, list(labels), registry=registry)
        gauges[name].labels(**labels).set(value)
    push_to_gateway(
        settings.url.pushgateway,
        job="riskwatch",
        registry=registry,
        grouping_key={"agent": agent},
        handler=gateway_access(settings).handler(),
    )


def delete_group(settings: Settings, agent: str) -> None:
    from prometheus_client import delete_from_gateway

    delete_from_gateway(
        settings.url.pushgateway,
        job="riskwatch",
        grouping_key={"agent": agent},
        handler=gateway_access(settings).handler(),
    )


def outbox_emails(outbox: Path) -> list[Any]:
    """Every email in the outbox, parsed, oldest first."""
    return list(Outbox(outbox).emails())


def outbox_slack(outbox: Path) -> list[dict[str, Any]]:
    """Every Slack post in the outbox (records with the posted `message`), oldest first."""
    return Outbox(outbox).slack_posts()


def email_text(message: Any) -> str:
    """Subject, recipients and every text part of an email, for matching."""
    parts = [str(message["Subject"]), str(message["To"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_payload(decode=True).decode(errors="replace"))
    return "\n".join(parts)


@contextmanager
def running_stack(settings: Settings) -> Iterator[Stack]:
    """A stack of its own, up for the `with` block and down after it, whatever happens."""
    runner = Stack(settings)
    try:
        runner.up()
        yield runner
    finally:
        runner.down()
        # As root the cluster lives outside the state folder: removing the folder
        # (pytest's tmp_path) would leave it behind, one per test stack.
        remove_cluster(runner.layout.root)
