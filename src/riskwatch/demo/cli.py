"""`riskwatch demo`: the CRO demo on the local stack, narrated in the terminal.

The command is where the demo's clock is chosen: the wall clock (`system_clock`), since
the stack it plays against lives in real time. Everything below takes it as a `Clock`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import FrameType

import click
import requests
from rich.console import Console
from rich.table import Table

from riskwatch.analytics.backtest import zone_alert_name
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import Clock, system_clock
from riskwatch.demo.days import DAYS_FILE, DEMO_SCENARIO, TourDays, remember, tour_days
from riskwatch.demo.runner import DemoRunner, Narrator, ScenarioRun
from riskwatch.demo.scenarios import SCENARIOS, TOUR
from riskwatch.settings import Settings
from riskwatch.stack.errors import StackError


class RichNarrator(Narrator):
    """Narration for a person: incidents, alerts as they land, and where they went."""

    def __init__(self, console: Console, runner_ref: list[DemoRunner]) -> None:
        self.console = console
        self._runner = runner_ref
        self._seen: set[int] = set()
        self._last_poll = 0.0
        self._last_clock = ""

    def say(self, text: str, style: str = "") -> None:
        self.console.print(text, style=style or None)

    def progress(self, runs: Sequence[ScenarioRun]) -> None:
        if time.monotonic() - self._last_poll < 2.0 or not self._runner:
            return
        self._last_poll = time.monotonic()
        runner = self._runner[0]
        world = runs[0].world
        # In the policy's market zone, labelled with its own abbreviation (EST, GMT...).
        now = world.clock.now().astimezone(world.calendar.zone)
        minute, clock = f"{now:%H:%M}", f"{now:%H:%M %Z}"
        if minute[:-1] != self._last_clock[:-1]:  # every ten simulated minutes
            self._last_clock = minute
            self.console.print(f"[dim]{clock}  (simulated, x{world.clock.speed:g})[/]")
        for run in runs:
            try:
                alerts = runner.alerts_of(run)
            except requests.RequestException:
                continue
            for alert in alerts:
                key = (alert["id"] << 1) | (alert["status"] == "resolved")
                if key in self._seen:
                    continue
                self._seen.add(key)
                where = alert.get("portfolio") or alert["labels"].get("agent", "")
                colour = {"critical": "red", "warning": "yellow"}.get(alert["severity"], "cyan")
                verb = "resolved" if alert["status"] == "resolved" else "FIRING"
                name = alert["alertname"] + _detail(alert["labels"])
                self.console.print(
                    f"{clock}  [{colour}]{verb} {name}[/] on {where} "
                    f"({alert['severity']}, team {alert['team']}) — stored in the audit trail"
                )


def _detail(labels: dict[str, str]) -> str:
    """What tells two alerts of one name apart: a rule, or a model and its confidence."""
    return "".join(f" {labels[k]}" for k in ("rule", "method", "confidence") if k in labels)


def _summary(console: Console, runs: Sequence[ScenarioRun]) -> None:
    for run in runs:
        table = Table(title=f"{run.scenario.title}: what fired and where it went")
        for column in ("alert", "where", "first stored", "channels"):
            table.add_column(column)
        for seen in sorted(run.observed, key=lambda o: o.first_received_at):
            where = seen.labels.get("portfolio") or seen.labels.get("agent", "")
            table.add_row(
                seen.alertname + _detail(seen.labels),
                where,
                f"{seen.first_received_at:%H:%M:%S}",
                ", ".join(sorted(seen.channels)) or "audit trail only",
            )
        console.print(table)
        if run.ok:
            console.print("[green]as declared: every expected alert, on the right channels[/]")
        for problem in run.missing:
            console.print(f"[red]missing:[/] {problem}")
        for problem in run.unexpected:
            console.print(f"[red]unexpected:[/] {problem}")
        for problem in run.wrong_channels:
            console.print(f"[red]channels:[/] {problem}")


def _backfill(
    settings: Settings,
    console: Console,
    days: int,
    clock: Clock,
    leave_out: Sequence[tuple[datetime, datetime]] = (),
) -> None:
    from rich.progress import Progress

    from riskwatch.cliutil import fail
    from riskwatch.demo.backfill import BackfillError, NothingToBackfill, backfill

    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"backfilling {days} days of history", total=1.0)
            # History ends a quarter of an hour ago: the rules then see no backfilled
            # sample in their 5-minute lookback, so history alone never fires an alert.
            result = backfill(
                settings,
                days,
                end=clock() - timedelta(minutes=15),
                leave_out=leave_out,
                progress=lambda stage, done: bar.update(task, completed=done, description=stage),
            )
    except NothingToBackfill as exc:  # a second `make demo`: the month is already there
        console.print(f"history already in Prometheus ({exc})")
        return
    except (BackfillError, ValueError) as exc:
        fail(str(exc))
    console.print(
        f"backfilled {days} days: {result.samples:,} samples in {result.series} series "
        f"({result.seconds:.1f} s)"
    )


def _historical(settings: Settings, console: Console, days: int, clock: Clock) -> None:
    """`days` of the agent's series into Prometheus, a year of its forecast log beside
    them, then the nightly validation on that log, pushed: the traffic light's verdict."""
    import psycopg

    from riskwatch.cliutil import fail
    from riskwatch.database import local_database_url
    from riskwatch.demo.backfill import Written, backfill_forecasts, validate_desk
    from riskwatch.forecast_log import ForecastLog
    from riskwatch.sources.synthetic import SyntheticMarket
    from riskwatch.validation.job import ValidationRunError

    dsn = local_database_url(settings)
    if dsn is None:
        fail("no PostgreSQL for the forecast log: set RISKWATCH_DATABASE_URL")
    log = ForecastLog(dsn)
    # The tour's days are its worlds' (see riskwatch.demo.days): the desk's calm
    # history must not publish the same portfolios beside them.
    tour = tour_days(MarketCalendar(settings.policy.market), clock(), TOUR)
    try:
        # The log's year of GARCH fits (~10 s) runs beside the backfill, which spends
        # up to a minute waiting, idle, for Prometheus to load its blocks.
        with ThreadPoolExecutor(1, thread_name_prefix="forecast-log") as pool:
            logged: Future[Written] = pool.submit(backfill_forecasts, settings, log, clock=clock)
            _backfill(settings, console, days, clock, tour.spans())
            with console.status("logging a year of the books' VaR and ES forecasts"):
                written = logged.result()
        console.print(
            f"forecast log: {written.days} exchange days, {written.forecasts:,} forecasts and "
            f"{written.realised:,} realised returns written ({written.seconds:.1f} s)"
        )
        validated_at = datetime.now(UTC)
        with console.status("validating the desk's VaR models"):
            market = SyntheticMarket(
                settings.trading.seed, clock=clock, calendar=MarketCalendar(settings.policy.market)
            )
            outcome = validate_desk(settings, log, market, now=clock())
    except psycopg.Error as exc:
        fail(f"cannot write the forecast log: {' '.join(str(exc).split())}")
    except (ValidationRunError, ValueError) as exc:
        fail(str(exc))
    if outcome.push_error:
        fail(outcome.push_error)
    zones = [g.window.var.zone for g in outcome.findings.backtests if g.window is not None]
    console.print(
        f"validated: {zones.count('green')} green, {zones.count('yellow')} yellow, "
        f"{zones.count('red')} red ({outcome.duration_seconds:.1f} s); report in "
        f"{outcome.artifacts.folder}"
    )
    flagged = len(zones) - zones.count("green")
    with console.status(f"waiting for the receiver to store the {flagged} verdict alert(s)"):
        stored = _await_verdict_alerts(settings, validated_at, flagged)
    if stored < flagged:
        console.print(
            f"[yellow]only {stored} of {flagged} verdict alerts reached the receiver; "
            "the tour may see the rest arrive[/]"
        )


def _await_verdict_alerts(settings: Settings, since: datetime, flagged: int) -> int:
    """Poll the receiver until it holds an alert for each non-green verdict pushed at
    `since`, so the tour that follows (same portfolio names) does not see them arrive
    as its own. Gives up after 240 s: a scrape, a rule evaluation and Alertmanager's
    group wait take well under a minute, and a slower stack is reported, not hidden."""
    from riskwatch.receiver_client import ReceiverClient, ReceiverError

    client = ReceiverClient(settings.url.receiver, settings.receiver_admin_token())
    deadline = time.monotonic() + 240
    stored = 0
    while True:
        try:
            stored = sum(
                len(client.alerts(since=since - timedelta(seconds=1), alertname=name))
                for name in (zone_alert_name("yellow"), zone_alert_name("red"))
            )
        except ReceiverError as exc:
            logging.getLogger(__name__).warning("%s", exc)
        if stored >= flagged or time.monotonic() > deadline:
            return stored
        time.sleep(1)  # readiness poll: one alert group at a time arrives


@click.command("demo")
@click.option(
    "--scenario",
    type=click.Choice(sorted(SCENARIOS)),
    default=None,
    help="One scenario; default: the CRO tour of several incidents.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Simulated seconds per real second.",
)
@click.option(
    "--until-done",
    is_flag=True,
    help="Play once and exit (non-zero if a scenario's alerts were not exactly as declared).",
)
@click.option(
    "--mode",
    type=click.Choice(["scenario", "sample", "continuous", "historical"]),
    default="scenario",
    show_default=True,
)
@click.option(
    "--days",
    type=click.IntRange(1, 35),
    default=30,
    show_default=True,
    help="Days of history for --mode historical.",
)
@click.pass_context
def demo(
    ctx: click.Context, scenario: str | None, speed: float, until_done: bool, mode: str, days: int
) -> None:
    """The CRO demo: a synthetic trading day with scripted incidents, on the local stack."""
    from riskwatch import logs
    from riskwatch.cliutil import cli_settings, fail
    from riskwatch.demo.nightly import ForecastLogError

    console = Console()
    clock: Clock = system_clock
    settings = cli_settings(ctx)
    logs.configure("WARNING")  # the narration speaks; logs only for trouble
    # The worlds' agents fail on purpose (a feed outage) many times a second at demo
    # speed; the narration reports what that causes, so their own logs stay quiet.
    logging.getLogger("riskwatch.agents").setLevel(logging.CRITICAL)
    # Their runtimes say "task still failing" for the same reason, as often.
    logging.getLogger("riskwatch.runtime").setLevel(logging.CRITICAL)
    runner_ref: list[DemoRunner] = []
    status = DemoRunner(settings, 1.0, clock=clock).stack.status()
    if not status["healthy"]:
        fail("the stack is not up: run `riskwatch stack up` (or `make demo`) first")
    console.print(
        f"Prometheus   {status['prometheus']}\nAlertmanager {status['alertmanager']}\n"
        f"Receiver     {status['receiver']}/api/alerts\nOutbox       {status['outbox']}"
    )
    if mode == "historical":
        _historical(settings, console, days, clock)
        return
    if mode in ("sample", "continuous"):
        _live(
            settings,
            console,
            speed=1.0 if mode == "continuous" else speed,
            once=mode == "sample",
            clock=clock,
        )
        return
    names = [scenario] if scenario else list(TOUR)
    runner = DemoRunner(settings, speed, RichNarrator(console, runner_ref), clock=clock)
    runner_ref.append(runner)
    stop = threading.Event()

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        console.print("[dim]stopping after this step…[/]")
        stop.set()

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        runner.compress_time()
    except StackError as exc:
        fail(str(exc))
    all_ok = True
    # The tour plays each desk scenario on a past day of its own and, the first time
    # round, records it there; a single scenario plays today, live only.
    tour = (
        tour_days(MarketCalendar(settings.policy.market), clock(), names) if not scenario else None
    )
    recorded: list[ScenarioRun] = []
    try:
        while True:
            for name in names:
                if stop.is_set():
                    break
                start = tour.starts.get(name) if tour else None
                try:
                    runs = runner.play([name], stop=stop.is_set, start=start, record=bool(start))
                except ForecastLogError as exc:
                    fail(str(exc))
                _summary(console, runs)
                all_ok = all_ok and all(r.ok for r in runs)
                recorded.extend(r for r in runs if r.world.recording is not None)
            if tour is not None and recorded and not stop.is_set():
                _write_tour(settings, console, tour, recorded)
                recorded.clear()
            tour = None  # recorded once: further rounds play today, live only
            if until_done or stop.is_set():
                break
    finally:
        runner.restore_time()
    console.print(f"[bold]demo finished at {clock():%H:%M:%S %Z}[/]")
    sys.exit(0 if all_ok or not until_done else 1)


def _write_tour(
    settings: Settings, console: Console, tour: TourDays, runs: Sequence[ScenarioRun]
) -> None:
    """Write what the tour's worlds recorded at their simulated instants, and say
    which day and range to open."""
    from riskwatch.cliutil import fail
    from riskwatch.demo.backfill import BackfillError
    from riskwatch.demo.backfill.recorded import write_recordings

    recordings = [r.world.recording for r in runs if r.world.recording is not None]
    try:
        with console.status("writing the tour's days into Prometheus at their own time"):
            written = write_recordings(settings, recordings)
    except BackfillError as exc:
        fail(str(exc))
    zone = tour.zone
    for w in written:
        span = f"{w.start.astimezone(zone):%Y-%m-%d %H:%M}-{w.end.astimezone(zone):%H:%M %Z}"
        if w.skipped:
            console.print(f"[yellow]{w.agent}: {span} not written: {w.skipped}[/]")
        else:
            console.print(f"{w.agent}: {span} written ({w.samples:,} samples)")
    demo_agent = next(
        (r.world.config.agent_id for r in runs if r.scenario.name == DEMO_SCENARIO), None
    )
    if any(w.skipped for w in written if w.agent == demo_agent):
        # A rerun on a later day: its days are history or an earlier tour's already,
        # and the earlier demo day, written down then, still holds the crisis.
        console.print(
            f"[yellow]the demo day stays as written down before "
            f"({settings.state_dir / DAYS_FILE})[/]"
        )
        return
    path = remember(settings.state_dir, tour)
    first, last = tour.dashboard_range()
    console.print(
        f"[bold]The demo day is {tour.demo_day}[/] (the sell-off at 10:10 {first.tzname()}); "
        f"the tour's days are in Prometheus from {first:%Y-%m-%d %H:%M} to "
        f"{last:%Y-%m-%d %H:%M} {last.tzname()} ({path})"
    )


def _live(settings: Settings, console: Console, speed: float, once: bool, clock: Clock) -> None:
    """A calm synthetic desk: one snapshot (`sample`) or until interrupted (`continuous`)."""
    from riskwatch.demo.world import World, WorldConfig

    # The live desk's simulated time starts at the clock's now: at speed 1 it is the
    # wall clock, as a desk running beside the stack would see it.
    world = World(settings, WorldConfig("demo-live"), speed, clock())
    world.clock.run()
    if once:
        ok = world.runtime.run_once()
        world.publisher.close()
        console.print("pushed one snapshot" if ok else "[red]the snapshot failed[/]")
        sys.exit(0 if ok else 1)
    console.print("publishing a calm synthetic desk; Ctrl-C stops it")
    world.runtime.run_forever()
