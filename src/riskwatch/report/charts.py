"""The report's charts as PNG: value and P&L over the day, drawdown and tail risk
against their limits.

Drawn with matplotlib's object API (`Figure`, never pyplot): no global figure state and
no backend switch, so the agent's scheduler and a CLI run draw the same way without a
display, and nothing else in the process is affected. Red is kept
for what is past a limit; portfolios get calm colours, the firm total is black.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, Locator, MaxNLocator

from riskwatch.report import fmt
from riskwatch.report.model import FIRM, ReportData, Series

RED = "#c62828"
AMBER = "#ef8f00"
GREEN = "#2e7d32"
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
SESSION = "#f3f5f7"
VAR_COLOUR = "#1565c0"
ES_COLOUR = "#6a1b9a"
# Blues, teals and purples for portfolios: nothing that could be mistaken for red.
# matplotlib.dates is untyped; these are the three parts of it the charts use.
_date2num: Callable[[Any], Any] = mdates.date2num
_DateFormatter: Callable[..., Formatter] = mdates.DateFormatter
_HourLocator: Callable[..., Locator] = mdates.HourLocator
PALETTE = ("#1565c0", "#00897b", "#6a1b9a", "#5d7fa3", "#00acc1", "#7e57c2", "#8d6e63", "#546e7a")
DPI = 110
# A portfolio's name as a panel title or a legend entry: a longer one would run into the
# panel beside it or push the legend past the figure.
LABEL_CHARS = 24
# 880 px: the page's widest column of figures. A mail client scales it down to its
# width (600 px on a phone), so the labels are drawn large enough to survive that.
WIDTH_IN = 8.0


@dataclass(frozen=True)
class Chart:
    """One PNG of the report; `png` is None when there was nothing to draw."""

    name: str
    title: str
    caption: str
    png: bytes | None

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


def colours(data: ReportData) -> dict[str, str]:
    """One colour per portfolio, the same in every chart; the firm is black."""
    names = sorted({p.name for p in data.portfolios} | {
        s.label for group in data.series.values() for s in group if s.label != FIRM
    })  # fmt: skip
    out = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    out[FIRM] = INK
    return out


def _x(when: datetime | Sequence[float]) -> Any:
    """Matplotlib's date numbers for a datetime or for unix times."""
    if isinstance(when, datetime):
        return _date2num(when)
    # date2num counts from the instant, not the wall clock: any zone gives the same.
    return _date2num([datetime.fromtimestamp(t, UTC) for t in when])


def _new_figure(height_in: float) -> Figure:
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, facecolor="white")
    fig.set_layout_engine("constrained")
    return fig


def _x_range(data: ReportData) -> tuple[datetime, datetime]:
    """The regular session, widened to the data, so every chart shares one time axis."""
    times = [t for group in data.series.values() for s in group for t in (s.times[0], s.times[-1])]
    w = data.window
    first = datetime.fromtimestamp(min(times), w.zone) if times else w.start
    last = datetime.fromtimestamp(max(times), w.zone) if times else w.end
    if w.session is not None:
        first, last = min(first, w.session[0]), max(last, w.session[1])
    if not w.complete:  # the day is still running: show up to now
        last = max(last, w.end.astimezone(w.zone))
    pad = max(timedelta(minutes=10), (last - first) * 0.02)
    return first - pad, last + pad


def _style(ax: Axes, data: ReportData, y: Formatter, title: str, *, columns: int = 1) -> None:
    """Shared look: the market's clock on x, the regular session shaded, a light grid."""
    w = data.window
    start, end = _x_range(data)
    ax.set_xlim(_x(start), _x(end))
    if w.session is not None:
        ax.axvspan(_x(w.session[0]), _x(w.session[1]), color=SESSION, zorder=0, lw=0)
    if not w.complete:
        ax.axvline(_x(w.end.astimezone(w.zone)), color=MUTED, lw=0.8, ls=":", zorder=1)
    ax.xaxis.set_major_formatter(_DateFormatter("%H:%M", tz=w.zone))
    hours = max(1.0, (end - start).total_seconds() / 3600)
    # About nine hour labels across the page; fewer in a panel a third of its width.
    labels = {1: 9, 2: 8}.get(columns, 4)
    # A step a reader counts in: 1, 2, 3, 4 or 6 hours.
    step = next((h for h in (1, 2, 3, 4, 6) if hours / h <= labels), 12)
    ax.xaxis.set_major_locator(_HourLocator(interval=step, tz=w.zone))
    ax.yaxis.set_major_formatter(y)
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.grid(True, color=GRID, lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#b0b8c1")
    ax.tick_params(colors=MUTED, labelsize=9.5)
    ax.set_title(title, loc="left", fontsize=11, color=INK, fontweight="bold")


def _usd_axis() -> Formatter:
    return FuncFormatter(lambda value, _pos: fmt.usd_short(value))


class _PercentAxis(Formatter):
    """Fractions as percentages, with as many decimals as the tick spacing needs:
    0%, 4%, 8% on a wide axis; 1.5%, 2.0%, 2.5% on a narrow one."""

    def __init__(self) -> None:
        self.ticks: list[float] = []

    def set_locs(self, locs: Sequence[float]) -> None:
        # Called with every tick before any is formatted (Formatter.format_ticks).
        self.ticks = sorted(float(x) for x in locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        ticks = self.ticks
        step = min((b - a for a, b in pairwise(ticks)), default=0.01) * 100
        decimals = 0 if step >= 0.999 else 1 if step >= 0.0999 else 2
        return fmt.pct(x, decimals)


def _pct_axis() -> Formatter:
    return _PercentAxis()


def _plot(ax: Axes, s: Series, colour: str, lw: float = 1.6, label: str | None = None) -> None:
    # A line of one to three points is hard to see: mark the points themselves.
    marker = "o" if len(s.times) <= 3 else None
    ax.plot(_x(s.times), s.values, color=colour, lw=lw, label=label, marker=marker, ms=4)


def _plot_past(ax: Axes, s: Series, past: np.ndarray, label: str | None = None) -> bool:
    """The stretches of `s` past a limit, drawn over it in red; True if there were any."""
    if not past.any():
        return False
    values = np.where(past, np.asarray(s.values), np.nan)
    # An isolated minute past the limit has no segment to draw: give it a dot.
    marker = "o" if past.sum() <= 3 else None
    ax.plot(_x(s.times), values, color=RED, lw=2.4, zorder=4, label=label, marker=marker, ms=4)
    return True


def _label_last(ax: Axes, s: Series, text: str, colour: str) -> None:
    """The closing figure beside the line's end: what the reader looks for first."""
    ax.annotate(
        text,
        (float(_x(s.times[-1:])[0]), s.values[-1]),
        xytext=(6, 0),
        textcoords="offset points",
        va="center",
        fontsize=8.5,
        color=colour,
        fontweight="bold",
    )


def _limit_line(ax: Axes, level: float, colour: str, text: str, *, x: float = 0.005) -> None:
    """A dashed limit with its name above it, `x` along the panel (axes fraction): two
    limits close together (VaR 2%, ES 2.5%) get their names side by side."""
    ax.axhline(level, color=colour, lw=1.1, ls="--", zorder=2)
    ax.annotate(text, (x, level), xycoords=("axes fraction", "data"), xytext=(0, 3),
                textcoords="offset points", fontsize=7.5, color=colour)  # fmt: skip


def _min_span(ax: Axes, span: float) -> None:
    """Widen the y axis to at least `span` around its middle: a flat line (a P&L of $0
    all morning) must not be blown up into ticks of cents."""
    low, high = ax.get_ylim()
    if high - low < span:
        middle = (low + high) / 2
        ax.set_ylim(middle - span / 2, middle + span / 2)


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color=MUTED)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _columns(data: ReportData) -> int:
    return min(3, max(1, len(data.portfolios)))


def _small_multiples(data: ReportData, height: float) -> tuple[Figure, list[Axes]]:
    """One panel per portfolio, three to a row, sharing the y axis to compare books."""
    n = len(data.portfolios)
    cols = _columns(data)
    rows = math.ceil(n / cols)
    fig = _new_figure(height * rows + 0.3)
    grid = fig.subplots(rows, cols, squeeze=False, sharey=True)
    axes = [ax for row in grid for ax in row]
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


# ---------------------------------------------------------------------------- charts
def value_and_pnl(data: ReportData) -> Chart:
    """Top: each portfolio's value. Bottom: daily P&L per portfolio and for the firm,
    red where a portfolio's loss was past its daily loss limit."""
    title = "Portfolio value and daily P&L"
    caption = (
        f"{data.window.place} time; the shaded band is the regular session. "
        "Red: the portfolio's loss was past its daily loss limit."
    )
    values, pnl = data.series.get("value", []), data.series.get("pnl", [])
    if not values and not pnl:
        return Chart("value_pnl", title, caption, None)
    palette = colours(data)
    fig = _new_figure(5.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.2))
    for s in values:
        _plot(top, s, palette[s.label])
        _label_last(top, s, fmt.usd_short(s.values[-1]), palette[s.label])
    _style(top, data, _usd_axis(), "Value")
    biggest = max((abs(v) for s in values for v in s.values), default=0.0)
    _min_span(top, max(1_000.0, 0.02 * biggest))

    bottom.axhline(0, color="#9aa5b1", lw=0.9)
    returns = {s.label: s for s in data.series.get("daily_return", [])}
    limits = {p.name: p.limits.daily_loss for p in data.portfolios}
    flagged = False
    for s in pnl:
        firm = s.label == FIRM
        _plot(bottom, s, palette[s.label], lw=2.2 if firm else 1.4,
              label="Firm total" if firm else fmt.clip(s.label, LABEL_CHARS))  # fmt: skip
        r, limit = returns.get(s.label), limits.get(s.label)
        past_limit = False
        if r is not None and limit is not None:
            loss = dict(zip(r.times, (-v for v in r.values), strict=True))
            past = np.array([loss.get(t, 0.0) > limit for t in s.times])
            label = None if flagged else "Past daily loss limit"
            past_limit = _plot_past(bottom, s, past, label)
            flagged |= past_limit
        _label_last(bottom, s, fmt.usd_short(s.values[-1]), RED if past_limit else palette[s.label])
    _style(bottom, data, _usd_axis(), "Daily P&L")
    firm_value = data.firm.value or biggest
    _min_span(bottom, max(1_000.0, 0.005 * firm_value))
    # Below the panels, outside every axes: a legend inside one covers the lines.
    fig.legend(loc="outside lower center", fontsize=9, frameon=False,
               ncols=min(4, len(pnl) + flagged))  # fmt: skip
    return Chart("value_pnl", title, caption, _png(fig))


def drawdown(data: ReportData) -> Chart:
    """Per portfolio: drawdown from the running peak against its warning and hard limits."""
    title = "Drawdown against its limits"
    caption = "Fall from the running peak of value. Amber: warning limit; red: hard limit."
    series = {s.label: s for s in data.series.get("drawdown", [])}
    if not series or not data.portfolios:
        return Chart("drawdown", title, caption, None)
    palette = colours(data)
    fig, axes = _small_multiples(data, 2.5)
    top = 0.0
    for p, ax in zip(data.portfolios, axes, strict=True):
        s = series.get(p.name)
        warn, crit = p.limits.drawdown_warning, p.limits.drawdown_critical
        top = max([top, *(x * 1.3 for x in (warn, crit) if x is not None)])
        if s is None:
            _no_data(ax)
        else:
            values = np.asarray(s.values)
            top = max(top, float(values.max()) * 1.15)
            below = values if crit is None else np.minimum(values, crit)
            ax.fill_between(_x(s.times), 0, below, color=palette[p.name], alpha=0.12, lw=0)
            _plot(ax, s, palette[p.name])
            over = False
            if crit is not None:
                # The depth past the hard limit is shaded red as well as drawn red.
                ax.fill_between(_x(s.times), crit, values, where=values > crit, color=RED,
                                alpha=0.15, lw=0, interpolate=True)  # fmt: skip
                _plot_past(ax, s, values > crit)
                over = s.values[-1] > crit
            _label_last(ax, s, fmt.pct(s.values[-1], 1), RED if over else palette[p.name])
        if warn is not None:
            _limit_line(ax, warn, AMBER, f"warning {fmt.pct(warn, 0)}")
        if crit is not None:
            _limit_line(ax, crit, RED, f"limit {fmt.pct(crit, 0)}")
        _style(ax, data, _pct_axis(), fmt.clip(p.name, LABEL_CHARS), columns=_columns(data))
    for ax in axes:
        ax.set_ylim(0, top or 0.01)
    return Chart("drawdown", title, caption, _png(fig))


def tail_risk(data: ReportData) -> Chart:
    """Per portfolio: 1-day VaR and expected shortfall against their limits."""
    title = "Value at Risk and expected shortfall against their limits"
    at = ""
    if data.tail_confidences is not None:
        var_at, es_at = data.tail_confidences
        at = f" at {var_at:.1%} and {es_at:.1%}".replace(".0%", "%")
    caption = (
        f"1-day VaR and expected shortfall{at} as a share of value: the highest estimate "
        "of any method. Red: past the limit."
    )
    var = {s.label: s for s in data.series.get("var", [])}
    es = {s.label: s for s in data.series.get("expected_shortfall", [])}
    if not (var or es) or not data.portfolios:
        return Chart("tail_risk", title, caption, None)
    fig, axes = _small_multiples(data, 2.6)
    top = 0.0
    for p, ax in zip(data.portfolios, axes, strict=True):
        for name, group, limit, shade in (
            ("VaR", var, p.limits.var, VAR_COLOUR),
            ("ES", es, p.limits.expected_shortfall, ES_COLOUR),
        ):
            if limit is not None:
                top = max(top, limit * 1.3)
                text = f"{name} limit {fmt.pct(limit, 1)}"
                _limit_line(ax, limit, shade, text, x=0.005 if name == "VaR" else 0.2)
            s = group.get(p.name)
            if s is None:
                continue
            top = max(top, max(s.values) * 1.15)
            # The closing figure goes in the legend: VaR and ES end too close together
            # for labels beside the lines.
            _plot(ax, s, shade, label=f"{name} {fmt.pct(s.values[-1])}")
            if limit is not None:
                _plot_past(ax, s, np.asarray(s.values) > limit)
        if p.name in var or p.name in es:
            # Above the panel, right of its title: never over a line or a limit label.
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=8,
                      frameon=False, borderaxespad=0.1)  # fmt: skip
        else:
            _no_data(ax)
        _style(ax, data, _pct_axis(), fmt.clip(p.name, LABEL_CHARS), columns=_columns(data))
    for ax in axes:
        ax.set_ylim(0, top or 0.01)
    return Chart("tail_risk", title, caption, _png(fig))


def render_charts(data: ReportData) -> list[Chart]:
    """Every chart of the report, in reading order."""
    return [value_and_pnl(data), drawdown(data), tail_risk(data)]
