"""`riskwatch report` failures that need no stack: one line each, nothing half-written.

The command reads "now" from the clock in its context object; every test here whose
outcome depends on the date runs at fixed instants (tests/support/calendar.py).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from riskwatch.clock import Clock, FixedClock
from riskwatch.report.cli import report
from tests.support.calendar import Situation, situations
from tests.support.stack import free_port

# Two more instants on top of the shared ones. At 21:00 New York it is already the next
# day in UTC, so a default day taken from the UTC date would be refused as "not started".
EVENING = Situation("weekday-evening", "2026-11-18 21:00", "Wednesday; Thursday in UTC")
MIDNIGHT = Situation("new-york-midnight", "2026-11-18 00:00", "the day's first instant")
INSTANTS = [*situations(), *(pytest.param(s, id=s.name) for s in (EVENING, MIDNIGHT))]


def invoke(args: list[str], clock: Clock) -> Result:
    return CliRunner().invoke(report, args, obj={"clock": clock})


def test_prometheus_down_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "reports"
    result = invoke(["--out", str(out), "--prometheus-url", dead], FixedClock(EVENING.at))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    # Reaching Prometheus at all means the default day was New York's Wednesday, not
    # UTC's Thursday (which has not started in New York and would be refused first).
    assert lines[0].startswith(f"riskwatch: error: cannot reach Prometheus at {dead}: ")
    assert not out.exists() or not any(out.iterdir())


def test_a_date_that_is_not_one_is_refused(tmp_path: Path) -> None:
    # Refused while parsing the option, before any clock is read: independent of when
    # it runs.
    bad = CliRunner().invoke(report, ["--date", "24/11/2026", "--out", str(tmp_path)], obj={})
    assert bad.exit_code == 2 and "'24/11/2026' is not a date like 2026-11-24" in bad.stderr


@pytest.mark.parametrize("situation", INSTANTS)
def test_the_next_day_is_refused_and_today_is_not(situation: Situation, tmp_path: Path) -> None:
    clock = FixedClock(situation.at)
    today = situation.at.date()  # `at` is in New York time: this is New York's date
    tomorrow = today + timedelta(days=1)
    dead = f"http://127.0.0.1:{free_port()}"
    common = ["--out", str(tmp_path), "--no-send", "--prometheus-url", dead]

    future = invoke(["--date", tomorrow.isoformat(), *common], clock)
    assert future.exit_code == 1
    assert future.stderr.strip() == (
        f"riskwatch: error: {tomorrow} has not started yet in New York; pick today or a past date"
    )
    # Today, named or by default, passes the date check and fails only on Prometheus.
    for args in (["--date", today.isoformat(), *common], common):
        accepted = invoke(args, clock)
        assert accepted.exit_code == 1
        assert "cannot reach Prometheus" in accepted.stderr, (args, accepted.stderr)


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    # Settings are loaded before the clock is read: independent of when it runs.
    result = CliRunner().invoke(
        report, ["--out", str(tmp_path)], obj={}, env={"RISKWATCH_REPORT__SEND_ATTEMPTS": "0"}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("riskwatch: error: invalid setting report.send_attempts")
