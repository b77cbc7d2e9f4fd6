"""Drawing the panels of rows and words: tables (Grafana's merge and organize) and text."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from riskwatch.dashboards.preview.data import Series
from riskwatch.dashboards.preview.layout import blank, fit, no_data
from riskwatch.dashboards.preview.theme import BORDER, MUTED, TEXT, FieldStyle


def _merge(series: list[Series]) -> list[dict[str, Any]]:
    """Grafana's merge transformation: one row per label set shared by the queries."""
    by_ref: dict[str, list[Series]] = {}
    for s in series:
        by_ref.setdefault(s.ref_id, []).append(s)
    several = len(by_ref) > 1
    shared: set[str] | None = None
    for group in by_ref.values():
        keys = set().union(*(set(s.labels) - {"__name__"} for s in group))
        shared = keys if shared is None else shared & keys
    rows: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for ref, group in by_ref.items():
        for s in group:
            key = tuple(sorted((k, s.labels.get(k, "")) for k in (shared or set())))
            row = rows.setdefault(key, {})
            row.update({k: v for k, v in s.labels.items() if k != "__name__"})
            row[f"Value #{ref}" if several else "Value"] = s.last
    return list(rows.values())


def draw_table(ax: Axes, panel: Mapping[str, Any], series: list[Series], style: FieldStyle,
               overrides: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """The merged, organised table, with each column's unit and colouring."""
    blank(ax)
    rows = _merge(series)
    if not rows:
        no_data(ax)
        return
    organize: Mapping[str, Any] = {}
    for transformation in panel.get("transformations") or []:
        if transformation.get("id") == "organize":
            organize = transformation.get("options") or {}
    order = organize.get("indexByName") or {}
    names = sorted(order, key=lambda n: order[n]) or sorted({k for r in rows for k in r})
    headers = [organize.get("renameByName", {}).get(n, n) for n in names]
    for sort in (panel.get("options") or {}).get("sortBy") or []:
        if sort.get("displayName") in headers:
            column = names[headers.index(sort["displayName"])]
            rows.sort(
                key=lambda r: (r.get(column) is None, r.get(column, "")),
                reverse=bool(sort.get("desc")),
            )
            if sort.get("desc"):  # keep empty cells last either way
                rows.sort(key=lambda r: r.get(column) is None)
    bbox = ax.get_window_extent()
    capacity = max(1, int(bbox.height // 19) - 1)
    hidden = len(rows) - capacity if len(rows) > capacity else 0
    rows = rows[: capacity - 1] if hidden else rows
    styles = [style.overridden(overrides, h) for h in headers]
    width = 1 / len(names)
    line = 1 / (capacity + 1)
    font = 7.5 if len(names) > 8 else 8.5
    for c, header in enumerate(headers):
        ax.text(c * width + 0.005, 1 - line / 2, fit(header, int(bbox.width * width / 6)),
                color=TEXT, fontsize=font, fontweight="bold", va="center")  # fmt: skip
    ax.axhline(1 - line, color=BORDER, linewidth=0.8)
    for r, row in enumerate(rows):
        y = 1 - (r + 1.5) * line
        for c, name in enumerate(names):
            value = row.get(name)
            if value is None:
                continue
            st = styles[c]
            if isinstance(value, float):
                text = st.text_of(value)
                colour_cells = bool(st.mappings) or len(st.thresholds) > 1
                if colour_cells and math.isfinite(value):
                    ax.add_patch(Rectangle((c * width, y - line / 2), width, line,
                                           facecolor=st.color_of(value), edgecolor="none",
                                           alpha=0.85))  # fmt: skip
                tint = "white" if colour_cells else TEXT
            else:
                text, tint = str(value), TEXT
            ax.text(c * width + 0.005, y, fit(text, int(bbox.width * width / 6)), color=tint,
                    fontsize=font, va="center")  # fmt: skip
    if hidden:
        ax.text(0.005, 1 - (len(rows) + 1.5) * line, f"… and {hidden + 1} more rows",
                color=MUTED, fontsize=font, va="center")  # fmt: skip


def draw_text(ax: Axes, panel: Mapping[str, Any]) -> None:
    """Markdown as plain lines; a Markdown table as aligned columns."""
    blank(ax)
    content = str((panel.get("options") or {}).get("content", ""))
    lines = [ln for ln in content.splitlines() if not re.match(r"^\|?\s*-{3}", ln)]
    bbox = ax.get_window_extent()
    line = min(0.09, 16 / max(bbox.height, 1))
    y = 1 - line / 2
    for raw in lines:
        if raw.startswith("|"):
            cells = [c.strip() for c in raw.strip("|").split("|")]
            x = 0.0
            widths = (0.1, 0.5, 0.12, 0.1, 0.18)
            for k, cell in enumerate(cells):
                w = widths[k] if k < len(widths) else 0.1
                ax.text(x, y, fit(cell, int(bbox.width * w / 5.5)), color=TEXT, fontsize=7.5,
                        va="center")  # fmt: skip
                x += w
        elif raw.strip():
            ax.text(0.0, y, raw.strip(), color=MUTED, fontsize=7.5, va="center", wrap=True)
        y -= line
