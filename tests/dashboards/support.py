"""Helpers shared by the dashboard and report tests: the CLI, the figures that take
a desk months to publish (realised performance, the nightly validation), and a stack
fed with all of it (`fed_desk`)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway

from riskwatch import catalog
from riskwatch.analytics import ESBacktest, VaRBacktest, es_backtest, var_backtest
from riskwatch.analytics.backtest import ZONES
from riskwatch.analytics.tail_risk import expected_shortfall, value_at_risk
from riskwatch.dashboards.queries import (
    Target,
    annotation_targets,
    resolve_variables,
    substitute,
    targets,
)
from riskwatch.policy import POLICY_FILE, Policy, confidence_label, load_policy
from riskwatch.prometheus_api import Prometheus
from riskwatch.publish import Publisher
from riskwatch.settings import Settings, ValidationSettings
from riskwatch.stack.runner import Stack
from riskwatch.validation.gates import GATES
from tests.support.policy import policy_copy
from tests.support.stack import gateway_access, prom_query, run_cli, stack_env, wait_for

ROOT = Path(__file__).resolve().parents[2]


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


# ------------------------------------------------------------ a desk that has published
AGENT = "trading-dashboards"
"""The trading agent `fed_desk` runs once."""
HEALTH = "health-dashboards"
"""The health agent `fed_desk` runs once."""
DEMO = "model-demo-dashboards"
"""The publisher of the model and realised figures."""
PORTFOLIOS = ("alpha", "beta")
"""The books of the demo publisher and of the validation run."""


@contextmanager
def fed_desk(stack: Stack, folder: Path) -> Iterator[Prometheus]:
    """The stack's Prometheus once it holds everything the dashboards show, scraped
    twice or more; the demo publisher's and the validation run's pushes go after.

    The trading and health agents run `--once`, with one compliance limit tightened
    (CON_001, largest position over value, at 1%: every diversified book breaches it),
    so that the rule's evidence series and its ComplianceViolation alert exist. Model
    accuracy and reward and the realised figures come from a publisher as a model and
    an agent with months of equity history publish them; last night's validation run
    (every gate passed) from real backtests (`desk_backtests`). `folder` holds the
    tightened policy.
    """
    settings = stack.settings
    pub = Publisher(DEMO, settings.url.pushgateway, access=gateway_access(settings))
    for i, portfolio in enumerate(PORTFOLIOS):
        pub.model(portfolio, "momentum", confidence=0.6, accuracy=0.55 + i / 10, reward=12.5 - i)
        publish_realised(pub, portfolio, scale=1.0 + i / 4)
    pub.push_now()
    dataset = settings.validation.dataset
    try:
        backtests = desk_backtests(PORTFOLIOS, load_policy(ROOT / POLICY_FILE))
        push_validation(settings, dataset, backtests, succeeded_at=time.time() - 3600)
        breach = {"CON_001": 0.01}

        def overrides(policy: dict[str, Any]) -> None:
            policy["compliance"]["overrides"] = {p: breach for p in PORTFOLIOS}

        env = stack_env(stack, RISKWATCH_POLICY_FILE=str(policy_copy(folder, overrides)))
        for kind, agent in (("trading", AGENT), ("health", HEALTH)):
            done = run_cli("agent", kind, "--once", env={**env, "RISKWATCH_AGENT__ID": agent})
            assert done.returncode == 0, done.stderr[-2000:]
        prometheus = settings.url.prometheus
        # rate() and increase() need two samples of the pushed counters in their window.
        wait_for(
            lambda: prom_query(
                prometheus, f'count_over_time(push_time_seconds{{agent="{AGENT}"}}[1m]) >= 2'
            ),
            "two scrapes of the agent's push",
        )
        wait_for(
            lambda: prom_query(
                prometheus,
                f'ALERTS{{alertname="ComplianceViolation",alertstate="firing",agent="{AGENT}"}}',
            ),
            "the ComplianceViolation alert for the tightened limit",
        )
        yield Prometheus(prometheus)
    finally:
        delete_validation(settings, dataset)
        pub.delete()


# ----------------------------------------------- the same queries on another PromQL engine
EXTRAPOLATING = re.compile(r"\b(?:rate|increase|delta)\s*\(")
"""Range functions whose values MetricsQL (VictoriaMetrics) computes differently from
PromQL by design: it does not extrapolate to the window's edges, and it counts a
counter that appears inside the window from zero (docs/scaling.md). A query using one
must return the same series on both; its values may differ."""


@dataclass(frozen=True)
class Answer:
    """An instant query's result as two engines can be compared: its type, and each
    series' value by its label set."""

    result_type: str
    values: Mapping[frozenset[tuple[str, str]], float]


def instant_answer(
    api: Prometheus, expr: str, at: float, ignored_labels: Collection[str] = ()
) -> Answer:
    """`expr` evaluated at `at`, without `ignored_labels` (e.g. the external labels a
    long-term store adds to every series it receives)."""
    data = api.get("/api/v1/query", {"query": expr, "time": at})
    result = data["result"]
    if data["resultType"] == "scalar":
        return Answer("scalar", {frozenset(): float(result[1])})
    values = {
        frozenset((k, v) for k, v in item["metric"].items() if k not in ignored_labels): float(
            item["value"][1]
        )
        for item in result
    }
    return Answer(data["resultType"], values)


def answer_differences(
    expr: str, ours: Answer, theirs: Answer, rel_tol: float = 1e-6, abs_tol: float = 1e-6
) -> list[str]:
    """How `theirs` differs from `ours`: result type, series, and values beyond the
    tolerance (values not for EXTRAPOLATING queries)."""
    found = []
    if ours.result_type != theirs.result_type:
        found.append(f"result type {ours.result_type} vs {theirs.result_type}")
    extrapolating = EXTRAPOLATING.search(expr) is not None
    for missing in ours.values.keys() - theirs.values.keys():
        # MetricsQL drops series whose value is NaN (e.g. a histogram_quantile over
        # buckets that did not move); PromQL returns them with NaN.
        if not math.isnan(ours.values[missing]):
            found.append(f"only in the first: {dict(missing)}")
    if not extrapolating:
        # A counter whose first sample falls inside the window has an increase from
        # zero in MetricsQL and none in PromQL: only such queries may have more series.
        for extra in theirs.values.keys() - ours.values.keys():
            found.append(f"only in the second: {dict(extra)}")
    if extrapolating:
        return found
    for labels in ours.values.keys() & theirs.values.keys():
        a, b = ours.values[labels], theirs.values[labels]
        same = (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=rel_tol, abs_tol=abs_tol
        )
        if not same:
            found.append(f"{dict(labels)}: {a} vs {b}")
    return found


def panel_queries(
    boards: Mapping[str, Mapping[str, Any]], prometheus: Prometheus
) -> list[tuple[Target, str]]:
    """Every panel and annotation query with its variables substituted as `verify`
    does (every variable "All", as `prometheus` lists them)."""
    found = []
    for board in boards.values():
        variables = resolve_variables(board, prometheus)
        for target in [*targets(board), *annotation_targets(board)]:
            found.append((target, substitute(target.expr, variables)))
    return found


def engine_differences(
    boards: Mapping[str, Mapping[str, Any]],
    prometheus: Prometheus,
    other: Prometheus,
    at: float,
    ignored_labels: Collection[str] = (),
) -> list[str]:
    """Every panel query (and each dashboard variable's values) answered by `other` as
    by `prometheus` at the instant `at`; one line per difference."""
    found = []
    for name, board in boards.items():
        ours, theirs = resolve_variables(board, prometheus), resolve_variables(board, other)
        if ours != theirs:
            found.append(f"{name} variables: {ours} vs {theirs}")
    for target, expr in panel_queries(boards, prometheus):
        ours_answer = instant_answer(prometheus, expr, at, ignored_labels)
        theirs_answer = instant_answer(other, expr, at, ignored_labels)
        found += [
            f"{target.where}: {line} ({expr})"
            for line in answer_differences(expr, ours_answer, theirs_answer)
        ]
    return found
