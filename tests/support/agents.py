"""A real trading agent on the synthetic market, in process, for tests that read what
it publishes from its registry (no Pushgateway)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from opentelemetry import trace

from riskwatch.agents.equity import EquityStore
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.trading import Book, TradingAgent
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import Clock, system_clock
from riskwatch.publish import Publisher
from riskwatch.runtime import AgentRuntime
from riskwatch.settings import Settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker


@dataclass
class SyntheticDesk:
    """The agent, its runtime and its publisher (whose registry holds what it pushed)."""

    agent: TradingAgent
    runtime: AgentRuntime
    publisher: Publisher

    def cycle(self) -> None:
        """Every task once, whatever the phase; fails the test if a task failed."""
        _, failed = self.runtime.cycle(force=True)
        assert failed == 0

    def value(self, name: str, **labels: str) -> float | None:
        return self.publisher.registry.get_sample_value(name, labels)


def synthetic_desk(
    settings: Settings, agent_id: str = "test-desk", clock: Clock = system_clock
) -> SyntheticDesk:
    """The trading agent of `settings` on the synthetic market of its seed and policy,
    with books built at `clock()`, its runtime and market reading the same clock."""
    calendar = MarketCalendar(settings.policy.market)
    market = SyntheticMarket(settings.trading.seed, clock=clock, calendar=calendar)
    books = [
        Book(
            p.name,
            SyntheticBroker(market, p.name, p.initial_value_usd, p.positions),
            MomentumModel(p.model, min_scored=settings.policy.trading_model.min_scored_predictions),
        )
        for p in settings.trading.portfolios
    ]
    publisher = Publisher(agent_id)  # no Pushgateway: only its registry is read
    agent = TradingAgent(
        settings.trading,
        publisher,
        market,
        books,
        EquityStore(None),
        calendar,
        policy=settings.policy,
    )

    def now() -> float:
        at: datetime = clock()
        return at.timestamp()

    runtime = AgentRuntime(
        "trading",
        publisher,
        agent.tasks(settings.agent.tasks),
        calendar,
        trace.NoOpTracer(),
        clock=now,
    )
    return SyntheticDesk(agent, runtime, publisher)
