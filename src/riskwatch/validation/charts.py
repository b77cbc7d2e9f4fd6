"""The validation's charts as PNG, one pair per portfolio at the VaR confidence:

- `pnl_var_<portfolio>.png`: the realised daily return against minus each method's
  VaR forecast, every exception marked in the method's colour;
- `zone_<portfolio>.png`: the exceptions of the `backtest_days` sessions ending on
  each day, per method, over the green, yellow and red bands of the Basel zone.

Drawn on matplotlib's Agg canvas through the object API (`Figure`, never pyplot): no
global figure state, so the health agent's process and a CLI run draw alike.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from riskwatch.policy import Policy, confidence_label
from riskwatch.validation.backtests import GroupBacktest, zone_bounds
from riskwatch.validation.findings import Findings

DPI = 110
SIZE_IN = (10.0, 4.2)
INK = "#1f2933"
MUTED = "#6b7785"
GRID = "#e4e7eb"
RETURN_COLOUR = "#9aa5b1"
# Calm colours for the methods; red is the zone's.
METHOD_COLOURS = ("#1565c0", "#00897b", "#6a1b9a", "#ef8f00", "#5d7fa3", "#8d6e63")
ZONE_BANDS = (("#e8f5e9", "green"), ("#fff8e1", "yellow"), ("#ffebee", "red"))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def file_stem(portfolio: str) -> str:
    """`portfolio` as a file name part: anything but letters, digits, ``_.-`` is ``_``."""
    return _UNSAFE.sub("_", portfolio)


@dataclass(frozen=True)
class Chart:
    """One PNG: its file name, title and bytes."""

    name: str
    title: str
    png: bytes


def _new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE_IN, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot()
    ax.grid(True, color=GRID, lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=8.5)
    return fig, ax


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _colour(methods: Sequence[str], method: str) -> str:
    return METHOD_COLOURS[list(methods).index(method) % len(METHOD_COLOURS)]


def _pnl_chart(
    findings: Findings, portfolio: str, confidence: float, methods: Sequence[str]
) -> Chart:
    dataset = findings.dataset
    days = pd.to_datetime(list(dataset.span.sessions))
    realised = dataset.returns[portfolio].to_numpy(dtype=float)
    rows = dataset.observations
    rows = rows[(rows["portfolio"] == portfolio) & (rows["confidence"] == confidence)]
    var = rows.pivot_table(index="day", columns="method", values="var", aggfunc="first")
    var = var.reindex(list(dataset.span.sessions))
    fig, ax = _new_axes()
    ax.plot(days, realised, color=RETURN_COLOUR, lw=0.6, label="realised return")
    for method in methods:
        if method not in var:
            continue
        forecast = var[method].to_numpy(dtype=float)
        colour = _colour(methods, method)
        ax.plot(days, -forecast, color=colour, lw=0.9, label=f"-VaR {method}")
        hits = realised < -forecast
        ax.scatter(days[hits], realised[hits], s=12, color=colour, zorder=3)
    ax.axhline(0, color=MUTED, lw=0.6)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v * 100:.0f}%"))
    label = confidence_label(confidence)
    title = f"{portfolio}: daily return against -VaR {label}, exceptions marked"
    ax.set_title(title, loc="left", fontsize=10, color=INK, fontweight="bold")
    ax.legend(loc="lower left", fontsize=8, frameon=False, ncol=len(methods) + 1)
    return Chart(f"pnl_var_{file_stem(portfolio)}.png", title, _png(fig))


def _zone_chart(
    groups: Sequence[GroupBacktest],
    findings: Findings,
    policy: Policy,
    portfolio: str,
    confidence: float,
    methods: Sequence[str],
) -> Chart:
    days = pd.to_datetime(list(findings.dataset.span.sessions))
    window = policy.validation.backtest_days
    yellow, red = zone_bounds(window, confidence, policy.validation)
    fig, ax = _new_axes()
    highest = float(red + 2)
    for group in groups:
        counts = group.rolling_exceptions
        if np.isfinite(counts).any():
            highest = max(highest, float(np.nanmax(counts)) + 1)
        ax.step(days, counts, where="post", color=_colour(methods, group.method), lw=1.1,
                label=group.method)  # fmt: skip
    # The bands are at the counts where the zone changes: below yellow green, from red red.
    edges: list[Any] = [-0.5, yellow - 0.5, red - 0.5, highest]
    for (colour, name), low, high in zip(ZONE_BANDS, edges, edges[1:], strict=False):
        ax.axhspan(low, high, color=colour, lw=0, zorder=0, label=f"{name} zone")
    ax.set_ylim(-0.5, highest)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    label = confidence_label(confidence)
    title = f"{portfolio}: VaR {label} exceptions in the last {window} sessions (Basel zone)"
    ax.set_title(title, loc="left", fontsize=10, color=INK, fontweight="bold")
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=len(groups) + 3)
    return Chart(f"zone_{file_stem(portfolio)}.png", title, _png(fig))


def draw_charts(findings: Findings, policy: Policy) -> list[Chart]:
    """Both charts of every portfolio with forecasts, at the policy's VaR confidence."""
    confidence = policy.tail_risk.var_confidence
    methods = list(dict.fromkeys(
        [*policy.tail_risk.methods, *(g.method for g in findings.backtests)]
    ))  # fmt: skip
    charts = []
    portfolios = sorted({g.portfolio for g in findings.backtests})
    for portfolio in portfolios:
        groups = [
            g for g in findings.backtests
            if g.portfolio == portfolio and g.confidence == confidence
        ]  # fmt: skip
        if not groups or portfolio not in findings.dataset.returns:
            continue
        charts.append(_pnl_chart(findings, portfolio, confidence, methods))
        charts.append(_zone_chart(groups, findings, policy, portfolio, confidence, methods))
    return charts
