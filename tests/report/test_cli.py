"""`riskwatch report` failures that need no stack: one line each, nothing half-written."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from riskwatch.report.cli import report
from riskwatch.report.collect import NEW_YORK
from tests.conftest import free_port


def test_prometheus_down_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "reports"
    result = CliRunner().invoke(report, ["--out", str(out), "--prometheus-url", dead], obj={})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"riskwatch: error: cannot reach Prometheus at {dead}: ")
    assert not out.exists() or not any(out.iterdir())


def test_bad_and_future_dates_are_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(report, ["--date", "24/11/2026", "--out", str(tmp_path)], obj={})
    assert bad.exit_code == 2 and "'24/11/2026' is not a date like 2026-11-24" in bad.stderr
    later = (datetime.now(NEW_YORK) + timedelta(days=2)).date().isoformat()
    future = runner.invoke(report, ["--date", later, "--out", str(tmp_path)], obj={})
    assert future.exit_code == 1
    assert future.stderr.strip() == (
        f"riskwatch: error: {later} has not started yet in New York; pick today or a past date"
    )


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        report, ["--out", str(tmp_path)], obj={}, env={"RISKWATCH_REPORT__SEND_ATTEMPTS": "0"}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("riskwatch: error: invalid setting report.send_attempts")
