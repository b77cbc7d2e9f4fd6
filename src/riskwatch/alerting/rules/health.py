"""The components' alerts, rendered into `alerts/rules/ops.rules.yml`.

What the health agent finds down (ComponentDown) or filling up (DiskSpaceLow), broker
connections in the trading phases (BrokerDisconnected) and the webhook receiver's
database (ReceiverDatabaseDown). The first three are computed from
an agent's pushes: they carry `source: agent`, so AgentDown of that agent holds them
back while its values are frozen.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from riskwatch.alerting.rules.common import VALUE_PERCENT, AlertRule, Builder, for_text
from riskwatch.policy import Policy
from riskwatch.promql import matcher, number, percent, selector

# The health agent also reports each trading agent (`agent:<id>`), market-data feed
# (`marketdata:<source>`) and portfolio's broker connection (`broker:<portfolio>`).
# The first two are derived from the same Pushgateway data that AgentDown and
# MarketDataStale read with the policy's own limits; market data is stale, and IB
# Gateway resets, by design while the market is closed, which a critical
# ComponentDown would page all night. Those families page through their own alerts
# (BrokerDisconnected only in the trading phases); every other component, today's
# and any new one, through ComponentDown.
_COVERED_ELSEWHERE = ("agent", "marketdata", "broker")

# The trading agent's task that runs in the trading phases only (settings
# agent.tasks): while some agent runs it, the market is in a trading phase. No metric
# publishes the phase itself.
TRADING_TASK = "portfolio"


# Every alert here: ops's, firm-wide, in one group of ops.rules.yml.
_rule = partial(
    AlertRule, file="ops", group="riskwatch-components", team="ops", per_portfolio=False
)


def _components(limits: Policy) -> Iterator[AlertRule]:
    checked = selector(
        "riskwatch_component_up", matcher("component", "!~", f"({'|'.join(_COVERED_ELSEWHERE)}):.*")
    )
    yield _rule(
        name="ComponentDown",
        expr=f"max by (agent, component) ({checked}) == 0",
        severity="critical",
        from_agent=True,
        summary="A component of the pipeline is down.",
        description=(
            "The health agent {{ $labels.agent }} has found {{ $labels.component }} down "
            f"for at least {for_text(limits, 'ComponentDown')}. Whatever depends on it "
            "(metrics, alert delivery, the audit trail, the trading agents) may be "
            "silent; the agent's log says why each check failed."
        ),
    )
    ratio = limits.ops.disk_min_free_ratio
    yield _rule(
        name="DiskSpaceLow",
        expr=f"min by (agent, path) (riskwatch_disk_free_ratio) < {number(ratio)}",
        severity="critical",
        from_agent=True,
        summary="A filesystem is running out of space.",
        description=(
            f"Filesystem {{{{ $labels.path }}}} has {VALUE_PERCENT} free (checked by "
            f"{{{{ $labels.agent }}}}), below the limit of {percent(ratio)} for "
            f"{for_text(limits, 'DiskSpaceLow')}. Prometheus, the Pushgateway's "
            "persistence and PostgreSQL stop writing when it fills: metrics, alerts "
            "and the audit trail stop with them."
        ),
        value=VALUE_PERCENT,
        limit=percent(ratio),
    )


def _broker(limits: Policy) -> Iterator[AlertRule]:
    window = limits.ops.trading_task_window
    runs = selector("riskwatch_agent_task_runs_total", matcher("task", "=", TRADING_TASK))
    yield _rule(
        name="BrokerDisconnected",
        # Whichever agent reports the connection (the trading agent from its portfolio
        # task, the health agent in every phase), only while the market trades: a
        # value frozen at the close, or IB Gateway's nightly reset, is not an outage.
        expr=(
            "max by (agent, broker) (riskwatch_broker_connected) == 0\n"
            "and on ()\n"
            f"sum(increase({runs}[{window}])) > 0"
        ),
        severity="critical",
        from_agent=True,
        summary="A broker connection is down during trading hours.",
        description=(
            "Agent {{ $labels.agent }} has found broker {{ $labels.broker }} "
            f"disconnected for at least {for_text(limits, 'BrokerDisconnected')} while "
            "the market trades: positions, fills and account values from it are not "
            "updating, so the risk and compliance figures of its portfolios are out of "
            "date."
        ),
    )


def _receiver(limits: Policy) -> Iterator[AlertRule]:
    database = selector("riskwatch_receiver_database_up", limits.ops.receiver_job)
    yield _rule(
        name="ReceiverDatabaseDown",
        expr=f"{database} == 0",
        severity="critical",
        summary="The webhook receiver cannot write to its database.",
        description=(
            "The webhook receiver{{ with $labels.instance }} at {{ . }}{{ end }} has "
            "failed to reach its database for at least "
            f"{for_text(limits, 'ReceiverDatabaseDown')}: alerts still reach Slack and "
            "email, but the audit trail is not recording them. The receiver answers "
            "503, so Alertmanager retries until the database is back."
        ),
    )


BUILDERS: tuple[Builder, ...] = (_components, _broker, _receiver)
"""The component alerts, in the order ops.rules.yml lists them."""
