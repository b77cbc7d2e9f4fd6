"""Drawing the panels over time or in shares: time series, state timelines and pies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from riskwatch.dashboards.preview.data import Series
from riskwatch.dashboards.preview.layout import LEGEND_MAX, no_data
from riskwatch.dashboards.preview.theme import (
    BORDER,
    MUTED,
    PALETTE,
    PANEL,
    TEXT,
    FieldStyle,
    color,
    format_value,
)


def _axis_style(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=7, length=0)
    ax.grid(True, color=BORDER, linewidth=0.6)


def draw_timeseries(ax: Axes, series: list[Series], style: FieldStyle,
                    panel: Mapping[str, Any], columns: int) -> None:  # fmt: skip
    """Lines over time, the y axis in the panel's unit, limits as dashed lines."""
    _axis_style(ax)
    if not series:
        no_data(ax)
        return
    custom = (panel.get("fieldConfig") or {}).get("defaults", {}).get("custom", {})
    stepped = custom.get("lineInterpolation") == "stepAfter"
    mode = (custom.get("thresholdsStyle") or {}).get("mode", "off")
    for i, s in enumerate(series):
        tint = PALETTE[i % len(PALETTE)]
        ax.plot(s.times, s.values, color=tint, linewidth=1.4, label=s.name,
                drawstyle="steps-post" if stepped else "default")  # fmt: skip
    if mode != "off":
        for level, name in style.thresholds[1:]:
            ax.axhline(level, color=color(name), linestyle="--", linewidth=1.0, alpha=0.9)
    if style.minimum is not None:
        ax.set_ylim(bottom=style.minimum)
    if style.maximum is not None:
        ax.set_ylim(top=style.maximum)
    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda v, _pos: format_value(v, style.unit, style.decimals))
    )
    _time_axis(ax)
    handles, labels = ax.get_legend_handles_labels()
    if len(handles) > LEGEND_MAX:  # the rest would not fit under the panel
        handles, labels = handles[:LEGEND_MAX], labels[:LEGEND_MAX]
        labels[-1] = f"… {len(series) - LEGEND_MAX + 1} more"
    height = max(ax.get_window_extent().height, 1)
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(0, -16 / height),
              ncol=columns, fontsize=7, frameon=False, labelcolor=TEXT, handlelength=1.2,
              borderaxespad=0, columnspacing=1.0)  # fmt: skip


def _time_axis(ax: Axes) -> None:
    """Epoch seconds on the x axis, labelled as UTC clock times."""
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _pos: datetime.fromtimestamp(v, UTC).strftime("%H:%M"))
    )


def draw_state_timeline(ax: Axes, series: list[Series], style: FieldStyle) -> None:
    """One band per series, each segment in the colour of its state."""
    _axis_style(ax)
    ax.grid(False)
    if not series:
        no_data(ax)
        return
    for i, s in enumerate(series):
        y = len(series) - 1 - i
        for k, (t, v) in enumerate(zip(s.times, s.values, strict=True)):
            # A sample holds until the next one; the last one for one step.
            end = s.times[k + 1] if k + 1 < len(s.times) else t + (t - s.times[k - 1] if k else 60)
            ax.add_patch(Rectangle((t, y - 0.4), end - t, 0.8,
                                   facecolor=style.color_of(v), edgecolor="none"))  # fmt: skip
    first = min(s.times[0] for s in series if s.times)
    last = max(s.times[-1] for s in series if s.times)
    ax.set_xlim(first, last)
    ax.set_ylim(-0.6, len(series) - 0.4)
    ax.set_yticks(range(len(series)), [s.name for s in reversed(series)], fontsize=7)
    _time_axis(ax)
    ax.tick_params(axis="y", colors=TEXT)


def draw_pie(ax: Axes, series: list[Series], style: FieldStyle) -> None:
    """A donut, with each slice's value and share in the legend."""
    ax.set_axis_off()
    shown = [s for s in series if math.isfinite(s.last) and s.last > 0]
    if not shown:
        no_data(ax)
        return
    shown.sort(key=lambda s: s.last, reverse=True)
    total = sum(s.last for s in shown)
    tints = [PALETTE[i % len(PALETTE)] for i in range(len(shown))]
    donut = ax.inset_axes((0.0, 0.0, 0.5, 1.0))
    wedges, _ = donut.pie(
        [s.last for s in shown],
        colors=tints,
        startangle=90,
        counterclock=False,
        wedgeprops={"width": 0.38, "edgecolor": PANEL},
    )
    donut.set_aspect("equal")
    labels = [f"{s.name}  {style.text_of(s.last)}  {s.last / total:.0%}" for s in shown]
    ax.legend(wedges, labels, loc="center left", bbox_to_anchor=(0.52, 0.5), fontsize=7.5,
              frameon=False, labelcolor=TEXT)  # fmt: skip
