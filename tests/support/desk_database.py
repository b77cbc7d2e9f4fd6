"""A trading agent as `riskwatch agent trading` builds it, with the session's PostgreSQL,
on the synthetic market of an injected clock: for tests of what it keeps in the database
(equity curve, fills, forecast log).

Built by `build_runtime`, so the database comes from the settings' `database_url` the
way a deployed agent's does; only the market (and its brokers) and the runtime's clock
read the test's clock instead of the wall clock. A "restart" is another call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.trading import TradingAgent
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock
from riskwatch.publish import Publisher
from riskwatch.runtime import AgentRuntime
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.synthetic import SyntheticMarket


def unique_portfolio(prefix: str) -> str:
    """A portfolio name no other test, or earlier run on the same database, uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def desk_settings(dsn: str, portfolios: list[str], **trading: Any) -> Settings:
    """Shipped settings with small books named `portfolios`, on the database `dsn`."""
    return load_settings(
        database_url=dsn,
        trading={"portfolios": [{"name": p, "positions": 5} for p in portfolios], **trading},
    )


@dataclass
class DatabaseDesk:
    """The agent, its runtime and its clock."""

    agent: TradingAgent
    runtime: AgentRuntime
    clock: FixedClock

    def cycle_at(self, at: datetime) -> None:
        """Set the clock to `at` and run the tasks due then (by schedule and market
        phase, as the running agent would); fails the test if one failed."""
        self.clock.set(at)
        _, failed = self.runtime.cycle()
        assert failed == 0, f"a task failed at {at.isoformat()}"

    def value(self, name: str, **labels: str) -> float | None:
        """The value the agent publishes for `name`{`labels`}, None if it does not."""
        return self.runtime.publisher.registry.get_sample_value(name, labels)


def database_desk(settings: Settings, clock: FixedClock, agent_id: str = "db-desk") -> DatabaseDesk:
    """The trading agent of `settings`, its books built at `clock()`."""
    market = SyntheticMarket(
        settings.trading.seed, clock=clock, calendar=MarketCalendar(settings.policy.market)
    )
    runtime, agent = build_runtime(
        "trading", settings, publisher=Publisher(agent_id), market=market
    )
    assert isinstance(agent, TradingAgent)
    runtime.clock = lambda: clock().timestamp()
    return DatabaseDesk(agent, runtime, clock)
