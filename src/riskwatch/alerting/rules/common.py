"""What every domain's alerts are made of: the AlertRule record and the shared helpers.

`AlertRule` is one alerting rule as declared; the domain modules (risk, compliance,
ops) build them from the limits config with the helpers here: `threshold` and
`limit_text` turn a per-portfolio limit and its overrides into an expression and a
template, `fill` completes a description, `for_duration`/`for_text` read an alert's
`for` from the policy, `query_value` quotes a live sample in a description, and
`negated` turns a policy job matcher into "every other job".

Conventions (kubernetes-mixin style):
- every alert has `severity` and `team` labels and `summary`, `description`,
  `runbook_url` and `dashboard_url` annotations; threshold alerts add `value` and
  `limit` for the notification templates;
- a warning/critical pair shares an `alertgroup` label: Alertmanager's inhibit rule
  `equal: [alertgroup, portfolio]` lets the critical one silence its warning;
- alerts computed from an agent's pushes carry `source: agent` and keep the `agent`
  label, so AgentDown{agent} silences them while their inputs are frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from riskwatch.policy import (
    POLICY_FILE,
    Policy,
    PolicyError,
    PortfolioLimitName,
    duration_seconds,
)
from riskwatch.promql import human_duration, matcher, number

Team = Literal["risk", "compliance", "ops"]
Severity = Literal["critical", "warning", "info", "none"]
Build = Callable[[str], str]
"""Builds an expression from the extra label matcher ("" or `portfolio="x"`) to add."""

# Go-template pieces shared by the descriptions.
PORTFOLIO = "{{ $labels.portfolio }}"
VALUE_PERCENT = "{{ $value | humanizePercentage }}"
BY_PORTFOLIO = "agent, portfolio"


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule; an alert may have several (ComplianceViolation has one per severity)."""

    name: str
    file: str
    group: str
    expr: str
    severity: Severity
    team: Team
    summary: str
    description: str
    value: str | None = None
    limit: str | None = None
    per_portfolio: bool = True
    from_agent: bool = False
    alertgroup: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


Builder = Callable[[Policy], Iterator[AlertRule]]
"""Declares some alerts from the limits config, in the order they are rendered."""


def threshold(limits: Policy, name: PortfolioLimitName, op: str, build: Build) -> str:
    """`build("") op limit`, or one clause per portfolio override joined by `or`.

    `(x{portfolio!~"fund-b"} > 0.1) or (x{portfolio="fund-b"} > 0.15)`: the default
    clause excludes every overridden portfolio, so each portfolio meets one limit.
    """
    default = number(limits.limit(name))
    overrides = limits.overrides(name)
    if not overrides:
        return f"{build('')} {op} {default}"
    others = matcher("portfolio", "!~", "|".join(overrides))
    clauses = [f"({build(others)} {op} {default})"]
    clauses += [
        f"({build(matcher('portfolio', '=', portfolio))} {op} {number(value)})"
        for portfolio, value in overrides.items()
    ]
    return "\nor\n".join(clauses)


def limit_text(limits: Policy, name: PortfolioLimitName, fmt: Callable[[float], str]) -> str:
    """The limit as text, choosing the portfolio's override in the template when there is one."""
    default = fmt(limits.limit(name))
    overrides = limits.overrides(name)
    if not overrides:
        return default
    branches = "".join(
        f'{{{{ {"if" if i == 0 else "else if"} eq $labels.portfolio "{portfolio}" }}}}{fmt(value)}'
        for i, (portfolio, value) in enumerate(overrides.items())
    )
    return f"{branches}{{{{ else }}}}{default}{{{{ end }}}}"


def fill(template: str, **values: str) -> str:
    """Replace [name] placeholders; Go's {{ }} stay as they are."""
    for key, value in values.items():
        template = template.replace(f"[{key}]", value)
    return template


def for_duration(limits: Policy, alert: str) -> str:
    """The alert's `for` as the policy writes it; PolicyError when it has none."""
    try:
        return limits.for_[alert]
    except KeyError:
        raise PolicyError(f"{POLICY_FILE}: for.{alert}: missing; every alert needs one") from None


def for_text(limits: Policy, alert: str) -> str:
    """The alert's `for` as people read it: 10m, 1h30m."""
    return human_duration(duration_seconds(for_duration(limits, alert)))


def held_for(limits: Policy, alert: str) -> str:
    """ ", for at least 10m" for an alert with a `for`, "" for one that fires at once."""
    if duration_seconds(for_duration(limits, alert)) == 0:
        return ""
    return f", for at least {for_text(limits, alert)}"


def negated(job_matcher: str) -> str:
    """A policy job matcher turned around: `job="pushgateway"` -> `job!="pushgateway"`."""
    label, value = job_matcher.split("=", 1)
    return f"{label}!={value}"


def query_value(query: str, *args: str, fmt: str, missing: str) -> str:
    """Go template: the first sample of `printf query args` through `fmt`, else `missing`."""
    return (
        f"{{{{ with printf `{query}` {' '.join(args)} | query }}}}"
        f"{{{{ . | first | value | {fmt} }}}}{{{{ else }}}}{missing}{{{{ end }}}}"
    )
