"""The operations dashboard: are the agents and the alerting pipeline working?

Every figure on the other dashboards is only as good as the agents that push it
and the pipeline that turns it into a notification. This one shows the agents'
heartbeats, task durations and failures, the health of Prometheus, Alertmanager,
the Pushgateway and the receiver, and failed notifications.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from riskwatch.dashboards.board import new_dashboard, variable
from riskwatch.dashboards.measures import instant, query
from riskwatch.dashboards.panels import stat_panel, status_grid, timeseries_panel
from riskwatch.dashboards.style import (
    BLUE,
    GREEN,
    RED,
    SECONDS,
    UP_DOWN,
    ceiling,
    states,
    steps,
    zero_is_good,
)
from riskwatch.policy import Policy
from riskwatch.promql import selector

# Quantiles of storage latency are read over a fixed window: a short one has too few
# webhook payloads (one per Alertmanager group interval) to estimate a p95 from.
LATENCY_WINDOW = "5m"


def build(limits: Policy) -> dashboard.Dashboard:
    """The operations dashboard, with staleness limits from `limits.ops`."""
    ops = limits.ops
    agent = 'agent=~"$agent"'
    window = ops.task_failure_window
    board = new_dashboard(
        limits.links.uid("operations"),
        "riskwatch: Operations",
        "Agents' heartbeats, tasks and pushes; the health of Prometheus, Alertmanager, "
        "the Pushgateway and the receiver; notification failures.",
        variables=[
            variable(
                "agent",
                "Agent",
                "label_values(riskwatch_agent_last_success_timestamp_seconds, agent)",
            )
        ],
        annotation_expr='ALERTS{alertstate="firing",team="ops",alertname!="Watchdog"}',
    )

    # ---------------------------------------------------------------- agents
    board.with_row(dashboard.Row("Agents"))
    board.with_panel(
        stat_panel(
            "Since last push",
            f"Time since each agent last pushed to the Pushgateway. Red from "
            f"{ops.agent_push_stale_seconds} s: AgentDown fires and its figures are frozen.",
            unit=SECONDS,
            decimals=0,
            width=8,
            height=6,
        )
        .thresholds(ceiling(float(ops.agent_push_stale_seconds)))
        .with_target(
            instant(
                f"time() - max by (agent) ({selector('push_time_seconds', ops.agent_job, agent)})",
                "{{agent}}",
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Since last completed task",
            f"Time since each agent last completed any task (its heartbeat included). Red "
            f"from {ops.agent_success_stale_seconds} s: the agent pushes frozen figures.",
            unit=SECONDS,
            decimals=0,
            width=8,
            height=6,
        )
        .thresholds(ceiling(float(ops.agent_success_stale_seconds)))
        .with_target(
            instant(
                "time() - max by (agent) "
                f"({selector('riskwatch_agent_last_success_timestamp_seconds', agent)})",
                "{{agent}}",
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Failed pushes",
            "Pushes that failed after every retry, in the selected time range. The agent "
            "keeps its state and the next push carries it.",
            width=8,
            height=6,
        )
        .thresholds(zero_is_good())
        .with_target(
            instant(
                "sum by (agent) "
                f"(increase({selector('riskwatch_agent_push_failures_total', agent)}[$__range]))",
                "{{agent}}",
            )
        )
    )
    board.with_panel(
        timeseries_panel(
            "Task duration",
            "Wall time of each task's last run.",
            unit=SECONDS,
            width=8,
        ).with_target(
            query(
                "max by (agent, task) "
                f"({selector('riskwatch_agent_task_duration_seconds', agent)})",
                "{{agent}} · {{task}}",
            )
        )
    )
    board.with_panel(
        timeseries_panel(
            "Task runs per minute",
            "How often each task runs: its schedule, and gaps when the agent stops.",
            unit="none",
            decimals=1,
            width=8,
        ).with_target(
            query(
                "60 * sum by (agent, task) "
                f"(rate({selector('riskwatch_agent_task_runs_total', agent)}[$__rate_interval]))",
                "{{agent}} · {{task}}",
            )
        )
    )
    runs_total = selector("riskwatch_agent_task_runs_total", agent)
    failures_total = selector("riskwatch_agent_task_failures_total", agent)
    runs = f"sum by (agent, task) (increase({runs_total}[{window}]))"
    failures = f"sum by (agent, task) (increase({failures_total}[{window}]))"
    board.with_panel(
        timeseries_panel(
            f"Task failure share ({window})",
            f"Share of each task's runs over the last {window} that failed; AgentTaskFailing "
            f"fires above the dashed line ({ops.task_failure_ratio:.0%}).",
            unit="percentunit",
            decimals=0,
            width=8,
            limit_lines=True,
        )
        .thresholds(ceiling(ops.task_failure_ratio))
        .min(0)
        .max(1)
        # At least one run in the denominator: a task that has not run has no share.
        .with_target(query(f"{failures} / clamp_min({runs}, 1)", "{{agent}} · {{task}}"))
    )

    # ----------------------------------------------------------- components
    board.with_row(dashboard.Row("Pipeline health"))
    board.with_panel(
        status_grid(
            "Components (health agent)",
            "The health agent's checks: each service, the database, the broker, disks, "
            "every trading agent's heartbeat and every market-data feed.",
            UP_DOWN,
            width=12,
            height=7,
        )
        .thresholds(steps(RED, (1.0, GREEN)))
        .with_target(instant("max by (component) (riskwatch_component_up)", "{{component}}"))
    )
    board.with_panel(
        status_grid(
            "Scraped by Prometheus",
            "Prometheus's own view of each scrape target: DOWN means it cannot reach it.",
            UP_DOWN,
            width=6,
            height=7,
        )
        .thresholds(steps(RED, (1.0, GREEN)))
        .with_target(instant("min by (job) (up)", "{{job}}"))
    )
    board.with_panel(
        status_grid(
            "Alerting pipeline",
            "ALIVE while the always-firing Watchdog alert fires, i.e. while Prometheus "
            "evaluates rules; and whether the receiver can write the audit trail.",
            states((1, "ALIVE", GREEN), (0, "SILENT", RED)),
            width=6,
            height=7,
        )
        .thresholds(steps(RED, (1.0, GREEN)))
        .with_target(
            instant(
                'count(ALERTS{alertname="Watchdog",alertstate="firing"}) or vector(0)',
                "Watchdog",
            )
        )
        .with_target(instant("min(riskwatch_receiver_database_up)", "Receiver database"))
        .override_by_name(
            "Receiver database", [DynamicConfigValue(id_val="mappings", value=UP_DOWN)]
        )
    )
    board.with_panel(
        timeseries_panel(
            "Health check latency",
            "How long each of the health agent's checks took.",
            unit=SECONDS,
            width=12,
        ).with_target(
            query(
                "max by (component) (riskwatch_component_check_duration_seconds)", "{{component}}"
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Market data age",
            f"Age of each feed's oldest held price (a stalled symbol holds it back). Red from "
            f"{ops.market_data_stale_seconds:g} s: MarketDataStale and rule DAT_001.",
            unit=SECONDS,
            decimals=0,
            width=6,
            height=8,
        )
        .thresholds(ceiling(float(ops.market_data_stale_seconds)))
        .with_target(
            instant(
                "time() - max by (source) (marketdata_last_update_timestamp_seconds)",
                "{{source}}",
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Rejected ticks",
            "Prices and fills rejected before use (NaN, zero or negative, stale) in the "
            "selected time range.",
            width=6,
            height=8,
        )
        .thresholds(zero_is_good())
        # The counter has no series until a first rejection: no rejection reads as 0.
        .with_target(
            instant("sum(increase(marketdata_rejected_ticks_total[$__range])) or vector(0)", "")
        )
    )

    # --------------------------------------------------------- notifications
    board.with_row(dashboard.Row("Alert delivery"))
    am = ops.alertmanager_job
    board.with_panel(
        stat_panel(
            "Failed notifications",
            "Notifications Alertmanager gave up on after retrying, in the selected time "
            "range: someone did not receive an alert. The graph beside it has them by "
            "integration.",
            width=6,
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(
            instant(
                "sum(increase("
                f"{selector('alertmanager_notifications_failed_total', am)}[$__range]))",
                "failed",
            )
        )
    )
    board.with_panel(
        timeseries_panel(
            "Notifications sent and failed",
            "Notifications per integration (email, Slack, webhook) in each interval.",
            unit="none",
            decimals=0,
            width=9,
        )
        .with_target(
            query(
                "sum by (integration) (increase("
                f"{selector('alertmanager_notifications_total', am)}[$__rate_interval]))",
                "{{integration}} sent",
            )
        )
        .with_target(
            query(
                "sum by (integration) (increase("
                f"{selector('alertmanager_notifications_failed_total', am)}[$__rate_interval]))",
                "{{integration}} failed",
            )
        )
    )
    board.with_panel(
        timeseries_panel(
            "Receiver: alerts received and stored",
            "Alerts reaching the audit trail in each interval; duplicates are Alertmanager "
            "retries and HA copies, stored once.",
            unit="none",
            decimals=0,
            width=9,
        )
        .with_target(
            query(
                "sum by (status) "
                "(increase(riskwatch_receiver_alerts_received_total[$__rate_interval]))",
                "received {{status}}",
            )
        )
        .with_target(
            query(
                "sum by (status) "
                "(increase(riskwatch_receiver_alerts_stored_total[$__rate_interval]))",
                "stored {{status}}",
            )
        )
        .with_target(
            query(
                "sum(increase(riskwatch_receiver_alerts_duplicate_total[$__rate_interval]))",
                "duplicates",
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Rejected webhook payloads",
            "Payloads the receiver refused in the selected time range, by reason.",
            width=6,
            height=8,
            vertical=True,
        )
        .thresholds(zero_is_good())
        .with_target(
            instant(
                "sum by (reason) (increase(riskwatch_receiver_payloads_rejected_total[$__range]))",
                "{{reason}}",
            )
        )
    )
    board.with_panel(
        timeseries_panel(
            "Receiver storage latency",
            f"95th percentile of the time to store one webhook payload, over {LATENCY_WINDOW}.",
            unit=SECONDS,
            width=6,
        ).with_target(
            query(
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(riskwatch_receiver_storage_duration_seconds_bucket[{LATENCY_WINDOW}])))",
                "p95",
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Prometheus rule failures",
            "Rule evaluations that failed in the selected time range: an alert that "
            "could not be evaluated cannot fire.",
            width=4,
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(
            instant(
                "sum(increase(prometheus_rule_evaluation_failures_total[$__range]))",
                "failures",
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Alerts dropped by Prometheus",
            "Alerts Prometheus could not hand to Alertmanager in the selected time range.",
            width=4,
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(
            instant("sum(increase(prometheus_notifications_dropped_total[$__range]))", "dropped")
        )
    )
    board.with_panel(
        stat_panel(
            "Pushgateway",
            "Pushes accepted and refused by the Pushgateway in the selected time range.",
            width=4,
            height=8,
            vertical=True,
        )
        .thresholds(steps(BLUE))
        .override_by_name(
            "refused", [DynamicConfigValue(id_val="thresholds", value=zero_is_good().build())]
        )
        .with_target(
            instant(
                'sum(increase(pushgateway_http_requests_total{handler="push",code=~"2.."}'
                "[$__range]))",
                "accepted",
            )
        )
        .with_target(
            instant(
                'sum(increase(pushgateway_http_requests_total{handler="push",code!~"2.."}'
                "[$__range])) or vector(0)",
                "refused",
            )
        )
    )
    return board
