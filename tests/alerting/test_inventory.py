"""policy.yaml's inventory: what must exist, and the alerts on its absence.

The shipped inventory lists no agent (the local stack runs none), so AgentMissing is
not in the committed rules; these tests render it from the policy with docker
compose's agents and run its promtool tests (alerts/tests/inventory/) against that.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwatch.alerting import check
from riskwatch.alerting.rules import alert_names, alert_rules
from riskwatch.policy import POLICY_FILE, Policy, PolicyError, parse_policy
from tests.support.alertmanager import tool

COMPOSE_AGENTS = {
    "trading-1": {"kind": "trading", "portfolios": ["alpha", "beta"]},
    "health-1": {"kind": "health"},
}
INVENTORY_TESTS = "alerts/tests/inventory/agents.test.yml"


def _raw(project_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project_dir / POLICY_FILE).read_text())
    return data


def _with_agents(project_dir: Path, agents: dict[str, Any]) -> Policy:
    data = copy.deepcopy(_raw(project_dir))
    data["inventory"]["agents"] = agents
    return parse_policy(data)


def _expr(limits: Policy, name: str) -> list[str]:
    return [rule.expr for rule in alert_rules(limits) if rule.name == name]


def test_the_shipped_inventory_is_what_the_local_stack_runs(limits: Policy) -> None:
    assert limits.inventory.agents == {}
    assert limits.inventory.scrape_jobs == ("pushgateway", "prometheus", "alertmanager", "receiver")
    # The sidecar exporters are scraped but not started by `riskwatch stack up`.
    assert not {"tradestore", "ibkr", "marketdata"} & set(limits.inventory.scrape_jobs)


def test_an_empty_inventory_renders_no_agent_missing_and_keeps_its_for(limits: Policy) -> None:
    assert "AgentMissing" in limits.for_
    assert "AgentMissing" not in alert_names(limits)


def test_one_agent_missing_rule_per_expected_agent_labelled_by_its_id(project_dir: Path) -> None:
    limits = _with_agents(project_dir, COMPOSE_AGENTS)
    assert _expr(limits, "AgentMissing") == [
        'absent(push_time_seconds{job="riskwatch",agent="trading-1"})\n'
        "and on ()\n"
        'absent(up{job="agents",agent="trading-1"})\n'
        "and on ()\n"
        'up{job="pushgateway"} == 1',
        'absent(push_time_seconds{job="riskwatch",agent="health-1"})\n'
        "and on ()\n"
        'absent(up{job="agents",agent="health-1"})\n'
        "and on ()\n"
        'up{job="pushgateway"} == 1',
    ]


def test_expected_scrape_jobs_are_absent_terms_but_the_pushgateway_s_is_its_own(
    project_dir: Path,
) -> None:
    data = copy.deepcopy(_raw(project_dir))
    data["inventory"]["scrape_jobs"] = ["pushgateway", "tradestore"]
    (expr,) = _expr(parse_policy(data), "ExporterDown")
    assert expr.splitlines() == [
        'up{job!="pushgateway",job!="agents"} == 0',
        "or",
        'absent(up{job="tradestore"})',
    ]
    data["inventory"]["scrape_jobs"] = []
    assert _expr(parse_policy(data), "ExporterDown") == [
        'up{job!="pushgateway",job!="agents"} == 0'
    ]


def test_agent_missing_promtool_tests_pass_on_the_rules_rendered_with_agents(
    scratch: Path,
) -> None:
    policy = scratch / POLICY_FILE
    data = _raw(scratch)
    data["inventory"]["agents"] = COMPOSE_AGENTS
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    assert check.render(scratch) == ["wrote alerts/rules/ops.rules.yml"]
    assert check.conventions(scratch).ok
    step = check._run(
        "promtool test rules", [tool("promtool"), "test", "rules", INVENTORY_TESTS], scratch
    )
    assert step.ok, step.detail
    assert "SUCCESS" in step.detail


@pytest.mark.parametrize(
    ("inventory", "message"),
    [
        ({"agents": {"trading-1": {"kind": "trading"}}}, "at least one portfolio"),
        (
            {"agents": {"health-1": {"kind": "health", "portfolios": ["alpha"]}}},
            "a health agent publishes no portfolio",
        ),
        ({"agents": {"trading-1": {"kind": "model"}}}, "inventory.agents.trading-1.kind"),
        ({"agents": {'bad"id': {"kind": "health"}}}, "inventory.agents"),
        ({"scrape_jobs": ["receiver", "receiver"]}, "scrape job 'receiver' is listed twice"),
        ({"scrape_jobs": ['re"ceiver']}, "inventory.scrape_jobs.0"),
        ({"exporters": []}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_inventory_is_one_line_naming_the_field(
    project_dir: Path, inventory: dict[str, Any], message: str
) -> None:
    data = copy.deepcopy(_raw(project_dir))
    data["inventory"] = inventory
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    text = str(caught.value)
    assert "\n" not in text
    assert message in text


def test_agent_missing_without_a_for_is_refused(project_dir: Path) -> None:
    data = copy.deepcopy(_raw(project_dir))
    data["inventory"]["agents"] = COMPOSE_AGENTS
    del data["for"]["AgentMissing"]
    with pytest.raises(PolicyError, match=r"for\.AgentMissing: missing"):
        alert_rules(parse_policy(data))
