"""bench_scale's verdicts: the budgets, which figures break them, the component
nearest its budget at each N, and the table it prints."""

from __future__ import annotations

from typing import Any

# The budgets a figure must stay within; the first N that breaks one is the knee.
# Push->Slack: the policy's latency budget (policy.yaml, `for:`); the others keep a
# component within half of what its cycle allows, so a spike does not miss a cycle.
BUDGETS = {
    "push_p95_s": 1.0,
    "slack_p95_s": 15.0,
    "pushgateway_cpu": 1.0,
    "prometheus_cpu": 1.0,
    "rule_eval_max_s": 2.5,
    "scrape_max_s": 2.5,
    "late_pushes": 0.05,
}


def collapsed(row: dict[str, Any]) -> bool:
    """Most pushes of the level failed: a larger N only deepens the backlog."""
    return bool(row.get("pushes")) and row["push_failures"] > row["pushes"] / 2


def over_budget(row: dict[str, Any]) -> list[str]:
    over = [k for k, limit in BUDGETS.items() if isinstance(row.get(k), float) and row[k] > limit]
    if collapsed(row) or row.get("push_failures"):
        over.append("push_failures")
    return over


# Which component a figure over budget points at.
LIMITS = {
    "push_p95_s": "Pushgateway (push latency)",
    "push_failures": "Pushgateway (pushes failing)",
    "late_pushes": "load generator or Pushgateway (pushes late)",
    "pushgateway_cpu": "Pushgateway (CPU)",
    "prometheus_cpu": "Prometheus (CPU)",
    "rule_eval_max_s": "Prometheus (rule evaluation)",
    "scrape_max_s": "the scrape of the agents' data",
    "slack_p95_s": "the alert path (push -> Slack)",
}


def nearest(row: dict[str, Any]) -> tuple[str, float]:
    """The component whose figure is the largest share of its budget: the one that
    limits at this N. The alert path's latency is left out: ~8 s of it is the fixed
    scrape, evaluation and group_wait delays, and it degrades only through the others."""
    shares = {
        k: row[k] / limit
        for k, limit in BUDGETS.items()
        if k != "slack_p95_s" and isinstance(row.get(k), float) and row[k] == row[k]
    }
    if collapsed(row):
        return LIMITS["push_failures"], 1.0
    key = max(shares, key=lambda k: shares[k])
    return LIMITS[key], shares[key]


COLUMNS = (
    "agents",
    "series",
    "pushes",
    "push_failures",
    "push_p50_s",
    "push_p95_s",
    "late_pushes",
    "pushgateway_cpu",
    "pushgateway_rss_mb",
    "prometheus_cpu",
    "prometheus_rss_mb",
    "rule_eval_max_s",
    "scrape_max_s",
    "slack_p50_s",
    "slack_p95_s",
    "breaches_delivered",
    "loader_cpu",
)


def cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column in ("series", "pushgateway_rss_mb", "prometheus_rss_mb") and isinstance(value, float):
        return f"{value:,.0f}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    """A Markdown table, a star on each figure over its budget, and the knee."""
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        if row.get("not_run"):
            print(f"| {row['agents']} | not run: {row['not_run']} |")
            continue
        over = over_budget(row)
        cells = [cell(c, row.get(c)) + ("*" if c in over else "") for c in COLUMNS]
        print("| " + " | ".join(cells) + " |")
    print("* over budget:", ", ".join(f"{k} <= {v}" for k, v in BUDGETS.items()), "no failures")
    for row in rows:
        if row.get("not_run"):
            continue
        if over_budget(row):
            limits = sorted({LIMITS.get(k, k) for k in over_budget(row)})
            print(f"N = {row['agents']}: over budget: {'; '.join(limits)}")
        else:
            component, share = nearest(row)
            print(f"N = {row['agents']}: nearest its budget: {component}, {share:.0%}")
    knee = next((r for r in rows if not r.get("not_run") and over_budget(r)), None)
    measured = [r for r in rows if not r.get("not_run")]
    if knee is None:
        print(f"knee: none up to N = {measured[-1]['agents']}")
    else:
        print(f"knee: N = {knee['agents']}")
