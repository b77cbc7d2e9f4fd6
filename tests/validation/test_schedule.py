"""The "validate" task of the health agent: due the morning after each exchange day,
run once, remembered across restarts, retried later when it fails.

Every instant is a fixed one, in the shipped market's zone: none depends on when the
tests run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from riskwatch.calendar import MarketPhase
from riskwatch.runtime import TaskContext
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.runner import Stack
from riskwatch.validation.schedule import STATE_FILE, NightlyValidation, ValidationFailedError
from tests.support.calendar import shipped_zone
from tests.support.policy import policy_copy
from tests.support.stack import free_port
from tests.validation.support import historical_only, pushed, sample


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=shipped_zone())


def ctx(now: datetime) -> TaskContext:
    return TaskContext(now, MarketPhase.CLOSED, trace.INVALID_SPAN)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(validation={"out_dir": str(tmp_path / "out")})


@pytest.mark.parametrize(
    ("now", "day"),
    [
        ("2026-11-17 16:30", None),  # Tuesday after the close: due tomorrow at 01:00
        ("2026-11-18 00:59", None),
        ("2026-11-18 01:00", date(2026, 11, 17)),
        ("2026-11-18 15:00", date(2026, 11, 17)),  # an agent that was down catches up
        ("2026-11-21 01:00", date(2026, 11, 20)),  # Saturday: Friday's
        ("2026-11-23 09:00", date(2026, 11, 20)),  # Monday, if the weekend missed it
        ("2026-11-28 01:00", date(2026, 11, 27)),  # after the half day
        ("2026-11-27 01:00", date(2026, 11, 25)),  # Thanksgiving made no new day
    ],
)
def test_due_the_morning_after_an_exchange_day(
    settings: Settings, now: str, day: date | None
) -> None:
    assert NightlyValidation(settings).due(local(now)) == day


def test_not_due_once_done_nor_after_a_restart(settings: Settings) -> None:
    job = NightlyValidation(settings)
    state = Path(settings.validation.out_dir) / "desk" / STATE_FILE
    state.parent.mkdir(parents=True)
    state.write_text("2026-09-04\n")  # Friday before Labor Day, validated on Saturday
    restarted = NightlyValidation(settings)
    assert job.due(local("2026-09-05 01:00")) == date(2026, 9, 4)  # read at start only
    assert restarted.due(local("2026-09-05 01:00")) is None
    # Labor Day: Tuesday morning brings no new exchange day...
    assert restarted.due(local("2026-09-08 01:00")) is None
    # ...Wednesday morning brings Tuesday's.
    assert restarted.due(local("2026-09-09 01:00")) == date(2026, 9, 8)


def test_an_evening_schedule_runs_the_same_day(tmp_path: Path) -> None:
    settings = load_settings(validation={"out_dir": str(tmp_path), "schedule_time": "18:00"})
    job = NightlyValidation(settings)
    assert job.due(local("2026-11-17 17:59")) is None
    assert job.due(local("2026-11-17 18:00")) == date(2026, 11, 17)
    assert job.due(local("2026-11-18 01:00")) == date(2026, 11, 17)


def test_disabled_is_never_due(tmp_path: Path) -> None:
    settings = load_settings(validation={"out_dir": str(tmp_path), "enabled": False})
    assert NightlyValidation(settings).due(local("2026-11-18 01:00")) is None


@pytest.mark.parametrize("enabled", [True, False])
def test_the_health_agent_runs_the_validation_when_enabled(tmp_path: Path, enabled: bool) -> None:
    # The composition root hands the task to the health agent, which does not import
    # the validation (the layer contract forbids it).
    from riskwatch.agents.cli import build_runtime
    from riskwatch.cli import health_agent_tasks

    settings = load_settings(
        report={"enabled": False}, validation={"enabled": enabled, "out_dir": str(tmp_path)}
    )
    runtime, _ = build_runtime("health", settings, extra_tasks=health_agent_tasks(settings))
    tasks = {t.name: t for t in runtime.tasks}
    assert ("validate" in tasks) is enabled
    if enabled:
        assert not tasks["validate"].once  # `agent health --once` is a check, not the job


@pytest.mark.stack
def test_a_run_pushes_and_is_remembered_and_a_failure_is_retried_later(
    stack: Stack, tmp_path: Path
) -> None:
    # The offline NASDAQ history, scheduled as a desk would be in January 2001: the
    # clock is the task's, the data real; one method keeps it quick.
    out = tmp_path / "out"
    common: dict[str, Any] = {
        "policy_file": policy_copy(tmp_path, historical_only),
        "agent": {"push_max_attempts": 1},
    }
    dead = f"http://127.0.0.1:{free_port()}"
    down = load_settings(
        validation={"dataset": "nasdaq", "out_dir": str(out), "pushgateway_url": dead}, **common
    )
    monday = local("2001-01-02 01:30")  # New Year's Day was Monday: Friday is due
    failing = NightlyValidation(down)
    assert failing.due(monday) == date(2000, 12, 29)
    with pytest.raises(ValidationFailedError, match=f"Pushgateway at {dead}"):
        failing.run(ctx(monday))
    assert not (out / "nasdaq" / STATE_FILE).exists()
    assert (out / "nasdaq" / "2000-12-29" / "validation.json").is_file()  # nothing lost
    retry = timedelta(seconds=down.validation.retry_seconds)
    assert failing.due(monday + retry - timedelta(seconds=1)) is None  # not every minute
    assert failing.due(monday + retry) == date(2000, 12, 29)

    up = load_settings(
        validation={
            "dataset": "nasdaq",
            "out_dir": str(out),
            "pushgateway_url": stack.settings.url.pushgateway,
        },
        pushgateway_auth=stack.settings.pushgateway_credentials(),
        **common,
    )
    job = NightlyValidation(up)
    job.run(ctx(monday))
    assert (out / "nasdaq" / STATE_FILE).read_text() == "2000-12-29\n"
    s = pushed(stack.settings, "nasdaq")
    close = datetime.fromisoformat("2000-12-29T21:00:00+00:00").timestamp()
    assert sample(s, "riskwatch_validation_as_of_timestamp_seconds", dataset="nasdaq") == close
    assert job.due(monday + timedelta(hours=1)) is None
    assert NightlyValidation(up).due(monday + timedelta(hours=1)) is None
