"""`riskwatch alerts render|check` as an operator runs them."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path

from click.testing import CliRunner

from riskwatch.alerting import calendar
from riskwatch.alerting.cli import alerts
from riskwatch.clock import FixedClock
from riskwatch.policy import POLICY_FILE
from tests.support.calendar import shipped_zone


def _run(project_dir: Path, *args: str) -> tuple[int, str]:
    # Today is the day the committed market calendar was rendered from, so `render`
    # rewrites only what the test changed, whatever day it runs on.
    text = (project_dir / calendar.ALERTMANAGER_CONFIG).read_text()
    since = calendar.rendered_since(text)
    assert since is not None
    clock = FixedClock(datetime.combine(since, time(12), shipped_zone()))
    result = CliRunner().invoke(
        alerts,
        list(args),
        env={"RISKWATCH_PROJECT_DIR": str(project_dir)},
        obj={"clock": clock},
    )
    return result.exit_code, result.output


def test_check_passes_on_the_committed_config(project_dir: Path) -> None:
    code, output = _run(project_dir, "check")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[-1] == "all alerting checks passed"
    for step in (
        "generated files in sync",
        "rule conventions",
        "promtool check rules",
        "promtool test rules",
        "amtool check-config",
        "route: the Watchdog goes to the heartbeat, not to ops",
    ):
        assert f"ok  {step}" in lines


def test_check_fails_when_limits_change_without_a_render_and_render_fixes_it(
    scratch: Path,
) -> None:
    limits = scratch / POLICY_FILE
    limits.write_text(
        limits.read_text().replace("drawdown_critical: 0.15", "drawdown_critical: 0.2")
    )
    code, output = _run(scratch, "check")
    assert code == 1
    assert "FAILED  generated files in sync" in output
    assert "riskwatch: error: 1 alerting check(s) failed" in output
    assert "ok  promtool check rules" in output  # the other steps still ran

    code, output = _run(scratch, "render")
    assert code == 0, output
    assert output.splitlines() == ["wrote alerts/rules/risk.rules.yml"]
    assert (
        'trading_drawdown_ratio{portfolio="fund-b"}) > 0.2)'
        in (scratch / "alerts/rules/risk.rules.yml").read_text()
    )
    code, output = _run(scratch, "render")
    assert output.strip() == "generated files already up to date"


def test_render_updates_the_market_calendar(scratch: Path) -> None:
    limits = scratch / POLICY_FILE
    text = limits.read_text().replace('extended_close: "20:00"', 'extended_close: "18:00"')
    limits.write_text(
        text.replace('half_day_extended_close: "17:00"', 'half_day_extended_close: "16:00"')
    )
    code, output = _run(scratch, "render")
    assert code == 0, output
    assert output.splitlines() == ["wrote alerts/alertmanager.yml"]
    text = (scratch / "alerts/alertmanager.yml").read_text()
    assert 'start_time: "18:00"' in text
    assert "# Operations: #trading-ops." in text  # the hand-written rest is untouched


def test_check_reports_a_missing_tool_as_a_failed_step(scratch: Path) -> None:
    result = CliRunner().invoke(
        alerts,
        ["check"],
        env={
            "RISKWATCH_PROJECT_DIR": str(scratch),
            "RISKWATCH_STACK__PROMTOOL_BIN": "no-such-promtool",
        },
        obj={},
    )
    assert result.exit_code == 1
    assert "no-such-promtool not found on PATH" in result.output
    assert "riskwatch: error: 2 alerting check(s) failed" in result.output
