"""The compliance dashboard: rule by rule, the observed value against its limit.

The agents publish, for every rule and portfolio, whether it is violated, the
observed value and the limit in force (with per-portfolio overrides already
applied), plus one evidence series per offending symbol or sector. This dashboard
shows those, the share of each limit in use, and when each rule was in breach.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from riskwatch.dashboards.board import new_dashboard, portfolio_variable, variable
from riskwatch.dashboards.measures import instant, query, table_query
from riskwatch.dashboards.panels import (
    bar_gauge_panel,
    column,
    stat_panel,
    state_timeline_panel,
    status_grid,
    table_panel,
    text_panel,
    timeseries_panel,
)
from riskwatch.dashboards.style import (
    GREEN,
    OK_BREACH,
    PERCENT,
    PERCENT_DECIMALS,
    RED,
    ceiling,
    states,
    zero_is_good,
)
from riskwatch.policy import Policy
from riskwatch.promql import selector

_CHOSEN = ('portfolio=~"$portfolio"', 'rule=~"$rule"')


def _rule_book(limits: Policy) -> str:
    """The policy's rules as a Markdown table, so a reader knows what each id means."""
    alert = limits.compliance.severity
    lines = [
        "| Rule | Observed ≤ limit | Severity | Alert | Default limit |",
        "|---|---|---|---|---|",
    ]
    for rule_id, description, severity, limit in limits.compliance_specs():
        lines.append(
            f"| {rule_id} | {description} | {severity} | "
            f"{alert.get(severity, 'critical')} | {limit:g} |"
        )
    lines.append("")
    lines.append(
        "A rule is in breach when its observed value exceeds its limit. Policy may be "
        "overridden per portfolio; the table above shows the limit in force."
    )
    return "\n".join(lines)


def build(limits: Policy) -> dashboard.Dashboard:
    """The compliance dashboard."""
    active = selector("compliance_violation_active", *_CHOSEN)
    high = selector("compliance_violation_active", *_CHOSEN, 'severity="HIGH"')
    value = selector("compliance_rule_value", *_CHOSEN)
    limit = selector("compliance_rule_limit", *_CHOSEN)
    # Share of the limit in use. Rules with a zero limit (OPS_001: no order outside
    # regular hours) have no share: any value is a breach, shown by their status.
    used = f"{value} / ({limit} > 0)"
    board = new_dashboard(
        limits.links.uid("compliance"),
        "riskwatch: Compliance",
        "Every compliance rule of every portfolio: status, observed value against its "
        "limit, evidence and breach history.",
        variables=[
            portfolio_variable(),
            variable(
                "rule",
                "Rule",
                'label_values(compliance_rule_value{portfolio=~"$portfolio"}, rule)',
            ),
        ],
        annotation_expr=(
            'ALERTS{alertstate="firing",alertname="ComplianceViolation",'
            'portfolio=~"$portfolio",rule=~"$rule"}'
        ),
    )

    # ---------------------------------------------------------------- status
    board.with_row(dashboard.Row("Status"))
    board.with_panel(
        stat_panel(
            "Rules in breach",
            "Rule and portfolio pairs in breach now. Anything above zero is red.",
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(instant(f"sum({active})", "Breaches"))
    )
    board.with_panel(
        stat_panel(
            "High-severity breaches",
            "Breaches of HIGH-severity rules, which page the compliance team.",
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(
            instant(
                f"sum({high}) or vector(0)",
                "HIGH",
            )
        )
    )
    board.with_panel(
        status_grid(
            "Rule status",
            "Each rule of each portfolio: BREACH while its observed value exceeds its limit.",
            OK_BREACH,
            width=16,
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(instant(f"max by (portfolio, rule) ({active})", "{{portfolio}} · {{rule}}"))
    )

    # ---------------------------------------------------- values and limits
    board.with_row(dashboard.Row("Values against limits"))
    rules = table_panel(
        "Rules: observed value and limit",
        "Each rule's observed value and the limit in force, in the rule's own unit (see "
        "the rule book). Share is the observed value over the limit: red from 100%.",
        columns={
            "portfolio": "Portfolio",
            "rule": "Rule",
            "severity": "Severity",
            "Value #B": "Observed",
            "Value #C": "Limit",
            "Value #D": "Share of limit",
            "Value #A": "Status",
        },
        height=10,
        sort_by="Share of limit",
        descending=True,
    )
    rules.with_target(table_query(f"max by (portfolio, rule, severity) ({active})", "A"))
    rules.with_target(table_query(value, "B"))
    rules.with_target(table_query(limit, "C"))
    rules.with_target(table_query(used, "D"))
    column(rules, "Observed", unit="none", decimals=4)
    column(rules, "Limit", unit="none", decimals=4)
    column(rules, "Share of limit", unit=PERCENT, decimals=1, thresholds=ceiling(1.0))
    column(rules, "Status", mappings=OK_BREACH)
    board.with_panel(rules)
    board.with_panel(
        bar_gauge_panel(
            "Share of limit used",
            "Observed value over limit for each rule with a non-zero limit: red from 100%.",
            unit=PERCENT,
            decimals=1,
            maximum=1.5,
            width=12,
            height=10,
        )
        .thresholds(ceiling(1.0))
        .with_target(instant(used, "{{portfolio}} · {{rule}}"))
    )
    board.with_panel(text_panel("Rule book", _rule_book(limits), width=12, height=10))

    # --------------------------------------------------------------- history
    board.with_row(dashboard.Row("History"))
    board.with_panel(
        state_timeline_panel(
            "Breaches over time",
            "When each rule of each portfolio was in breach (red) or not (green).",
            states((0, "OK", GREEN), (1, "BREACH", RED)),
            height=10,
        ).with_target(query(f"max by (portfolio, rule) ({active})", "{{portfolio}} · {{rule}}"))
    )
    board.with_panel(
        timeseries_panel(
            "Share of limit over time",
            "Observed value over limit; the dashed line is the limit (100%).",
            unit=PERCENT,
            decimals=PERCENT_DECIMALS,
            width=12,
            height=9,
            limit_lines=True,
        )
        .thresholds(ceiling(1.0))
        .with_target(query(used, "{{portfolio}} · {{rule}}"))
    )
    evidence = table_panel(
        "Evidence of current breaches",
        "The symbols or sectors behind each breach, as the agent published them; a "
        "rule that clears removes its evidence.",
        columns={"portfolio": "Portfolio", "rule": "Rule", "subject": "Symbol or sector"},
        width=12,
        height=9,
    ).with_target(table_query(selector("compliance_violation_evidence_info", *_CHOSEN), "A"))
    board.with_panel(evidence)
    return board
