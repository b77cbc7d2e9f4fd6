"""Where a preview's parts go: Grafana's 24-column grid as figure fractions, the page
header, each panel's frame and title, and the margins its content leaves for axes
and legends.

A panel sits at its gridPos as in Grafana: a column is 70 px, a row unit 30 px plus
an 8 px gap, under a header with the dashboard's title, time and variables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from riskwatch.dashboards.preview.data import Window
from riskwatch.dashboards.preview.theme import BORDER, MUTED, PANEL, TEXT

# Grafana's grid: 24 columns; a row unit is 30 px plus an 8 px gap.
GRID_COLUMNS = 24
COLUMN_PX = 70
ROW_PX = 38
DPI = 100
HEADER_PX = 70
LEGEND_MAX = 12

Box = tuple[float, float, float, float]
"""x, y, width and height as fractions of the figure, from its bottom left."""


def page_px(panels: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """The page's width and height in pixels: the grid's columns, its rows and the header."""
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    return GRID_COLUMNS * COLUMN_PX, HEADER_PX + rows * ROW_PX


def grid_box(pos: Mapping[str, Any], height_px: float) -> Box:
    """The figure fractions a panel's gridPos covers on a page `height_px` tall."""
    x = pos["x"] / GRID_COLUMNS
    w = pos["w"] / GRID_COLUMNS
    h = pos["h"] * ROW_PX / height_px
    y = 1 - (HEADER_PX + (pos["y"] + pos["h"]) * ROW_PX) / height_px
    return x, y, w, h


def panel_box(pos: Mapping[str, Any], height_px: float) -> Box:
    """The panel's frame: its grid box less the gap between panels."""
    x, y, w, h = grid_box(pos, height_px)
    return x + 0.002, y + 3 / height_px, w - 0.004, h - 6 / height_px


def legend_columns(grid_width: int) -> int:
    """How many legend entries fit side by side under a panel `grid_width` columns wide."""
    return max(1, int(grid_width * COLUMN_PX / 170))


def margins(kind: object, series: int, grid_width: int) -> tuple[float, float]:
    """The pixels a panel's content leaves on its left and at its bottom for axes and legend."""
    if kind == "timeseries":
        # Room for the y axis labels, the time axis and the legend rows under it.
        shown = min(series, LEGEND_MAX)
        return 62, 18 + 13 * math.ceil(shown / legend_columns(grid_width))
    if kind == "state-timeline":
        return 130, 18
    return 0.0, 0.0


def frame(
    fig: Figure,
    box: tuple[float, float, float, float],
    title: str,
    *,
    left_px: float = 0,
    bottom_px: float = 0,
) -> Axes:
    """The panel's frame and title; returns an axes for its content, inset by margins
    (in pixels) where axis labels and a legend go."""
    x, y, w, h = box
    frame = fig.add_axes((x, y, w, h))
    frame.set_axis_off()
    frame.add_patch(
        FancyBboxPatch(
            (0.004, 0.01), 0.992, 0.98, boxstyle="round,pad=0,rounding_size=0.01",
            facecolor=PANEL, edgecolor=BORDER, linewidth=0.8, transform=frame.transAxes,
        )
    )  # fmt: skip
    fig_h = fig.get_figheight() * DPI
    title_px = 26
    frame.text(0.012, 1 - 8 / (h * fig_h), title, color=TEXT, fontsize=10, fontweight="bold",
               va="top", ha="left", transform=frame.transAxes)  # fmt: skip
    fig_w = fig.get_figwidth() * DPI
    pad_x = 0.01 * w + left_px / fig_w
    pad_y = (6 + bottom_px) / fig_h
    content = fig.add_axes(
        (x + pad_x, y + pad_y, w - pad_x - 0.01 * w, h - pad_y - title_px / fig_h)
    )
    content.set_facecolor(PANEL)
    return content


def row_title(fig: Figure, box: Box, title: str) -> None:
    """A row panel: its title across the grid, no frame."""
    ax = fig.add_axes(box)
    blank(ax)
    ax.text(0.004, 0.35, title, color=TEXT, fontsize=12.5, fontweight="bold",
            va="center")  # fmt: skip


def header(fig: Figure, board: Mapping[str, Any], variables: Mapping[str, Sequence[str]],
            window: Window, height_px: float) -> None:  # fmt: skip
    """The page's title, the moment and range shown, and the variables chosen."""
    top = 1 - 14 / height_px
    fig.text(0.008, top, str(board.get("title", "")), color=TEXT, fontsize=16,
             fontweight="bold", va="top")  # fmt: skip
    chosen = "   ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in variables.items())
    when = datetime.fromtimestamp(window.end, UTC).strftime("%Y-%m-%d %H:%M UTC")
    hours = window.seconds / 3600
    fig.text(0.008, top - 30 / height_px,
             f"Preview from Prometheus at {when}, last {hours:g} h   {chosen}",
             color=MUTED, fontsize=9, va="top")  # fmt: skip


def blank(ax: Axes) -> None:
    """An axes for free drawing in 0-1 coordinates, no axis lines."""
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def no_data(ax: Axes) -> None:
    """Grafana's "No data" in the middle of an empty panel."""
    blank(ax)
    ax.text(0.5, 0.5, "No data", color=MUTED, ha="center", va="center", fontsize=12)


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"
