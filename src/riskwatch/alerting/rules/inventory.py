"""Alerts on what should exist, rendered into `alerts/rules/ops.rules.yml`.

A rule on a value cannot fire for a series that is not there. So the policy's
`inventory` lists what must exist: each expected agent gets an `absent()` rule of its
own (AgentMissing), and each expected scrape job an `absent()` term in ExporterDown.
The rules on values never list label values: ExporterDown's `up == 0` covers every
job Prometheus scrapes, ExporterScrapeFailing every `*_scrape_success`, so a new
agent, job or exporter is covered by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from riskwatch.alerting.rules.common import AlertRule, Builder, for_text, negated
from riskwatch.policy import ExpectedAgent, Policy
from riskwatch.promql import matcher, selector, words

OPTIONAL_ALERTS = frozenset({"AgentMissing"})
"""Alerts with nothing to watch when the inventory is empty: they are then not
rendered at all (not a rule that never fires), and their `for` stays unused."""


# Every alert here: ops's and firm-wide.
_rule = partial(AlertRule, file="ops", team="ops", per_portfolio=False)


def _role(agent: ExpectedAgent) -> tuple[str, str]:
    """What the agent is, and what goes unwatched without it."""
    if agent.kind == "trading":
        portfolios = words(agent.portfolios)
        return (
            f"the trading agent of {portfolios}",
            f"No drawdown, risk or compliance alert can fire for {portfolios}",
        )
    return "the health agent", "No component is being checked"


def _expected_agents(limits: Policy) -> Iterator[AlertRule]:
    ops = limits.ops
    # Only while the Pushgateway answers: when it is down every agent's series go
    # stale at once, and PushgatewayDown says so.
    pushgateway_up = f"{selector('up', ops.pushgateway_job)} == 1"
    for agent, expected in limits.inventory.agents.items():
        # absent() labels its sample with the equality matchers: job and agent.
        pushed = selector("push_time_seconds", ops.agent_job, matcher("agent", "=", agent))
        # An agent Prometheus scrapes directly has a target instead of a group.
        scraped = selector("up", ops.agent_scrape_job, matcher("agent", "=", agent))
        role, unwatched = _role(expected)
        yield _rule(
            name="AgentMissing",
            group="riskwatch-agents",
            expr=f"absent({pushed})\nand on ()\nabsent({scraped})\nand on ()\n{pushgateway_up}",
            severity="critical",
            summary="An expected agent has no metrics in the Pushgateway.",
            description=(
                f"Agent {agent} ({role}) has had no series in the Pushgateway for at "
                f"least {for_text(limits, 'AgentMissing')}: it never started, its group "
                f"was deleted, or the Pushgateway lost it. {unwatched}, and AgentDown "
                "cannot fire without a series to age."
            ),
        )


def _scrape_targets(limits: Policy) -> Iterator[AlertRule]:
    ops = limits.ops
    # The Pushgateway's job has PushgatewayDown, scrape failure and absence alike.
    # Directly scraped agents have AgentDown, which names the agent.
    up = selector("up", negated(ops.pushgateway_job), negated(ops.agent_scrape_job))
    terms = [f"{up} == 0"]
    for job in limits.inventory.scrape_jobs:
        expected = matcher("job", "=", job)
        if expected != ops.pushgateway_job:
            terms.append(f"absent({selector('up', expected)})")
    yield _rule(
        name="ExporterDown",
        group="riskwatch-scrape",
        expr="\nor\n".join(terms),
        severity="critical",
        summary="Prometheus cannot scrape a target.",
        description=(
            f"For at least {for_text(limits, 'ExporterDown')}, Prometheus has not scraped "
            "job {{ $labels.job }}{{ with $labels.instance }} at {{ . }}{{ else }} (it "
            "has no such target, though the policy's inventory expects one){{ end }}: "
            "its metrics are missing, so no alert computed from them can fire."
        ),
    )
    success = '{__name__=~".+_scrape_success"}'
    yield _rule(
        name="ExporterScrapeFailing",
        group="riskwatch-scrape",
        # The exporter's name comes from its metric's, which the alert would drop.
        expr=(
            f'label_replace({success} == 0, "exporter", "$1", "__name__", "(.+)_scrape_success")'
        ),
        severity="warning",
        summary="An exporter cannot collect from its source.",
        description=(
            "The {{ $labels.exporter }} exporter (job {{ $labels.job }}) has failed "
            "every collection from its source for at least "
            f"{for_text(limits, 'ExporterScrapeFailing')}: it answers Prometheus, but "
            "its figures are missing, so the alerts on them cannot fire."
        ),
    )


AGENT_BUILDERS: tuple[Builder, ...] = (_expected_agents,)
"""AgentMissing, rendered in the agents' group."""

SCRAPE_BUILDERS: tuple[Builder, ...] = (_scrape_targets,)
"""ExporterDown and ExporterScrapeFailing."""
