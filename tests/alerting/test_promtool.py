"""The real promtool: the rules load, their unit tests pass, and the harness can fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from riskwatch.alerting import check
from riskwatch.alerting.rules import RULES_DIR
from tests.support.alertmanager import tool

TESTS_DIR = "alerts/tests"


def test_promtool_check_rules_passes(project_dir: Path) -> None:
    step = check.promtool_check_rules(project_dir, tool("promtool"))
    assert step.ok, step.detail
    assert "SUCCESS" in step.detail


def test_promtool_unit_tests_pass(project_dir: Path) -> None:
    step = check.promtool_test_rules(project_dir, tool("promtool"))
    assert step.ok, step.detail
    assert "FAILED" not in step.detail


def test_a_broken_rule_fails_promtool_check_rules(scratch: Path) -> None:
    (scratch / RULES_DIR / "broken.yml").write_text(
        "groups:\n  - name: broken\n    rules:\n"
        "      - alert: Broken\n        expr: max by (portfolio (trading_drawdown_ratio)\n"
    )
    step = check.promtool_check_rules(scratch, tool("promtool"))
    assert not step.ok
    assert "broken.yml" in step.detail


def test_a_wrong_expectation_fails_promtool_test_rules(scratch: Path) -> None:
    tests_dir = scratch / TESTS_DIR
    risk = yaml.safe_load((tests_dir / "risk.test.yml").read_text())
    for path in tests_dir.glob("*.test.yml"):
        path.unlink()
    # The first drawdown group alone, expecting the wrong limit in the description.
    risk["tests"] = risk["tests"][:1]
    text = yaml.safe_dump(risk, sort_keys=False)
    assert "limit of 10%." in text
    (tests_dir / "wrong.test.yml").write_text(text.replace("limit of 10%.", "limit of 11%."))
    step = check.promtool_test_rules(scratch, tool("promtool"))
    assert not step.ok
    assert "PortfolioDrawdownCritical" in step.detail
    assert "limit of 11%." in step.detail


def test_no_unit_tests_is_a_failure_not_a_pass(scratch: Path) -> None:
    for path in (scratch / TESTS_DIR).glob("*.test.yml"):
        path.unlink()
    step = check.promtool_test_rules(scratch, tool("promtool"))
    assert not step.ok
    assert "no unit tests" in step.detail


def _cases(project_dir: Path) -> list[dict[str, Any]]:
    cases = []
    for path in sorted((project_dir / TESTS_DIR).glob("*.test.yml")):
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                cases.append({**case, "group": group["name"]})
    return cases


def test_every_alert_is_shown_firing_and_quiet(project_dir: Path) -> None:
    rules = yaml.safe_load((project_dir / RULES_DIR / "risk.rules.yml").read_text())
    names = {
        r["alert"]
        for f in sorted((project_dir / RULES_DIR).glob("*.yml"))
        for g in yaml.safe_load(f.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert rules
    cases = _cases(project_dir)
    for name in sorted(names):
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in mine), f"{name}: no test shows it firing"
        if name != "Watchdog":  # always fires, by design
            assert any(not c.get("exp_alerts") for c in mine), f"{name}: never shown quiet"
        for case in mine:
            for alert in case.get("exp_alerts") or []:
                labels, annotations = alert["exp_labels"], alert["exp_annotations"]
                assert {"severity", "team"} <= set(labels), (name, case["group"])
                assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(
                    annotations
                ), (name, case["group"])


def test_test_groups_read_like_sentences(project_dir: Path) -> None:
    for path in sorted((project_dir / TESTS_DIR).glob("*.test.yml")):
        for group in yaml.safe_load(path.read_text())["tests"]:
            assert len(group.get("name", "").split()) >= 5, (path.name, group.get("name"))
