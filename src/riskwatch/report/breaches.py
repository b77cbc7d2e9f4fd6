"""The limits a report's day crossed, derived from its figures (`derive_breaches`).

A breach is read from the KPIs, the charts' series and the compliance table of
`ReportData`, not from the alert history: it is listed even if its alert never fired
(a `for:` wait, or Alertmanager down). `first_crossing` dates a breach to the chart's
minute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from riskwatch.report.model import Breach, PortfolioKpis, ReportData, Series


def derive_breaches(data: ReportData) -> list[Breach]:
    """Limits crossed during the day, read from the figures themselves: a breach is
    listed even if its alert never fired (a `for:` wait, or Alertmanager down)."""
    found: list[Breach] = []
    for p in data.portfolios:
        found.extend(_portfolio_breaches(data, p))
    for r in data.compliance:
        if r.breached_today and r.limit is not None:
            found.append(
                Breach(
                    r.portfolio,
                    f"{r.rule} {r.description}",
                    r.value if r.value is not None else math.nan,
                    r.limit,
                    r.unit,
                    "critical" if r.severity == "HIGH" else "warning",
                    r.first_breach,
                )
            )
    # In the order they happened; those without a time (crowding) last.
    found.sort(
        key=lambda b: (
            b.first_seen is None,
            b.first_seen or datetime.min.replace(tzinfo=UTC),
            b.portfolio,
        )
    )
    return found


def _portfolio_breaches(data: ReportData, p: PortfolioKpis) -> Iterable[Breach]:
    def series(key: str) -> Series | None:
        return next((x for x in data.series.get(key, []) if x.label == p.name), None)

    lim = p.limits
    zone = data.window.zone
    dd = series("drawdown")
    for level, dd_limit in (
        ("critical", lim.drawdown_critical),
        ("warning", lim.drawdown_warning),
    ):
        # A critical drawdown is not listed again as a warning.
        if p.worst_drawdown is not None and dd_limit is not None and p.worst_drawdown > dd_limit:
            first = first_crossing(dd, dd_limit, zone)
            yield Breach(p.name, "Drawdown", p.worst_drawdown, dd_limit, "percent", level, first)
            break
    loss = None if p.worst_return is None else -p.worst_return
    if loss is not None and lim.daily_loss is not None and loss > lim.daily_loss:
        # A loss past the limit is a return below minus the limit.
        first = first_crossing(series("daily_return"), -lim.daily_loss, zone, above=False)
        yield Breach(p.name, "Daily loss", loss, lim.daily_loss, "percent", "critical", first)
    for measure, key, worst, limit in (
        ("1-day VaR", "var", p.worst_var, lim.var),
        ("Expected shortfall", "expected_shortfall", p.worst_expected_shortfall,
         lim.expected_shortfall),
    ):  # fmt: skip
        if worst is not None and limit is not None and worst > limit:
            first = first_crossing(series(key), limit, zone)
            yield Breach(p.name, measure, worst, limit, "percent", "critical", first)
    low, floor = p.lowest_model_confidence, lim.model_confidence
    if low is not None and floor is not None and low < floor:
        first = first_crossing(series("model_confidence"), floor, zone, above=False)
        yield Breach(p.name, "Model confidence (lowest)", low, floor, "percent", "warning", first)
    if p.worst_crowding_level is not None and p.worst_crowding_level >= 2:
        yield Breach(p.name, "Factor crowding", p.worst_crowding_level, 2.0, "crowding",
                     "warning", None)  # fmt: skip


def first_crossing(
    series: Series | None, limit: float, zone: ZoneInfo, *, above: bool = True
) -> datetime | None:
    """When `series` first went above `limit` (below it, with above=False), in `zone`
    (the report's market zone), to the chart's minute."""
    if series is None:
        return None
    for t, v in zip(series.times, series.values, strict=True):
        if (v > limit) if above else (v < limit):
            return datetime.fromtimestamp(t, zone)
    return None
