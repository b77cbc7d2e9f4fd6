"""Agents scraped directly instead of pushing (docs/scaling.md): a target file in the
state's targets/ folder is all the local stack's Prometheus needs, and the agent's
series arrive with its agent label, which AgentDown's scrape branch keys on."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from riskwatch.publish import PositionFigures, Publisher
from riskwatch.settings import Settings
from riskwatch.stack.runner import Stack
from tests.support.stack import free_port, prom_query, wait_for

AGENT = "desk-direct"


@pytest.fixture
def serving(stack: Stack, stack_settings: Settings) -> Iterator[tuple[Publisher, str]]:
    """An agent's Publisher serving /metrics, once Prometheus has scraped it through
    its target file, and Prometheus' URL; the agent and its file are gone after."""
    pub = Publisher(AGENT)
    pub.portfolio("direct-book", value=1e6, cash=1e5, daily_pnl=-2e3, drawdown=0.01)
    pub.positions("direct-book", {"AAPL": PositionFigures(10, 1900.0, "tech", 0.0019)})
    pub.gauge("riskwatch_agent_last_success_timestamp_seconds").labels(AGENT, "portfolio").set(1)
    port = free_port()
    pub.serve(stack_settings.stack.host, port)
    target = stack.layout.agent_targets / f"{AGENT}.json"
    target.write_text(
        json.dumps(
            [{"targets": [f"{stack_settings.stack.host}:{port}"], "labels": {"agent": AGENT}}]
        )
    )
    prom = stack_settings.url.prometheus
    up = f'up{{job="agents",agent="{AGENT}"}}'
    try:
        wait_for(lambda: [s for s in prom_query(prom, up) if s["value"][1] == "1"], "the scrape")
        yield pub, prom
    finally:
        pub.close()
        target.unlink(missing_ok=True)


def test_a_target_file_is_scraped_with_the_agent_label(serving: tuple[Publisher, str]) -> None:
    _, prom = serving
    value = prom_query(prom, 'trading_portfolio_value_usd{portfolio="direct-book"}')
    assert [s["metric"]["agent"] for s in value] == [AGENT]
    assert value[0]["metric"]["job"] == "agents"
    # honor_labels: the agent's own label, not exported_agent beside the target's.
    success = prom_query(prom, f'riskwatch_agent_last_success_timestamp_seconds{{agent="{AGENT}"}}')
    assert success and "exported_agent" not in success[0]["metric"]


def test_a_dead_agent_is_a_failed_scrape_that_agentdown_keys_on(
    serving: tuple[Publisher, str],
) -> None:
    pub, prom = serving
    pub.close()  # the agent dies: its /metrics stops answering
    # AgentDown's scrape branch, over the window a real scrape failure has filled.
    down = 'max by (agent) (max_over_time(up{job="agents"}[10s])) == 0'
    found = wait_for(lambda: prom_query(prom, down), "every scrape of the last 10 s failed", 60)
    assert [s["metric"] for s in found] == [{"agent": AGENT}]
    # Its series go stale with it (Prometheus marks a failed scrape's series stale), not
    # frozen for the 5-minute lookback, and never forever as a pushed agent's are.
    value = 'trading_portfolio_value_usd{portfolio="direct-book"}'
    wait_for(lambda: not prom_query(prom, value), "the dead agent's series to go stale", 30)
