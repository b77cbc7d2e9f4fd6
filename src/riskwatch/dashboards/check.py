"""Dashboards against the metrics catalog and the alert rules.

Two promises, both checked by `riskwatch dashboards check` and the tests:

- every metric a panel, annotation, variable or rule reads is declared in
  `riskwatch.catalog`, is a recording rule of `alerts/rules/`, or is a built-in of
  Prometheus, Alertmanager or the Pushgateway;
- every catalog metric is read by a panel or an alert, or is marked `raw_only`:
  nothing is published that nobody looks at without saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from riskwatch import catalog
from riskwatch.catalog import BUILTIN_METRICS
from riskwatch.dashboards.queries import (
    annotation_targets,
    label_values_query,
    query_variables,
    targets,
)
from riskwatch.promql import load_rules, metric_names, template_queries

RULES_GLOB = "alerts/rules/*.yml"

# Series Prometheus makes itself (ALERTS) and the families of the components'
# own metrics, which riskwatch does not declare: they are the components' to name.
BUILTIN_NAMES = frozenset({*BUILTIN_METRICS, "ALERTS", "ALERTS_FOR_STATE"})
BUILTIN_PREFIXES = ("prometheus_", "alertmanager_", "pushgateway_")

# A histogram is declared once and read through its series' suffixes.
_HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def rule_files(project_dir: Path) -> list[Path]:
    """The rule files Prometheus loads, as prometheus.yml names them."""
    return sorted(project_dir.glob(RULES_GLOB))


def _declared(name: str) -> str | None:
    """The catalog name `name` refers to (histogram series map to their histogram)."""
    if name in catalog.BY_NAME:
        return name
    base = _HISTOGRAM_SUFFIX.sub("", name)
    if base != name and base in catalog.BY_NAME and catalog.BY_NAME[base].type == "histogram":
        return base
    return None


def dashboard_metrics(boards: Mapping[str, Mapping[str, Any]]) -> dict[str, set[str]]:
    """Metric name -> where it is read (`dashboard / panel`), over every dashboard."""
    used: dict[str, set[str]] = {}
    for board in boards.values():
        exprs = [(t.where, t.expr) for t in targets(board)]
        exprs += [(t.where, t.expr) for t in annotation_targets(board)]
        for var in query_variables(board):
            selector, _label = label_values_query(str(var["query"]))
            exprs.append((f"{board.get('title')} / variable {var['name']}", selector))
        for where, expr in exprs:
            for name in metric_names(expr):
                used.setdefault(name, set()).add(where)
    return used


def rule_metrics(files: Iterable[Path]) -> tuple[dict[str, set[str]], set[str]]:
    """(metric name -> rules reading it, names recorded by recording rules)."""
    used: dict[str, set[str]] = {}
    recorded: set[str] = set()
    for rule in load_rules(list(files)):
        name = rule.get("alert") or rule.get("record")
        if "record" in rule:
            recorded.add(rule["record"])
        queries = [rule["expr"]]
        for text in (rule.get("annotations") or {}).values():
            queries += template_queries(text)
        for query in queries:
            for metric in metric_names(query):
                used.setdefault(metric, set()).add(f"{rule['_file']}: {name}")
    return used, recorded


def _known(name: str, recorded: set[str]) -> bool:
    return (
        _declared(name) is not None
        or name in recorded
        or name in BUILTIN_NAMES
        or name.startswith(BUILTIN_PREFIXES)
    )


def problems(boards: Mapping[str, Mapping[str, Any]], files: Iterable[Path]) -> list[str]:
    """One line per broken promise; empty when dashboards, rules and catalog agree."""
    panel_use = dashboard_metrics(boards)
    rule_use, recorded = rule_metrics(files)
    found = []
    for name, places in sorted(panel_use.items()):
        if not _known(name, recorded):
            found.append(f"{sorted(places)[0]}: metric {name!r} is not in riskwatch.catalog")
    for name, places in sorted(rule_use.items()):
        if not _known(name, recorded):
            found.append(f"{sorted(places)[0]}: metric {name!r} is not in riskwatch.catalog")
    # What the recording rules read counts as read by whatever reads the recording.
    readers: dict[str, set[str]] = {}
    for name, places in (*panel_use.items(), *rule_use.items()):
        declared = _declared(name)
        if declared is not None:
            readers.setdefault(declared, set()).update(places)
    for spec in catalog.METRICS:
        if spec.name in readers and spec.raw_only:
            found.append(
                f"{spec.name} is marked raw_only in riskwatch.catalog but "
                f"{sorted(readers[spec.name])[0]} reads it"
            )
        elif spec.name not in readers and not spec.raw_only:
            found.append(
                f"{spec.name} is read by no panel and no alert: use it, or mark it "
                "raw_only in riskwatch.catalog"
            )
    return found
