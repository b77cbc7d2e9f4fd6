"""Play scenarios against the running stack and check what reached whom.

The stack's alert rules are re-rendered with every duration divided by the speed
(`stack.time_scale`), so a `for: 10m` means ten simulated minutes; they are put back
when the demo ends. Each scenario plays on its own world (market, books, agent), so
several can run at once without one's incidents leaking into another's alerts.

"Now" comes from an injected clock (the wall clock unless told otherwise): it names
the exchange day the worlds simulate, dates the run for the receiver and the outbox,
and says whether Alertmanager's `market-closed` mute was in force when a notification
was due. The stack's processes read the wall clock themselves, so against a live stack
only the simulated day may be chosen freely (`play(start=...)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as time_of_day
from typing import Any

from riskwatch.calendar import MarketCalendar, MarketPhase
from riskwatch.clock import Clock, system_clock
from riskwatch.database import local_database_url
from riskwatch.demo.backfill.recorded import Recording
from riskwatch.demo.days import DEMO_SCENARIO
from riskwatch.demo.scenarios import SCENARIOS, ExpectedAlert, Scenario
from riskwatch.demo.world import World, WorldConfig, session_start
from riskwatch.policy import Market
from riskwatch.receiver_client import ReceiverClient
from riskwatch.settings import Settings
from riskwatch.sinks import Outbox
from riskwatch.stack.runner import Stack

# Prometheus needs a scrape (5 s) and an evaluation (5 s), Alertmanager its group_wait,
# before a breach is a notification: after a scenario's last minute, alerts may still
# be on their way for this long (real seconds).
DELIVERY_GRACE_SECONDS = 90.0
# The receiver stores an alert a moment after Alertmanager flushed its groups (the
# Slack and the audit copies leave together): the mute is judged from this much before.
NOTIFY_SKEW = timedelta(seconds=5)


def market_closed_at(market: Market, when: datetime) -> bool:
    """Whether Alertmanager's `market-closed` mute interval, as rendered from `market`
    (policy.yaml, riskwatch.alerting.calendar), is in force at `when`: whenever the
    market phase is CLOSED (weekends, the exchange's holidays, nights outside the
    extended hours, half days' evenings) and on the desk's closures. Alertmanager
    counts a start time in and an end time out, and so does this."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"market_closed_at needs a timezone-aware instant, got {when!r}")
    if when.astimezone(market.zone).date() in market.desk_closures:
        return True
    return MarketCalendar(market).phase_at(when) is MarketPhase.CLOSED


def mute_states(market: Market, start: datetime, end: datetime) -> set[bool]:
    """The values `market_closed_at` takes from `start` to `end`, both included.

    The interval's edges fall on whole minutes (and zone offsets are whole hours), so
    the two ends and every whole minute between them see every state it passes through.
    """
    states = {market_closed_at(market, start), market_closed_at(market, end)}
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute < end:
        states.add(market_closed_at(market, minute))
        minute += timedelta(minutes=1)
    return states


@dataclass(frozen=True)
class Observed:
    alertname: str
    labels: dict[str, str]
    first_received_at: datetime
    channels: frozenset[str]


@dataclass
class ScenarioRun:
    """One scenario on one world, and what came of it."""

    scenario: Scenario
    world: World
    started_real: datetime
    fired: list[int] = field(default_factory=list)  # indices of incidents done
    observed: list[Observed] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_channels: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_channels)

    def finished(self) -> bool:
        return self.world.clock.elapsed() >= self.scenario.duration


class Narrator:
    """What the runner says as it goes; the CLI prints it with rich, tests collect it."""

    def say(self, text: str, style: str = "") -> None:
        pass

    def progress(self, runs: Sequence[ScenarioRun]) -> None:
        pass


def _start_of(scenario: Scenario, start: datetime, calendar: MarketCalendar) -> datetime:
    """The session start of `scenario`'s world: `start`, or 10:00 on its replayed day."""
    if scenario.replay is None:
        return start
    day = scenario.replay.day
    found = session_start(
        calendar, datetime.combine(day, time_of_day(10), calendar.zone), length=scenario.duration
    )
    if found.date() != day:
        raise ValueError(f"{scenario.name}: {day} has no session long enough to replay it")
    return found


def _identity(run: ScenarioRun, alert: dict[str, Any]) -> bool:
    labels = alert["labels"]
    return labels.get("agent") == run.world.config.agent_id or (
        labels.get("portfolio") in run.world.portfolios
    )


def _describe(expected: ExpectedAlert, where: str) -> str:
    extra = "".join(f" {k}={v}" for k, v in expected.labels)
    return f"{expected.alertname}{extra} ({where})"


class DemoRunner:
    """Runs scenarios on the stack of `settings` (which must be up).

    `clock` is the real "now" (see the module's docstring); `market` is what the stack's
    Alertmanager mute was rendered from, by default the market of policy.yaml.
    """

    def __init__(
        self,
        settings: Settings,
        speed: float,
        narrator: Narrator | None = None,
        *,
        clock: Clock = system_clock,
        market: Market | None = None,
    ) -> None:
        self.settings = settings
        self.speed = speed
        self.narrator = narrator or Narrator()
        self.clock = clock
        self.stack = Stack(settings)
        self.receiver_client = ReceiverClient(
            settings.url.receiver, settings.receiver_admin_token()
        )
        self.outbox = Outbox(self.stack.layout.outbox)
        self.market = market or settings.policy.market

    # ------------------------------------------------------------- the stack
    def compress_time(self) -> None:
        """Re-render the alert rules for this speed and reload Prometheus."""
        scaled = self.settings.model_copy(
            update={"stack": self.settings.stack.model_copy(update={"time_scale": self.speed})}
        )
        Stack(scaled).up()

    def restore_time(self) -> None:
        Stack(self.settings).up()

    # ------------------------------------------------------------- playing
    def play(
        self,
        names: Sequence[str],
        *,
        prefix: Callable[[str], str] = lambda name: "",
        agent_id: Callable[[str], str] | None = None,
        stop: Callable[[], bool] = lambda: False,
        start: datetime | None = None,
        record: bool = False,
    ) -> list[ScenarioRun]:
        """Play the named scenarios at once, each on its own world; returns their runs.

        `start` is the simulated session's first instant; by default 10:00 market time on
        the latest exchange day, up to the clock's day, whose regular hours outlast the
        longest of the scenarios. A scenario that replays a day of its own
        (`Scenario.replay`) plays 10:00 on that day, and when `prefix(name)` is empty
        on books with the replay's prefix.

        With `record`, each world but a replay's keeps what its agent publishes at its
        simulated instants (`run.world.recording`), for `write_recordings` to write
        into Prometheus at that time once the run is over.
        """
        if agent_id is None:
            # A fresh agent id per run: Alertmanager does not notify again about an alert
            # whose labels it notified minutes ago, so a replay must not reuse them.
            stamp = self.clock().strftime("%H%M%S")

            def agent_id(name: str) -> str:
                return f"demo-{name}-{stamp}"

        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenario(s) {unknown}; known: {sorted(SCENARIOS)}")
        calendar = MarketCalendar(self.settings.policy.market)
        if start is None:
            start = session_start(
                calendar,
                self.clock(),
                length=max((SCENARIOS[n].duration for n in names), default=timedelta(0)),
            )
        runs = []
        for name in names:
            scenario, replay = SCENARIOS[name], SCENARIOS[name].replay
            config = WorldConfig(agent_id(name), prefix(name) or (replay.prefix if replay else ""))
            recorded = record and replay is None
            world = World(
                self.settings,
                config,
                self.speed,
                _start_of(scenario, start, calendar),
                past=replay.past if replay else None,
                recording=Recording(config.agent_id) if recorded else None,
                # The demo day's trades reach its report from the desk database, as a
                # real agent's do; only its scenario's, so no two days' fills are matched
                # into one portfolio's trades.
                fills_dsn=local_database_url(self.settings)
                if recorded and name == DEMO_SCENARIO
                else None,
            )
            runs.append(ScenarioRun(scenario, world, self.clock()))
        try:
            for run in runs:
                replay = run.scenario.replay
                if replay is not None and replay.prepare is not None:
                    # Before any world starts: the preparation takes real seconds, which
                    # no simulated clock must count.
                    self.narrator.say(f"[dim]{run.scenario.title}: {replay.preparing}…[/]")
                    replay.prepare(run.world)
            for run in runs:
                run.world.start()
                self.narrator.say(
                    f"[bold]{run.scenario.title}[/] — {run.scenario.story} (agent "
                    f"{run.world.config.agent_id}, portfolios {', '.join(run.world.portfolios)})"
                )
            while not all(r.finished() for r in runs) and not stop():
                for run in runs:
                    self._fire_due(run)
                self.narrator.progress(runs)
                time.sleep(0.1)  # the simulated clock's tick, not a wait for readiness
            self._await_expected(runs, stop)
        finally:
            for run in runs:
                self._leave(run)
        for run in runs:
            self._judge(run)
        return runs

    def _fire_due(self, run: ScenarioRun) -> None:
        elapsed = run.world.clock.elapsed()
        for i, incident in enumerate(run.scenario.incidents):
            if i not in run.fired and elapsed >= incident.at:
                run.fired.append(i)
                stamp = run.world.clock.now().astimezone(run.world.calendar.zone)
                self.narrator.say(
                    f"{stamp:%H:%M %Z}  [yellow]incident[/] {run.scenario.name}: "
                    f"{incident.headline}"
                )
                run.world.do(incident.action)

    def _await_expected(self, runs: Sequence[ScenarioRun], stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DELIVERY_GRACE_SECONDS
        while time.monotonic() < deadline and not stop():
            if all(not self._missing(run) for run in runs):
                return
            self.narrator.progress(runs)
            time.sleep(0.5)

    def _leave(self, run: ScenarioRun) -> None:
        crashed = run.world.runtime._aborted
        run.world.stop()
        if crashed:  # the operator clears the dead agent's frozen group afterwards
            from prometheus_client import delete_from_gateway

            delete_from_gateway(
                run.world.publisher.pushgateway_url or "",
                job=run.world.publisher.job,
                grouping_key={"agent": run.world.publisher.agent},
                handler=run.world.publisher.access.handler(),
            )

    # ------------------------------------------------------------- judging
    def alerts_of(self, run: ScenarioRun) -> list[dict[str, Any]]:
        alerts = self.receiver_client.alerts(since=run.started_real - timedelta(seconds=1))
        return [a for a in alerts if a["alertname"] != "Watchdog" and _identity(run, a)]

    def _expected_instances(self, run: ScenarioRun) -> list[tuple[ExpectedAlert, str]]:
        scope = run.scenario.portfolios
        portfolios = [
            p for p in run.world.portfolios if scope is None or any(p.endswith(s) for s in scope)
        ]
        out: list[tuple[ExpectedAlert, str]] = []
        for expected in run.scenario.expected:
            if expected.per_portfolio:
                mine = expected.portfolios
                out.extend(
                    (expected, p)
                    for p in portfolios
                    if mine is None or any(p.endswith(s) for s in mine)
                )
            else:
                out.append((expected, run.world.config.agent_id))
        return out

    def _missing(self, run: ScenarioRun) -> list[str]:
        alerts = self.alerts_of(run)
        missing = []
        for expected, where in self._expected_instances(run):
            hit = [
                a
                for a in alerts
                if expected.matches({**a["labels"], "alertname": a["alertname"]})
                and where in (a["labels"].get("portfolio"), a["labels"].get("agent"))
            ]
            if not hit:
                missing.append(_describe(expected, where))
        return missing

    def _judge(self, run: ScenarioRun) -> None:
        alerts = self.alerts_of(run)
        run.missing = self._missing(run)
        # Alertmanager's mute reads its own (wall) clock: judge it at the real instants
        # the notification was due, from the first flush to now (a later flush sends
        # what a mute held back, once the mute has ended).
        judged_at = self.clock()
        for alert in alerts:
            labels = {**alert["labels"], "alertname": alert["alertname"]}
            where = alert["labels"].get("portfolio") or alert["labels"].get("agent", "")
            declared = [
                e for e, w in self._expected_instances(run) if e.matches(labels) and w == where
            ]
            name = f"{alert['alertname']}" + (f" rule={labels['rule']}" if "rule" in labels else "")
            channels = self.outbox.channels(
                alert["alertname"],
                where,
                run.started_real.timestamp() - 1,
                also=labels.get("rule", ""),
            )
            run.observed.append(
                Observed(
                    alert["alertname"],
                    alert["labels"],
                    datetime.fromisoformat(alert["first_received_at"]),
                    channels,
                )
            )
            if not declared:
                run.unexpected.append(f"{name} ({where})")
                continue
            expected = declared[0]
            due = datetime.fromisoformat(alert["first_received_at"]) - NOTIFY_SKEW
            closed = mute_states(self.market, max(due, run.started_real), judged_at)
            # One state: one right answer. Both (the run crossed the mute's edge): either
            # answer is right, and nothing else is.
            wants = {
                expected.channels | (frozenset() if c else expected.muted_when_closed)
                for c in closed
            }
            if channels not in wants:
                said = " or ".join(str(sorted(w)) for w in wants)
                run.wrong_channels.append(
                    f"{name} ({where}): reached {sorted(channels)}, expected {said}"
                )
