"""`riskwatch agent trading --once` and `agent health --once` against the real stack.

Every contract metric must reach Prometheus, and the test recomputes the values
itself from the synthetic market: numpy formulas, not riskwatch.analytics.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from riskwatch.calendar import MarketCalendar
from riskwatch.settings import DEFAULT_FACTOR_PROXIES
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.stack.runner import Stack
from tests.support.stack import prom_query, pushgateway_get, run_cli, stack_env, wait_for

pytestmark = pytest.mark.stack

AGENT = "trading-e2e"
HEALTH = "health-e2e"
SEED = "11"

CONTRACT = [
    "trading_portfolio_value_usd",
    "trading_cash_balance_usd",
    "trading_daily_pnl_usd",
    "trading_drawdown_ratio",
    "trading_position_quantity",
    "riskwatch_model_confidence_ratio",
    "risk_var_ratio",
    "risk_expected_shortfall_ratio",
    "crowding_hhi",
    "crowding_gini",
    "crowding_level",
    "compliance_violation_active",
    "riskwatch_agent_last_success_timestamp_seconds",
]


def pushed(stack: Stack, agent: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """What the agent's group holds in the Pushgateway, by metric name."""
    text = pushgateway_get(stack.settings, "/metrics").text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("agent") == agent:
                out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def one(samples: list[tuple[dict[str, str], float]], **labels: str) -> float:
    hits = [v for lab, v in samples if all(lab.get(k) == val for k, val in labels.items())]
    assert len(hits) == 1, (labels, samples[:3])
    return hits[0]


@pytest.fixture(scope="module")
def agents_ran(stack: Stack) -> dict[str, list[tuple[dict[str, str], float]]]:
    env = stack_env(stack, RISKWATCH_AGENT__ID=AGENT, RISKWATCH_TRADING__SEED=SEED)
    trading = run_cli("agent", "trading", "--once", env=env)
    assert trading.returncode == 0, trading.stderr[-2000:]
    health = run_cli("agent", "health", "--once", env={**env, "RISKWATCH_AGENT__ID": HEALTH})
    assert health.returncode == 0, health.stderr[-2000:]
    return pushed(stack, AGENT)


def market_as_the_agent_saw_it(
    m: dict[str, list[tuple[dict[str, str], float]]], stack: Stack
) -> SyntheticMarket:
    """The synthetic market at the instant the agent's risk task ran, on the stack's
    policy's market (as the agent's was).

    Its daily history ends with the session before that instant, so the test reads the
    instant from what the agent published, not from its own clock: the figures then
    match whenever the suite runs, the market's midnight included.
    """
    ran = one(m["riskwatch_agent_last_success_timestamp_seconds"], task="risk")
    at = datetime.fromtimestamp(ran, UTC)
    calendar = MarketCalendar(stack.settings.policy.market)
    return SyntheticMarket(int(SEED), clock=lambda: at, calendar=calendar)


def test_every_contract_metric_reaches_prometheus(stack: Stack, agents_ran: object) -> None:
    for name in CONTRACT:
        expr = f'{name}{{agent="{AGENT}"}}'
        wait_for(
            lambda e=expr: prom_query(stack.settings.url.prometheus, e), f"{name} in Prometheus"
        )
    up = wait_for(
        lambda: prom_query(
            stack.settings.url.prometheus, f'riskwatch_component_up{{agent="{HEALTH}"}}'
        ),
        "riskwatch_component_up",
    )
    components = {r["metric"]["component"]: r["value"][1] for r in up}
    for component in ("prometheus", "pushgateway", "alertmanager", "receiver", "postgresql"):
        assert components[component] == "1", components
    assert components[f"agent:{AGENT}"] == "1"


def test_portfolio_value_and_drawdown_recomputed(agents_ran: dict) -> None:  # type: ignore[type-arg]
    m = agents_ran
    for portfolio in ("alpha", "beta"):
        quantities = {
            lab["symbol"]: v
            for lab, v in m["trading_position_quantity"]
            if lab["portfolio"] == portfolio
        }
        prices = {lab["symbol"]: v for lab, v in m["marketdata_price_usd"]}
        cash = one(m["trading_cash_balance_usd"], portfolio=portfolio)
        value = cash + sum(q * prices[s] for s, q in quantities.items())
        published = one(m["trading_portfolio_value_usd"], portfolio=portfolio)
        assert math.isclose(published, value, rel_tol=1e-9)
        peak = one(m["trading_peak_value_usd"], portfolio=portfolio)
        assert peak >= published
        assert math.isclose(
            one(m["trading_drawdown_ratio"], portfolio=portfolio),
            1 - published / peak,
            abs_tol=1e-12,
        )
        assert one(m["compliance_rule_value"], portfolio=portfolio, rule="POS_001") == len(
            quantities
        )


def test_tail_risk_and_crowding_recomputed(stack: Stack, agents_ran: dict) -> None:  # type: ignore[type-arg]
    m = agents_ran
    market = market_as_the_agent_saw_it(m, stack)
    for portfolio in ("alpha", "beta"):
        quantities = {
            lab["symbol"]: v
            for lab, v in m["trading_position_quantity"]
            if lab["portfolio"] == portfolio
        }
        symbols = sorted(quantities)
        prices = {lab["symbol"]: v for lab, v in m["marketdata_price_usd"]}
        value = one(m["trading_portfolio_value_usd"], portfolio=portfolio)
        cash = value - sum(quantities[s] * prices[s] for s in symbols)
        proxies = list(DEFAULT_FACTOR_PROXIES.values())
        bars = market.daily_bars(symbols + proxies, 756)["close"]
        equity = bars[symbols].to_numpy() @ np.array([quantities[s] for s in symbols]) + cash
        r = equity[1:] / equity[:-1] - 1
        var = -np.percentile(r, 1)
        tail = np.sort(r)[: int((len(r) - 1) * 0.025) + 1]
        labels = {"portfolio": portfolio, "method": "historical"}
        assert math.isclose(
            one(m["risk_var_ratio"], confidence="0.99", **labels), var, rel_tol=1e-9
        )
        assert math.isclose(
            one(m["risk_expected_shortfall_ratio"], confidence="0.975", **labels),
            -tail.mean(),
            rel_tol=1e-9,
        )
        returns = bars.pct_change().iloc[1:]
        design = np.column_stack([np.ones(len(returns)), returns[proxies].to_numpy()])
        beta = np.linalg.lstsq(design, returns[symbols].to_numpy(), rcond=None)[0][1:]
        weights = np.array([quantities[s] * prices[s] / value for s in symbols])
        exposure = np.abs(beta @ weights)
        w = exposure / exposure.sum()
        assert math.isclose(
            one(m["crowding_hhi"], portfolio=portfolio), float((w**2).sum()), rel_tol=1e-9
        )
        level = one(m["crowding_level"], portfolio=portfolio)
        hhi = float((w**2).sum())
        assert level >= (2 if hhi > 0.25 else 1 if hhi >= 0.15 else 0)


def test_compliance_state_matches_value_and_limit(agents_ran: dict) -> None:  # type: ignore[type-arg]
    m = agents_ran
    rules = {lab["rule"] for lab, _ in m["compliance_violation_active"]}
    assert rules == {
        "RISK_001",
        "RISK_002",
        "POS_001",
        "CON_001",
        "CON_002",
        "EXE_001",
        "OPS_001",
        "DAT_001",
    }
    for labels, active in m["compliance_violation_active"]:
        p, rule = labels["portfolio"], labels["rule"]
        observed = one(m["compliance_rule_value"], portfolio=p, rule=rule)
        limit = one(m["compliance_rule_limit"], portfolio=p, rule=rule)
        assert active == float(observed > limit), (p, rule, observed, limit)


def test_every_task_recorded_success(agents_ran: dict) -> None:  # type: ignore[type-arg]
    # Elapsed time since the run, not a time of day: holds at any hour.
    now = datetime.now(UTC).timestamp()
    tasks = {
        lab["task"]: v for lab, v in agents_ran["riskwatch_agent_last_success_timestamp_seconds"]
    }
    assert set(tasks) == {"portfolio", "model", "risk", "crowding", "compliance", "heartbeat"}
    assert all(now - 120 < t <= now for t in tasks.values())
