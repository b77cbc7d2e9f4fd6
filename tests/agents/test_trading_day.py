"""A trading agent that has run since the evening before computes what a fresh one does.

The agent fetches daily history once a day and keeps it: the bars end with the
previous New York session, so "a day" must be a New York day. Keyed by the UTC date,
an agent running through the night kept yesterday's bars from New York midnight to
19:00, while a restarted agent read today's. Each calendar situation is the
last of three cycles, eight and four hours before it and at it, on an injected clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from riskwatch.agents.trading import TradingAgent
from riskwatch.clock import FixedClock
from riskwatch.settings import Settings, load_settings
from tests.support.agents import synthetic_desk
from tests.support.calendar import Situation, situations

RISK = ("risk_var_ratio", "risk_expected_shortfall_ratio")


def run_agent(
    settings: Settings, started: datetime, cycles: list[datetime]
) -> tuple[TradingAgent, dict[str, float]]:
    """An agent started at `started` after a cycle at each instant, and its VaR and ES."""
    clock = FixedClock(started)
    # Every agent holds the book as built at `started`, so only the history each one
    # reads can differ.
    desk = synthetic_desk(settings, "day-test", clock)
    for at in cycles:
        clock.set(at)
        desk.cycle()
    agent, publisher = desk.agent, desk.publisher
    return agent, {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in publisher.registry.collect()
        for s in family.samples
        if s.name in RISK
    }


@pytest.mark.parametrize("situation", situations())
def test_a_night_long_agent_reads_todays_history(situation: Situation) -> None:
    settings = load_settings()
    at = situation.at
    started = at - timedelta(hours=8)
    running, running_risk = run_agent(settings, started, [started, at - timedelta(hours=4), at])
    fresh, fresh_risk = run_agent(settings, started, [at])
    # The synthetic market's closes are one seeded sequence whatever day it ends on, so
    # the figures alone cannot tell stale bars: the days they cover can.
    assert running._daily_history(at).index[-1] == fresh._daily_history(at).index[-1]
    # The fields taken out of the history (kept once taken) follow it to the new day.
    for name in ("close", "volume"):
        assert running._daily_field(at, name).index[-1] == fresh._daily_history(at).index[-1]
    assert running_risk and running_risk.keys() == fresh_risk.keys()
    for key, value in fresh_risk.items():
        assert running_risk[key] == pytest.approx(value, rel=1e-12), key
