"""The generated rule files: in sync with limits.yaml, stable, and following our conventions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwatch import catalog
from riskwatch.alerting import check, lint
from riskwatch.alerting.rules import HEADER, RULES_DIR, alert_names, render_rule_files
from riskwatch.catalog import BUILTIN_METRICS
from riskwatch.policy import POLICY_FILE, Policy, parse_policy
from riskwatch.promql import load_rules, metric_names, template_queries
from riskwatch.settings import DEFAULT_GRAFANA_URL

ISSUE_ALERTS = {
    "PortfolioDrawdownWarning",
    "PortfolioDrawdownCritical",
    "DailyLossLimitBreached",
    "VaRLimitBreached",
    "ExpectedShortfallLimitBreached",
    "FactorCrowdingHigh",
    "FactorCrowdingRising",
    "ComplianceViolation",
    "ModelConfidenceLow",
    "ModelAccuracyDegraded",
    "MarketDataStale",
    "AgentDown",
    "AgentTaskFailing",
    "PushgatewayDown",
    "AlertmanagerNotificationsFailing",
    "Watchdog",
    # Issue #8: the trade store's reconciliation.
    "PositionReconciliationBreak",
    # No silent failures: every way riskwatch can go quiet pages someone.
    "ComponentDown",
    "DiskSpaceLow",
    "BrokerDisconnected",
    "ReceiverDatabaseDown",
    "ExporterDown",
    "ExporterScrapeFailing",
    "PrometheusRuleEvaluationFailures",
    "PrometheusConfigReloadFailed",
    "PrometheusNotificationsDropped",
    "PrometheusNotConnectedToAlertmanagers",
    "PrometheusTSDBCompactionsFailing",
    "AlertmanagerConfigReloadFailed",
    "PushgatewayPushRejected",
    # Issue 13: the nightly model validation.
    "VaRBacktestYellow",
    "VaRBacktestRed",
    "ValidationGateFailed",
    "ValidationJobMissing",
}
# Rendered only when policy.yaml's inventory expects an agent (test_inventory.py).
INVENTORY_ALERTS = {"AgentMissing"}


def _alerts(project_dir: Path) -> list[dict[str, Any]]:
    files = sorted((project_dir / RULES_DIR).glob("*.yml"))
    return [r for r in load_rules(files) if "alert" in r]


def _by_name(project_dir: Path, name: str) -> dict[str, Any]:
    (rule,) = [r for r in _alerts(project_dir) if r["alert"] == name]
    return rule


def test_committed_rule_files_match_a_fresh_render(project_dir: Path) -> None:
    step = check.in_sync(project_dir)
    assert step.ok, step.detail


def test_every_alert_of_the_issue_is_generated(limits: Policy, project_dir: Path) -> None:
    assert set(alert_names(limits)) == ISSUE_ALERTS
    assert {r["alert"] for r in _alerts(project_dir)} == ISSUE_ALERTS


def test_the_hand_written_rule_file_is_gone(project_dir: Path) -> None:
    names = sorted(p.name for p in (project_dir / RULES_DIR).glob("*.yml"))
    assert names == [
        "compliance.rules.yml",
        "ops.rules.yml",
        "recording.rules.yml",
        "risk.rules.yml",
        "validation.rules.yml",
    ]
    for path in (project_dir / RULES_DIR).glob("*.yml"):
        assert path.read_text().startswith(HEADER)


def test_render_is_deterministic_whatever_the_order_in_limits(project_dir: Path) -> None:
    data = yaml.safe_load((project_dir / POLICY_FILE).read_text())
    data["portfolios"] = {"fund-c": {"var": 0.03}, "fund-b": {"drawdown_critical": 0.15}}
    reordered = dict(data)
    reordered["portfolios"] = dict(reversed(list(data["portfolios"].items())))
    reordered["for"] = dict(reversed(list(data["for"].items())))
    first = render_rule_files(parse_policy(data), DEFAULT_GRAFANA_URL)
    assert render_rule_files(parse_policy(reordered), DEFAULT_GRAFANA_URL) == first
    assert render_rule_files(parse_policy(data), DEFAULT_GRAFANA_URL) == first


def test_drawdown_critical_keeps_the_contract_of_the_first_rule(project_dir: Path) -> None:
    rule = _by_name(project_dir, "PortfolioDrawdownCritical")
    assert 'trading_drawdown_ratio{portfolio!~"fund-b"}) > 0.1)' in rule["expr"]
    assert rule["labels"]["severity"] == "critical"
    assert rule["labels"]["team"] == "risk"
    assert "{{ $value | humanizePercentage }}" in rule["annotations"]["description"]


def test_overrides_become_explicit_clauses_and_quote_their_own_limit(
    project_dir: Path,
) -> None:
    data = yaml.safe_load((project_dir / POLICY_FILE).read_text())
    data["portfolios"] = {
        "fund-b": {"drawdown_critical": 0.15},
        "fund-c": {"drawdown_critical": 0.12},
    }
    text = render_rule_files(parse_policy(data), DEFAULT_GRAFANA_URL)["risk.rules.yml"]
    (rule,) = [
        r
        for g in yaml.safe_load(text)["groups"]
        for r in g["rules"]
        if r["alert"] == "PortfolioDrawdownCritical"
    ]
    assert rule["expr"].splitlines() == [
        '(max by (agent, portfolio) (trading_drawdown_ratio{portfolio!~"fund-b|fund-c"}) > 0.1)',
        "or",
        '(max by (agent, portfolio) (trading_drawdown_ratio{portfolio="fund-b"}) > 0.15)',
        "or",
        '(max by (agent, portfolio) (trading_drawdown_ratio{portfolio="fund-c"}) > 0.12)',
    ]
    assert rule["annotations"]["limit"] == (
        '{{ if eq $labels.portfolio "fund-b" }}15%{{ else if eq $labels.portfolio "fund-c" }}'
        "12%{{ else }}10%{{ end }}"
    )


def test_every_alert_follows_the_conventions(project_dir: Path) -> None:
    step = check.conventions(project_dir)
    assert step.ok, step.detail


def test_every_alert_has_labels_annotations_and_a_runbook(project_dir: Path) -> None:
    for rule in _alerts(project_dir):
        assert rule["labels"]["team"] in {"risk", "compliance", "ops"}, rule["alert"]
        assert rule["labels"]["severity"], rule["alert"]
        for key in ("summary", "description", "runbook_url", "dashboard_url"):
            assert rule["annotations"][key], (rule["alert"], key)
        assert (project_dir / "docs/runbooks" / f"{rule['alert']}.md").is_file()
        assert rule["annotations"]["runbook_url"] == (
            f"https://github.com/riskwatch/riskwatch/blob/main/docs/runbooks/{rule['alert']}.md"
        )


def test_runbooks_say_what_it_means_what_to_check_and_what_to_do(project_dir: Path) -> None:
    for name in ISSUE_ALERTS | INVENTORY_ALERTS:
        text = (project_dir / "docs/runbooks" / f"{name}.md").read_text()
        assert text.startswith(f"# {name}\n"), name
        for heading in ("## What it means", "## What to check", "## What to do"):
            assert heading in text, (name, heading)


def test_every_metric_read_is_in_the_catalog_or_built_in(project_dir: Path) -> None:
    rules = load_rules(sorted((project_dir / RULES_DIR).glob("*.yml")))
    recorded = {r["record"] for r in rules if "record" in r}
    used: set[str] = set()
    for rule in rules:
        used |= metric_names(rule["expr"])
        for text in rule.get("annotations", {}).values():
            for query in template_queries(text):
                used |= metric_names(query)
    assert used - set(catalog.BY_NAME) - recorded <= BUILTIN_METRICS
    assert {"push_time_seconds", "up", "alertmanager_notifications_failed_total"} <= used
    assert {"compliance_rule_value", "compliance_violation_evidence_info"} <= used


def test_alerts_from_agent_pushes_keep_the_agent_label(project_dir: Path) -> None:
    for rule in _alerts(project_dir):
        if rule["labels"].get("source") != "agent":
            continue
        groupings = re.findall(r"\bby \(([^)]*)\)", rule["expr"])
        assert groupings, rule["alert"]
        for labels in groupings:
            assert "agent" in labels.split(", "), (rule["alert"], labels)


def test_warning_critical_pairs_share_an_alertgroup(project_dir: Path) -> None:
    groups: dict[str, set[str]] = {}
    for rule in _alerts(project_dir):
        if "alertgroup" in rule["labels"]:
            groups.setdefault(rule["labels"]["alertgroup"], set()).add(rule["alert"])
    assert groups == {
        "PortfolioDrawdown": {"PortfolioDrawdownWarning", "PortfolioDrawdownCritical"},
        "FactorCrowding": {"FactorCrowdingRising", "FactorCrowdingHigh"},
    }


def test_recording_rules_are_named_level_metric_operations(project_dir: Path) -> None:
    rules = load_rules([project_dir / RULES_DIR / "recording.rules.yml"])
    assert rules
    for rule in rules:
        level, metric, operation = rule["record"].split(":")
        assert level in {"portfolio", "firm"}
        assert metric.startswith(("trading_", "risk_", "compliance_"))
        assert operation in {"sum", "max", "ratio"}


def test_a_hand_edited_rule_file_fails_the_sync_check_with_a_diff(scratch: Path) -> None:
    risk = scratch / RULES_DIR / "risk.rules.yml"
    risk.write_text(risk.read_text().replace("> 0.05", "> 0.07"))
    step = check.in_sync(scratch)
    assert not step.ok
    assert "alerts/rules/risk.rules.yml (committed)" in step.detail
    assert "-    expr: max by (agent, portfolio) (trading_drawdown_ratio) > 0.07" in step.detail
    assert "riskwatch alerts render" in step.detail


def test_render_fixes_a_stale_file_removes_old_generated_ones_and_keeps_hand_written_ones(
    scratch: Path,
) -> None:
    rules_dir = scratch / RULES_DIR
    (rules_dir / "risk.rules.yml").write_text("stale\n")
    (rules_dir / "old.rules.yml").write_text(HEADER + "groups: []\n")
    (rules_dir / "mine.yml").write_text("groups: []\n")
    changed = check.render(scratch)
    assert changed == [
        "wrote alerts/rules/risk.rules.yml",
        "left alerts/rules/mine.yml: not generated; `alerts check` fails until its rules "
        "move into the generator",
        "removed stale alerts/rules/old.rules.yml",
    ]
    assert not (rules_dir / "old.rules.yml").exists()
    step = check.in_sync(scratch)
    assert not step.ok
    assert "alerts/rules/mine.yml is not generated from policy.yaml" in step.detail
    (rules_dir / "mine.yml").unlink()
    assert check.in_sync(scratch).ok
    assert check.render(scratch) == []


def test_lint_catches_a_missing_team_an_unknown_metric_and_a_missing_runbook(
    scratch: Path,
) -> None:
    bad = scratch / RULES_DIR / "bad.yml"
    bad.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "bad",
                        "rules": [
                            {
                                "alert": "NoSuchRunbook",
                                "expr": "trading_pnl_usd > 0",
                                "labels": {"severity": "page"},
                                "annotations": {"summary": "s"},
                            }
                        ],
                    }
                ]
            }
        )
    )
    found = list(lint.problems([bad], scratch))
    assert found == [
        "bad.yml: NoSuchRunbook: label team must be one of ['compliance', 'ops', 'risk']",
        "bad.yml: NoSuchRunbook: label severity must be one of "
        "['critical', 'info', 'none', 'warning']",
        "bad.yml: NoSuchRunbook: annotation description is missing",
        "bad.yml: NoSuchRunbook: annotation runbook_url is missing",
        "bad.yml: NoSuchRunbook: annotation dashboard_url is missing",
        "bad.yml: NoSuchRunbook: runbook docs/runbooks/NoSuchRunbook.md does not exist",
        "bad.yml: NoSuchRunbook: metric 'trading_pnl_usd' is not in riskwatch.catalog",
    ]


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up == 0", {"up"}),
        (
            'max by (agent, portfolio) (trading_drawdown_ratio{portfolio!~"a|b"}) > 0.1',
            {"trading_drawdown_ratio"},
        ),
        (
            "sum by (agent) (increase(riskwatch_agent_task_runs_total[10m]))"
            " / on (agent) group_left (x) y",
            {"riskwatch_agent_task_runs_total", "y"},
        ),
        (
            'time() - max(push_time_seconds{job="rw"}) > 60 or absent(up{job="pushgateway"})',
            {"push_time_seconds", "up"},
        ),
        ('label_replace(foo, "dst", "$1", "src", "(.*)") unless bar offset 5m', {"foo", "bar"}),
        (
            "portfolio:trading_daily_pnl_usd:sum / ignoring (x) firm:x:sum",
            {"portfolio:trading_daily_pnl_usd:sum", "firm:x:sum"},
        ),
        ("vector(1)", set()),
        (
            "-trading_daily_pnl_usd / trading_portfolio_value_usd > bool 0.02",
            {"trading_daily_pnl_usd", "trading_portfolio_value_usd"},
        ),
    ],
)
def test_metric_names_are_read_out_of_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_queries_are_read_out_of_templates() -> None:
    text = (
        '{{ with printf `a{x=%q}` $labels.x | query }}{{ end }} {{ printf "b{y=\\"1\\"}" | query }}'
    )
    assert template_queries(text) == ["a{x=%q}", 'b{y="1"}']
