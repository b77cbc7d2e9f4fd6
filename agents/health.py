"""The health agent: is every component of the pipeline, and every trading agent, alive?

Each check publishes `riskwatch_component_up{component}` and its latency. A trading agent that
has not recorded a heartbeat for `health.trading_heartbeat_timeout_seconds` is
reported as `riskwatch_component_up{component="agent:<id>"} 0`, computed from what the
Pushgateway holds, because the Pushgateway itself never forgets a dead agent.

Every configured portfolio's broker connection is checked (`broker:<portfolio>`) on
connections of the health agent's own, and `riskwatch_broker_connected{broker}` is 1 only while
all of that broker's connections are up. Each configured disk path's free share is
published as `riskwatch_disk_free_ratio{path}` and checked against the policy's
`ops.disk_min_free_ratio`, the limit DiskSpaceLow uses.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import requests
from prometheus_client.parser import text_string_to_metric_families

from riskwatch.database import local_database_url
from riskwatch.publish import Publisher
from riskwatch.runtime import Task, TaskContext
from riskwatch.settings import Settings
from riskwatch.sources.base import BrokerSource

log = logging.getLogger("riskwatch.agents.health")


@dataclass(frozen=True)
class CheckResult:
    component: str
    up: bool
    seconds: float
    detail: str = ""


class HealthAgent:
    """Checks every component on the `health` task's schedule."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        brokers: Mapping[str, BrokerSource],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.pub = publisher
        self.brokers = dict(brokers)
        """The broker of every configured portfolio, by portfolio name."""
        self.clock = clock
        self._awaited_brokers = False
        self.last_results: list[CheckResult] = []
        urls: dict[str, str] = {
            "prometheus": settings.url.prometheus,
            "pushgateway": settings.agent.pushgateway_url or settings.url.pushgateway,
            "alertmanager": settings.url.alertmanager,
            "receiver": settings.url.receiver,
        }
        for component, url in settings.health.urls.items():
            urls[component] = url
        self.urls = urls

    def close(self) -> None:
        """Close the broker connections this agent opened (IBKR's background loops)."""
        for broker in self.brokers.values():
            close: Callable[[], None] | None = getattr(broker, "close", None)
            if close is not None:
                close()

    def tasks(self) -> list[Task]:
        schedules = self.settings.agent.tasks
        tasks = [
            Task("health", self.health_task, schedules["health"]),
            Task("heartbeat", lambda _ctx: None, schedules["heartbeat"]),
        ]
        return tasks

    # ------------------------------------------------------------------ checks
    def _timed(self, component: str, check: Callable[[], str]) -> CheckResult:
        started = time.perf_counter()
        try:
            detail = check()
            up = True
        except Exception as exc:  # a check's failure is the finding, not an error
            detail, up = " ".join(str(exc).split())[:200], False
        return CheckResult(component, up, time.perf_counter() - started, detail)

    def _get(self, component: str, url: str) -> requests.Response:
        """GET `url` of `component`; the Pushgateway's with the agents' credentials
        (its web config puts every path, readiness included, behind basic auth)."""
        headers: dict[str, str] = {}
        verify: bool | str = True
        if component == "pushgateway":
            headers = self.pub.access.headers()
            verify = str(self.pub.access.ca_file) if self.pub.access.ca_file else True
        resp = requests.get(
            url,
            timeout=self.settings.health.check_timeout_seconds,
            headers=headers,
            verify=verify,
        )
        resp.raise_for_status()
        return resp

    def _http(self, component: str) -> Callable[[], str]:
        def check() -> str:
            return f"HTTP {self._get(component, self._ready_url(component)).status_code}"

        return check

    def _database(self) -> str:
        dsn = local_database_url(self.settings)
        if dsn is None:
            raise RuntimeError("no database configured (RISKWATCH_DATABASE_URL)")
        timeout = max(1, int(self.settings.health.check_timeout_seconds))
        with psycopg.connect(dsn, connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
        return "SELECT 1"

    def _broker(self, broker: BrokerSource) -> Callable[[], str]:
        def check() -> str:
            if not broker.connected:
                raise RuntimeError(f"{broker.name} disconnected")
            return f"{broker.name} connected"

        return check

    def _await_first_connections(self) -> None:
        """Before the first check only, give brokers that connect in the background
        (IBKR) up to `check_timeout_seconds` to finish their handshake: otherwise every
        start, and every `--once`, would report a healthy gateway down."""
        if self._awaited_brokers:
            return
        self._awaited_brokers = True
        deadline = time.monotonic() + self.settings.health.check_timeout_seconds
        for broker in self.brokers.values():
            wait: Callable[[float], bool] | None = getattr(broker, "wait_connected", None)
            if wait is not None and not broker.connected:
                wait(max(0.0, deadline - time.monotonic()))

    def _disk(self, path: str) -> Callable[[], str]:
        """Publishes `riskwatch_disk_free_ratio{path}`, DiskSpaceLow's input, and fails only when
        the path cannot be read. A disk measured below the policy's limit is
        DiskSpaceLow's to page, after its `for`; failing the check too would page
        ComponentDown a few minutes earlier for the same disk."""

        def check() -> str:
            gauge = self.pub.gauge("riskwatch_disk_free_ratio")
            try:
                usage = shutil.disk_usage(path)
            except OSError:
                gauge.remove(path)  # no reading, rather than the last one frozen
                raise
            free = usage.free / usage.total
            gauge.labels(path).set(free)
            limit = self.settings.policy.ops.disk_min_free_ratio
            if free < limit:
                return f"{free:.1%} free, below the {limit:.1%} limit (DiskSpaceLow)"
            return f"{free:.1%} free"

        return check

    def _pushed(self) -> dict[str, Any]:
        """Heartbeats and market-data times by agent/source, read from the Pushgateway."""
        resp = self._get("pushgateway", f"{self.urls['pushgateway']}/metrics")
        heartbeats: dict[str, float] = {}
        market: dict[str, float] = {}
        for family in text_string_to_metric_families(resp.text):
            for sample in family.samples:
                if sample.name == "riskwatch_agent_last_success_timestamp_seconds":
                    agent = sample.labels.get("agent", "")
                    if sample.labels.get("task") == "heartbeat" and agent != self.pub.agent:
                        heartbeats[agent] = max(heartbeats.get(agent, 0.0), sample.value)
                elif sample.name == "marketdata_last_update_timestamp_seconds":
                    source = sample.labels.get("source", "")
                    market[source] = max(market.get(source, 0.0), sample.value)
        return {"heartbeats": heartbeats, "market": market}

    def run_checks(self) -> list[CheckResult]:
        results = [self._timed(name, self._http(name)) for name in self.urls]
        results.append(self._timed("postgresql", self._database))
        self._await_first_connections()
        for portfolio, broker in sorted(self.brokers.items()):
            # Portfolios are configured, so the component label stays bounded.
            results.append(self._timed(f"broker:{portfolio}", self._broker(broker)))
        for path in self.settings.health.disk_paths:
            results.append(self._timed(f"disk:{path}", self._disk(str(path))))
        try:
            pushed = self._pushed()
        except requests.RequestException:
            return results  # the Pushgateway check above already says it is down
        now = self.clock()
        timeout = self.settings.health.trading_heartbeat_timeout_seconds
        for agent, beat in sorted(pushed["heartbeats"].items()):
            age = now - beat
            results.append(CheckResult(f"agent:{agent}", age <= timeout, 0.0, f"{age:.0f}s ago"))
        max_age = self.settings.health.market_data_max_age_seconds
        for source, updated in sorted(pushed["market"].items()):
            age = now - updated
            results.append(CheckResult(f"marketdata:{source}", age <= max_age, 0.0, f"{age:.0f}s"))
        return results

    def _ready_url(self, component: str) -> str:
        base = self.urls[component]
        return f"{base}/healthz" if component == "receiver" else f"{base}/-/ready"

    def health_task(self, ctx: TaskContext) -> None:
        results = self.run_checks()
        up = self.pub.gauge("riskwatch_component_up")
        latency = self.pub.gauge("riskwatch_component_check_duration_seconds")
        for r in results:
            up.labels(r.component).set(int(r.up))
            latency.labels(r.component).set(r.seconds)
            if not r.up:
                log.warning("component down", extra={"component": r.component, "detail": r.detail})
        self._publish_brokers({r.component: r.up for r in results})
        ctx.span.set_attribute(
            "riskwatch.components_down", [r.component for r in results if not r.up]
        )
        self.last_results = results

    def _publish_brokers(self, up: Mapping[str, bool]) -> None:
        """`riskwatch_broker_connected{broker}` as this round's checks found it: 1 only while
        every portfolio's connection to that broker is up."""
        connected: dict[str, bool] = {}
        for portfolio, broker in self.brokers.items():
            ok = up.get(f"broker:{portfolio}", False)
            connected[broker.name] = connected.get(broker.name, True) and ok
        gauge = self.pub.gauge("riskwatch_broker_connected")
        for name, ok in connected.items():
            gauge.labels(name).set(int(ok))
