"""Small PromQL and Go-template helpers shared by the rule generator and its checks,
and the loader of the rule files that hold the PromQL.

Nothing here parses PromQL in full: the generator builds expressions from known
pieces, and `metric_names` only needs to find the metric names in them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# Words that look like identifiers in PromQL but are not metric names: operators,
# modifiers and aggregations (`max by (x) (...)` keeps `max` away from its bracket).
_KEYWORDS = frozenset(
    {
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:])\s*(\()?")
_QUERY_FORMAT = re.compile(r'printf\s+(`[^`]*`|"(?:[^"\\]|\\.)*")')


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, e.g. {'up'} for `up{job="x"} == 0`."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("", text)
    text = _BRACKETS.sub("", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def template_queries(template: str) -> list[str]:
    """The PromQL format strings a Go template passes to `query` via printf."""
    found = []
    for match in _QUERY_FORMAT.finditer(template):
        literal = match.group(1)
        body = literal[1:-1]
        if literal.startswith('"'):
            body = body.replace('\\"', '"').replace("\\\\", "\\")
        found.append(body)
    return found


def matcher(label: str, op: str, value: str) -> str:
    """A label matcher such as `portfolio!~"fund-b"`."""
    return f'{label}{op}"{value}"'


def selector(metric: str, *matchers: str) -> str:
    """`metric{m1,m2}` with the non-empty matchers, or just `metric`."""
    used = [m for m in matchers if m]
    return f"{metric}{{{','.join(used)}}}" if used else metric


def number(value: float) -> str:
    """A threshold as PromQL writes it: 0.1, 0.025, 300."""
    return f"{value:g}"


def percent(value: float) -> str:
    """A fraction as a percentage for people: 0.025 -> 2.5%."""
    return f"{round(value * 100, 6):g}%"


def human_duration(seconds: float) -> str:
    """Seconds as Prometheus writes durations, for people: 300 -> 5m, 90 -> 1m30s,
    0.3 -> 300ms."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def words(items: Iterable[str]) -> str:
    """An English list: 'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def load_rules(rule_files: list[Path]) -> list[dict[str, Any]]:
    """Every rule in the files, each with a `_file` key naming its file."""
    rules = []
    for path in rule_files:
        data = yaml.safe_load(path.read_text()) or {}
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                rules.append({**rule, "_file": path.name})
    return rules
