"""Static checks of the rule files as Prometheus loads them.

promtool checks that rules parse and behave; these check our conventions: every
alert has `severity` and `team` labels, the four annotations and a runbook, every
metric it reads is declared in `riskwatch.catalog` (or is a Prometheus, Pushgateway
or Alertmanager built-in), and warning/critical pairs share an `alertgroup`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from riskwatch import catalog
from riskwatch.catalog import BUILTIN_METRICS
from riskwatch.promql import load_rules, metric_names, template_queries

RUNBOOK_DIR = "docs/runbooks"
TEAMS = frozenset({"risk", "compliance", "ops"})
SEVERITIES = frozenset({"critical", "warning", "info", "none"})
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url")


def _where(rule: dict[str, Any]) -> str:
    return f"{rule['_file']}: {rule.get('alert') or rule.get('record')}"


def problems(rule_files: list[Path], project_dir: Path) -> Iterator[str]:
    """One line per convention a rule breaks; nothing when all is well."""
    rules = load_rules(rule_files)
    recorded = {r["record"] for r in rules if "record" in r}
    known = set(catalog.BY_NAME) | BUILTIN_METRICS | recorded
    pairs: dict[str, set[str]] = {}
    for rule in rules:
        queries = [rule["expr"]]
        if "alert" in rule:
            yield from _alert_problems(rule, project_dir)
            for text in rule.get("annotations", {}).values():
                queries += template_queries(text)
            labels = rule.get("labels", {})
            if "alertgroup" in labels:
                pairs.setdefault(labels["alertgroup"], set()).add(labels.get("severity", ""))
        for query in queries:
            for name in sorted(metric_names(query) - known):
                yield f"{_where(rule)}: metric {name!r} is not in riskwatch.catalog"
    for group, severities in sorted(pairs.items()):
        if severities != {"warning", "critical"}:
            yield (
                f"alertgroup {group}: pairs one warning with one critical alert, "
                f"found {sorted(severities)}"
            )


def _alert_problems(rule: dict[str, Any], project_dir: Path) -> Iterator[str]:
    labels = rule.get("labels", {})
    annotations = rule.get("annotations", {})
    if labels.get("team") not in TEAMS:
        yield f"{_where(rule)}: label team must be one of {sorted(TEAMS)}"
    if labels.get("severity") not in SEVERITIES:
        yield f"{_where(rule)}: label severity must be one of {sorted(SEVERITIES)}"
    for key in REQUIRED_ANNOTATIONS:
        if not annotations.get(key):
            yield f"{_where(rule)}: annotation {key} is missing"
    runbook = project_dir / RUNBOOK_DIR / f"{rule['alert']}.md"
    if not runbook.is_file():
        yield f"{_where(rule)}: runbook {runbook.relative_to(project_dir)} does not exist"
    elif not annotations.get("runbook_url", "").endswith(f"/{RUNBOOK_DIR}/{rule['alert']}.md"):
        yield f"{_where(rule)}: runbook_url does not point at {RUNBOOK_DIR}/{rule['alert']}.md"
