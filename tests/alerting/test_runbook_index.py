"""docs/runbooks/README.md lists every alert, with the severity and team its rule gives."""

from __future__ import annotations

import re
from pathlib import Path

from riskwatch.alerting.rules import alert_rules
from riskwatch.policy import parse_policy
from tests.support.policy import shipped_policy_data

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(
    r"^\| \[(?P<name>\w+)\]\((?P=name)\.md\) \| (?P<severity>[^|]+) \| (?P<team>\w+) \|$"
)


def _index() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in (ROOT / "docs/runbooks/README.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match["name"]] = (match["severity"].strip(), match["team"])
    return rows


def test_the_runbook_index_matches_the_rules() -> None:
    data = shipped_policy_data()
    # Every rule there can be: AgentMissing is rendered only for an inventory's agents.
    data["inventory"]["agents"] = {"trading-1": {"kind": "trading", "portfolios": ["alpha"]}}
    rules = alert_rules(parse_policy(data))
    index = _index()
    assert set(index) == {r.name for r in rules}
    for rule in rules:
        severity, team = index[rule.name]
        assert team == rule.team, rule.name
        # ComplianceViolation's severity is the breached rule's own, mapped by the
        # policy: the index describes it instead of naming one.
        if rule.name != "ComplianceViolation":
            assert severity == rule.severity, rule.name
