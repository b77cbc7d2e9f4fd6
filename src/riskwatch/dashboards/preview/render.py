"""The preview's entry points: a dashboard to PNG (`render`), every dashboard at one
moment (`render_all`), and the drawing of each panel by its type.

Drawn on a `matplotlib.figure.Figure` with its own Agg canvas, never pyplot: no global
figure state and no backend switch, so a preview renders on a server or in CI without
a display and leaves the rest of the process alone.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from riskwatch.dashboards.preview.charts import draw_pie, draw_state_timeline, draw_timeseries
from riskwatch.dashboards.preview.data import Series, Window, fetch, window_of
from riskwatch.dashboards.preview.layout import (
    DPI,
    blank,
    frame,
    grid_box,
    header,
    legend_columns,
    margins,
    page_px,
    panel_box,
    row_title,
)
from riskwatch.dashboards.preview.tables import draw_table, draw_text
from riskwatch.dashboards.preview.theme import MUTED, PAGE, panel_style
from riskwatch.dashboards.preview.values import draw_bargauge, draw_gauge, draw_stat
from riskwatch.dashboards.queries import Target, resolve_variables, targets
from riskwatch.prometheus_api import Prometheus


def render(
    board: Mapping[str, Any],
    prometheus: Prometheus,
    out: Path,
    *,
    window: Window,
    chosen: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Draw `board` from `prometheus` into the PNG `out`; returns its path."""
    variables = resolve_variables(board, prometheus, chosen or {})
    panels = list(board.get("panels") or [])
    width_px, height_px = page_px(panels)
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor=PAGE)
    FigureCanvasAgg(fig)
    header(fig, board, variables, window, height_px)
    by_panel: dict[int, list[Target]] = {}
    for target in targets(board):
        by_panel.setdefault(target.panel_id, []).append(target)
    for panel in panels:
        _draw_panel(fig, panel, by_panel.get(int(panel.get("id") or 0), []), prometheus,
                    variables, window, height_px)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, facecolor=PAGE)
    return out


def _draw_panel(fig: Figure, panel: Mapping[str, Any], panel_targets: list[Target],
                prometheus: Prometheus, variables: Mapping[str, Sequence[str]], window: Window,
                height_px: float) -> None:  # fmt: skip
    pos = panel["gridPos"]
    kind = panel.get("type")
    title = str(panel.get("title", ""))
    if kind == "row":
        row_title(fig, grid_box(pos, height_px), title)
        return
    style, overrides = panel_style(panel)
    ranged = kind in ("timeseries", "state-timeline")
    series: list[Series] = []
    for target in panel_targets:
        series += fetch(
            prometheus, target, variables, window, as_range=ranged or not target.instant
        )
    left, bottom = margins(kind, len(series), pos["w"])
    ax = frame(fig, panel_box(pos, height_px), title, left_px=left, bottom_px=bottom)
    if kind == "stat":
        draw_stat(ax, panel, series, style, overrides)
    elif kind == "gauge":
        draw_gauge(ax, series, style, overrides)
    elif kind == "bargauge":
        draw_bargauge(ax, series, style, overrides)
    elif kind == "timeseries":
        draw_timeseries(ax, series, style, panel, legend_columns(pos["w"]))
    elif kind == "state-timeline":
        draw_state_timeline(ax, series, style)
    elif kind == "piechart":
        draw_pie(ax, series, style)
    elif kind == "table":
        draw_table(ax, panel, series, style, overrides)
    elif kind == "text":
        draw_text(ax, panel)
    else:
        blank(ax)
        ax.text(0.5, 0.5, f"({kind} panel)", color=MUTED, ha="center", va="center")


def render_all(
    boards: Mapping[str, Mapping[str, Any]],
    prometheus: Prometheus,
    out_dir: Path,
    *,
    window_seconds: float | None = None,
) -> list[Path]:
    """A PNG per dashboard, `<name>.png` in `out_dir`, all at the same moment."""
    end = time.time()
    written = []
    for name, board in boards.items():
        window = window_of(board, end)
        if window_seconds is not None:
            window = Window(end, window_seconds)
        written.append(render(board, prometheus, out_dir / f"{name}.png", window=window))
    return written
