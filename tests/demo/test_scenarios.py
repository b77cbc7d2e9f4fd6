"""Every demo scenario at high speed, all at once on the real stack: exactly the
declared alerts reach the receiver, each on exactly its channels, and no others.

Nothing here depends on when the test runs (issue #19). The simulated session is a
fixed Wednesday morning, whatever today is. Alertmanager reads its own clock, which the
test cannot set, so its `market-closed` mute is rendered for the test to be in force
all along: every day the run can touch is a holiday (weekends are closed anyway). The
ops warnings of the feed outage then reach the audit trail and never Slack, at any
hour; tests/alerting/test_market_closed_mute.py checks them reaching Slack when the
mute is not in force.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
import requests
import yaml

from riskwatch.alerting import calendar
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import system_clock
from riskwatch.demo.runner import DemoRunner, ScenarioRun, mute_states
from riskwatch.demo.scenarios import OPS_SLACK, SCENARIOS
from riskwatch.demo.world import session_start
from riskwatch.policy import POLICY_FILE, Market, load_policy
from riskwatch.sinks import Outbox
from riskwatch.stack.heartbeat import first_ping_within_seconds
from riskwatch.stack.runner import Stack
from riskwatch.validation.span import last_completed_session
from tests.support.calendar import SITUATIONS
from tests.support.stack import pushgateway_get, wait_for

pytestmark = pytest.mark.stack

SPEED = 120.0
SHORT = {
    "calm": "ca",
    "drawdown_crisis": "dc",
    "crowding_unwind": "cu",
    "compliance_breach": "cb",
    "model_decay": "md",
    "feed_outage": "fo",
    "agent_crash": "ac",
    "volatility_regime": "vr",
}
WEDNESDAY = next(s for s in SITUATIONS if s.name == "weekday-regular-hours")


def closed_all_along(base: Market) -> Market:
    """`base` with every weekday from yesterday to tomorrow (in its zone) a desk closure: its
    mute is in force for the whole of a run that starts now, whatever the hour."""
    today = system_clock().astimezone(base.zone).date()
    days = (today + timedelta(days=n) for n in (-1, 0, 1))
    return Market.model_validate(
        {**base.model_dump(), "desk_closures": tuple(d for d in days if d.weekday() < 5)}
    )


def load_mute(stack: Stack, market: Market) -> None:
    """Render `market` into the running Alertmanager's `market-closed` interval and reload
    it; `Stack.up()` (the runner's `restore_time`) renders the repo's back."""
    path = stack.layout.rendered / "alertmanager.yml"
    config = yaml.safe_load(path.read_text())
    (interval,) = [t for t in config["time_intervals"] if t["name"] == calendar.INTERVAL_NAME]
    today = system_clock().astimezone(market.zone).date()
    (rendered,) = yaml.safe_load("\n".join(calendar.market_closed_lines(market, today)))
    interval["time_intervals"] = rendered["time_intervals"]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    url = stack.settings.url.alertmanager
    requests.post(f"{url}/-/reload", timeout=10).raise_for_status()
    # What Alertmanager now holds (it writes months as numbers): the whole days closed,
    # the test's desk closures among them.
    loaded = requests.get(f"{url}/api/v2/status", timeout=10).json()["config"]["original"]
    (live,) = [
        t for t in yaml.safe_load(loaded)["time_intervals"] if t["name"] == calendar.INTERVAL_NAME
    ]
    days = {
        (int(t["years"][0]), int(t["months"][0]), int(day))
        for t in live["time_intervals"]
        if "days_of_month" in t and "times" not in t
        for day in t["days_of_month"]
    }
    closed, _ = calendar.closures(market, today)
    assert days == {(d.year, d.month, d.day) for d in closed}
    assert days >= {(d.year, d.month, d.day) for d in market.desk_closures}


@pytest.fixture(scope="module")
def runs(stack: Stack) -> Iterator[dict[str, ScenarioRun]]:
    assert set(SHORT) == set(SCENARIOS), "every scenario is played"
    mute = closed_all_along(load_policy(stack.settings.project_dir / POLICY_FILE).market)
    # The runner judges the mute from the market Alertmanager's interval is rendered
    # from, at the real instants notifications were due: here always closed.
    runner = DemoRunner(stack.settings, SPEED, market=mute)
    runner.compress_time()  # re-renders the stack's configs: the mute goes in after it
    try:
        load_mute(stack, mute)
        longest = max(s.duration for s in SCENARIOS.values())
        played = runner.play(
            list(SCENARIOS),
            prefix=lambda name: f"{SHORT[name]}-",
            agent_id=lambda name: f"demo-{SHORT[name]}",
            start=session_start(
                MarketCalendar(stack.settings.policy.market), WEDNESDAY.at, length=longest
            ),
        )
        # The premise of the fixed outcome: the mute held from the first run's start on.
        first = min(run.started_real for run in played)
        assert mute_states(mute, first, system_clock()) == {True}
        yield {run.scenario.name: run for run in played}
    finally:
        runner.restore_time()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_alerts_exactly_as_declared(runs: dict[str, ScenarioRun], name: str) -> None:
    run = runs[name]
    assert run.fired == list(range(len(run.scenario.incidents))), "every incident happened"
    assert run.missing == []
    assert run.unexpected == []
    assert run.wrong_channels == []
    assert len(run.observed) == declared(run) or name == "compliance_breach"


def declared(run: ScenarioRun) -> int:
    """How many alerts the scenario declares for its world: one per portfolio an
    expectation covers, one for an agent-wide one."""
    count = 0
    for e in run.scenario.expected:
        if not e.per_portfolio:
            count += 1
        elif e.portfolios is not None:
            count += len(e.portfolios)
        else:
            count += 1 if run.scenario.portfolios else len(run.world.portfolios)
    return count


def test_calm_has_nothing_but_the_watchdog(runs: dict[str, ScenarioRun], stack: Stack) -> None:
    assert runs["calm"].observed == []
    # The Watchdog goes to the dead man's switch, which the local sinks record.
    wait_for(
        lambda: Outbox(stack.layout.outbox).last_heartbeat(),
        "the Watchdog's heartbeat",
        timeout=first_ping_within_seconds(stack.settings),
    )


def test_worlds_played_the_fixed_wednesday(runs: dict[str, ScenarioRun]) -> None:
    """...but for a replay, which plays its own day (its verdicts depend on it)."""
    for run in runs.values():
        start = run.world.clock.start.astimezone(run.world.calendar.zone)
        day = run.scenario.replay.day if run.scenario.replay else WEDNESDAY.at.date()
        assert (start.date(), start.hour) == (day, 10), run.scenario.name


def test_muted_ops_warnings_reach_the_audit_trail_and_not_slack(
    runs: dict[str, ScenarioRun],
) -> None:
    muted = [e for e in SCENARIOS["feed_outage"].expected if e.muted_when_closed]
    assert {e.muted_when_closed for e in muted} == {frozenset({OPS_SLACK})}
    seen = {o.alertname: o.channels for o in runs["feed_outage"].observed}
    for expected in muted:
        assert expected.alertname in seen, "stored in the audit trail"
        assert OPS_SLACK not in seen[expected.alertname]


def test_the_regime_world_validated_its_own_log_and_left_nothing_behind(
    runs: dict[str, ScenarioRun], stack: Stack
) -> None:
    """Its validation passed every gate (a failed one would page nobody's portfolio),
    and once the world stopped, its database and its Pushgateway group were gone."""
    run = runs["volatility_regime"]
    agent = run.world.config.agent_id
    as_of = last_completed_session(run.world.calendar, run.world.clock.start)
    found = json.loads(
        (stack.layout.root / "demo" / agent / "desk" / f"{as_of}" / "validation.json").read_text()
    )
    assert found["passed"] and found["failed_gates"] == []
    assert {b["portfolio"] for b in found["backtests"]} == set(run.world.portfolios)

    gateway = pushgateway_get(stack.settings, "/api/v1/metrics")
    jobs = {g["labels"].get("job", "") for g in gateway.json()["data"]}
    assert not [j for j in jobs if j.startswith(stack.settings.validation.job + "_")]
    with psycopg.connect(stack.database_dsn()) as conn:
        databases = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
    assert not [d for d in databases if d.startswith("riskwatch_demo_")]
