"""policy.yaml: the issue's defaults, per-portfolio overrides, one-line errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from riskwatch.alerting.cli import alerts
from riskwatch.alerting.rules import alert_rules, render_rule_files
from riskwatch.policy import (
    POLICY_FILE,
    Policy,
    PolicyError,
    duration_seconds,
    load_policy,
    parse_policy,
    time_compressed,
)


def test_defaults_are_the_issue_s_limits(limits: Policy) -> None:
    d = limits.defaults
    assert (d.drawdown_warning, d.drawdown_critical, d.daily_loss) == (0.05, 0.10, 0.02)
    assert (d.var, d.expected_shortfall, d.model_confidence) == (0.02, 0.025, 0.5)
    assert limits.tail_risk.var_confidence == 0.99
    assert limits.tail_risk.expected_shortfall_confidence == 0.975
    # The labels the agents publish them under, and the rules select.
    assert (limits.tail_risk.var_label, limits.tail_risk.expected_shortfall_label) == (
        "0.99",
        "0.975",
    )
    assert limits.crowding.high_level == 2
    assert limits.ops.market_data_stale_seconds == 300
    assert limits.for_["FactorCrowdingHigh"] == "10m"
    assert limits.for_["ModelConfidenceLow"] == "15m"


def test_breach_alerts_fire_without_waiting_for_the_latency_budget(limits: Policy) -> None:
    for name in (
        "PortfolioDrawdownWarning",
        "PortfolioDrawdownCritical",
        "DailyLossLimitBreached",
        "VaRLimitBreached",
        "ExpectedShortfallLimitBreached",
    ):
        assert duration_seconds(limits.for_[name]) == 0, name


def test_an_override_applies_to_its_portfolio_only(limits: Policy) -> None:
    assert limits.limit("drawdown_critical", "fund-b") == 0.15
    assert limits.limit("drawdown_critical", "fund-a") == 0.10
    assert limits.limit("drawdown_warning", "fund-b") == 0.05
    assert limits.overrides("drawdown_critical") == {"fund-b": 0.15}
    assert limits.overrides("var") == {}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("35d", 35 * 86_400),
        ("2w", 1_209_600),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def _raw(project_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project_dir / POLICY_FILE).read_text())
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split("/")
    for key in parents:
        data = data.setdefault(key, {})
    if value is _DELETE:
        del data[last]
    else:
        data[last] = value


_DELETE = object()

BAD = [
    (
        "defaults/drawdown_critical",
        1.5,
        "defaults.drawdown_critical (got 1.5): Input should be less than 1",
    ),
    ("defaults/drawdwn_warning", 0.05, "defaults.drawdwn_warning"),
    (
        "portfolios/fund-b/drawdown_critcal",
        0.2,
        "portfolios.fund-b.drawdown_critcal: not a portfolio limit",
    ),
    ("portfolios/fund.b", {"var": 0.03}, "portfolios.fund.b"),
    (
        "portfolios/fund-c",
        {"drawdown_warning": 0.2},
        "portfolios.fund-c: drawdown_warning (0.2) must be below drawdown_critical (0.1)",
    ),
    (
        "for/FactorCrowdingHigh",
        "10 minutes",
        "for.FactorCrowdingHigh (got '10 minutes'): '10 minutes' is not a duration",
    ),
    ("ops/market_data_stale_seconds", -5, "ops.market_data_stale_seconds (got -5)"),
    ("rules", {}, "rules: Extra inputs are not permitted"),
    ("tail_risk/methods", ["historical", "monte_carlo"], "tail_risk.methods.1"),
    ("compliance/severity/HIGH", "page", "compliance.severity.HIGH (got 'page')"),
    (
        "market/desk_closures",
        ["2026-01-03"],
        "market: desk closure 2026-01-03 is a weekend day",
    ),
    (
        "market/holidays",
        ["2026-01-02"],
        "policy.yaml: market.holidays has been removed: the exchange's holidays",
    ),
    ("market/timezone", "America/Gotham", "'America/Gotham' is not an IANA time zone"),
    ("market/half_day_extended_close", "21:00", "must lie within the extended hours"),
    ("links/teams/risk", "riskdash", "links.teams.risk: no dashboard 'riskdash'"),
    ("compliance/overrides", {"fund-b": {"RISK_002": 0.05}}, "RISK_002 is the var limit"),
    ("compliance/overrides", {"fund-b": {"LEV_001": 2}}, "compliance.overrides.fund-b.LEV_001"),
    (
        "compliance/rules/POS_001",
        {
            "title": "t",
            "unit": "count",
            "description": "d",
            "severity": "MEDIUM",
            "limit": 3,
            "limit_from": "var",
        },
        "set exactly one of limit and limit_from",
    ),
    ("compliance/rules/POS_001/severity", "URGENT", "compliance.rules.POS_001.severity"),
    ("tail_risk/var_confidence", 1.2, "tail_risk.var_confidence (got 1.2)"),
    ("crowding/hhi_medium", 0.5, "a medium threshold must not exceed its high one"),
    ("links/runbook_url", "https://example.com/runbook.md", "links.runbook_url"),
    ("crowding/rising_level", 2, "ok"),
    ("for", _DELETE, "for: Field required"),
    (
        "trading_model/min_scored_predictions",
        0,
        "trading_model.min_scored_predictions (got 0): Input should be greater than or equal to 1",
    ),
    ("trading_model", _DELETE, "trading_model: Field required"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_an_invalid_limit_is_one_line_naming_the_field(
    project_dir: Path, path: str, value: Any, message: str
) -> None:
    data = copy.deepcopy(_raw(project_dir))
    _set(data, path, value)
    if message == "ok":  # rising == high is allowed: both at the same level
        parse_policy(data)
        return
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{POLICY_FILE}: ")
    assert message in text


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("for/PortfolioDrawdownCritcal", "0s", "for.PortfolioDrawdownCritcal: no such alert"),
        ("for/Watchdog", _DELETE, "for.Watchdog: missing"),
        ("keep_firing_for/AgentDwn", "1m", "keep_firing_for.AgentDwn: no such alert"),
    ],
)
def test_the_for_section_names_every_alert_exactly(
    project_dir: Path, path: str, value: Any, message: str
) -> None:
    data = copy.deepcopy(_raw(project_dir))
    _set(data, path, value)
    with pytest.raises(PolicyError, match=message):
        alert_rules(parse_policy(data))


def test_crowding_rising_may_not_exceed_high(project_dir: Path) -> None:
    data = copy.deepcopy(_raw(project_dir))
    data["crowding"].update(high_level=1, rising_level=2)
    with pytest.raises(PolicyError, match="crowding: rising_level must not exceed high_level"):
        parse_policy(data)


def test_one_number_for_each_limit_with_two_names(limits: Policy) -> None:
    """RISK_002 is the VaR limit and DAT_001 the stale-data limit: one number each,
    per portfolio too."""
    data = copy.deepcopy(_raw(Path(__file__).resolve().parents[2]))
    data["portfolios"]["fund-b"]["var"] = 0.03
    data["ops"]["market_data_stale_seconds"] = 120
    policy = parse_policy(data)
    assert policy.compliance_limit("RISK_002") == policy.limit("var") == 0.02
    assert policy.compliance_limit("RISK_002", "fund-b") == 0.03
    assert policy.compliance_limit("DAT_001", "fund-b") == 120
    assert policy.compliance_overrides() == {"fund-b": {"RISK_002": 0.03}}
    specs = {rule: limit for rule, _, _, limit in policy.compliance_specs()}
    assert specs["RISK_002"] == 0.02 and specs["DAT_001"] == 120


def test_unreadable_or_non_mapping_files_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "policy.yaml"
    broken.write_text("defaults: [unclosed\n")
    with pytest.raises(PolicyError, match=r"^cannot read .*policy.yaml: ") as caught:
        load_policy(broken)
    assert "\n" not in str(caught.value)
    broken.write_text("- a list\n")
    with pytest.raises(PolicyError, match="not a YAML mapping"):
        load_policy(broken)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_render_reports_a_bad_limit_in_one_line_and_writes_nothing(scratch: Path) -> None:
    limits_file = scratch / POLICY_FILE
    limits_file.write_text(
        limits_file.read_text().replace("drawdown_critical: 0.10", "drawdown_critical: 10")
    )
    before = {p: p.read_text() for p in (scratch / "alerts/rules").glob("*.yml")}
    result = CliRunner().invoke(alerts, ["render"], env={"RISKWATCH_PROJECT_DIR": str(scratch)})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "defaults.drawdown_critical (got 10): Input should be less than 1" in lines[0]
    assert {p: p.read_text() for p in before} == before


def test_an_alert_held_on_outlasts_the_evaluations_it_waits_for_at_any_speed(
    project_dir: Path,
) -> None:
    """keep_firing_for is divided by the demo's speed like `for`, but never below the
    floor that several 5 s evaluations need (AgentDown must outlast the alerts it holds
    back clearing, and they clear on the wall clock)."""
    data = copy.deepcopy(_raw(project_dir))
    data["keep_firing_for"] = {"AgentDown": "2m"}
    policy = parse_policy(data)
    assert time_compressed(policy, 1).keep_firing_for == {"AgentDown": "2m"}
    assert time_compressed(policy, 4).keep_firing_for == {"AgentDown": "30s"}
    assert time_compressed(policy, 120).keep_firing_for == {"AgentDown": "20s"}
    (rule,) = [r for r in _rendered(time_compressed(policy, 4)) if r["alert"] == "AgentDown"]
    assert rule["keep_firing_for"] == "30s"
    (other,) = [r for r in _rendered(policy) if r["alert"] == "AgentTaskFailing"]
    assert "keep_firing_for" not in other


def _rendered(policy: Policy) -> list[dict[str, Any]]:
    files = render_rule_files(policy, "http://grafana.test")
    return [
        rule
        for text in files.values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
