"""The queries inside dashboard JSON, and running them against Prometheus as Grafana would.

Used by the preview (which draws the panels from these results), by the consistency
check (which reads the metric names out of them) and by the tests (which run every
one against the real Prometheus). Everything here reads the generated JSON, not the
builders, so it checks exactly what Grafana loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from riskwatch.prometheus_api import Prometheus, PrometheusError

# Grafana's built-in interval variables, replaced by fixed values outside Grafana.
# $__rate_interval is at least four scrape intervals (the Pushgateway is scraped every
# 5 s, the slowest target every 15 s): one minute always holds two samples or more.
BUILTIN_INTERVALS: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "1h",
}

_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Target:
    """One query of one panel (or an annotation or variable query) of a dashboard."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False
    panel_id: int = 0

    @property
    def where(self) -> str:
        """`dashboard / panel / refId`, to name the query in a message."""
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, including those inside collapsed rows."""
    for panel in board.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def targets(board: Mapping[str, Any]) -> Iterator[Target]:
    """Every panel query of a dashboard, in layout order."""
    title = str(board.get("title", board.get("uid", "?")))
    for panel in panels(board):
        for t in panel.get("targets") or []:
            if t.get("expr"):
                yield Target(
                    title,
                    str(panel.get("title", "")),
                    str(t.get("refId", "")),
                    str(t["expr"]),
                    str(t.get("legendFormat") or ""),
                    bool(t.get("instant")),
                    t.get("format") == "table",
                    int(panel.get("id") or 0),
                )


def annotation_targets(board: Mapping[str, Any]) -> Iterator[Target]:
    """The Prometheus expressions of a dashboard's annotations."""
    title = str(board.get("title", "?"))
    for annotation in (board.get("annotations") or {}).get("list") or []:
        if annotation.get("expr"):
            yield Target(title, f"annotation {annotation.get('name', '')}", "", annotation["expr"])


def query_variables(board: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dashboard's query variables, in order (later ones may use earlier ones)."""
    found = []
    for var in (board.get("templating") or {}).get("list") or []:
        if var.get("type") == "query":
            found.append(var)
    return found


def label_values_query(query: str) -> tuple[str, str]:
    """(series selector, label) of a `label_values(selector, label)` variable query."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"variable query {query!r} is not label_values(selector, label)")
    return (match.group(1) or "").strip(), match.group(2)


def _regex_value(values: Sequence[str]) -> str:
    # Grafana's formatting of a multi-value variable inside a Prometheus regex matcher:
    # each value regex-escaped, joined by |, in parentheses when there are several.
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(
    expr: str,
    variables: Mapping[str, Sequence[str]],
    intervals: Mapping[str, str] = BUILTIN_INTERVALS,
) -> str:
    """`expr` with dashboard variables and Grafana's interval variables filled in.

    A variable that is not given raises KeyError: a query that names an unknown
    variable would reach Prometheus as a literal `$name` and fail, so it is a bug.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in intervals:
            return intervals[name]
        if name not in variables:
            raise KeyError(f"{expr!r} uses ${name}, which the dashboard does not define")
        return _regex_value(variables[name])

    return _VARIABLE.sub(replace, expr)


def resolve_variables(
    board: Mapping[str, Any], prometheus: Prometheus, chosen: Mapping[str, Sequence[str]] = {}
) -> dict[str, list[str]]:
    """Each query variable's values as Grafana lists them: "All" unless `chosen` says
    otherwise. Later variables see the values chosen for earlier ones."""
    values: dict[str, list[str]] = {}
    for var in query_variables(board):
        name = str(var["name"])
        query = var["query"] if isinstance(var["query"], str) else var["query"].get("query", "")
        selector, label = label_values_query(substitute(str(query), values))
        listed = prometheus.label_values(selector, label)
        values[name] = list(chosen.get(name, listed))
    return values


def legend(template: str, labels: Mapping[str, str]) -> str:
    """A series' name from a legend format such as `{{portfolio}} · {{model}}`."""
    if not template or template == "__auto":
        shown = {k: v for k, v in labels.items() if k != "__name__"}
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
        return f"{labels.get('__name__', '')}{{{inner}}}" if shown else labels.get("__name__", "")
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip()


def verify(
    boards: Mapping[str, Mapping[str, Any]],
    prometheus: Prometheus,
    chosen: Mapping[str, Sequence[str]] | None = None,
    intervals: Mapping[str, str] = BUILTIN_INTERVALS,
) -> list[str]:
    """Run every panel query as Grafana would; one line per query that failed or came
    back empty. Annotation queries must parse but may be empty: no alert firing is a
    valid state, an empty panel is not."""
    found = []
    for board in boards.values():
        variables = resolve_variables(board, prometheus, chosen or {})
        for name, values in variables.items():
            if not values:
                found.append(f"{board.get('title')} / variable {name}: no values")
        checked = [(t, True) for t in targets(board)]
        checked += [(t, False) for t in annotation_targets(board)]
        for target, must_have_data in checked:
            try:
                expr = substitute(target.expr, variables, intervals)
                result = prometheus.instant(expr)
            except (KeyError, PrometheusError) as exc:
                found.append(f"{target.where}: {exc}")
                continue
            if must_have_data and not result:
                found.append(f"{target.where}: no data for {expr}")
    return found
