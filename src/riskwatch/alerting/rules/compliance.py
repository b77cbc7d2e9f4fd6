"""The compliance team's alert, rendered into `alerts/rules/compliance.rules.yml`.

ComplianceViolation fires for each rule an agent reports in breach, with one alerting
rule per alert severity that the policy's `compliance.severity` mapping targets; the
description quotes the observed value, the limit and the evidence the agent published.
"""

from __future__ import annotations

from collections.abc import Iterator

from riskwatch.alerting.rules.common import PORTFOLIO, AlertRule, Builder, query_value
from riskwatch.policy import Policy
from riskwatch.promql import selector

_SEVERITY_RANK: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


def _compliance(limits: Policy) -> Iterator[AlertRule]:
    mapping = limits.compliance.severity
    targets = sorted(set(mapping.values()), key=_SEVERITY_RANK.__getitem__)
    args = "$labels.agent $labels.portfolio $labels.rule"
    where = "{agent=%q,portfolio=%q,rule=%q}"
    observed = query_value(
        f"compliance_rule_value{where}", args, fmt='printf "%.6g"', missing="unknown"
    )
    limit = query_value(
        f"compliance_rule_limit{where}", args, fmt='printf "%.6g"', missing="unknown"
    )
    evidence = (
        f"{{{{ range $i, $e := printf `compliance_violation_evidence_info{where}` {args} "
        '| query | sortByLabel "subject" }}{{ if $i }}, {{ end }}{{ $e.Labels.subject }}'
        "{{ else }}none published{{ end }}"
    )
    for i, target in enumerate(targets):
        sources = sorted(s for s, t in mapping.items() if t == target)
        if i == 0:
            # The most severe alert also takes any rule severity the mapping lacks.
            lower = sorted(s for s, t in mapping.items() if t != target)
            matcher = f'severity!~"{"|".join(lower)}"' if lower else ""
        else:
            matcher = f'severity=~"{"|".join(sources)}"'
        series = selector("compliance_violation_active", matcher)
        yield AlertRule(
            name="ComplianceViolation",
            file="compliance",
            group="riskwatch-compliance",
            expr=f"max by (agent, portfolio, rule, severity) ({series}) > 0",
            severity=target,
            team="compliance",
            from_agent=True,
            # The agents' own rule severity (HIGH, ...) is kept: the alert's severity
            # label replaces the series' one, while templates still see the series'.
            labels={"rule_severity": "{{ $labels.severity }}"},
            summary="A portfolio is in breach of a compliance rule.",
            description=(
                f"Portfolio {PORTFOLIO} is in breach of compliance rule {{{{ $labels.rule }}}} "
                f"({{{{ $labels.severity }}}} severity): observed {observed} against a limit "
                f"of {limit}. Evidence: {evidence}."
            ),
            value=observed,
            limit=limit,
            annotations={"evidence": evidence},
        )


BUILDERS: tuple[Builder, ...] = (_compliance,)
"""The compliance alerts, in the order compliance.rules.yml lists them."""
