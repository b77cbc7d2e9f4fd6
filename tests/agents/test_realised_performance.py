"""The trading agent publishes realised figures: those of its own daily equity closes,
and those of the closed trades its broker's fills make, kept in PostgreSQL across a
restart.

The agent runs on the synthetic market from Monday 16 to Thursday 19 November 2026 on
an injected clock, once in the morning session (the synthetic broker fills every half
hour of regular trading) and once at each close.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from riskwatch import analytics
from riskwatch.agents.realised import REALISED_METRICS, TRADE_METRICS
from riskwatch.analytics.trades import closed_trades, trade_statistics
from riskwatch.clock import FixedClock
from riskwatch.sources.synthetic_broker import SyntheticBroker
from riskwatch.stack.runner import Stack
from tests.support.calendar import shipped_zone
from tests.support.desk_database import (
    DatabaseDesk,
    database_desk,
    desk_settings,
    unique_portfolio,
)

pytestmark = pytest.mark.stack

ZONE = shipped_zone()
DAYS = [date(2026, 11, d) for d in (16, 17, 18, 19)]


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZONE)


def realised(desk: DatabaseDesk, portfolio: str) -> dict[str, float | None]:
    names = ["risk_realised_days", *REALISED_METRICS.values(), *TRADE_METRICS.values()]
    return {name: desk.value(name, portfolio=portfolio) for name in names}


def test_realised_figures_from_equity_closes_and_closed_trades(stack: Stack) -> None:
    name = unique_portfolio("realised")
    settings = desk_settings(stack.database_dsn(), [name])
    started = at(DAYS[0], 11)
    clock = FixedClock(started)
    desk = database_desk(settings, clock)
    closes: list[float] = []
    for k, day in enumerate(DAYS):
        desk.cycle_at(at(day, 11))
        if k == 0:  # the book the first fills trade against, as the broker reported it
            opening = list(desk.agent.books[0].positions)
        desk.cycle_at(at(day, 16))
        value = desk.value("trading_portfolio_value_usd", portfolio=name)
        assert value is not None
        closes.append(value)
        figures = realised(desk, name)
        assert figures["risk_realised_days"] == k, "one daily return per close after the first"
        if k < 2:  # fewer than two returns: no ratio is defined yet
            assert all(figures[m] is None for m in REALISED_METRICS.values())

    # The realised figures are performance_metrics' of the closes' daily returns.
    expected = analytics.performance_metrics(analytics.simple_returns(np.array(closes)))
    figures = realised(desk, name)
    for key, metric in REALISED_METRICS.items():
        if np.isfinite(expected[key]):
            assert figures[metric] == pytest.approx(expected[key], rel=1e-12), metric
        else:
            assert figures[metric] is None, f"{metric} is undefined: not published"

    # The closed trades: the fills after the first run, matched against the book then.
    broker = desk.agent.books[0].broker
    assert isinstance(broker, SyntheticBroker)
    fills = [e for e in broker.executions(at(DAYS[0], 0)) if e.timestamp > started]
    trades = closed_trades(
        [p.symbol for p in opening] + [e.symbol for e in fills],
        [p.quantity for p in opening]
        + [e.quantity if e.side == "buy" else -e.quantity for e in fills],
        [p.avg_cost for p in opening] + [e.price for e in fills],
        pd.to_datetime([started] * len(opening) + [e.timestamp for e in fills], utc=True),
    )
    stats = trade_statistics(trades["pnl"])
    assert stats.count > 10, "too few trades to tell anything: run more days"
    traded = {metric: getattr(stats, key) for key, metric in TRADE_METRICS.items()}
    for metric, value in traded.items():
        assert figures[metric] == pytest.approx(value, rel=1e-12), metric

    # A restart after the close re-reads the day's fills and reports its book again:
    # neither counts twice, and the first run's book stays where matching starts.
    restarted = database_desk(settings, clock)
    restarted.cycle_at(at(DAYS[-1], 17))
    again = realised(restarted, name)
    assert again == figures
