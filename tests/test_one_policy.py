"""One policy file: change it in several places and everything that reads it follows.

A copy of the shipped policy.yaml gets a tighter drawdown limit, a compliance limit,
another VaR confidence, a crowding threshold and a portfolio override. The generated
alert rules, the dashboards' thresholds, the trading agent's compliance evaluation and
the report's breach table are each built from the shipped file and from the copy, and
must differ exactly where the copy does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from riskwatch.alerting.rules import render_rule_files
from riskwatch.clock import FixedClock
from riskwatch.dashboards import build
from riskwatch.report.breaches import derive_breaches
from riskwatch.report.model import limits_for
from riskwatch.settings import DEFAULT_GRAFANA_URL, Settings, load_settings
from tests.report.sample import sample_report
from tests.support.agents import synthetic_desk
from tests.support.calendar import SITUATIONS
from tests.support.policy import policy_copy


def edit(policy: dict[str, Any]) -> None:
    policy["defaults"]["drawdown_critical"] = 0.08
    policy["portfolios"]["beta"] = {"drawdown_warning": 0.15, "drawdown_critical": 0.2}
    policy["compliance"]["rules"]["POS_001"]["limit"] = 5
    policy["tail_risk"]["var_confidence"] = 0.95
    policy["crowding"]["hhi_medium"] = 0.12


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Settings]:
    edited = policy_copy(tmp_path_factory.mktemp("policy"), edit)
    return load_settings(), load_settings(policy_file=edited)


def test_the_rules_follow(both: tuple[Settings, Settings]) -> None:
    shipped, edited = (render_rule_files(s.policy, DEFAULT_GRAFANA_URL) for s in both)
    before, after = shipped["risk.rules.yml"], edited["risk.rules.yml"]
    # The new default, and beta's own limits as a clause of their own.
    assert '{portfolio!~"fund-b"}) > 0.1)' in before
    assert '{portfolio!~"beta|fund-b"}) > 0.08)' in after
    assert 'portfolio="beta"' not in before
    assert '(trading_drawdown_ratio{portfolio="beta"}) > 0.2)' in after
    assert 'confidence="0.99"' in before and 'confidence="0.95"' in after
    assert 'confidence="0.99"' not in after


def test_the_dashboards_follow(both: tuple[Settings, Settings]) -> None:
    shipped, edited = (build.build_all(s.policy) for s in both)

    def thresholds(board: dict[str, Any]) -> set[float]:
        found: set[float] = set()
        for panel in board["panels"]:
            steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {})
            found |= {s["value"] for s in steps.get("steps", []) if s.get("value") is not None}
        return found

    assert 0.08 not in thresholds(shipped["executive"])
    assert 0.08 in thresholds(edited["executive"])  # the drawdown gauge's red
    assert 0.12 not in thresholds(shipped["risk"]) and 0.12 in thresholds(edited["risk"])
    risk = json.dumps(edited["risk"])
    assert "VaR 95%" in risk and "VaR 99%" not in risk
    assert 'confidence=\\"0.95\\"' in risk


def agent_compliance(settings: Settings) -> dict[str, tuple[float, float]]:
    """(limit, active) of each rule for portfolio alpha after one agent cycle."""
    desk = synthetic_desk(settings, "policy-test", FixedClock(SITUATIONS[0].at))
    desk.cycle()
    read = desk.value
    out = {}
    for rule in settings.policy.compliance.rules:
        labels = {"portfolio": "alpha", "rule": rule}
        limit = read("compliance_rule_limit", **labels)
        severity = settings.policy.compliance.rules[rule].severity
        active = read("compliance_violation_active", **labels, severity=severity)
        assert limit is not None and active is not None, rule
        out[rule] = (limit, active)
    return out


def test_the_agents_compliance_evaluation_follows(both: tuple[Settings, Settings]) -> None:
    shipped, edited = (agent_compliance(s) for s in both)
    assert shipped["POS_001"] == (30, 0.0)  # alpha holds 28 positions
    assert edited["POS_001"] == (5, 1.0)
    # RISK_002 is the VaR limit, whatever the policy calls it.
    assert shipped["RISK_002"][0] == edited["RISK_002"][0] == 0.02
    assert {r: v for r, v in shipped.items() if r != "POS_001"} == {
        r: v for r, v in edited.items() if r != "POS_001"
    }


def test_the_reports_breach_table_follows(both: tuple[Settings, Settings]) -> None:
    """The sample day: beta falls 14% from its peak in the afternoon."""

    def breaches(settings: Settings) -> dict[tuple[str, str], tuple[float, str]]:
        data = sample_report()
        for p in data.portfolios:
            p.limits = limits_for(settings.policy, p.name)
        return {(b.portfolio, b.measure): (b.limit, b.level) for b in derive_breaches(data)}

    shipped, edited = breaches(both[0]), breaches(both[1])
    assert shipped[("beta", "Drawdown")] == (0.10, "critical")
    # Beta's own approved limits: its 14% fall is within both of them now.
    assert ("beta", "Drawdown") not in edited
    assert all(portfolio != "beta" or measure != "Drawdown" for portfolio, measure in edited)
