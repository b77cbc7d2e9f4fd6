"""Render a dashboard to PNG with matplotlib, from the real Prometheus.

Grafana is not needed to see a dashboard: each panel's queries run against
Prometheus exactly as in Grafana (variables set to All, Grafana's interval
variables filled in), and the panel is drawn at its gridPos in the style of its
type: stats, gauges, bar gauges, time series, tables, pie charts, state timelines
and text. Units, decimals, thresholds and value mappings come from the panel's
JSON, so the colours in the preview are the colours in Grafana. It is a faithful
sketch, not a pixel copy: fonts, spacing and legends are simpler.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window: previews render on servers and in CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from riskwatch.dashboards.queries import (
    Target,
    legend,
    resolve_variables,
    substitute,
    targets,
)
from riskwatch.prometheus_api import Prometheus

# Grafana's dark theme.
PAGE = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
MUTED = "#8e8e9a"
COLORS: Mapping[str, str] = {
    "green": "#73bf69",
    "orange": "#ff9830",
    "red": "#f2495c",
    "blue": "#5794f2",
    "yellow": "#fade2a",
    "purple": "#b877d9",
    "text": TEXT,
    "transparent": PANEL,
}
PALETTE = (
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c",
    "#5794f2", "#b877d9", "#705da0", "#37872d", "#fade2a",
)  # fmt: skip

# Grafana's grid: 24 columns; a row unit is 30 px plus an 8 px gap.
GRID_COLUMNS = 24
COLUMN_PX = 70
ROW_PX = 38
DPI = 100
HEADER_PX = 70
MAX_POINTS = 240
LEGEND_MAX = 12


def color(name: str | None) -> str:
    """A Grafana colour name or hex code as a hex code."""
    if not name:
        return TEXT
    return COLORS.get(name, name if name.startswith("#") else TEXT)


# ------------------------------------------------------------------ formatting
def _auto_decimals(value: float) -> int:
    magnitude = abs(value)
    if magnitude == 0 or not math.isfinite(magnitude):
        return 0
    # Three significant digits, as Grafana's automatic decimals give.
    return max(0, 2 - math.floor(math.log10(magnitude)))


def _scaled(value: float, decimals: int | None, units: Sequence[str]) -> str:
    step = 0
    scaled = value
    while abs(scaled) >= 1000 and step < len(units) - 1:
        scaled /= 1000
        step += 1
    places = _auto_decimals(scaled) if decimals is None else decimals
    return f"{scaled:.{places}f}{units[step]}"


def format_value(value: float, unit: str | None, decimals: int | None) -> str:
    """A value as Grafana prints it in `unit` (the units riskwatch dashboards use)."""
    if value is None or math.isnan(value):
        return "NaN"
    if value == 0 or (math.isfinite(value) and abs(value) < 5e-7):
        value = 0.0  # no "-0.0%" for a value that rounds to zero
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "currencyUSD":
        text = _scaled(abs(value), decimals, ("", "K", "M", "B", "T"))
        return f"-${text}" if value < 0 else f"${text}"
    if unit == "percentunit":
        places = decimals if decimals is not None else _auto_decimals(value * 100)
        return f"{value * 100:.{places}f}%"
    if unit == "s":
        for size, name in ((86400, "day"), (3600, "hour"), (60, "min")):
            if abs(value) >= size:
                return f"{value / size:.1f} {name}"
        places = decimals if decimals is not None else _auto_decimals(value)
        return f"{value:.{min(places, 3)}f} s"
    if unit == "short":
        return _scaled(value, decimals, ("", " K", " Mil", " Bil", " Tri"))
    if decimals is None and value == int(value):
        return f"{int(value)}"
    places = decimals if decimals is not None else min(_auto_decimals(value), 4)
    return f"{value:.{places}f}"


# ---------------------------------------------------------------- field config
@dataclass
class FieldStyle:
    """What Grafana's field config says about one series: unit, colour, text."""

    unit: str | None = None
    decimals: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    mappings: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FieldStyle:
        style = cls()
        style.apply(config)
        return style

    def apply(self, config: Mapping[str, Any]) -> None:
        """Overlay one config object (the defaults, then an override's properties)."""
        if "unit" in config:
            self.unit = config["unit"]
        if "decimals" in config:
            self.decimals = config["decimals"]
        if "min" in config:
            self.minimum = config["min"]
        if "max" in config:
            self.maximum = config["max"]
        if "thresholds" in config:
            steps = config["thresholds"].get("steps") or []
            self.thresholds = [
                (-math.inf if s.get("value") is None else float(s["value"]), s["color"])
                for s in steps
            ]
        for mapping in config.get("mappings") or []:
            for key, result in (mapping.get("options") or {}).items():
                self.mappings[str(key)] = (result.get("text", key), result.get("color"))

    def overridden(self, overrides: Sequence[Mapping[str, Any]], name: str) -> FieldStyle:
        """This style with the overrides that match a series or column called `name`."""
        style = FieldStyle(
            self.unit,
            self.decimals,
            self.minimum,
            self.maximum,
            list(self.thresholds),
            dict(self.mappings),
        )
        for override in overrides:
            matcher = override.get("matcher") or {}
            if matcher.get("id") == "byName" and matcher.get("options") == name:
                style.apply({p["id"]: p.get("value") for p in override.get("properties", [])})
        return style

    def color_of(self, value: float) -> str:
        """The colour of `value`: its value mapping's, else its threshold step's."""
        mapped = self.mappings.get(f"{value:g}")
        if mapped is not None and mapped[1]:
            return color(mapped[1])
        chosen = self.thresholds[0][1] if self.thresholds else "green"
        for level, name in self.thresholds:
            if value >= level:
                chosen = name
        return color(chosen)

    def text_of(self, value: float) -> str:
        """`value` as shown: its value mapping's text, else formatted in the unit."""
        mapped = self.mappings.get(f"{value:g}") if math.isfinite(value) else None
        if mapped is not None:
            return mapped[0]
        return format_value(value, self.unit, self.decimals)


# ---------------------------------------------------------------------- data
@dataclass
class Series:
    """One series of a panel: its display name, labels and values."""

    name: str
    labels: dict[str, str]
    times: list[float]
    values: list[float]
    ref_id: str = ""

    @property
    def last(self) -> float:
        return self.values[-1] if self.values else math.nan


@dataclass
class Window:
    """The time range a preview shows, and Grafana's interval variables for it."""

    end: float
    seconds: float

    @property
    def start(self) -> float:
        return self.end - self.seconds

    @property
    def step(self) -> float:
        # About one point per 7 px, as Grafana's maxDataPoints gives a panel, at least
        # the Pushgateway's 5 s scrape interval.
        return max(5.0, round(self.seconds / MAX_POINTS))

    @property
    def intervals(self) -> dict[str, str]:
        rate = max(60, int(self.step) + 15)  # Grafana: max(4 x scrape, step + scrape)
        return {
            "__rate_interval": f"{rate}s",
            "__interval": f"{int(self.step)}s",
            "__range": f"{int(self.seconds)}s",
        }


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def fetch(
    prometheus: Prometheus,
    target: Target,
    variables: Mapping[str, Sequence[str]],
    window: Window,
    *,
    as_range: bool,
) -> list[Series]:
    """A target's series over the window (a range query) or at its end (instant)."""
    expr = substitute(target.expr, variables, window.intervals)
    found = []
    if as_range:
        for r in prometheus.range(expr, window.start, window.end, window.step):
            values = r.get("values") or []
            found.append(
                Series(
                    legend(target.legend, r["metric"]),
                    dict(r["metric"]),
                    [float(t) for t, _ in values],
                    [_number(v) for _, v in values],
                    target.ref_id,
                )
            )
    else:
        for r in prometheus.instant(expr, at=window.end):
            t, v = r["value"]
            found.append(
                Series(
                    legend(target.legend, r["metric"]),
                    dict(r["metric"]),
                    [float(t)],
                    [_number(v)],
                    target.ref_id,
                )
            )
    return found


# ------------------------------------------------------------------- drawing
def _inner(
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


def _blank(ax: Axes) -> None:
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)


def _no_data(ax: Axes) -> None:
    _blank(ax)
    ax.text(0.5, 0.5, "No data", color=MUTED, ha="center", va="center", fontsize=12)


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def draw_stat(ax: Axes, panel: Mapping[str, Any], series: list[Series], style: FieldStyle,
              overrides: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """Big numbers in tiles, coloured by value or background, with optional sparklines."""
    _blank(ax)
    if not series:
        _no_data(ax)
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
            ax.text(x0 + w / 2, value_y + h * 0.3, _fit(s.name, int(bbox.width / cols / 6.5)),
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
    _blank(ax)
    if not series:
        _no_data(ax)
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
    _blank(ax)
    if not series:
        _no_data(ax)
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
        ax.text(0.0, y + row / 2, _fit(s.name, 26), color=TEXT, fontsize=font,
                ha="left", va="center")  # fmt: skip
        ax.add_patch(Rectangle((0.3, y + row * 0.2), 0.55, row * 0.6, facecolor=BORDER,
                               edgecolor="none"))  # fmt: skip
        if math.isfinite(s.last):
            ax.add_patch(Rectangle((0.3, y + row * 0.2), 0.55 * share, row * 0.6,
                                   facecolor=st.color_of(s.last), edgecolor="none"))  # fmt: skip
        ax.text(1.0, y + row / 2, st.text_of(s.last), color=st.color_of(s.last),
                fontsize=font, ha="right", va="center", fontweight="bold")  # fmt: skip


def _axis_style(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=7, length=0)
    ax.grid(True, color=BORDER, linewidth=0.6)


def _legend_columns(grid_width: int) -> int:
    return max(1, int(grid_width * COLUMN_PX / 170))


def draw_timeseries(ax: Axes, series: list[Series], style: FieldStyle,
                    panel: Mapping[str, Any], columns: int) -> None:  # fmt: skip
    """Lines over time, the y axis in the panel's unit, limits as dashed lines."""
    _axis_style(ax)
    if not series:
        _no_data(ax)
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
        _no_data(ax)
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
        _no_data(ax)
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
    _blank(ax)
    rows = _merge(series)
    if not rows:
        _no_data(ax)
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
        ax.text(c * width + 0.005, 1 - line / 2, _fit(header, int(bbox.width * width / 6)),
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
            ax.text(c * width + 0.005, y, _fit(text, int(bbox.width * width / 6)), color=tint,
                    fontsize=font, va="center")  # fmt: skip
    if hidden:
        ax.text(0.005, 1 - (len(rows) + 1.5) * line, f"… and {hidden + 1} more rows",
                color=MUTED, fontsize=font, va="center")  # fmt: skip


def draw_text(ax: Axes, panel: Mapping[str, Any]) -> None:
    """Markdown as plain lines; a Markdown table as aligned columns."""
    _blank(ax)
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
                ax.text(x, y, _fit(cell, int(bbox.width * w / 5.5)), color=TEXT, fontsize=7.5,
                        va="center")  # fmt: skip
                x += w
        elif raw.strip():
            ax.text(0.0, y, raw.strip(), color=MUTED, fontsize=7.5, va="center", wrap=True)
        y -= line


# ------------------------------------------------------------------ dashboard
def _panel_style(panel: Mapping[str, Any]) -> tuple[FieldStyle, list[Mapping[str, Any]]]:
    config = panel.get("fieldConfig") or {}
    return FieldStyle.from_config(config.get("defaults") or {}), list(config.get("overrides") or [])


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
    rows = max((p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels), default=1)
    width_px = GRID_COLUMNS * COLUMN_PX
    height_px = HEADER_PX + rows * ROW_PX
    fig = plt.figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor=PAGE)
    try:
        _header(fig, board, variables, window, height_px)
        by_panel: dict[int, list[Target]] = {}
        for target in targets(board):
            by_panel.setdefault(target.panel_id, []).append(target)
        for panel in panels:
            _draw_panel(fig, panel, by_panel.get(int(panel.get("id") or 0), []), prometheus,
                        variables, window, height_px)  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=DPI, facecolor=PAGE)
    finally:
        plt.close(fig)
    return out


def _header(fig: Figure, board: Mapping[str, Any], variables: Mapping[str, Sequence[str]],
            window: Window, height_px: float) -> None:  # fmt: skip
    top = 1 - 14 / height_px
    fig.text(0.008, top, str(board.get("title", "")), color=TEXT, fontsize=16,
             fontweight="bold", va="top")  # fmt: skip
    chosen = "   ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in variables.items())
    when = datetime.fromtimestamp(window.end, UTC).strftime("%Y-%m-%d %H:%M UTC")
    hours = window.seconds / 3600
    fig.text(0.008, top - 30 / height_px,
             f"Preview from Prometheus at {when}, last {hours:g} h   {chosen}",
             color=MUTED, fontsize=9, va="top")  # fmt: skip


def _draw_panel(fig: Figure, panel: Mapping[str, Any], panel_targets: list[Target],
                prometheus: Prometheus, variables: Mapping[str, Sequence[str]], window: Window,
                height_px: float) -> None:  # fmt: skip
    pos = panel["gridPos"]
    x = pos["x"] / GRID_COLUMNS
    w = pos["w"] / GRID_COLUMNS
    h = pos["h"] * ROW_PX / height_px
    y = 1 - (HEADER_PX + (pos["y"] + pos["h"]) * ROW_PX) / height_px
    kind = panel.get("type")
    if kind == "row":
        ax = fig.add_axes((x, y, w, h))
        _blank(ax)
        ax.text(0.004, 0.35, str(panel.get("title", "")), color=TEXT, fontsize=12.5,
                fontweight="bold", va="center")  # fmt: skip
        return
    style, overrides = _panel_style(panel)
    ranged = kind in ("timeseries", "state-timeline")
    series: list[Series] = []
    for target in panel_targets:
        series += fetch(
            prometheus, target, variables, window, as_range=ranged or not target.instant
        )
    left = bottom = 0.0
    if kind == "timeseries":
        # Room for the y axis labels, the time axis and the legend rows under it.
        shown = min(len(series), LEGEND_MAX)
        left, bottom = 62, 18 + 13 * math.ceil(shown / _legend_columns(pos["w"]))
    elif kind == "state-timeline":
        left, bottom = 130, 18
    ax = _inner(fig, (x + 0.002, y + 3 / height_px, w - 0.004, h - 6 / height_px),
                str(panel.get("title", "")), left_px=left, bottom_px=bottom)  # fmt: skip
    if kind == "stat":
        draw_stat(ax, panel, series, style, overrides)
    elif kind == "gauge":
        draw_gauge(ax, series, style, overrides)
    elif kind == "bargauge":
        draw_bargauge(ax, series, style, overrides)
    elif kind == "timeseries":
        draw_timeseries(ax, series, style, panel, _legend_columns(pos["w"]))
    elif kind == "state-timeline":
        draw_state_timeline(ax, series, style)
    elif kind == "piechart":
        draw_pie(ax, series, style)
    elif kind == "table":
        draw_table(ax, panel, series, style, overrides)
    elif kind == "text":
        draw_text(ax, panel)
    else:
        _blank(ax)
        ax.text(0.5, 0.5, f"({kind} panel)", color=MUTED, ha="center", va="center")


def window_of(board: Mapping[str, Any], end: float | None = None) -> Window:
    """The dashboard's default time range (`now-6h` to `now`) ending at `end`."""
    text = str((board.get("time") or {}).get("from", "now-6h"))
    match = re.fullmatch(r"now-(\d+)([smhd])", text)
    seconds = 6 * 3600.0
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return Window(end if end is not None else time.time(), seconds)


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
