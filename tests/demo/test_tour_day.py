"""The tour's day in its own time: the drawdown crisis played on the stack, recorded at
its simulated instants and written into the real Prometheus on a past exchange day.

The day is chosen by `tour_days` from the injected clock. On the stack it must be the
wall clock's: Prometheus deletes blocks further than its retention behind its newest
sample, so a fixed date would vanish; any hour of any day picks the previous full
session, which is always past and out of the head block. The calendar rules of the
choice are checked on fixed instants, without a stack.

Prometheus is asked with explicit instants on that day: the portfolio's drawdown is
flat before 10:10 New York, crosses the warning and the critical limits during the
40-minute sell-off, the daily loss limit too; the recording rules are there; nothing of
the recording sits at the wall clock.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
import requests

from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock, system_clock
from riskwatch.demo.backfill.recorded import write_recordings
from riskwatch.demo.days import DEMO_SCENARIO, recorded_scenarios, tour_days
from riskwatch.demo.runner import DemoRunner
from riskwatch.demo.scenarios import SCENARIOS, TOUR
from riskwatch.settings import load_settings
from riskwatch.stack.runner import Stack
from tests.support.calendar import SITUATIONS

SPEED = 120.0  # the demo's
PREFIX = "tday-"


def _at(day: date, hh: int, mm: int, zone: Any) -> datetime:
    return datetime.combine(day, datetime.min.time(), zone).replace(hour=hh, minute=mm)


# ---------------------------------------------------------------- no stack
@pytest.mark.parametrize("situation", SITUATIONS, ids=lambda s: s.name)
def test_tour_days_are_past_full_sessions_one_per_scenario(situation: Any) -> None:
    calendar = MarketCalendar(load_settings().policy.market)
    clock = FixedClock(situation.at)
    days = tour_days(calendar, clock(), TOUR)
    recorded = recorded_scenarios(TOUR)
    assert list(days.starts) == recorded
    assert "volatility_regime" not in days.starts  # replays a day of its own
    starts = list(days.starts.values())
    assert starts == sorted(starts) and len({s.date() for s in starts}) == len(starts)
    today = clock().astimezone(calendar.zone).date()
    for name, start in days.starts.items():
        assert start.date() < today
        assert (start.hour, start.minute) == (10, 0)
        end = start + SCENARIOS[name].duration - timedelta(minutes=1)
        assert calendar.is_regular_session(start) and calendar.is_regular_session(end)
    assert days.demo_day == days.starts[DEMO_SCENARIO].date()
    # The days the history leaves out are whole market days around each session.
    for (lo, hi), start in zip(days.spans(), starts, strict=True):
        assert lo <= start < hi and hi - lo >= timedelta(hours=23)


# ------------------------------------------------------------- on the stack
def _range(url: str, expr: str, start: datetime, end: datetime) -> list[tuple[float, float]]:
    params: dict[str, str | float] = {
        "query": expr,
        "start": start.timestamp(),
        "end": end.timestamp(),
        "step": 60,
    }
    resp = requests.get(f"{url}/api/v1/query_range", params=params, timeout=30)
    resp.raise_for_status()
    result = resp.json()["data"]["result"]
    assert len(result) == 1, (expr, result)
    return [(float(t), float(v)) for t, v in result[0]["values"]]


def _instant(url: str, expr: str, at: datetime) -> list[Any]:
    params: dict[str, str | float] = {"query": expr, "time": at.timestamp()}
    resp = requests.get(f"{url}/api/v1/query", params=params, timeout=30)
    resp.raise_for_status()
    found: list[Any] = resp.json()["data"]["result"]
    return found


def _first_above(points: list[tuple[float, float]], limit: float) -> datetime:
    return datetime.fromtimestamp(next(t for t, v in points if v > limit), UTC)


@pytest.mark.stack
def test_the_crisis_is_written_at_its_simulated_time(stack: Stack) -> None:
    settings = stack.settings
    calendar = MarketCalendar(settings.policy.market)
    zone = calendar.zone
    clock = system_clock
    days = tour_days(calendar, clock(), [DEMO_SCENARIO])
    start = days.starts[DEMO_SCENARIO]
    day = start.date()
    runner = DemoRunner(settings, SPEED, clock=clock)
    # No alert is judged here (the rules keep their real durations): the run ends with
    # its simulated session, without the delivery grace.
    over_at = time.monotonic() + SCENARIOS[DEMO_SCENARIO].duration.total_seconds() / SPEED
    (run,) = runner.play(
        [DEMO_SCENARIO],
        prefix=lambda _: PREFIX,
        start=start,
        record=True,
        stop=lambda: time.monotonic() > over_at + 5,
    )
    assert run.world.recording is not None
    (written,) = write_recordings(settings, [run.world.recording])
    assert not written.skipped, written.skipped
    assert written.start.astimezone(zone).date() == day
    # From the agent's first cycle, at the session's start, however long it took.
    assert written.start == start

    url = settings.url.prometheus
    agent = run.world.config.agent_id
    portfolio = f"{PREFIX}{settings.trading.portfolios[0].name}"
    policy = settings.policy
    warning = policy.limit("drawdown_warning", portfolio)
    critical = policy.limit("drawdown_critical", portfolio)
    selector = f'trading_drawdown_ratio{{agent="{agent}",portfolio="{portfolio}"}}'
    points = _range(url, selector, _at(day, 10, 0, zone), _at(day, 11, 59, zone))
    # Calm until the sell-off at 10:10 New York...
    calm = [v for t, v in points if t < _at(day, 10, 10, zone).timestamp()]
    assert calm and max(calm) < warning
    # ...then the limits are crossed during its 40 minutes, in this order.
    crossed_warning = _first_above(points, warning)
    crossed_critical = _first_above(points, critical)
    assert _at(day, 10, 10, zone) < crossed_warning < crossed_critical < _at(day, 10, 51, zone)

    loss = f'portfolio:trading_daily_return:ratio{{portfolio="{portfolio}"}}'
    returns = _range(url, loss, _at(day, 10, 0, zone), _at(day, 11, 59, zone))
    daily_loss = policy.limit("daily_loss", portfolio)
    lost_at = _first_above([(t, -v) for t, v in returns], daily_loss)
    assert _at(day, 10, 10, zone) < lost_at < _at(day, 10, 51, zone)

    # Nothing of the recording is at the wall clock's minute: the day is in the past.
    assert _instant(url, selector, clock()) == []

    # The demo day's fills are in the desk database, at their simulated instants, as a
    # real agent's are: the day's report lists them as its trades.
    with psycopg.connect(stack.database_dsn(), autocommit=True) as conn:
        fills = conn.execute(
            "SELECT min(ts), max(ts), count(*) FROM agent_executions WHERE portfolio = %s",
            (portfolio,),
        ).fetchone()
        started = conn.execute(
            "SELECT as_of FROM agent_trade_start WHERE portfolio = %s", (portfolio,)
        ).fetchone()
    assert fills is not None and fills[2] > 0
    end = start + SCENARIOS[DEMO_SCENARIO].duration
    assert start - timedelta(days=1) < fills[0] <= fills[1] <= end
    assert started is not None and started[0].astimezone(zone).date() == day
