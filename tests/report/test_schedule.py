"""The "report" agent task: due after 16:30 New York on exchange days, sent once,
remembered across restarts.

The task takes "now" from the runtime (`TaskContext.now`); every test passes fixed
instants, so none depends on when it runs.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from riskwatch.calendar import MarketPhase
from riskwatch.report.mail import MailError
from riskwatch.report.schedule import STATE_FILE, DailyReport, report_task
from riskwatch.runtime import TaskContext
from riskwatch.settings import Settings, load_settings
from tests.report.sample import SESSIONS
from tests.support.calendar import Situation, shipped_zone, situations

# The shipped market's zone: schedule_time and the report's dates are in it.
NY = shipped_zone()


def ny(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=NY)


def ctx(now: datetime) -> TaskContext:
    return TaskContext(now, MarketPhase.AFTER_HOURS, MagicMock())


class Recorder:
    """Stands in for build_report and send_report; can be told to fail sending."""

    def __init__(self) -> None:
        self.built: list[date] = []
        self.as_of: list[datetime | None] = []
        self.sent: list[date] = []
        self.fail = False

    def build(self, settings: Settings, day: date, out: Path, **kw: Any) -> Any:
        self.built.append(day)
        self.as_of.append(kw.get("now"))
        report = MagicMock()
        report.day = day
        return report

    def send(self, settings: Settings, report: Any) -> int:
        if self.fail:
            raise MailError("could not send the report email via x:25 after 3 attempts: down")
        self.sent.append(report.day)
        return 1


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(report={"out_dir": str(tmp_path / "reports")})


def job(settings: Settings, rec: Recorder) -> DailyReport:
    return DailyReport(settings, build=rec.build, send=rec.send)


def test_due_only_after_schedule_time_on_exchange_days(settings: Settings) -> None:
    j = job(settings, Recorder())
    assert j.due(ny("2026-11-24", "16:29:59")) is None
    assert j.due(ny("2026-11-24", "16:30:00")) == date(2026, 11, 24)
    assert j.due(ny("2026-11-24", "23:59:00")) == date(2026, 11, 24)
    assert j.due(ny("2026-11-28", "17:00")) is None  # Saturday
    assert j.due(ny("2026-11-26", "17:00")) is None  # Thanksgiving
    assert j.due(ny("2026-11-27", "16:45")) == date(2026, 11, 27)  # half day still reports
    # 21:40 UTC is 16:40 in New York (EST): the New York clock decides, not UTC's.
    assert j.due(datetime.fromisoformat("2026-11-24T21:20:00+00:00")) is None
    assert j.due(datetime.fromisoformat("2026-11-24T21:40:00+00:00")) == date(2026, 11, 24)


def test_sends_once_and_a_restart_does_not_send_again(settings: Settings) -> None:
    rec = Recorder()
    j = job(settings, rec)
    j.run(ctx(ny("2026-11-24", "16:00")))
    assert rec.sent == []
    for minute in ("16:30", "16:31", "18:00"):
        j.run(ctx(ny("2026-11-24", minute)))
    assert rec.sent == [date(2026, 11, 24)] and rec.built == [date(2026, 11, 24)]
    assert rec.as_of == [ny("2026-11-24", "16:30")]  # built as of the run's instant
    state = Path(settings.report.out_dir) / STATE_FILE
    assert state.read_text().strip() == "2026-11-24"

    restarted = job(settings, rec)
    restarted.run(ctx(ny("2026-11-24", "16:45")))
    assert rec.sent == [date(2026, 11, 24)]
    restarted.run(ctx(ny("2026-11-25", "16:30")))
    assert rec.sent == [date(2026, 11, 24), date(2026, 11, 25)]


def test_a_failed_send_raises_and_is_retried_next_run(settings: Settings) -> None:
    rec = Recorder()
    rec.fail = True
    j = job(settings, rec)
    with pytest.raises(MailError):
        j.run(ctx(ny("2026-11-24", "16:30")))
    assert not (Path(settings.report.out_dir) / STATE_FILE).exists()
    rec.fail = False
    j.run(ctx(ny("2026-11-24", "16:31")))
    assert rec.sent == [date(2026, 11, 24)]


def test_unreadable_state_is_ignored_and_disabled_never_sends(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    (out / STATE_FILE).write_text("not a date\n")
    rec = Recorder()
    j = job(load_settings(report={"out_dir": str(out)}), rec)
    assert j.state.last is None
    j.run(ctx(ny("2026-11-24", "17:00")))
    assert rec.sent == [date(2026, 11, 24)]
    off = job(load_settings(report={"out_dir": str(tmp_path / "b"), "enabled": False}), rec)
    off.run(ctx(ny("2026-11-25", "17:00")))
    assert rec.sent == [date(2026, 11, 24)]


def test_report_task_runs_every_minute_in_every_phase(settings: Settings) -> None:
    task = report_task(settings)
    assert task.name == "report"
    assert task.schedule.interval_seconds == 60
    assert all(task.runs_in(phase) for phase in MarketPhase)
    task.run(ctx(ny("2026-11-24", "09:00")))  # not due: does nothing, raises nothing


@pytest.mark.parametrize("s", situations())
def test_due_at_fixed_instants_of_the_calendar(settings: Settings, s: Situation) -> None:
    rec = Recorder()
    j = job(settings, rec)
    day = s.at.date()
    opened = SESSIONS[s.name] is not None
    # At the situation's own instant: due only on an exchange day past 16:30 (of the
    # eight, only the half day's 18:00).
    assert j.due(s.at) == (day if opened and s.at.time() >= time(16, 30) else None)
    # At 17:00 that day it is due exactly when the exchange opened, half day included.
    evening = datetime.combine(day, time(17), NY)
    j.run(ctx(evening))
    assert rec.sent == ([day] if opened else [])
    assert rec.as_of == ([evening] if opened else [])


@pytest.mark.parametrize("enabled", [True, False])
def test_the_health_agent_command_runs_the_report_when_enabled(
    tmp_path: Path, enabled: bool
) -> None:
    # The composition root hands the report to the health agent: the agents package
    # does not import the report (the layer contract forbids it).
    from riskwatch.agents.cli import build_runtime
    from riskwatch.cli import health_agent_tasks

    settings = load_settings(report={"enabled": enabled, "out_dir": str(tmp_path)})
    runtime, _ = build_runtime("health", settings, extra_tasks=health_agent_tasks(settings))
    names = [t.name for t in runtime.tasks]
    assert ("report" in names) is enabled
    assert {"health", "heartbeat"} <= set(names)
