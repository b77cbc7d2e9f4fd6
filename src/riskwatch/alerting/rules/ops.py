"""The ops team's alerts, rendered into `alerts/rules/ops.rules.yml`.

Stale market data, position reconciliation breaks, agents that stop pushing or whose
tasks keep failing, and the alerting path itself: the Pushgateway, Alertmanager's
notifications and the always-firing Watchdog heartbeat. The components' alerts live
in `health`, the alerts on what must exist in `inventory`, and the stack's
self-monitoring in `selfmon`; `BUILDERS` lists them all in rendering order.
"""

from __future__ import annotations

from collections.abc import Iterator

from riskwatch.alerting.rules import health, inventory, selfmon
from riskwatch.alerting.rules.common import (
    VALUE_PERCENT,
    AlertRule,
    Builder,
    for_text,
    query_value,
)
from riskwatch.policy import Policy
from riskwatch.promql import human_duration, number, percent, selector


def _market_data(limits: Policy) -> Iterator[AlertRule]:
    stale = limits.ops.market_data_stale_seconds
    age = "time() - max by (agent, source) (marketdata_last_update_timestamp_seconds)"
    yield AlertRule(
        name="MarketDataStale",
        file="ops",
        group="riskwatch-market-data",
        expr=f"{age} > {number(stale)}",
        severity="warning",
        team="ops",
        per_portfolio=False,
        from_agent=True,
        # `source` names the market-data feed on the metric but marks agent-computed
        # alerts on the alert (for the AgentDown inhibition): the feed moves to `feed`.
        labels={"feed": "{{ $labels.source }}"},
        summary="Market data is stale.",
        # The timestamp is the oldest held symbol's price (aged in session time only),
        # or the feed's last usable answer when older: one stalled symbol fires it.
        description=(
            "Market data from {{ $labels.source }} (agent {{ $labels.agent }}) is "
            "{{ $value | humanizeDuration }} old, beyond the limit of "
            f"{human_duration(stale)}: the oldest price of a held symbol, or the feed's "
            "last usable answer. Prices, P&L and risk figures built on it are out of "
            "date; trading_price_age_seconds says which symbols."
        ),
        value="{{ $value | humanizeDuration }}",
        limit=human_duration(stale),
    )


def _reconciliation(limits: Policy) -> Iterator[AlertRule]:
    allowed = limits.ops.reconciliation_max_breaks
    yield AlertRule(
        name="PositionReconciliationBreak",
        file="ops",
        group="riskwatch-reconciliation",
        expr=f"max by (portfolio) (tradestore_reconciliation_breaks) > {allowed}",
        severity="critical",
        team="ops",
        summary="Broker and internal positions disagree.",
        description=(
            "Portfolio {{ $labels.portfolio }} has {{ $value }} symbol(s) whose broker "
            "quantity has differed from our own book for "
            + for_text(limits, "PositionReconciliationBreak")
            + f" ({allowed} allowed): "
            "{{ range $i, $e := printf `tradestore_reconciliation_difference{portfolio=%q}` "
            '$labels.portfolio | query | sortByLabel "symbol" }}{{ if $i }}, {{ end }}'
            "{{ $e.Labels.symbol }} {{ $e.Value }}{{ end }} (broker minus internal). "
            "Risk figures are computed on a book that may be wrong."
        ),
        value="{{ $value }}",
        limit=str(allowed),
    )


def _agents(limits: Policy) -> Iterator[AlertRule]:
    ops = limits.ops
    push = selector("push_time_seconds", ops.agent_job)
    push_limit = human_duration(ops.agent_push_stale_seconds)
    scraped = selector("up", ops.agent_scrape_job)
    scrape_window = f"{ops.agent_push_stale_seconds:g}s"
    success_limit = human_duration(ops.agent_success_stale_seconds)
    pushed = query_value(
        f"time() - max({selector('push_time_seconds', 'agent=%q', ops.agent_job)})",
        "$labels.agent",
        fmt="humanizeDuration",
        missing="never",
    )
    succeeded = query_value(
        "time() - max(riskwatch_agent_last_success_timestamp_seconds{agent=%q})",
        "$labels.agent",
        fmt="humanizeDuration",
        missing="never",
    )
    yield AlertRule(
        name="AgentDown",
        file="ops",
        group="riskwatch-agents",
        expr=(
            f"(time() - max by (agent) ({push}) > {ops.agent_push_stale_seconds})\n"
            "or\n"
            "(time() - max by (agent) (riskwatch_agent_last_success_timestamp_seconds) > "
            f"{ops.agent_success_stale_seconds})\n"
            "or\n"
            # An agent Prometheus scrapes directly takes its series with it when it dies
            # (staleness), so neither age above exists: its target's failed scrapes,
            # over the same window a push may be missing, are the sign.
            f"(max by (agent) (max_over_time({scraped}[{scrape_window}])) == 0)"
        ),
        severity="critical",
        team="ops",
        per_portfolio=False,
        summary="An agent has stopped publishing fresh metrics.",
        description=(
            f"Agent {{{{ $labels.agent }}}} last pushed {pushed} ago and last completed a "
            f"task {succeeded} ago; it counts as down after {push_limit} without a push, "
            f"{success_limit} without a completed task, or {push_limit} of failed scrapes "
            "when Prometheus scrapes it directly. The Pushgateway keeps a pushed agent's "
            "last values, so they are frozen: the alerts computed from them are held back "
            "until it is back. A scraped agent's figures are gone instead, so alerts "
            "computed from them resolve without the condition having cleared."
        ),
    )
    window = ops.task_failure_window
    runs = f"sum by (agent, task) (increase(riskwatch_agent_task_runs_total[{window}]))"
    failures = f"sum by (agent, task) (increase(riskwatch_agent_task_failures_total[{window}]))"
    yield AlertRule(
        name="AgentTaskFailing",
        file="ops",
        group="riskwatch-agents",
        expr=(
            f"({failures}\n/\n{runs}\n> {number(ops.task_failure_ratio)})\n"
            f"and\n{runs} >= {ops.task_failure_min_runs}"
        ),
        severity="warning",
        team="ops",
        per_portfolio=False,
        from_agent=True,
        summary="An agent's task keeps failing.",
        description=(
            f"{VALUE_PERCENT} of the runs of task {{{{ $labels.task }}}} on agent "
            f"{{{{ $labels.agent }}}} failed over the last {window}, above the limit of "
            f"{percent(ops.task_failure_ratio)}. The figures it publishes are not being "
            "refreshed."
        ),
        value=VALUE_PERCENT,
        limit=percent(ops.task_failure_ratio),
    )


def _alerting_path(limits: Policy) -> Iterator[AlertRule]:
    ops = limits.ops
    up = selector("up", ops.pushgateway_job)
    down_for = for_text(limits, "PushgatewayDown")
    yield AlertRule(
        name="PushgatewayDown",
        file="ops",
        group="riskwatch-alerting",
        expr=f"{up} == 0 or absent({up})",
        severity="critical",
        team="ops",
        per_portfolio=False,
        summary="Prometheus cannot scrape the Pushgateway.",
        description=(
            "Prometheus has not scraped the Pushgateway{{ with $labels.instance }} at "
            "{{ . }}{{ end }} for at least "
            f"{down_for}: no agent metric is arriving, so no portfolio, risk or "
            "compliance alert can fire."
        ),
    )
    window = ops.notification_failure_window
    failed = selector("alertmanager_notifications_failed_total", ops.alertmanager_job)
    yield AlertRule(
        name="AlertmanagerNotificationsFailing",
        file="ops",
        group="riskwatch-alerting",
        expr=f"sum by (integration) (increase({failed}[{window}])) > 0",
        severity="critical",
        team="ops",
        per_portfolio=False,
        summary="Alertmanager is failing to deliver notifications.",
        description=(
            'Alertmanager failed to deliver {{ $value | printf "%.0f" }} '
            f"{{{{ $labels.integration }}}} notifications in the last {window}, after "
            "retrying: someone did not receive an alert."
        ),
        value='{{ $value | printf "%.0f" }} failed',
        limit="0 failed",
    )
    yield AlertRule(
        name="Watchdog",
        file="ops",
        group="riskwatch-alerting",
        expr="vector(1)",
        severity="none",
        team="ops",
        per_portfolio=False,
        summary="The alerting pipeline is alive (this alert always fires).",
        description=(
            "This alert always fires, on purpose. While the external heartbeat service "
            "keeps receiving it, Prometheus is evaluating rules and Alertmanager is "
            "delivering; when it stops arriving, alerting is broken and the heartbeat "
            "service pages."
        ),
    )


BUILDERS: tuple[Builder, ...] = (
    _market_data,
    _reconciliation,
    _agents,
    *inventory.AGENT_BUILDERS,
    _alerting_path,
    *health.BUILDERS,
    *inventory.SCRAPE_BUILDERS,
    *selfmon.BUILDERS,
)
"""The ops alerts, in the order ops.rules.yml lists their groups: this module's, then
the components' (health), what must exist (inventory) and self-monitoring (selfmon)."""

OPTIONAL_ALERTS = inventory.OPTIONAL_ALERTS
"""Ops alerts the policy may leave with nothing to watch, and so not rendered."""
