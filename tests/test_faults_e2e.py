"""Every way riskwatch can go quiet that issue #12 names pages someone: each fault is
injected into a real stack, on real processes, with the shipped policy's intervals.

One stack for the module. Its policy is the shipped one plus an inventory of what
runs here: two trading agents, a health agent and the tradestore exporter, each a
process of its own. The faults are injected together, so the module takes as long as
the slowest alert (about two minutes, AgentDown's push age), not their sum:

- a trading agent is SIGKILLed: AgentDown;
- the other is SIGKILLed and its Pushgateway group deleted: AgentMissing;
- the exporter is stopped: ExporterDown;
- PostgreSQL is stopped: ReceiverDatabaseDown and ComponentDown (the health agent's
  database check); once it is back, the audit trail has both (nothing lost). Beside
  the stack, an Alertmanager of the test's own delivers two test alerts of its own
  through a recording tap to the stack's receiver: one fires during the outage, one
  fired before it and resolves during it. The tap shows that the payloads carrying
  those very alerts got 503 (not merely that some delivery did: the stack's own
  alerts get 503 too), and once the database is back each is stored exactly once,
  the resolution sent during the outage included;
- a rule that fails at every evaluation is loaded: PrometheusRuleEvaluationFailures;
- a quant publishes a 2.5% VaR with method="monte_carlo", and one with no method:
  VaRLimitBreached for each.

Every alert here is critical, so it reaches its channel at any hour. Each test waits
for the notification at the sink, and records the seconds from fault to arrival:
`test_print_fault_to_sink_seconds` prints them (issue #12's closing note).
"""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from riskwatch.demo.scenarios import CRO_EMAIL, OPS_SLACK, RISK_SLACK
from riskwatch.publish import Publisher
from riskwatch.receiver_client import ReceiverClient
from riskwatch.settings import Settings, load_settings
from riskwatch.sinks import Outbox, written_at
from riskwatch.stack.render import STACK_JOBS
from riskwatch.stack.runner import Stack
from tests.support.alertmanager import running_alertmanager
from tests.support.policy import policy_copy
from tests.support.stack import (
    TEST_TOKEN,
    delete_group,
    free_port,
    free_ports,
    gateway_access,
    prom_query,
    pushgateway_get,
    running_stack,
    stack_env,
    wait_for,
)
from tests.support.webhook_tap import WebhookTap, metric_value, running_tap, webhook_only_config

pytestmark = pytest.mark.stack

KILLED = "fault-killed"
DELETED = "fault-deleted"
HEALTH = "fault-health"
EXPORTER_JOB = "tradestore"
BROKEN_GROUP = "riskwatch-broken"
# Twice the slowest alert's shipped delay (AgentDown: a 120 s push age, then an
# evaluation and group_wait), for a loaded 2-core machine.
ALERT_TIMEOUT = 240


@dataclass
class OutageAlerts:
    """The test's own Alertmanager and tap, and its two alerts by fingerprint:
    `during` fires while the database is down, `resolved` fired before the outage and
    resolves during it."""

    alertmanager: str
    tap: WebhookTap
    during: str = ""
    resolved: str = ""
    fired: float = 0.0  # when both were handed to the Alertmanager, database down

    def post(self, labels: dict[str, str], starts: str, ends: str | None = None) -> None:
        alert: dict[str, Any] = {"labels": labels, "annotations": {}, "startsAt": starts}
        if ends is not None:
            alert["endsAt"] = ends
        resp = requests.post(f"{self.alertmanager}/api/v2/alerts", json=[alert], timeout=5)
        resp.raise_for_status()

    def fingerprint(self, labels: dict[str, str]) -> str:
        def known() -> str | None:
            for alert in requests.get(f"{self.alertmanager}/api/v2/alerts", timeout=5).json():
                if alert["labels"] == labels:
                    return str(alert["fingerprint"])
            return None

        return wait_for(known, f"the test Alertmanager to hold {labels}", timeout=30)

    def answered(self, fingerprint: str, status: str, code: int, since: float = 0.0) -> bool:
        return any(d.status == code and d.at >= since for d in self.tap.of(fingerprint, status))


@dataclass
class Faults:
    """The stack, when each fault was injected (epoch seconds), and what reached the
    sinks how many seconds later."""

    stack: Stack
    at: dict[str, float] = field(default_factory=dict)
    last_push: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    var_portfolios: tuple[str, str] = ("", "")
    killed_returncode: int | None = None
    outage: OutageAlerts | None = None
    database_back: float = 0.0

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.stack.layout.outbox)


def _inventory(portfolios: list[str]) -> Any:
    def edit(data: dict[str, Any]) -> None:
        trading = {"kind": "trading", "portfolios": portfolios}
        data["inventory"] = {
            "agents": {KILLED: trading, DELETED: trading, HEALTH: {"kind": "health"}},
            "scrape_jobs": [*STACK_JOBS, EXPORTER_JOB],
        }

    return edit


def _spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "riskwatch", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _series(settings: Settings, expr: str) -> list[dict[str, Any]]:
    return prom_query(settings.url.prometheus, expr)


def _last_push(settings: Settings, agent: str) -> float:
    """When the Pushgateway last accepted a push from `agent` (epoch seconds)."""
    body = pushgateway_get(settings, "/api/v1/metrics").json()
    return max(
        float(group["push_time_seconds"]["metrics"][0]["value"])
        for group in body["data"]
        if group["labels"].get("agent") == agent
    )


def _keep_pushing(publisher: Publisher, stop: threading.Event) -> None:
    # Every 15 s, as the trading agent pushes in trading hours.
    while not stop.wait(15):
        publisher.push(wait=True)


def _load_broken_rule(stack: Stack) -> None:
    """A recording rule that fails at every evaluation (many-to-many matching on the
    stack's several `up` series), loaded beside the running rules."""
    rules = stack.layout.rendered / "rules"
    (rules / "broken.yml").write_text(
        "groups:\n"
        f"  - name: {BROKEN_GROUP}\n"
        "    rules:\n"
        "      - record: riskwatch:broken\n"
        "        expr: up / ignoring(job, instance) up\n"
    )
    # No lifecycle API: reload by SIGHUP, as `stack up` does, and wait for its success.
    record = stack._running("prometheus")
    assert record is not None, "the stack's Prometheus runs"
    stack._reload("prometheus", record)


def _outage_labels(run: str, which: str) -> dict[str, str]:
    return {
        "alertname": "OutageTestAlert",
        "severity": "info",
        "team": "risk",
        "portfolio": f"outage-{run}-{which}",
    }


def _outage_alerts(stack: Stack, folder: Path, cleanup: ExitStack) -> OutageAlerts:
    """An Alertmanager of the test's own, carrying only the test's alerts, posting to
    the stack's receiver through a tap (each alert a group of its own, so each payload
    is one alert)."""
    tap = cleanup.enter_context(running_tap(stack.settings.url.receiver))
    state = folder / "outage-alertmanager"
    state.mkdir()
    token = state / "receiver_token"
    token.write_text(TEST_TOKEN)
    token.chmod(0o600)
    config = webhook_only_config(
        state / "alertmanager.yml", f"{tap.url}/webhook/alertmanager", token
    )
    return OutageAlerts(cleanup.enter_context(running_alertmanager(config, state)), tap)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    folder = tmp_path_factory.mktemp("faults")
    portfolios = [p.name for p in load_settings().trading.portfolios]
    policy = policy_copy(folder, _inventory(portfolios))
    exporter_port = free_port()
    settings = load_settings(
        state_dir=folder / "state",
        stack=free_ports(),
        receiver_token=TEST_TOKEN,
        policy_file=policy,
        exporters={"tradestore_port": exporter_port},
    )
    with running_stack(settings) as stack, ExitStack() as cleanup:
        processes: dict[str, subprocess.Popen[bytes]] = {}
        stop = threading.Event()
        try:
            outage = _outage_alerts(stack, folder, cleanup)
            env = stack_env(
                stack,
                RISKWATCH_POLICY_FILE=str(policy),
                RISKWATCH_EXPORTERS__TRADESTORE_PORT=str(exporter_port),
                # The scheduled batch jobs run on the wall clock: left on, the
                # nightly validation would run (and fail on an empty forecast log) at
                # some hours of the week and not others.
                RISKWATCH_REPORT__ENABLED="false",
                RISKWATCH_VALIDATION__ENABLED="false",
            )
            logs = stack.layout.logs
            for agent in (KILLED, DELETED):
                processes[agent] = _spawn(
                    {**env, "RISKWATCH_AGENT__ID": agent}, logs / f"{agent}.log", "agent", "trading"
                )
            processes[HEALTH] = _spawn(
                {**env, "RISKWATCH_AGENT__ID": HEALTH}, logs / f"{HEALTH}.log", "agent", "health"
            )
            listen = f"{settings.stack.host}:{exporter_port}"
            processes[EXPORTER_JOB] = _spawn(
                env, logs / "exporter.log", "exporter", EXPORTER_JOB, "--listen", listen
            )

            # Everything runs and is seen before anything breaks.
            for agent in (KILLED, DELETED, HEALTH):
                wait_for(
                    partial(_series, settings, f'push_time_seconds{{agent="{agent}"}}'),
                    f"Prometheus to see agent {agent}'s push",
                    timeout=120,
                )
            wait_for(
                lambda: _series(settings, f'up{{job="{EXPORTER_JOB}"}} == 1'),
                "the exporter's first good scrape",
            )
            wait_for(
                lambda: _series(
                    settings,
                    f'riskwatch_component_up{{agent="{HEALTH}",component="postgresql"}} == 1',
                ),
                "the health agent's database check",
            )
            wait_for(
                lambda: _series(settings, "riskwatch_receiver_database_up == 1"),
                "the receiver's database",
            )
            firing = _series(settings, 'ALERTS{alertstate="firing",severity="critical"}')
            assert [a["metric"]["alertname"] for a in firing] == [], "a clean start"

            result = Faults(stack, outage=outage)
            # One test alert fires, and is stored, before the database goes.
            run = uuid.uuid4().hex[:8]
            before = _outage_labels(run, "resolved")
            starts_before = datetime.now(UTC).isoformat()
            outage.post(before, starts_before)
            outage.resolved = outage.fingerprint(before)
            wait_for(
                lambda: outage.answered(outage.resolved, "firing", 200),
                "the test alert stored before the outage",
                timeout=60,
            )

            # The two agents die at once, as processes do: SIGKILL, no goodbye push.
            # One's group is then deleted, as anyone's DELETE, or a wiped Pushgateway,
            # would.
            for agent in (KILLED, DELETED):
                processes[agent].send_signal(signal.SIGKILL)
                returncode = processes[agent].wait(10)
                result.at[agent] = time.time()
                if agent == KILLED:
                    result.killed_returncode = returncode
            result.last_push = _last_push(settings, KILLED)
            delete_group(settings, DELETED)
            result.at[DELETED] = time.time()

            processes[EXPORTER_JOB].terminate()
            processes[EXPORTER_JOB].wait(10)
            result.at[EXPORTER_JOB] = time.time()

            pg = stack._postgres()
            assert pg is not None, "the stack runs its own PostgreSQL"
            pg.stop()
            result.at["postgres"] = time.time()
            # While it is down: a new test alert fires, and the stored one resolves.
            during = _outage_labels(run, "during")
            outage.post(during, datetime.now(UTC).isoformat())
            outage.post(before, starts_before, ends=datetime.now(UTC).isoformat())
            outage.fired = time.time()
            outage.during = outage.fingerprint(during)

            _load_broken_rule(stack)
            result.at["rule"] = time.time()

            # A quant's own VaR, over the limit, with a method no rule lists and with none
            # (an empty label value is no label in Prometheus).
            tail = settings.policy.tail_risk
            quant = Publisher(
                f"quant-{os.getpid()}", settings.url.pushgateway, access=gateway_access(settings)
            )
            var_limit = settings.policy.limit("var")
            result.var_portfolios = (f"mc-{os.getpid()}", f"nomethod-{os.getpid()}")
            for portfolio, method in zip(result.var_portfolios, ("monte_carlo", ""), strict=True):
                quant.gauge("risk_var_ratio").labels(portfolio, tail.var_label, method).set(
                    var_limit * 1.25
                )
            assert quant.push(wait=True)
            result.at["var"] = time.time()
            # The quant's process lives on and pushes as a publisher does; one that stopped
            # would be AgentDown, which holds back the alerts computed from its pushes.
            pushing = threading.Thread(target=_keep_pushing, args=(quant, stop), daemon=True)
            pushing.start()

            yield result
        finally:
            stop.set()
            for process in processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait(10)


def _arrival(faults: Faults, fault: str, alertname: str, needle: str, channel: str) -> float:
    """Seconds from `fault` to the first notification about `alertname` and `needle`
    on `channel`; the figure is kept for the summary."""
    since = faults.at[fault]

    def arrived() -> float | None:
        if channel.startswith("email:"):
            for path in faults.outbox.files("email", since):
                message = email.message_from_bytes(path.read_bytes())
                if alertname in str(message["Subject"]) and message["To"] == channel[6:]:
                    return float(written_at(path))
            return None
        for post in faults.outbox.slack_posts(since):
            message = post["message"]
            if f"slack:{message.get('channel')}" != channel:
                continue
            for attachment in message.get("attachments", []):
                text = attachment.get("title", "") + attachment.get("text", "")
                if alertname in text and needle in text:
                    return float(post["received_at"])
        return None

    at = wait_for(arrived, f"{alertname} ({needle}) on {channel}", timeout=ALERT_TIMEOUT)
    seconds = at - since
    faults.seconds[f"{alertname} ({needle or channel})"] = seconds
    return seconds


def test_a_killed_agent_pages_agent_down(faults: Faults) -> None:
    # The `riskwatch agent trading` process died of the SIGKILL itself, not of a
    # shutdown it handled (which would push a last time and exit 0).
    assert faults.killed_returncode == -signal.SIGKILL
    push_age = faults.stack.settings.policy.ops.agent_push_stale_seconds
    seconds = _arrival(faults, KILLED, "AgentDown", KILLED, OPS_SLACK)
    # AgentDown waits for the push age on purpose, counted from the last push: not sooner.
    assert faults.at[KILLED] + seconds - faults.last_push >= push_age


def test_a_deleted_group_pages_agent_missing(faults: Faults) -> None:
    _arrival(faults, DELETED, "AgentMissing", DELETED, OPS_SLACK)


def test_a_stopped_exporter_pages_exporter_down(faults: Faults) -> None:
    _arrival(faults, EXPORTER_JOB, "ExporterDown", f"job {EXPORTER_JOB}", OPS_SLACK)


def test_a_stopped_database_pages(faults: Faults) -> None:
    _arrival(faults, "postgres", "ReceiverDatabaseDown", "", OPS_SLACK)
    _arrival(faults, "postgres", "ComponentDown", "postgresql", OPS_SLACK)


def test_the_outage_refuses_the_test_alerts_with_503(faults: Faults) -> None:
    """Runs while the database is down (before the test that restarts it). The tap
    saw the receiver answer 503 to the very payloads that carried the test alerts: the
    one that fired during the outage, and the resolution of the one that fired before."""
    outage = faults.outage
    assert outage is not None
    for fingerprint, status in ((outage.during, "firing"), (outage.resolved, "resolved")):
        wait_for(
            partial(outage.answered, fingerprint, status, 503),
            f"the receiver to refuse the {status} test alert {fingerprint} with 503",
            timeout=60,
        )
    refused = [d for d in outage.tap.deliveries() if d.status == 503]
    assert all("database unavailable" in d.answer.get("error", "") for d in refused), refused
    assert not any(
        outage.answered(fp, st, 200, since=outage.fired - 1)
        for fp, st in ((outage.during, "firing"), (outage.resolved, "resolved"))
    ), "nothing of the outage's alerts was stored while the database was down"
    # The test's Alertmanager carries nothing but the test alerts: its failed webhook
    # notifications are theirs, and the receiver counted each refusal it gave.
    failed = metric_value(
        outage.alertmanager, "alertmanager_notifications_failed_total", integration="webhook"
    )
    assert failed >= 2
    rejected = metric_value(
        faults.stack.settings.url.receiver,
        "riskwatch_receiver_payloads_rejected_total",
        reason="database_unavailable",
    )
    assert rejected >= len(refused)


def test_a_failing_rule_pages(faults: Faults) -> None:
    _arrival(faults, "rule", "PrometheusRuleEvaluationFailures", BROKEN_GROUP, OPS_SLACK)


def test_var_with_an_unknown_method_or_none_pages(faults: Faults) -> None:
    for portfolio in faults.var_portfolios:
        _arrival(faults, "var", "VaRLimitBreached", portfolio, RISK_SLACK)
    _arrival(faults, "var", "VaRLimitBreached", "", CRO_EMAIL)


def test_nothing_is_lost_once_the_database_returns(faults: Faults) -> None:
    # Runs after the database alerts have reached Slack (tests run in file order).
    pg = faults.stack._postgres()
    assert pg is not None
    pg.start(60)
    faults.database_back = time.time()
    receiver = ReceiverClient(faults.stack.settings.url.receiver, TEST_TOKEN, timeout=5)

    def stored() -> set[str] | None:
        # Whatever their status by now: the database's own alerts resolve once it is back.
        names = {a["alertname"] for a in receiver.alerts()}
        wanted = {"ReceiverDatabaseDown", "ComponentDown", "AgentDown", "VaRLimitBreached"}
        return names if wanted <= names else None

    try:
        wait_for(stored, "the alerts of the outage in the audit trail", timeout=ALERT_TIMEOUT)
    except AssertionError:
        seen = sorted({(a["alertname"], a["status"]) for a in receiver.alerts()})
        raise AssertionError(f"the audit trail has only {seen}") from None


def test_print_fault_to_sink_seconds(faults: Faults) -> None:
    assert faults.seconds, "the fault tests ran first"
    width = max(len(k) for k in faults.seconds)
    print("\nseconds from fault to notification at the sink:")
    for what, seconds in sorted(faults.seconds.items(), key=lambda kv: kv[1]):
        print(f"  {what:<{width}}  {seconds:6.1f}")


def test_the_outage_alerts_are_stored_exactly_once(faults: Faults) -> None:
    """After the database returns (the test above restarted it): the alert that fired
    during the outage and the resolution sent during it are delivered again and stored,
    each exactly once."""
    outage = faults.outage
    assert outage is not None and faults.database_back
    wanted = ((outage.during, "firing"), (outage.resolved, "resolved"))
    for fingerprint, status in wanted:
        wait_for(
            partial(outage.answered, fingerprint, status, 200),
            f"the {status} test alert {fingerprint} stored after the outage",
            timeout=ALERT_TIMEOUT,
        )
    # Over every payload that carried them, before, during and after the outage, the
    # receiver's own answers add up to three new events (the early firing, the firing
    # of the outage and the resolution), every other accepted delivery a duplicate:
    # no refused payload stored anything that a retry then found.
    accepted = [
        d for fp in (outage.during, outage.resolved) for d in outage.tap.of(fp) if d.status == 200
    ]
    assert sum(d.answer["stored"] for d in accepted) == 3, accepted
    assert sum(d.answer["duplicates"] for d in accepted) == len(accepted) - 3, accepted

    # The trail itself. Its unique key is (fingerprint, startsAt): a retry or a
    # resolution that arrived with another startsAt would be a second row, which the
    # schema allows; here each alert is one row, with exactly the events it went through.
    with psycopg.connect(faults.stack.database_dsn()) as conn:
        for fingerprint, statuses in (
            (outage.during, ["firing"]),
            (outage.resolved, ["firing", "resolved"]),
        ):
            rows = conn.execute(
                "SELECT id, status FROM alerts WHERE fingerprint = %s", (fingerprint,)
            ).fetchall()
            assert len(rows) == 1, rows
            (alert_id, status) = rows[0]
            assert status == statuses[-1]
            events = conn.execute(
                "SELECT status, received_at FROM alert_events WHERE alert_id = %s "
                "ORDER BY received_at, id",
                (alert_id,),
            ).fetchall()
            assert [e[0] for e in events] == statuses
            # What the outage refused was stored only once the database was back.
            assert events[-1][1].timestamp() >= faults.database_back - 1
