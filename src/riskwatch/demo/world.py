"""A demo world: a synthetic market on a simulated clock, books, and a trading agent.

The world's agent is the real trading agent (riskwatch.agents.trading) with the real
runtime, pushing to the real Pushgateway; only its data source is the synthetic
market and its clock runs `speed` times faster than the wall clock. Published
timestamps stay wall-clock, so Prometheus judges freshness as it would in production.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace

from riskwatch.agents.equity import EquityState, EquityStore
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.trading import Book, TradingAgent
from riskwatch.calendar import MarketCalendar
from riskwatch.demo.backfill.recorded import Recording
from riskwatch.publish import Publisher, RetryPolicy
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.runtime import AgentRuntime
from riskwatch.settings import Settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker

log = logging.getLogger("riskwatch.demo")

# The agent never pushes more often than this, however fast the simulated clock runs:
# Prometheus scrapes the Pushgateway every 5 s anyway.
MIN_PUSH_INTERVAL_SECONDS = 1.0


class SimClock:
    """Simulated time: `start`, advancing `speed` simulated seconds per real second
    once it runs (from construction, unless `running` is False: then from `run`)."""

    def __init__(self, start: datetime, speed: float, *, running: bool = True) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.start = start
        self.speed = speed
        self._origin: float | None = time.monotonic() if running else None

    def run(self) -> None:
        """Start the clock; it reads `start` until then. Running it again does nothing."""
        if self._origin is None:
            self._origin = time.monotonic()

    def now(self) -> datetime:
        if self._origin is None:
            return self.start
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    def elapsed(self) -> timedelta:
        return self.now() - self.start

    def real_seconds(self, simulated: timedelta) -> float:
        return simulated.total_seconds() / self.speed


def session_start(
    calendar: MarketCalendar,
    when: datetime,
    at: str = "10:00",
    length: timedelta = timedelta(0),
) -> datetime:
    """`at` (the market's local time) on the latest exchange day up to `when` whose regular hours
    last from `at` for `length` at least: the demo's morning.

    A scenario scripted for a full session must not play on a half day (regular hours
    end early, and with them the agent's regular-session behaviour), so a long
    enough `length` skips half days as well as weekends and holidays. The day is taken
    from `when` (the caller's clock) and may start later than `when` itself.
    """
    hour, minute = (int(part) for part in at.split(":"))
    day = when.astimezone(calendar.zone)
    # The last minute of the span: regular hours are one stretch per day, so both ends
    # regular means all of it is.
    last = max(length - timedelta(minutes=1), timedelta(0))
    for _ in range(10):
        candidate = day.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if calendar.is_regular_session(candidate) and calendar.is_regular_session(candidate + last):
            return candidate
        day -= timedelta(days=1)
    raise ValueError(f"no exchange session in the ten days before {when}")


class _WatchedPublisher(Publisher):
    """The world's publisher, which says when it first pushed: the recording starts there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pushed = threading.Event()

    def push(self, wait: bool = False) -> bool:
        done = super().push(wait)
        self.pushed.set()
        return done


@dataclass(frozen=True)
class WorldConfig:
    """Where a world publishes and what it calls its agent and portfolios."""

    agent_id: str
    portfolio_prefix: str = ""


class World:
    """One market, its books and their trading agent, on one simulated clock.

    The clock reads `start` until `start()` runs it: the books are built at that very
    minute, however long the building takes, and whatever a scenario prepares before
    the session (`Scenario.prepare`) happens before its first instant.
    """

    def __init__(
        self,
        settings: Settings,
        config: WorldConfig,
        speed: float,
        start: datetime,
        *,
        past: Callable[[SyntheticMarket, MarketCalendar], None] | None = None,
        recording: Recording | None = None,
        fills_dsn: str | None = None,
    ) -> None:
        """`past` changes the market's history (a volatility regime) before the books
        are built, so they are sized at the prices the agent will see. `recording`, if
        given, keeps what the agent publishes at its simulated instants (`Recording`).
        `fills_dsn`, if given, is the desk database the agent keeps its fills in, as a
        real trading agent does, so the day's report lists its trades (`FillsKept`)."""
        self.settings = settings
        self.config = config
        self.clock = SimClock(start, speed, running=False)
        self.calendar = MarketCalendar(settings.policy.market)
        # The tape follows the policy's market: its zone and hours are the agent's.
        self.market = SyntheticMarket(
            settings.trading.seed, clock=self.clock.now, calendar=self.calendar
        )
        if past is not None:
            past(self.market, self.calendar)
        base = list(settings.trading.portfolios)
        portfolios = [
            p.model_copy(update={"name": f"{config.portfolio_prefix}{p.name}"}) for p in base
        ]
        self.portfolio_settings = tuple(portfolios)
        trading = settings.trading.model_copy(update={"portfolios": self.portfolio_settings})
        self.brokers = {
            p.name: SyntheticBroker(
                self.market, p.name, p.initial_value_usd, p.positions, book_seed=b.name
            )
            for p, b in zip(portfolios, base, strict=True)
        }
        evidence = settings.policy.trading_model.min_scored_predictions
        self.books = [
            Book(p.name, self.brokers[p.name], MomentumModel(p.model, min_scored=evidence))
            for p in portfolios
        ]
        a = settings.agent
        self.recording = recording
        self.publisher = _WatchedPublisher(
            config.agent_id,
            a.pushgateway_url or settings.url.pushgateway,
            retry=RetryPolicy(a.push_timeout_seconds, 2, 0.2, 1.0),
            access=PushgatewayAccess.from_settings(settings),
        )
        self.agent = TradingAgent(
            trading,
            self.publisher,
            self.market,
            self.books,
            EquityStore(None) if fills_dsn is None else FillsKept(fills_dsn),
            self.calendar,
            policy=settings.policy,
        )
        self.runtime = AgentRuntime(
            "trading",
            self.publisher,
            self.agent.tasks(settings.agent.tasks),
            self.calendar,
            trace.NoOpTracer(),
            tick_seconds=0.05,
            clock=self._cycle_clock,
            delete_on_exit=True,
            min_push_interval_seconds=MIN_PUSH_INTERVAL_SECONDS,
        )
        self._thread: threading.Thread | None = None
        self._first_cycle: float | None = None
        self._recorder: threading.Thread | None = None
        self._stop_recording = threading.Event()
        self.notes: dict[str, str] = {}  # what incidents remember for later ones
        self._cleanups: list[Callable[[], None]] = []

    @property
    def portfolios(self) -> list[str]:
        return [b.name for b in self.books]

    def start(self) -> None:
        """The session begins: the clock runs and the agent with it."""
        self.clock.run()
        self._thread = threading.Thread(
            target=self.runtime.run_forever, name=f"world-{self.config.agent_id}", daemon=True
        )
        self._thread.start()
        if self.recording is not None:
            self._recorder = threading.Thread(
                target=self._record, name=f"record-{self.config.agent_id}", daemon=True
            )
            self._recorder.start()

    def _cycle_clock(self) -> float:
        """The runtime's clock, read once at the start of each cycle: the first reading
        is the instant the agent's first figures are as of."""
        now = self.clock.now().timestamp()
        if self._first_cycle is None:
            self._first_cycle = now
        return now

    def _record(self) -> None:
        """Snapshot the registry at every step of the simulated clock, from the agent's
        first push (before it, Prometheus knows nothing of the agent) to the stop."""
        assert self.recording is not None
        step = self.recording.step_seconds
        while not self._stop_recording.is_set():
            if not self.publisher.pushed.is_set():
                self._stop_recording.wait(0.05)  # the agent's first cycle is under way
                continue
            now = self.clock.now().timestamp()
            at = int(now) // step * step
            # The first push comes after the first cycle, which takes real seconds (a
            # year of daily VaR) and so simulated minutes: what it pushes is as of the
            # cycle's start, and the recording starts there, as the session does.
            since = None if self._first_cycle is None else int(self._first_cycle) // step * step
            # Between two cycles, as an incident acts: never half a cycle's figures.
            with self.runtime.cycle_lock:
                self.recording.add_if_new(at, self.publisher.registry, since=since)
            self._stop_recording.wait(self.clock.real_seconds(timedelta(seconds=at + step - now)))

    def stop(self) -> None:
        """A planned stop: the agent removes its Pushgateway group on the way out, and
        what the scenario left elsewhere (`on_stop`) is removed after it."""
        # The recording ends where the agent's group leaves the Pushgateway.
        self._stop_recording.set()
        if self._recorder is not None:
            self._recorder.join(timeout=15)
        self.runtime.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception:  # one left behind must not keep the others, or the verdict
                log.warning("world %s: a cleanup failed", self.config.agent_id, exc_info=True)

    def on_stop(self, cleanup: Callable[[], None]) -> None:
        """Have `stop` call `cleanup` (the last registered first): for what a scenario
        leaves outside the agent's own Pushgateway group, e.g. a database."""
        self._cleanups.append(cleanup)

    def crash(self) -> None:
        """The agent dies: no further push, no goodbye; its last values stay behind.

        Safe inside `do`: it only flags the runtime, whose thread ends after its cycle.
        """
        self.runtime.abort()

    def at(self, offset: timedelta) -> datetime:
        return self.clock.start + offset

    def do(self, action: Callable[[World], None]) -> None:
        """Apply an incident between two agent cycles, never in the middle of one."""
        with self.runtime.cycle_lock:
            action(self)


# mypy reads agents/ as the top-level `agents`, so riskwatch.agents is Any to it here.
class FillsKept(EquityStore):  # type: ignore[misc]
    """An equity store that keeps the agent's fills in the desk database and its equity
    points in memory: the demo day's trades reach the report as a real agent's do,
    while the tour's scenarios, which share portfolio names across their days, never
    read each other's running peak (it would change how each plays)."""

    def record(
        self, portfolio: str, when: datetime, value: float, day_start: datetime
    ) -> EquityState:
        """As `EquityStore(None).record`: the point is kept in memory only."""
        # EquityStore keeps and reads points only with a database: for this call it has
        # none. The agent calls its store from its one thread, so nothing else sees it.
        dsn: str | None = getattr(self, "dsn")  # noqa: B009 - typed here, Any above
        self.dsn = None
        try:
            state: EquityState = super().record(portfolio, when, value, day_start)
            return state
        finally:
            self.dsn = dsn
