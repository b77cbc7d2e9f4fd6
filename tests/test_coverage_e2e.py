"""Coverage by construction: every alert on a published figure fires for label values
its rules have never seen (issue #12).

A quant publishes through the public `Publisher` API, under a new agent id, for new
portfolios, with a VaR method of its own and with none, a model, feed, component and
disk path nobody declared. Each alert must fire in the real Prometheus, evaluating the
rules rendered from the shipped policy. The stack runs them time-compressed (like the
demo), so a `for: 30m` holds for seconds; the thresholds are the policy's own.

Alerts that no figure of an agent drives (the Watchdog, an agent's silence, the
monitoring's own failures) are listed in COVERED_ELSEWHERE with the test that proves
them; a new alert must be added to one of the two, or `test_every_alert_is_covered`
fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskwatch.alerting.rules import alert_names
from riskwatch.policy import Policy
from riskwatch.publish import Publisher
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.runner import Stack
from tests.support.stack import (
    TEST_TOKEN,
    free_ports,
    gateway_access,
    prom_query,
    running_stack,
    wait_for,
)

pytestmark = pytest.mark.stack

# Rules for `for: 30m` hold 30 s at this speed: short enough for a test, long enough
# that a 5 s evaluation interval still sees every `for` elapse on its own evaluations.
TIME_SCALE = 60.0


@dataclass(frozen=True)
class Case:
    """One alert, the figures that must make it fire, and the label it fires for."""

    alert: str
    publish: Callable[[Publisher, Policy, str], None]
    label: str = "portfolio"


def _over(limit: float) -> float:
    """A figure a quarter beyond `limit`, as the issue's 2.5% VaR is against 2%."""
    return limit * 1.25


def _portfolio(pub: Publisher, p: Policy, name: str, *, drawdown: float, loss: float) -> None:
    value = 1_000_000.0
    pub.portfolio(name, value=value, cash=0.0, daily_pnl=-loss * value, drawdown=drawdown)


def _tail(metric: str, method: str) -> Callable[[Publisher, Policy, str], None]:
    def publish(pub: Publisher, p: Policy, name: str) -> None:
        t = p.tail_risk
        var = metric == "risk_var_ratio"
        label = t.var_label if var else t.expected_shortfall_label
        limit = p.limit("var" if var else "expected_shortfall", name)
        pub.gauge(metric).labels(name, label, method).set(_over(limit))

    return publish


CASES = (
    Case(
        "PortfolioDrawdownWarning",
        lambda pub, p, n: _portfolio(
            pub,
            p,
            n,
            # Between the two limits: the warning alone.
            drawdown=(p.limit("drawdown_warning", n) + p.limit("drawdown_critical", n)) / 2,
            loss=0.0,
        ),
    ),
    Case(
        "PortfolioDrawdownCritical",
        lambda pub, p, n: _portfolio(
            pub, p, n, drawdown=_over(p.limit("drawdown_critical", n)), loss=0.0
        ),
    ),
    Case(
        "DailyLossLimitBreached",
        lambda pub, p, n: _portfolio(pub, p, n, drawdown=0.0, loss=_over(p.limit("daily_loss", n))),
    ),
    # The issue's own cases: a method nobody listed, and no method label at all (an
    # empty label value is no label in Prometheus).
    Case("VaRLimitBreached", _tail("risk_var_ratio", "monte_carlo")),
    Case("VaRLimitBreached", _tail("risk_var_ratio", "")),
    Case("ExpectedShortfallLimitBreached", _tail("risk_expected_shortfall_ratio", "desk_own")),
    Case("ExpectedShortfallLimitBreached", _tail("risk_expected_shortfall_ratio", "")),
    Case(
        "FactorCrowdingHigh",
        lambda pub, p, n: pub.gauge("crowding_level").labels(n).set(p.crowding.high_level),
    ),
    Case(
        "FactorCrowdingRising",
        lambda pub, p, n: pub.gauge("crowding_level").labels(n).set(p.crowding.rising_level),
    ),
    Case(
        "ModelConfidenceLow",
        lambda pub, p, n: pub.model(
            n, "quant-model-x", confidence=p.limit("model_confidence", n) / 2
        ),
    ),
    Case(
        "ModelAccuracyDegraded",
        lambda pub, p, n: pub.model(
            n, "quant-model-y", confidence=1.0, accuracy=p.limit("model_accuracy", n) / 2
        ),
    ),
    Case(
        "ComplianceViolation",
        lambda pub, p, n: (
            pub.gauge("compliance_violation_active")
            .labels(n, sorted(p.compliance.rules)[0], "HIGH")
            .set(1)
        ),
    ),
    Case(
        "PositionReconciliationBreak",
        lambda pub, p, n: (
            pub.gauge("tradestore_reconciliation_breaks")
            .labels(n)
            .set(p.ops.reconciliation_max_breaks + 1)
        ),
    ),
    Case(
        "MarketDataStale",
        lambda pub, p, n: (
            pub.gauge("marketdata_last_update_timestamp_seconds")
            .labels(n)
            .set(time.time() - 10 * p.ops.market_data_stale_seconds)
        ),
        label="feed",
    ),
    Case(
        "ComponentDown",
        lambda pub, p, n: pub.gauge("riskwatch_component_up").labels(n).set(0),
        label="component",
    ),
    Case(
        "DiskSpaceLow",
        lambda pub, p, n: (
            pub.gauge("riskwatch_disk_free_ratio").labels(n).set(p.ops.disk_min_free_ratio / 2)
        ),
        label="path",
    ),
    # A broker disconnected while some agent's portfolio task runs (the market
    # trades): published twice, so the task's run counter increases.
    Case("BrokerDisconnected", lambda pub, p, n: _broker_down(pub, n), label="broker"),
    # The nightly validation's verdicts, for a dataset, a method (or none) and a
    # confidence nobody declared: the Basel zone's levels are the catalog's.
    Case("VaRBacktestRed", lambda pub, p, n: _zone(pub, n, "desk_own_model", 2)),
    Case("VaRBacktestYellow", lambda pub, p, n: _zone(pub, n, "", 1)),
    Case(
        "ValidationGateFailed",
        lambda pub, p, n: (
            pub.gauge("riskwatch_validation_gate_passed").labels("unseen-dataset", n).set(0)
        ),
        label="gate",
    ),
)


def _zone(pub: Publisher, name: str, method: str, level: int) -> None:
    pub.gauge("riskwatch_validation_var_zone").labels("unseen-dataset", name, method, "0.95").set(
        level
    )


def _broker_down(pub: Publisher, name: str) -> None:
    pub.gauge("riskwatch_broker_connected").labels(name).set(0)
    pub.counter("riskwatch_agent_task_runs_total").labels(pub.agent, "portfolio").inc()


COVERED_ELSEWHERE = {
    # Always fires: tests/alerting (promtool) and tests/test_heartbeat.py.
    "Watchdog": "tests/test_heartbeat.py",
    # An agent's silence or absence, not a figure: a real process is killed.
    "AgentDown": "tests/test_faults_e2e.py::test_a_killed_agent_pages_agent_down",
    # Needs a task's runs to fail over a window on the wall clock; the runtime's
    # counters are exercised by the agents' fault tests and promtool.
    "AgentTaskFailing": "alerts/tests/ops.test.yml",
    # The Pushgateway itself going away: promtool.
    "PushgatewayDown": "alerts/tests/ops.test.yml",
    # Alertmanager failing to deliver: tests/test_alert_delivery.py and promtool.
    "AlertmanagerNotificationsFailing": "alerts/tests/ops.test.yml",
    # Scrape targets and the stack's own processes fail in a real stack.
    "ExporterDown": "tests/test_faults_e2e.py::test_a_stopped_exporter_pages_exporter_down",
    "ReceiverDatabaseDown": "tests/test_faults_e2e.py::test_a_stopped_database_pages",
    "PrometheusRuleEvaluationFailures": "tests/test_faults_e2e.py::test_a_failing_rule_pages",
    # An exporter's own `<name>_scrape_success` is not published through an agent:
    # promtool runs the rule on an exporter nobody declared.
    "ExporterScrapeFailing": "alerts/tests/ops.test.yml",
    # The Pushgateway's, Prometheus's and Alertmanager's own metrics: promtool, at the
    # edge of each `for`, on series the rules have never seen.
    "PushgatewayPushRejected": "alerts/tests/ops.test.yml",
    "PrometheusConfigReloadFailed": "alerts/tests/ops.test.yml",
    "PrometheusNotificationsDropped": "alerts/tests/ops.test.yml",
    "PrometheusNotConnectedToAlertmanagers": "alerts/tests/ops.test.yml",
    "PrometheusTSDBCompactionsFailing": "alerts/tests/ops.test.yml",
    "AlertmanagerConfigReloadFailed": "alerts/tests/ops.test.yml",
    # The nightly job's absence, not a figure: it watches the one nightly dataset and
    # waits for an exchange day's trading to be 26 hours old (seconds, in a policy copy).
    "ValidationJobMissing": (
        "tests/test_validation_alerts_e2e.py::test_validation_job_missing_fires_when_the_job_has_not_run"
    ),
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    state = tmp_path_factory.mktemp("coverage-stack")
    return load_settings(
        state_dir=state,
        stack={**free_ports(), "time_scale": TIME_SCALE},
        receiver_token=TEST_TOKEN,
    )


@pytest.fixture(scope="module")
def stack(settings: Settings) -> Iterator[Stack]:
    with running_stack(settings) as runner:
        yield runner


def test_every_alert_is_covered(settings: Settings) -> None:
    covered = {c.alert for c in CASES} | set(COVERED_ELSEWHERE)
    missing = sorted(set(alert_names(settings.policy)) - covered)
    assert not missing, f"alerts with no coverage-by-construction case: {missing}"


def test_alerts_fire_for_label_values_never_seen(stack: Stack, tmp_path: Path) -> None:
    policy = stack.settings.policy
    run = f"{time.time_ns():x}"[-8:]
    publisher = Publisher(
        f"quant-{run}", stack.settings.url.pushgateway, access=gateway_access(stack.settings)
    )
    expected: dict[tuple[str, str], str] = {}
    for i, case in enumerate(CASES):
        name = f"unseen-{run}-{i}"
        case.publish(publisher, policy, name)
        expected[(case.alert, name)] = case.label
    assert publisher.push(wait=True), "the quant's push reached the Pushgateway"
    # A second push once Prometheus has scraped the first, so counters increase.
    wait_for(
        lambda: prom_query(
            stack.settings.url.prometheus, f'push_time_seconds{{agent="{publisher.agent}"}}'
        ),
        "Prometheus to scrape the first push",
    )
    for i, case in enumerate(CASES):
        case.publish(publisher, policy, f"unseen-{run}-{i}")
    assert publisher.push(wait=True)

    def firing() -> set[tuple[str, str]]:
        alerts = prom_query(stack.settings.url.prometheus, 'ALERTS{alertstate="firing"}')
        return {
            (a["metric"]["alertname"], a["metric"].get(label, ""))
            for a in alerts
            for (alertname, _), label in expected.items()
            if a["metric"]["alertname"] == alertname
        }

    # Alerts on a window (a broker down while the portfolio task ran in the last
    # minute) may resolve before the slowest `for` elapses: count each as it fires.
    fired: set[tuple[str, str]] = set()

    def all_fired() -> bool:
        fired.update(firing())
        return set(expected) <= fired

    try:
        wait_for(all_fired, "every alert to fire for the unseen labels", timeout=120)
    except AssertionError:
        everything = prom_query(stack.settings.url.prometheus, "ALERTS")
        raise AssertionError(
            f"never fired: {sorted(set(expected) - fired)}; Prometheus has {everything}"
        ) from None
    # The drawdown between the limits fires the warning alone.
    warning_only = next(n for (a, n) in expected if a == "PortfolioDrawdownWarning")
    assert ("PortfolioDrawdownCritical", warning_only) not in fired
    # A red backtest is not yellow too.
    red = next(n for (a, n) in expected if a == "VaRBacktestRed")
    assert ("VaRBacktestYellow", red) not in fired
    publisher.delete()
