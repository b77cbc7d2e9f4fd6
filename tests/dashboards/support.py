"""Helpers shared by the dashboard and report tests: the CLI, and the figures that
take a desk months to publish (realised performance, the nightly validation)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway

from riskwatch import catalog
from riskwatch.analytics import ESBacktest, VaRBacktest, es_backtest, var_backtest
from riskwatch.analytics.backtest import ZONES
from riskwatch.analytics.tail_risk import expected_shortfall, value_at_risk
from riskwatch.policy import Policy, confidence_label
from riskwatch.publish import Publisher
from riskwatch.settings import Settings, ValidationSettings
from riskwatch.validation.gates import GATES
from tests.support.stack import gateway_access, run_cli


def run_dashboards(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run the `dashboards` command group as a user would, in its own process.

    It runs the group's module directly, so these tests do not depend on how the main
    `riskwatch` command registers it.
    """
    return run_cli(*args, env=env, timeout=timeout, module="riskwatch.dashboards.cli")


# ------------------------------------------------- what the nightly validation pushes
VALIDATE_JOB = ValidationSettings().job
"""The validation job's Pushgateway job (setting validation.job's default)."""
# The closed-form methods: a GARCH fit per forecast (filtered_historical) would take
# minutes, and the panels and the report treat every method alike.
METHODS = ("historical", "gaussian", "cornish_fisher")


@dataclass(frozen=True)
class DeskBacktest:
    """One portfolio's method at one confidence, backtested as the nightly job does."""

    portfolio: str
    method: str
    confidence: float
    var: VaRBacktest
    es: ESBacktest


def desk_backtests(
    portfolios: Sequence[str], policy: Policy, *, seed: int = 13
) -> list[DeskBacktest]:
    """Real backtests of each method on fat-tailed returns. The first book's are
    steady and its models stay green; from the second on, volatility jumps for the last
    60 days, the static models fall behind, and yellow and red zones occur.

    Each day's forecast is the method's VaR and ES of the window of returns before it,
    and the backtests are riskwatch.analytics' own: the figures pushed are consistent
    with each other as the job's are (zone and exceptions, Z2 and its verdict).
    """
    window = policy.validation.var_window_days
    days = window + policy.validation.backtest_days
    confidences = (policy.tail_risk.var_confidence, policy.tail_risk.expected_shortfall_confidence)
    found = []
    for i, portfolio in enumerate(portfolios):
        rng = np.random.default_rng(seed + i)
        returns = 0.01 * rng.standard_t(4, days) / np.sqrt(2.0)
        returns[-60:] *= 1.0 + 2.5 * i  # the second and later books: a regime shift
        history = sliding_window_view(returns[:-1], window).T  # one column per forecast
        for method in METHODS:
            for confidence in confidences:
                var, es = np.full(days, np.nan), np.full(days, np.nan)
                var[window:] = value_at_risk(history, confidence, method)
                es[window:] = expected_shortfall(history, confidence, method)
                found.append(
                    DeskBacktest(
                        portfolio,
                        method,
                        confidence,
                        var_backtest(returns, var, confidence),
                        es_backtest(returns, var, es, confidence),
                    )
                )
    return found


def push_validation(
    settings: Settings,
    dataset: str,
    backtests: Iterable[DeskBacktest],
    *,
    succeeded_at: float,
    failed_gates: Iterable[str] = (),
) -> None:
    """Push a validation run's results as the job does: catalog gauges under its job,
    grouped by dataset (a PUT: the previous run's results go)."""
    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}

    def gauge(name: str) -> Gauge:
        if name not in gauges:
            gauges[name] = catalog.make_gauge(name, registry)
        return gauges[name]

    gauge("riskwatch_validation_last_success_timestamp_seconds").labels(dataset).set(succeeded_at)
    failed = set(failed_gates)
    for gate in GATES:
        gauge("riskwatch_validation_gate_passed").labels(dataset, gate).set(
            0 if gate in failed else 1
        )
        gauge("riskwatch_validation_gate_value").labels(dataset, gate).set(
            0.5 if gate in failed else 0.9
        )
        gauge("riskwatch_validation_gate_threshold").labels(dataset, gate).set(0.7)
    for b in backtests:
        labels = (dataset, b.portfolio, b.method, confidence_label(b.confidence))
        for name, value in (
            ("riskwatch_validation_var_exceptions", b.var.exceptions),
            ("riskwatch_validation_var_observations", b.var.n),
            ("riskwatch_validation_var_zone", ZONES.index(b.var.zone)),
            ("riskwatch_validation_var_kupiec_p_ratio", b.var.kupiec_p),
            ("riskwatch_validation_var_christoffersen_p_ratio", b.var.christoffersen_p),
            ("riskwatch_validation_var_conditional_coverage_p_ratio", b.var.conditional_coverage_p),
            ("riskwatch_validation_es_z2", b.es.z2),
            ("riskwatch_validation_es_rejected", 1 if b.es.rejected else 0),
        ):
            gauge(name).labels(*labels).set(value)
    push_to_gateway(
        settings.url.pushgateway,
        job=VALIDATE_JOB,
        registry=registry,
        grouping_key={"dataset": dataset},
        handler=gateway_access(settings).handler(),
    )


def delete_validation(settings: Settings, dataset: str) -> None:
    """Remove a pushed run, so no zone or gate of a test outlives it."""
    delete_from_gateway(
        settings.url.pushgateway,
        job=VALIDATE_JOB,
        grouping_key={"dataset": dataset},
        handler=gateway_access(settings).handler(),
    )


REALISED_FIGURES = {
    "risk_realised_sharpe": 1.21,
    "risk_realised_sortino": 1.74,
    "risk_realised_calmar": 0.93,
    "risk_realised_max_drawdown_ratio": 0.064,
    "risk_realised_days": 187,
    "trading_closed_trades": 412,
    "trading_closed_trades_win_rate_ratio": 0.538,
    "trading_closed_trades_profit_factor": 1.31,
    "trading_closed_trades_average_win_usd": 1_840.0,
    "trading_closed_trades_average_loss_usd": 1_615.0,
}
"""Realised figures of a desk that has traded for most of a year."""


def publish_realised(publisher: Publisher, portfolio: str, scale: float = 1.0) -> None:
    """The realised figures a trading agent with months of equity history publishes;
    `scale` sets the portfolio's ratios and amounts apart (not its shares, which stay
    below one)."""
    for name, value in REALISED_FIGURES.items():
        scaled = value if name.endswith("_ratio") else value * scale
        publisher.gauge(name).labels(portfolio).set(scaled)
