"""The catalog: every metric riskwatch emits, declared once.

Agents, exporters and the receiver create their metrics from here (`make_metric`),
dashboards and alert rules are checked against it, and `riskwatch metrics` prints
it. Names follow https://prometheus.io/docs/practices/naming/: base units, a unit
suffix, `_total` on counters, and symbols or portfolios as labels, never in names.
Labels never carry unbounded values such as order ids or timestamps.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

MetricType = Literal["gauge", "counter", "histogram"]
Unit = Literal["usd", "ratio", "seconds", "bytes", "count", "bps", "timestamp", "info", "level"]

# The unit a name's suffix promises; a name without one of these suffixes is a count,
# a level or an index (unit "count", "level" or "info").
_SUFFIX_UNITS: tuple[tuple[str, Unit], ...] = (
    ("_timestamp_seconds", "timestamp"),
    ("_seconds", "seconds"),
    ("_usd", "usd"),
    ("_ratio", "ratio"),
    ("_bytes", "bytes"),
    ("_bps", "bps"),
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

APP_PREFIX = "riskwatch_"
# First words that other software uses for its own metrics. In a Prometheus shared
# with other systems a bare `component_up` or `agent_task_runs_total` could be anyone's,
# and a rule or panel selecting it would read theirs too; names in these namespaces
# carry the application prefix. Domain namespaces (trading_, risk_, crowding_,
# compliance_, marketdata_, tradestore_, ibkr_) name what is measured, not who runs it.
SHARED_NAMESPACES = (
    "agent_",
    "broker_",
    "component_",
    "disk_",
    "model_",
    "receiver_",
    "sink_",
    "validation_",
)
# Prefixed names that never had a bare form: nothing to migrate from.
_BORN_PREFIXED = frozenset({"riskwatch_sink_notifications_total"})


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its name, type, unit, label names and help text."""

    name: str
    type: MetricType
    unit: Unit
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] | None = None
    raw_only: bool = False
    """True when no dashboard panel or alert uses it: it exists for ad-hoc queries."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"metric name {self.name!r} is not snake_case")
        if self.name.startswith(SHARED_NAMESPACES):
            raise ValueError(
                f"{self.name}: names in a namespace other software shares need the "
                f"{APP_PREFIX!r} prefix ({APP_PREFIX}{self.name})"
            )
        if (self.type == "counter") != self.name.endswith("_total"):
            raise ValueError(f"{self.name}: counters, and only counters, end in _total")
        base = self.name.removesuffix("_total")
        expected: Unit | None = next((u for s, u in _SUFFIX_UNITS if base.endswith(s)), None)
        if expected is not None and expected != self.unit:
            raise ValueError(f"{self.name}: suffix says unit {expected!r}, declared {self.unit!r}")
        if expected is None and self.unit not in ("count", "level", "info"):
            raise ValueError(f"{self.name}: unit {self.unit!r} needs its suffix in the name")
        if (self.buckets is not None) != (self.type == "histogram"):
            raise ValueError(f"{self.name}: buckets go with histograms only")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _gauge(
    name: str, unit: Unit, labels: tuple[str, ...], help: str, *, raw_only: bool = False
) -> MetricSpec:
    return MetricSpec(name, "gauge", unit, labels, help, raw_only=raw_only)


def _counter(
    name: str,
    labels: tuple[str, ...],
    help: str,
    *,
    unit: Unit = "count",
    raw_only: bool = False,
) -> MetricSpec:
    return MetricSpec(name, "counter", unit, labels, help, raw_only=raw_only)


P = ("portfolio",)

# Storage of one webhook payload is a single transaction of a few rows: milliseconds
# normally, seconds only when PostgreSQL is struggling, which is what we want to see.
_STORAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

METRICS: tuple[MetricSpec, ...] = (
    # --- portfolio (contract of issue #2) ---
    _gauge("trading_portfolio_value_usd", "usd", P, "Marked-to-market value of the portfolio."),
    _gauge("trading_cash_balance_usd", "usd", P, "Cash held by the portfolio."),
    _gauge(
        "trading_daily_pnl_usd", "usd", P, "Profit and loss since the previous session's close."
    ),
    _gauge(
        "trading_drawdown_ratio",
        "ratio",
        P,
        "Current drawdown from the running peak of portfolio value, 0-1.",
    ),
    _gauge(
        "trading_position_quantity",
        "count",
        ("portfolio", "symbol"),
        "Signed quantity held per symbol; series are removed when a position closes.",
    ),
    # --- model ---
    _gauge(
        "riskwatch_model_confidence_ratio",
        "ratio",
        ("portfolio", "model"),
        "The trading model's confidence in its current signal, 0-1.",
    ),
    # --- risk ---
    _gauge(
        "risk_var_ratio",
        "ratio",
        ("portfolio", "confidence", "method"),
        "1-day Value at Risk as a positive loss fraction of portfolio value; method is "
        "any estimator (the agents: historical, gaussian, cornish_fisher, "
        "filtered_historical), or none.",
    ),
    _gauge(
        "risk_expected_shortfall_ratio",
        "ratio",
        ("portfolio", "confidence", "method"),
        "1-day Expected Shortfall as a positive loss fraction of portfolio value; method "
        "is any estimator (the agents: historical, gaussian, cornish_fisher), or none.",
    ),
    # --- crowding ---
    _gauge("crowding_hhi", "level", P, "Herfindahl-Hirschman index of factor exposures, 1/n-1."),
    _gauge("crowding_gini", "level", P, "Gini coefficient of absolute factor exposures, 0-1."),
    _gauge("crowding_level", "level", P, "Factor crowding level: 0 low, 1 medium, 2 high."),
    # --- compliance ---
    _gauge(
        "compliance_violation_active",
        "level",
        ("portfolio", "rule", "severity"),
        "1 while the compliance rule is violated, 0 otherwise; every rule is always present.",
    ),
    # --- portfolio detail (issue #4) ---
    _gauge("trading_peak_value_usd", "usd", P, "Running peak of portfolio value (drawdown base)."),
    _gauge("trading_gross_exposure_usd", "usd", P, "Sum of absolute position market values."),
    _gauge("trading_net_exposure_usd", "usd", P, "Sum of signed position market values."),
    _gauge("trading_positions", "count", P, "Number of open positions."),
    _gauge(
        "trading_position_market_value_usd",
        "usd",
        ("portfolio", "symbol", "sector"),
        "Signed market value per open position.",
    ),
    _gauge(
        "trading_position_weight_ratio",
        "ratio",
        ("portfolio", "symbol"),
        "Signed position market value over portfolio value.",
    ),
    _gauge(
        "trading_price_age_seconds",
        "seconds",
        ("portfolio", "symbol"),
        "Regular-session seconds since the price each held symbol is valued at was quoted; "
        "series are removed when a position closes.",
        raw_only=True,
    ),
    _gauge(
        "trading_stale_positions",
        "count",
        P,
        "Positions valued on a price older than the policy's market_data_stale_seconds "
        "(a rejected or missing tick keeps the last good price, which ages).",
        raw_only=True,
    ),
    _gauge(
        "trading_sector_weight_ratio",
        "ratio",
        ("portfolio", "sector"),
        "Absolute exposure per sector over portfolio value.",
    ),
    _gauge("trading_turnover_ratio", "ratio", P, "Traded notional today over portfolio value."),
    _counter(
        "trading_trades_total",
        ("portfolio", "side"),
        "Executions (fills) seen, by side (buy, sell).",
    ),
    _counter(
        "trading_traded_notional_usd_total",
        ("portfolio", "side"),
        "Notional traded, by side.",
        unit="usd",
    ),
    _gauge(
        "marketdata_price_usd",
        "usd",
        ("source", "symbol"),
        "Last accepted price per held symbol.",
        raw_only=True,
    ),
    _gauge(
        "marketdata_last_update_timestamp_seconds",
        "timestamp",
        ("source",),
        "Unix time the source's data is current as of: the oldest held symbol's price "
        "(aged in regular-session time), or the source's last usable answer if older.",
    ),
    _counter(
        "marketdata_rejected_ticks_total",
        ("source", "reason"),
        "Ticks rejected before use (reason: nan, non_positive, stale).",
    ),
    # --- model detail ---
    _gauge(
        "riskwatch_model_accuracy_ratio",
        "ratio",
        ("portfolio", "model"),
        "Share of the model's predictions over the last hour that came true, 0-1.",
    ),
    _gauge(
        "riskwatch_model_episode_reward",
        "level",
        ("portfolio", "model"),
        "The model's reward over its current episode, in the model's own units.",
    ),
    # --- performance figures (riskwatch.analytics.performance_metrics), holdings-based:
    # today's holdings over the price history, i.e. what the book would have done. The
    # risk_realised_* and trading_closed_trades_* figures below are what it did.
    _gauge("risk_annual_return_ratio", "ratio", P, "Geometric annualised return."),
    _gauge("risk_annual_volatility_ratio", "ratio", P, "Annualised volatility (ddof=1)."),
    _gauge("risk_sharpe", "level", P, "Annualised Sharpe ratio."),
    _gauge("risk_sortino", "level", P, "Annualised Sortino ratio."),
    _gauge("risk_calmar", "level", P, "Calmar ratio: annual return over max drawdown."),
    _gauge("risk_max_drawdown_ratio", "ratio", P, "Largest peak-to-trough loss, positive."),
    _gauge("risk_win_rate_ratio", "ratio", P, "Share of non-flat periods with a gain."),
    _gauge("risk_profit_factor", "level", P, "Sum of gains over absolute sum of losses."),
    _gauge("risk_win_loss", "level", P, "Mean gain over absolute mean loss."),
    _gauge("risk_beta", "level", P, "Beta to the benchmark."),
    _gauge("risk_alpha_ratio", "ratio", P, "Annualised alpha to the benchmark."),
    _gauge("risk_tracking_error_ratio", "ratio", P, "Annualised tracking error."),
    _gauge("risk_information", "level", P, "Information ratio against the benchmark."),
    # --- realised performance (issue 13): the desk's own equity curve and closed trades.
    # The risk_* figures above are holdings-based: today's holdings over the price
    # history. These are what happened: the daily closes of the equity the agent
    # recorded, and the round trips closed by its fills.
    _gauge(
        "risk_realised_sharpe",
        "level",
        P,
        "Annualised Sharpe ratio of the realised daily equity curve (not today's holdings).",
    ),
    _gauge(
        "risk_realised_sortino",
        "level",
        P,
        "Annualised Sortino ratio of the realised daily equity curve.",
    ),
    _gauge(
        "risk_realised_calmar",
        "level",
        P,
        "Calmar ratio of the realised daily equity curve: annual return over max drawdown.",
    ),
    _gauge(
        "risk_realised_max_drawdown_ratio",
        "ratio",
        P,
        "Largest peak-to-trough fall of the realised daily equity curve, positive.",
    ),
    _gauge(
        "risk_realised_days",
        "count",
        P,
        "Daily returns in the realised equity curve the realised figures are computed on.",
    ),
    _gauge(
        "trading_closed_trades",
        "count",
        P,
        "Round trips closed by the portfolio's fills (FIFO), over the realised history.",
    ),
    _gauge(
        "trading_closed_trades_win_rate_ratio",
        "ratio",
        P,
        "Share of closed trades with a positive realised P&L.",
    ),
    _gauge(
        "trading_closed_trades_profit_factor",
        "level",
        P,
        "Gross realised profit of closed trades over their gross realised loss.",
    ),
    _gauge(
        "trading_closed_trades_average_win_usd",
        "usd",
        P,
        "Mean realised P&L of the winning closed trades.",
    ),
    _gauge(
        "trading_closed_trades_average_loss_usd",
        "usd",
        P,
        "Mean realised loss of the losing closed trades, as a positive amount.",
    ),
    # --- model validation (issue 13): the nightly `riskwatch validate` batch job,
    # pushed under its own job. `dataset` is what it validated: the desk's own
    # forecast log (desk) or a named history (sp500).
    _gauge(
        "riskwatch_validation_last_success_timestamp_seconds",
        "timestamp",
        ("dataset",),
        "Unix time at which the validation job last completed successfully.",
    ),
    _gauge(
        "riskwatch_validation_duration_seconds",
        "seconds",
        ("dataset",),
        "How long the validation job's last run took.",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_validation_as_of_timestamp_seconds",
        "timestamp",
        ("dataset",),
        "Unix time of the close of the last exchange day the last run validated.",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_validation_gate_passed",
        "level",
        ("dataset", "gate"),
        "1 if the validation gate passed on the last run, 0 if it failed.",
    ),
    _gauge(
        "riskwatch_validation_gate_value",
        "level",
        ("dataset", "gate"),
        "The gate's measured value on the last run, in the gate's own unit.",
    ),
    _gauge(
        "riskwatch_validation_gate_threshold",
        "level",
        ("dataset", "gate"),
        "The gate's threshold from the policy (validation section).",
    ),
    _gauge(
        "riskwatch_validation_data_completeness_ratio",
        "ratio",
        ("dataset", "symbol"),
        "Bars received over bars expected for the symbol's sessions in the window.",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_validation_var_exceptions",
        "count",
        ("dataset", "portfolio", "method", "confidence"),
        "Days in the backtest window whose loss exceeded the VaR forecast made the day before.",
    ),
    _gauge(
        "riskwatch_validation_var_observations",
        "count",
        ("dataset", "portfolio", "method", "confidence"),
        "Days with both a forecast and a realised return in the backtest window.",
    ),
    _gauge(
        "riskwatch_validation_var_zone",
        "level",
        ("dataset", "portfolio", "method", "confidence"),
        "Basel traffic light of the VaR backtest: 0 green, 1 yellow, 2 red.",
    ),
    _gauge(
        "riskwatch_validation_var_kupiec_p_ratio",
        "ratio",
        ("dataset", "portfolio", "method", "confidence"),
        "p-value of Kupiec's proportion-of-failures test (chi-squared, 1 d.f.).",
    ),
    _gauge(
        "riskwatch_validation_var_christoffersen_p_ratio",
        "ratio",
        ("dataset", "portfolio", "method", "confidence"),
        "p-value of Christoffersen's independence test of the exceptions (1 d.f.).",
    ),
    _gauge(
        "riskwatch_validation_var_conditional_coverage_p_ratio",
        "ratio",
        ("dataset", "portfolio", "method", "confidence"),
        "p-value of the conditional coverage test, Kupiec plus Christoffersen (2 d.f.).",
    ),
    _gauge(
        "riskwatch_validation_es_z2",
        "level",
        ("dataset", "portfolio", "method", "confidence"),
        "Acerbi-Szekely Z2 statistic of the ES backtest; below the policy's critical value "
        "the ES forecasts understate the tail.",
    ),
    _gauge(
        "riskwatch_validation_es_rejected",
        "level",
        ("dataset", "portfolio", "method", "confidence"),
        "1 if the ES backtest rejects the forecasts (Z2 below the critical value).",
    ),
    _gauge(
        "riskwatch_validation_model_windows",
        "count",
        ("dataset",),
        "Rolling windows of the trading-model backtest on the last run.",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_validation_model_return_ratio",
        "ratio",
        ("dataset",),
        "Trading-model backtest: total return of the most recent complete window.",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_validation_model_sharpe",
        "level",
        ("dataset",),
        "Trading-model backtest: annualised Sharpe ratio of the most recent complete window.",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_validation_model_max_drawdown_ratio",
        "ratio",
        ("dataset",),
        "Trading-model backtest: max drawdown of the most recent complete window.",
        raw_only=True,
    ),
    # --- crowding detail ---
    _gauge(
        "crowding_absorption_ratio",
        "ratio",
        P,
        "Share of holdings' return variance explained by the top eigenvectors.",
    ),
    # --- compliance detail ---
    _gauge(
        "compliance_rule_value",
        "level",
        ("portfolio", "rule"),
        "Observed value of the compliance rule's measure, in the rule's own unit.",
    ),
    _gauge(
        "compliance_rule_limit",
        "level",
        ("portfolio", "rule"),
        "The compliance rule's limit, in the rule's own unit.",
    ),
    _gauge(
        "compliance_violation_evidence_info",
        "info",
        ("portfolio", "rule", "subject"),
        "1 per offending symbol or sector of a violated rule; removed when it clears.",
    ),
    # --- agent runtime ---
    _gauge(
        "riskwatch_agent_task_duration_seconds",
        "seconds",
        ("agent", "task"),
        "Wall time of the task's last run.",
    ),
    _counter("riskwatch_agent_task_runs_total", ("agent", "task"), "Task runs, successful or not."),
    _counter("riskwatch_agent_task_failures_total", ("agent", "task"), "Task runs that failed."),
    _counter(
        "riskwatch_agent_push_failures_total",
        ("agent",),
        "Pushes to the Pushgateway that failed after retries.",
    ),
    _gauge(
        "riskwatch_component_up",
        "level",
        ("component",),
        "1 when the health agent's check of the component passed.",
    ),
    _gauge(
        "riskwatch_component_check_duration_seconds",
        "seconds",
        ("component",),
        "Latency of the health agent's last check of the component.",
    ),
    _gauge(
        "riskwatch_disk_free_ratio",
        "ratio",
        ("path",),
        "Free share of the filesystem holding the path, 0-1, as the health agent's disk "
        "check finds it; paths are configured (health.disk_paths), so few.",
    ),
    _gauge(
        "riskwatch_broker_connected",
        "level",
        ("broker",),
        "1 while the broker gateway connection is up.",
    ),
    _counter(
        "riskwatch_broker_disconnects_total",
        ("broker",),
        "Times the broker connection dropped (IB Gateway's nightly and Sunday resets too).",
        raw_only=True,
    ),
    _gauge(
        "riskwatch_agent_last_success_timestamp_seconds",
        "timestamp",
        ("agent", "task"),
        "Unix time at which the agent's task last completed successfully.",
    ),
    # --- receiver ---
    _counter(
        "riskwatch_receiver_alerts_received_total",
        ("status",),
        "Alerts received in valid Alertmanager webhook payloads, by status.",
    ),
    _counter(
        "riskwatch_receiver_alerts_stored_total",
        ("status",),
        "Alerts newly stored or whose status changed (a new audit event), by status.",
    ),
    _counter(
        "riskwatch_receiver_alerts_duplicate_total",
        (),
        "Alerts already stored with the same status: Alertmanager retries and HA duplicates.",
    ),
    _counter(
        "riskwatch_receiver_payloads_rejected_total",
        ("reason",),
        "Webhook payloads rejected, by reason (unauthorized, too_large, invalid, "
        "database_unavailable, database_error: refused by the database, answered 500).",
    ),
    MetricSpec(
        "riskwatch_receiver_storage_duration_seconds",
        "histogram",
        "seconds",
        (),
        "Time to store one webhook payload transactionally.",
        buckets=_STORAGE_BUCKETS,
    ),
    _gauge(
        "riskwatch_receiver_database_up",
        "level",
        (),
        "1 when the receiver's last database operation succeeded, 0 otherwise.",
    ),
    # --- sidecar exporters (issue #8): each reports its own scrape health ---
    *(
        spec
        for exporter in ("tradestore", "ibkr", "marketdata")
        for spec in (
            _gauge(
                f"{exporter}_scrape_success",
                "level",
                (),
                f"1 if the {exporter} exporter's last collection succeeded, 0 if it failed.",
                raw_only=True,
            ),
            _gauge(
                f"{exporter}_scrape_duration_seconds",
                "seconds",
                (),
                f"Time the {exporter} exporter's last collection took.",
                raw_only=True,
            ),
        )
    ),
    _counter(
        "tradestore_fills_total",
        ("portfolio", "side"),
        "Fills recorded in the trade store.",
        raw_only=True,
    ),
    _counter(
        "tradestore_orders_total",
        ("portfolio", "status"),
        "Orders recorded in the trade store, by status (new, filled, cancelled, rejected).",
        raw_only=True,
    ),
    _counter(
        "tradestore_orders_rejected_total",
        ("portfolio",),
        "Orders the broker or a risk check rejected.",
        raw_only=True,
    ),
    MetricSpec(
        "tradestore_order_fill_latency_seconds",
        "histogram",
        "seconds",
        ("portfolio",),
        "Time from an order's submission to its first fill.",
        # Electronic equity fills land in milliseconds to a few seconds; the tail past
        # a minute is a stuck or worked order, which is what the upper buckets catch.
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
        raw_only=True,
    ),
    _gauge(
        "tradestore_slippage_bps",
        "bps",
        ("portfolio",),
        "Average fill slippage against the arrival price today, in basis points (signed: "
        "positive is worse for us).",
        raw_only=True,
    ),
    _gauge(
        "tradestore_reconciliation_difference",
        "count",
        ("portfolio", "symbol"),
        "Broker quantity minus internal quantity per symbol; only non-zero breaks are exported.",
    ),
    _gauge(
        "tradestore_reconciliation_breaks",
        "count",
        ("portfolio",),
        "Symbols whose broker and internal quantities differ.",
    ),
    _gauge(
        "ibkr_connected",
        "level",
        (),
        "1 while the IB Gateway API connection is up.",
        raw_only=True,
    ),
    _gauge(
        "ibkr_account_update_age_seconds",
        "seconds",
        (),
        "Seconds since the last account update from the gateway.",
        raw_only=True,
    ),
    _counter(
        "ibkr_api_errors_total",
        ("code",),
        "API errors reported by the gateway, by code.",
        raw_only=True,
    ),
    _gauge(
        "ibkr_market_data_farm_up",
        "level",
        ("farm",),
        "1 while the gateway reports the market-data farm connection OK.",
        raw_only=True,
    ),
    _gauge(
        "marketdata_tick_age_seconds",
        "seconds",
        ("source",),
        "Seconds since the newest tick from the source.",
        raw_only=True,
    ),
    _counter(
        "marketdata_ticks_total",
        ("source",),
        "New ticks seen from the source; rate() of it is ticks per second.",
        raw_only=True,
    ),
    _counter(
        "marketdata_gaps_total",
        ("source",),
        "Collections in which the source returned no fresh tick for a watched symbol.",
        raw_only=True,
    ),
    _counter(
        "marketdata_rate_limited_total",
        ("source",),
        "Requests the source answered with a rate limit (HTTP 429).",
        raw_only=True,
    ),
    # --- demo notification sinks ---
    _counter(
        "riskwatch_sink_notifications_total",
        ("channel",),
        "Notifications written to the local outbox by the demo sinks (email, slack).",
        raw_only=True,
    ),
)

BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}
if len(BY_NAME) != len(METRICS):  # pragma: no cover - guards the table above
    raise RuntimeError("a metric is declared twice in the catalog")


def former_name(name: str) -> str | None:
    """The bare name a prefixed metric had before the prefix, or None if it kept its name."""
    bare = name.removeprefix(APP_PREFIX)
    if bare == name or name in _BORN_PREFIXED or not bare.startswith(SHARED_NAMESPACES):
        return None
    return bare


RENAMED: dict[str, str] = {
    old: spec.name for spec in METRICS if (old := former_name(spec.name)) is not None
}
"""Old name -> new name of every metric that gained the application prefix
(docs/metric-names.md says how to migrate)."""


def migration_relabel_configs() -> list[dict[str, str | list[str]]]:
    """Prometheus `metric_relabel_configs` that give series pushed or exposed under the
    old bare names (by agents not yet upgraded) their prefixed names, so the rules and
    dashboards of this release see them. One rule, for every sample a family exposes:
    counters' `_total` and `_created`, histograms' `_bucket`, `_sum` and `_count`."""
    bases = sorted({old.removesuffix("_total") for old in RENAMED})
    return [
        {
            "source_labels": ["__name__"],
            "regex": "(" + "|".join(bases) + ")(_total|_created|_bucket|_sum|_count)?",
            "target_label": "__name__",
            "replacement": APP_PREFIX + "${1}${2}",
        }
    ]


def leftover_pattern() -> str:
    """An extended regex for the sample lines of a /metrics page (an agent's, the
    Pushgateway's, the receiver's) still under an old bare name. The relabelling renames
    them as Prometheus ingests them, so Prometheus cannot tell who still sends them:
    the sources can. No match on any of them: the relabelling can go."""
    (rule,) = migration_relabel_configs()
    return f"^{rule['regex']}[{{ ]"


def spec(name: str) -> MetricSpec:
    """The declaration of `name`; KeyError names the metric if it is not in the catalog."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"metric {name!r} is not declared in riskwatch.catalog") from None


def make_metric(name: str, registry: CollectorRegistry) -> MetricWrapperBase:
    """Create the prometheus_client metric declared for `name` in `registry`."""
    s = spec(name)
    if s.type == "counter":
        # prometheus_client appends _total itself; declare the base name.
        return Counter(s.name.removesuffix("_total"), s.help, s.labels, registry=registry)
    if s.type == "histogram":
        assert s.buckets is not None
        return Histogram(s.name, s.help, s.labels, registry=registry, buckets=s.buckets)
    return Gauge(s.name, s.help, s.labels, registry=registry)


def family(name: str, labels: tuple[str, ...] | None = None) -> Any:
    """An empty prometheus_client metric family for `name`, for custom collectors.

    `labels` defaults to the declared label names; a collector that yields a family
    adds samples with `add_metric(label_values, value)`.
    """
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    s = spec(name)
    names = list(s.labels if labels is None else labels)
    if s.type == "counter":
        return CounterMetricFamily(s.name.removesuffix("_total"), s.help, labels=names)
    if s.type == "histogram":
        return HistogramMetricFamily(s.name, s.help, labels=names)
    return GaugeMetricFamily(s.name, s.help, labels=names)


def _typed(name: str, registry: CollectorRegistry, kind: MetricType) -> MetricWrapperBase:
    declared = spec(name).type
    if declared != kind:
        raise TypeError(f"metric {name!r} is declared as a {declared}, not a {kind}")
    return make_metric(name, registry)


def make_counter(name: str, registry: CollectorRegistry) -> Counter:
    """`make_metric` for a name declared as a counter."""
    metric = _typed(name, registry, "counter")
    assert isinstance(metric, Counter)
    return metric


def make_gauge(name: str, registry: CollectorRegistry) -> Gauge:
    """`make_metric` for a name declared as a gauge."""
    metric = _typed(name, registry, "gauge")
    assert isinstance(metric, Gauge)
    return metric


def make_histogram(name: str, registry: CollectorRegistry) -> Histogram:
    """`make_metric` for a name declared as a histogram."""
    metric = _typed(name, registry, "histogram")
    assert isinstance(metric, Histogram)
    return metric


# Metrics of the components riskwatch runs, not ours to declare: the rules and the
# dashboards may read them, and their checks accept them as declared.
BUILTIN_METRICS = frozenset(
    {
        # Prometheus: one per scrape target.
        "up",
        # Pushgateway: one per push group; the only way to see a dead pusher.
        "push_time_seconds",
        "push_failure_time_seconds",
        # Alertmanager's own.
        "alertmanager_notifications_total",
        "alertmanager_notifications_failed_total",
        "alertmanager_config_last_reload_successful",
        # Prometheus's own (self-monitoring, as in the kube-prometheus mixin).
        "prometheus_rule_evaluation_failures_total",
        "prometheus_config_last_reload_successful",
        "prometheus_notifications_dropped_total",
        "process_start_time_seconds",
        "prometheus_notifications_alertmanagers_discovered",
        "prometheus_tsdb_compactions_failed_total",
    }
)
