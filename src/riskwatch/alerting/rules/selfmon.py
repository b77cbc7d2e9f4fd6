"""The alerting stack watching itself, rendered into `alerts/rules/ops.rules.yml`.

Modelled on the kube-prometheus mixins (prometheus-mixin, alertmanager-mixin): rule
evaluations that fail, configurations that did not reload, notifications dropped or
with nowhere to go, compactions failing; and the Pushgateway rejecting a push. Each
of these leaves the stack running but silent on something. The reload gauges are read
as their worst value over the window (`max_over_time`), so a failed scrape of the
gauge does not resolve a failed reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from riskwatch.alerting.rules.common import AlertRule, Builder, for_text, held_for
from riskwatch.policy import Policy, duration_seconds
from riskwatch.promql import human_duration, selector

_COUNT = '{{ $value | printf "%.0f" }}'

# Every alert here: ops's, firm-wide, in one group of ops.rules.yml.
_rule = partial(
    AlertRule, file="ops", group="riskwatch-self-monitoring", team="ops", per_portfolio=False
)


def _prometheus(limits: Policy) -> Iterator[AlertRule]:
    ops = limits.ops
    window = ops.self_monitoring_window

    def own(metric: str) -> str:
        return selector(metric, ops.prometheus_job)

    yield _rule(
        name="PrometheusRuleEvaluationFailures",
        expr=f"increase({own('prometheus_rule_evaluation_failures_total')}[{window}]) > 0",
        severity="critical",
        summary="Prometheus is failing to evaluate rules.",
        description=(
            f"Prometheus failed {_COUNT} evaluation(s) of rule group "
            f"{{{{ $labels.rule_group }}}} in the last {window}"
            f"{held_for(limits, 'PrometheusRuleEvaluationFailures')}: an alert of that "
            "group cannot fire. Prometheus's /rules page shows the rule's error."
        ),
    )
    yield _rule(
        name="PrometheusConfigReloadFailed",
        expr=f"max_over_time({own('prometheus_config_last_reload_successful')}[{window}]) == 0",
        severity="warning",
        summary="Prometheus failed to reload its configuration.",
        description=(
            "Prometheus{{ with $labels.instance }} at {{ . }}{{ end }} has failed to "
            "reload its configuration for at least "
            f"{for_text(limits, 'PrometheusConfigReloadFailed')}. It keeps running the "
            "last good one, so the scrape targets and rules changed since are not in "
            "force."
        ),
    )
    yield _rule(
        name="PrometheusNotificationsDropped",
        # Counted only in windows that begin after the startup grace: see the policy.
        expr=(
            f"increase({own('prometheus_notifications_dropped_total')}[{window}]) > 0\n"
            f"and on (job, instance)\n"
            f"time() - {own('process_start_time_seconds')} > "
            f"{duration_seconds(window) + duration_seconds(ops.startup_grace):g}"
        ),
        severity="critical",
        summary="Prometheus dropped alert notifications.",
        description=(
            f"Prometheus dropped {_COUNT} alert notifications in the last {window} "
            "(queue full, or an Alertmanager that kept refusing them): those alerts "
            "reached no one."
        ),
        value=f"{_COUNT} dropped",
        limit="0 dropped",
    )
    minimum = ops.min_alertmanagers
    discovered = own("prometheus_notifications_alertmanagers_discovered")
    yield _rule(
        name="PrometheusNotConnectedToAlertmanagers",
        expr=f"max_over_time({discovered}[{window}]) < {minimum}",
        severity="critical",
        summary="Prometheus has too few Alertmanagers to send alerts to.",
        description=(
            "Prometheus{{ with $labels.instance }} at {{ . }}{{ end }} knows "
            f"{{{{ $value }}}} Alertmanager(s), fewer than {minimum}: its alerts, this "
            "one included, reach no one (only the Watchdog's heartbeat falling silent "
            "can page). Check prometheus.yml's `alerting` section."
        ),
        value="{{ $value }}",
        limit=str(minimum),
    )
    compaction = ops.compaction_failure_window
    yield _rule(
        name="PrometheusTSDBCompactionsFailing",
        expr=f"increase({own('prometheus_tsdb_compactions_failed_total')}[{compaction}]) > 0",
        severity="warning",
        summary="Prometheus is failing to compact its storage.",
        description=(
            f"Prometheus failed {_COUNT} compactions in the last {compaction}, for at "
            f"least {for_text(limits, 'PrometheusTSDBCompactionsFailing')}. The "
            "in-memory head keeps growing and the disk fills with uncompacted blocks "
            "until Prometheus stops ingesting."
        ),
    )


def _alertmanager(limits: Policy) -> Iterator[AlertRule]:
    ops = limits.ops
    reloaded = selector("alertmanager_config_last_reload_successful", ops.alertmanager_job)
    yield _rule(
        name="AlertmanagerConfigReloadFailed",
        expr=f"max_over_time({reloaded}[{ops.self_monitoring_window}]) == 0",
        severity="warning",
        summary="Alertmanager failed to reload its configuration.",
        description=(
            "Alertmanager{{ with $labels.instance }} at {{ . }}{{ end }} has failed to "
            "reload its configuration for at least "
            f"{for_text(limits, 'AlertmanagerConfigReloadFailed')}. It keeps routing "
            "with the last good one, so route, receiver and mute changes since are not "
            "in force."
        ),
    )


def _pushgateway(limits: Policy) -> Iterator[AlertRule]:
    stale = human_duration(limits.ops.agent_push_stale_seconds)
    # Both series belong to one push group and carry its grouping labels alone, so
    # they match one to one. No job matcher: any pusher's group is covered.
    yield _rule(
        name="PushgatewayPushRejected",
        expr="push_failure_time_seconds > push_time_seconds",
        severity="warning",
        summary="The Pushgateway rejected a push.",
        description=(
            "The Pushgateway rejected the latest push to group job={{ $labels.job }}"
            "{{ with $labels.agent }} agent={{ . }}{{ end }}: its metrics stay as they "
            f"were at the last accepted push, and an agent's AgentDown follows after "
            f"{stale}. A rejected push is a bug in what is pushed (a metric whose type "
            "or help changed, a clash with another group); the Pushgateway's log and "
            "the agent's push errors name it."
        ),
    )


BUILDERS: tuple[Builder, ...] = (_prometheus, _alertmanager, _pushgateway)
"""The self-monitoring alerts, in the order ops.rules.yml lists them."""
