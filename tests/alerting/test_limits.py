"""alerts/limits.yaml: the issue's defaults, per-portfolio overrides, one-line errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from riskwatch.alerting.cli import alerts
from riskwatch.alerting.limits import (
    LIMITS_FILE,
    Limits,
    LimitsError,
    duration_seconds,
    load_limits,
    parse_limits,
)
from riskwatch.alerting.rules import alert_rules


def test_defaults_are_the_issue_s_limits(limits: Limits) -> None:
    d = limits.defaults
    assert (d.drawdown_warning, d.drawdown_critical, d.daily_loss) == (0.05, 0.10, 0.02)
    assert (d.var, d.expected_shortfall, d.model_confidence) == (0.02, 0.025, 0.5)
    assert limits.tail_risk.var_confidence == "0.99"
    assert limits.tail_risk.expected_shortfall_confidence == "0.975"
    assert limits.crowding.high_level == 2
    assert limits.ops.market_data_stale_seconds == 300
    assert limits.for_["FactorCrowdingHigh"] == "10m"
    assert limits.for_["ModelConfidenceLow"] == "15m"


def test_breach_alerts_fire_without_waiting_for_the_latency_budget(limits: Limits) -> None:
    for name in (
        "PortfolioDrawdownWarning",
        "PortfolioDrawdownCritical",
        "DailyLossLimitBreached",
        "VaRLimitBreached",
        "ExpectedShortfallLimitBreached",
    ):
        assert duration_seconds(limits.for_[name]) == 0, name


def test_an_override_applies_to_its_portfolio_only(limits: Limits) -> None:
    assert limits.limit("drawdown_critical", "fund-b") == 0.15
    assert limits.limit("drawdown_critical", "fund-a") == 0.10
    assert limits.limit("drawdown_warning", "fund-b") == 0.05
    assert limits.overrides("drawdown_critical") == {"fund-b": 0.15}
    assert limits.overrides("var") == {}


@pytest.mark.parametrize(
    ("text", "seconds"), [("0s", 0), ("30s", 30), ("10m", 600), ("1h30m", 5400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert duration_seconds(text) == seconds


def _raw(project_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project_dir / LIMITS_FILE).read_text())
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
    ("tail_risk/methods", ["historical", "monte_carlo"], "tail_risk.methods.1"),
    ("compliance/severity/HIGH", "page", "compliance.severity.HIGH (got 'page')"),
    (
        "market_calendar/holidays",
        ["2026-01-03"],
        "market_calendar: holiday 2026-01-03 is a weekend day",
    ),
    ("links/runbook_url", "https://example.com/runbook.md", "links.runbook_url"),
    ("crowding/rising_level", 2, "ok"),
    ("crowding", {"high_level": 1, "rising_level": 2}, "crowding: rising_level must not exceed"),
    ("for", _DELETE, "for: Field required"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_an_invalid_limit_is_one_line_naming_the_field(
    project_dir: Path, path: str, value: Any, message: str
) -> None:
    data = copy.deepcopy(_raw(project_dir))
    _set(data, path, value)
    if message == "ok":  # rising == high is allowed: both at the same level
        parse_limits(data)
        return
    with pytest.raises(LimitsError) as caught:
        parse_limits(data)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{LIMITS_FILE}: ")
    assert message in text


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("for/PortfolioDrawdownCritcal", "0s", "for.PortfolioDrawdownCritcal: no such alert"),
        ("for/Watchdog", _DELETE, "for.Watchdog: missing"),
    ],
)
def test_the_for_section_names_every_alert_exactly(
    project_dir: Path, path: str, value: Any, message: str
) -> None:
    data = copy.deepcopy(_raw(project_dir))
    _set(data, path, value)
    with pytest.raises(LimitsError, match=message):
        alert_rules(parse_limits(data))


def test_unreadable_or_non_mapping_files_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "limits.yaml"
    broken.write_text("defaults: [unclosed\n")
    with pytest.raises(LimitsError, match=r"^cannot read .*limits.yaml: ") as caught:
        load_limits(broken)
    assert "\n" not in str(caught.value)
    broken.write_text("- a list\n")
    with pytest.raises(LimitsError, match="not a YAML mapping"):
        load_limits(broken)
    with pytest.raises(LimitsError, match="cannot read"):
        load_limits(tmp_path / "missing.yaml")


def test_render_reports_a_bad_limit_in_one_line_and_writes_nothing(scratch: Path) -> None:
    limits_file = scratch / LIMITS_FILE
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
