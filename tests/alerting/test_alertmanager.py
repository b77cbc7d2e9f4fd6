"""alerts/alertmanager.yml with the real amtool and Alertmanager: routes, inhibition, secrets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from riskwatch.alerting import calendar, check
from riskwatch.alerting.check import RouteCase, load_route_cases
from tests.alerting.conftest import PROJECT
from tests.support.alertmanager import amtool_render, running_alertmanager, tool
from tests.support.stack import wait_for

CASES = load_route_cases(PROJECT / check.ROUTE_CASES)


def _config(project_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project_dir / calendar.ALERTMANAGER_CONFIG).read_text())
    return data


def test_amtool_check_config_passes(project_dir: Path) -> None:
    step = check.amtool_check_config(project_dir, tool("amtool"))
    assert step.ok, step.detail
    assert "1 templates" in step.detail


def test_a_broken_config_fails_amtool_check_config(scratch: Path) -> None:
    am = scratch / calendar.ALERTMANAGER_CONFIG
    am.write_text(am.read_text().replace("receiver: risk-critical", "receiver: risk-critcal"))
    step = check.amtool_check_config(scratch, tool("amtool"))
    assert not step.ok
    assert "risk-critcal" in step.detail


# `amtool config routes test` names the receivers a label set is routed to without
# consulting the time intervals: these hold at any hour.
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_route(project_dir: Path, case: RouteCase) -> None:
    step = check.route_case(project_dir, case, tool("amtool"))
    assert step.ok, step.detail


def test_a_wrong_route_expectation_fails(project_dir: Path) -> None:
    case = RouteCase(
        name="wrong on purpose",
        labels={"alertname": "PortfolioDrawdownCritical", "team": "risk", "severity": "critical"},
        receivers=("risk-warning",),
    )
    step = check.route_case(project_dir, case, tool("amtool"))
    assert not step.ok
    assert step.detail == "expected risk-warning, routed to pagerduty,risk-critical"


def _routes(route: dict[str, Any], inherited: tuple[str, ...] = ()) -> Iterator[Any]:
    matchers = inherited + tuple(route.get("matchers", []))
    yield route, matchers
    for child in route.get("routes", []):
        yield from _routes(child, matchers)


def test_every_route_and_receiver_has_a_case(project_dir: Path) -> None:
    config = _config(project_dir)
    routed = {route["receiver"] for route, _ in _routes(config["route"])}
    expected = {r for case in CASES for r in case.receivers}
    defined = {r["name"] for r in config["receivers"]}
    assert routed == defined == expected
    # And the cases the issue names.
    by_name = {tuple(sorted(c.labels.items())): c.receivers for c in CASES}
    assert by_name[(("alertname", "Watchdog"), ("severity", "none"), ("team", "ops"))] == (
        "heartbeat",
    )
    assert any(c.labels.get("team") is None and c.receivers == ("audit",) for c in CASES)


def test_only_low_severity_ops_routes_are_muted_and_never_critical_risk(
    project_dir: Path,
) -> None:
    config = _config(project_dir)
    muted = [(r, m) for r, m in _routes(config["route"]) if r.get("mute_time_intervals")]
    assert muted
    for route, matchers in muted:
        assert 'team="ops"' in matchers, matchers
        assert not any("critical" in m for m in matchers), matchers
        assert route["mute_time_intervals"] == [calendar.INTERVAL_NAME]
        # The audit copy of a muted alert comes from the next route.
        assert route.get("continue") is True


def test_inhibit_rules_pair_critical_with_warning_and_agentdown_with_its_alerts(
    project_dir: Path,
) -> None:
    rules = _config(project_dir)["inhibit_rules"]
    assert {
        "source_matchers": ['severity="critical"', 'alertgroup=~".+"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["alertgroup", "portfolio"],
    } in rules
    assert {
        "source_matchers": ['alertname="AgentDown"'],
        "target_matchers": ['source="agent"'],
        "equal": ["agent"],
    } in rules


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_secrets_come_from_files_never_inline(project_dir: Path) -> None:
    inline = {"slack_api_url", "auth_password", "smtp_auth_password", "credentials", "routing_key"}
    walked = list(_walk(_config(project_dir)))
    keys = {path.rsplit(".", 1)[-1]: value for path, value in walked}
    assert not inline & set(keys), inline & set(keys)
    # Slack's api_url is its secret webhook URL; Telegram's is only the API's address.
    assert not [p for p, _ in walked if p.endswith(".api_url") and "telegram_configs" not in p]
    assert keys["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert keys["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")
    assert keys["credentials_file"].startswith("/etc/alertmanager/secrets/")
    assert keys["routing_key_file"].startswith("/etc/alertmanager/secrets/")
    # Alertmanager 0.25 takes these two inline only: the repo holds placeholders, and
    # `riskwatch stack` writes the real ones into its owner-only rendered copy.
    assert "placeholder" in keys["webhook_url"]
    assert "placeholder" in keys["bot_token"]


def _render(template: str, data: dict[str, Any], tmp_path: Path, kind: str = "text") -> str:
    return amtool_render(
        [str(PROJECT / "alerts/templates/riskwatch.tmpl")], template, data, tmp_path, kind
    )


def test_slack_and_email_tell_a_cro_value_limit_portfolio_since_and_links(
    tmp_path: Path,
) -> None:
    labels = {
        "alertname": "PortfolioDrawdownCritical",
        "portfolio": "fund-b",
        "severity": "critical",
        "team": "risk",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": "Portfolio drawdown is beyond its critical limit.",
            "description": "Portfolio fund-b is 16% below its peak value, beyond its critical "
            "drawdown limit of 15%.",
            "value": "16%",
            "limit": "15%",
            "runbook_url": "https://github.com/riskwatch/riskwatch/blob/main/docs/runbooks/"
            "PortfolioDrawdownCritical.md",
            "dashboard_url": "http://127.0.0.1:3000/d/riskwatch-risk?var-portfolio=fund-b",
        },
        "startsAt": "2026-03-02T14:30:05Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "1",
    }
    data = {
        "receiver": "risk-critical",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": labels["alertname"], "portfolio": "fund-b"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
    }
    slack = _render('{{ template "slack.riskwatch.text" . }}', data, tmp_path)
    text = _render('{{ template "email.riskwatch.text" . }}', data, tmp_path)
    html = _render('{{ template "email.riskwatch.html" . }}', data, tmp_path, "html")
    subject = _render('{{ template "email.riskwatch.subject" . }}', data, tmp_path)
    assert subject.strip() == "[riskwatch FIRING] PortfolioDrawdownCritical on fund-b"
    for body in (slack, text, html):
        for fact in (
            "16% below its peak value",
            "16%",
            "15%",
            "fund-b",
            "2026-03-02 14:30:05 UTC",
            "docs/runbooks/PortfolioDrawdownCritical.md",
            "var-portfolio=fund-b",
        ):
            assert fact in body, (fact, body)
    assert "• Value: *16%*  Limit: *15%*" in slack
    assert "<tr><td><b>Limit</b></td><td>15%</td></tr>" in html


# ------------------------------------------------- inhibition, in a real Alertmanager
@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager on a free loopback port, loaded with alerts/alertmanager.yml."""
    state = tmp_path_factory.mktemp("alertmanager")
    with running_alertmanager(PROJECT / calendar.ALERTMANAGER_CONFIG, state) as url:
        yield url


ALERTS = {
    "drawdown-critical-a": {
        "alertname": "PortfolioDrawdownCritical",
        "alertgroup": "PortfolioDrawdown",
        "severity": "critical",
        "team": "risk",
        "portfolio": "fund-a",
        "agent": "trader-a",
        "source": "agent",
    },
    "drawdown-warning-a": {
        "alertname": "PortfolioDrawdownWarning",
        "alertgroup": "PortfolioDrawdown",
        "severity": "warning",
        "team": "risk",
        "portfolio": "fund-a",
        "agent": "trader-a",
        "source": "agent",
    },
    "drawdown-warning-c": {
        "alertname": "PortfolioDrawdownWarning",
        "alertgroup": "PortfolioDrawdown",
        "severity": "warning",
        "team": "risk",
        "portfolio": "fund-c",
        "agent": "trader-c",
        "source": "agent",
    },
    "agent-down-b": {
        "alertname": "AgentDown",
        "severity": "critical",
        "team": "ops",
        "agent": "trader-b",
    },
    "stale-b": {
        "alertname": "MarketDataStale",
        "severity": "warning",
        "team": "ops",
        "agent": "trader-b",
        "source": "agent",
        "feed": "polygon",
    },
    "var-b": {
        "alertname": "VaRLimitBreached",
        "severity": "critical",
        "team": "risk",
        "portfolio": "fund-b",
        "agent": "trader-b",
        "source": "agent",
    },
    "pushgateway-down": {
        "alertname": "PushgatewayDown",
        "severity": "critical",
        "team": "ops",
        "job": "pushgateway",
    },
    "task-failing-d": {
        "alertname": "AgentTaskFailing",
        "severity": "warning",
        "team": "ops",
        "agent": "trader-d",
        "task": "risk",
        "source": "agent",
    },
    "compliance-high-d": {
        "alertname": "ComplianceViolation",
        "severity": "critical",
        "team": "compliance",
        "portfolio": "fund-d",
        "rule": "CON_001",
        "agent": "trader-d",
        "source": "agent",
    },
    "compliance-medium-d": {
        "alertname": "ComplianceViolation",
        "severity": "warning",
        "team": "compliance",
        "portfolio": "fund-d",
        "rule": "POS_001",
        "agent": "trader-d",
        "source": "agent",
    },
}


def _inhibited(alertmanager: str) -> dict[str, list[str]]:
    # The real now: Alertmanager reads its own clock and would take an alert starting
    # elsewhere in time as not yet active or long resolved. Inhibition itself does not
    # depend on the time (the `market-closed` mute, which does, acts on notifications
    # only and is tested at fixed instants in test_market_closed_mute.py).
    now = datetime.now(UTC).isoformat()
    payload = [{"labels": labels, "annotations": {}, "startsAt": now} for labels in ALERTS.values()]
    requests.post(f"{alertmanager}/api/v2/alerts", json=payload, timeout=5).raise_for_status()
    names = {tuple(sorted(v.items())): k for k, v in ALERTS.items()}

    def all_held() -> list[dict[str, Any]] | None:
        got: list[dict[str, Any]] = requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
        return got if len(got) == len(ALERTS) else None

    got = wait_for(all_held, f"Alertmanager to hold the {len(ALERTS)} alerts", timeout=10)
    return {names[tuple(sorted(a["labels"].items()))]: a["status"]["inhibitedBy"] for a in got}


def test_inhibition_in_a_real_alertmanager(alertmanager: str) -> None:
    inhibited = {name for name, by in _inhibited(alertmanager).items() if by}
    assert inhibited == {
        # critical silences its warning twin, for the same portfolio only
        "drawdown-warning-a",
        # a dead agent silences the alerts computed from its pushes, warning or critical
        "stale-b",
        "var-b",
    }
    # Not inhibited, on purpose: PushgatewayDown and AgentTaskFailing have no
    # alertgroup (a label missing on both sides would count as equal), and two
    # compliance rules of one portfolio are two breaches, not a pair.
