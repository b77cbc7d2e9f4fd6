"""Drawing the panels that show a latest value: stats, gauges and bar gauges."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from riskwatch.dashboards.preview.data import Series
from riskwatch.dashboards.preview.layout import blank, fit, no_data
from riskwatch.dashboards.preview.theme import BORDER, MUTED, TEXT, FieldStyle, color


def draw_stat(ax: Axes, panel: Mapping[str, Any], series: list[Series], style: FieldStyle,
              overrides: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """Big numbers in tiles, coloured by value or background, with optional sparklines."""
    blank(ax)
    if not series:
        no_data(ax)
        return
    options = panel.get("options") or {}
    background = options.get("colorMode") in ("background", "background_solid")
    sparkline = options.get("graphMode") == "area"
    vertical = options.get("orientation") == "vertical"
    n = len(series)
    bbox = ax.get_window_extent()
    aspect = bbox.width / max(bbox.height, 1)
    if vertical:
        cols = 1 if n <= 4 or aspect < 1.5 else min(n, max(1, round(aspect)))
    else:
        cols = n if aspect >= n / 2 else max(1, math.ceil(math.sqrt(n * aspect / 1.6)))
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    w, h = 1 / cols, 1 / rows
    value_size = max(9.0, min(28.0, bbox.height / rows * 0.32, bbox.width / cols / 5.5))
    for i, s in enumerate(series):
        st = style.overridden(overrides, s.name)
        col, row = i % cols, i // cols
        x0, y0 = col * w, 1 - (row + 1) * h
        tint = st.color_of(s.last)
        if background:
            ax.add_patch(Rectangle((x0 + 0.004, y0 + 0.01), w - 0.008, h - 0.02,
                                   facecolor=tint, edgecolor="none", alpha=0.9))  # fmt: skip
        fg = "white" if background else tint
        show_name = n > 1
        if sparkline and len(s.values) > 1:
            xs = [x0 + w * (t - s.times[0]) / max(s.times[-1] - s.times[0], 1) for t in s.times]
            finite = [v for v in s.values if math.isfinite(v)]
            lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
            span = hi - lo or 1.0
            ys = [y0 + h * 0.05 + h * 0.3 * ((v - lo) / span) for v in s.values]
            ax.fill_between(xs, y0 + h * 0.05, ys, color=tint, alpha=0.25, linewidth=0)
            ax.plot(xs, ys, color=tint, linewidth=1.2)
        value_y = y0 + h * (0.42 if show_name else 0.5) + (h * 0.1 if sparkline else 0)
        shown = st.text_of(s.last)
        # Shrink long words (MEDIUM, BREACH) to their tile, as Grafana's auto size does.
        size = min(value_size, bbox.width / cols / max(len(shown), 1) * 0.95)
        ax.text(x0 + w / 2, value_y, shown, color=fg, fontsize=size,
                fontweight="bold", ha="center", va="center")  # fmt: skip
        if show_name:
            ax.text(x0 + w / 2, value_y + h * 0.3, fit(s.name, int(bbox.width / cols / 6.5)),
                    color=fg if background else TEXT, fontsize=max(7.0, value_size * 0.4),
                    ha="center", va="center")  # fmt: skip


def _arc_points(
    cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, points: int = 60
) -> list[tuple[float, float]]:
    """Points along an elliptic arc from angle a0 to a1 (degrees): a circle in pixels
    drawn on axes stretched by rx/ry."""
    angles = [math.radians(a0 + (a1 - a0) * k / points) for k in range(points + 1)]
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in angles]


def draw_gauge(ax: Axes, series: list[Series], style: FieldStyle,
               overrides: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """A dial per series: the threshold bands on the rim, the value arc inside."""
    blank(ax)
    if not series:
        no_data(ax)
        return
    bbox = ax.get_window_extent()
    n = len(series)
    ax.set_xlim(0, n * 1.0)
    ax.set_ylim(0, 1)
    ratio = (bbox.width / n) / bbox.height  # width of one cell over height in pixels
    for i, s in enumerate(series):
        st = style.overridden(overrides, s.name)
        lo = st.minimum or 0.0
        hi = st.maximum if st.maximum is not None else max(1.0, s.last)
        cx, cy = i + 0.5, 0.42
        radius = min(0.42, 0.42 * ratio)
        rx = radius / ratio  # the axes are stretched: draw circles in pixel proportions

        def angle(v: float, lo: float = lo, hi: float = hi) -> float:
            share = min(max((v - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.0
            return 225 - 270 * share

        def arc(a0: float, a1: float, r: float, width: float, tint: str, cx: float = cx,
                cy: float = cy, rx: float = rx, radius: float = radius) -> None:  # fmt: skip
            outer = _arc_points(cx, cy, rx * r / radius, r, a0, a1)
            inner = _arc_points(cx, cy, rx * (r - width) / radius, r - width, a1, a0)
            xs, ys = zip(*(outer + inner), strict=True)
            ax.fill(xs, ys, color=tint, linewidth=0)

        # Threshold bands on the rim, from the base colour up.
        bounds = [(max(level, lo), name) for level, name in st.thresholds]
        for k, (level, name) in enumerate(bounds):
            upper = bounds[k + 1][0] if k + 1 < len(bounds) else hi
            if upper > level:
                arc(angle(level), angle(upper), radius, radius * 0.06, color(name))
        arc(225, -45, radius * 0.9, radius * 0.22, BORDER)
        if math.isfinite(s.last):
            arc(225, angle(s.last), radius * 0.9, radius * 0.22, st.color_of(s.last))
        ax.text(cx, cy, st.text_of(s.last), color=st.color_of(s.last), ha="center",
                va="center", fontsize=max(10.0, min(22.0, bbox.height * 0.1)),
                fontweight="bold")  # fmt: skip
        ax.text(cx, 0.04, s.name, color=TEXT, ha="center", va="bottom", fontsize=9)
        if st.thresholds[1:]:
            marks = ", ".join(st.text_of(level) for level, _ in st.thresholds[1:])
            ax.text(cx, cy - radius * 0.55, f"limits {marks}", color=MUTED, ha="center",
                    va="center", fontsize=7)  # fmt: skip


def draw_bargauge(ax: Axes, series: list[Series], style: FieldStyle,
                  overrides: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """Horizontal bars, one per series, with the value at the end."""
    blank(ax)
    if not series:
        no_data(ax)
        return
    n = len(series)
    bbox = ax.get_window_extent()
    row = 1 / n
    font = max(6.5, min(10.0, bbox.height / n * 0.45))
    finite = [s.last for s in series if math.isfinite(s.last)]
    top = style.maximum if style.maximum is not None else (max(finite) if finite else 1.0)
    for i, s in enumerate(series):
        st = style.overridden(overrides, s.name)
        hi = st.maximum if st.maximum is not None else top
        lo = st.minimum or 0.0
        y = 1 - (i + 1) * row
        share = min(max((s.last - lo) / (hi - lo), 0.0), 1.0) if hi > lo else 0.0
        ax.text(0.0, y + row / 2, fit(s.name, 26), color=TEXT, fontsize=font,
                ha="left", va="center")  # fmt: skip
        ax.add_patch(Rectangle((0.3, y + row * 0.2), 0.55, row * 0.6, facecolor=BORDER,
                               edgecolor="none"))  # fmt: skip
        if math.isfinite(s.last):
            ax.add_patch(Rectangle((0.3, y + row * 0.2), 0.55 * share, row * 0.6,
                                   facecolor=st.color_of(s.last), edgecolor="none"))  # fmt: skip
        ax.text(1.0, y + row / 2, st.text_of(s.last), color=st.color_of(s.last),
                fontsize=font, ha="right", va="center", fontweight="bold")  # fmt: skip
