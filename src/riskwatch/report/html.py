"""The report as HTML (a file, and the email's HTML part) and as plain text.

Both are built from one view of the data (`View`): every figure is formatted and
judged against its limit once (`Cell.state`: ok, warn or bad), so the HTML's red
cells and the text's `!` markers always agree. The HTML keeps to tables and a small
<style> block, which mail clients render as browsers do.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jinja2

from riskwatch.report import fmt
from riskwatch.report.charts import Chart
from riskwatch.report.fmt import Cell
from riskwatch.report.model import AlertRow, ComplianceRow, PortfolioKpis, ReportData
from riskwatch.report.sections import (
    NEAR_LIMIT,
    Section,
    headline_parts,
    performance_section,
    trading_section,
    validation_section,
)

DASH = "\u2013"  # en dash, for ranges of time
SEVERITY = ("ok", "warn", "bad")
"""A headline's states, mildest first: it takes the worst of its parts."""


def _against(value: float | None, limit: float | None, peak: float | None = None) -> str:
    """bad past the limit, warn near it or when the day's peak was past it."""
    if value is None or limit is None:
        return ""
    if value > limit:
        return "bad"
    if value > NEAR_LIMIT * limit or (peak is not None and peak > limit):
        return "warn"
    return "ok"


@dataclass
class PortfolioRow:
    name: str
    cells: dict[str, Cell]


@dataclass
class View:
    """What the templates show, formatted."""

    data: ReportData
    title: str
    subject: str
    headline: str
    headline_state: str
    as_of: str
    session: str
    firm: list[tuple[str, Cell]]
    columns: list[tuple[str, str]]
    portfolios: list[PortfolioRow]
    performance: Section
    validation: Section
    trading: Section
    notes: list[str] = field(default_factory=list)


COLUMNS: list[tuple[str, str]] = [
    ("value", "Value"),
    ("pnl", "Daily P&L"),
    ("drawdown", "Worst drawdown"),
    ("var", "VaR 99% 1d"),
    ("es", "ES 97.5% 1d"),
    ("crowding", "Crowding"),
    ("confidence", "Model confidence"),
    ("alerts", "Alerts"),
    ("compliance", "Compliance"),
]


def _compliance_cell(breached: int, known: bool, scope: str) -> Cell:
    """Rules breached today; 'All clear' only when the rules were actually reported."""
    if not known:
        return Cell(fmt.NO_DATA, "", "no compliance figures")
    note = "rules breached today" + (f", {scope}" if scope else "")
    return Cell(f"{breached} breached", "bad", note) if breached else Cell("All clear", "ok")


def _portfolio_cells(
    p: PortfolioKpis, alerts: list[AlertRow] | None, compliance: list[ComplianceRow]
) -> dict[str, Cell]:
    lim = p.limits
    loss = None if p.daily_return is None else -p.daily_return
    worst_loss = None if p.worst_return is None else -p.worst_return
    dd_state = _against(p.worst_drawdown, lim.drawdown_critical)
    if dd_state != "bad" and p.worst_drawdown is not None and lim.drawdown_warning is not None:
        dd_state = "warn" if p.worst_drawdown > lim.drawdown_warning else dd_state
    conf_state = ""
    if p.model_confidence is not None and lim.model_confidence is not None:
        low = p.lowest_model_confidence
        conf_state = (
            "bad"
            if p.model_confidence < lim.model_confidence
            else "warn"
            if low is not None and low < lim.model_confidence
            else "ok"
        )
    crowd_state = {0: "ok", 1: "warn", 2: "bad"}.get(round(p.crowding_level or 0), "bad")
    mine = [a for a in alerts or [] if a.portfolio == p.name]
    unacked = sum(1 for a in mine if not a.acked)
    has_rules = any(r.portfolio == p.name for r in compliance)
    return {
        "value": Cell(fmt.usd(p.value)),
        "pnl": Cell(
            fmt.usd(p.pnl, signed=True),
            _against(loss, lim.daily_loss, worst_loss) if p.pnl is not None else "",
            f"{fmt.pct(p.daily_return, signed=True)} · loss limit {fmt.pct(lim.daily_loss, 0)}",
        ),
        "drawdown": Cell(
            fmt.pct(p.worst_drawdown),
            dd_state,
            f"now {fmt.pct(p.drawdown)} · limit {fmt.pct(lim.drawdown_critical, 0)}",
        ),
        "var": Cell(
            fmt.pct(p.var),
            _against(p.var, lim.var, p.worst_var),
            f"peak {fmt.pct(p.worst_var)} · limit {fmt.pct(lim.var, 1)}",
        ),
        "es": Cell(
            fmt.pct(p.expected_shortfall),
            _against(p.expected_shortfall, lim.expected_shortfall, p.worst_expected_shortfall),
            f"peak {fmt.pct(p.worst_expected_shortfall)} · limit "
            f"{fmt.pct(lim.expected_shortfall, 1)}",
        ),
        "crowding": Cell(
            fmt.crowding(p.crowding_level),
            crowd_state if p.crowding_level is not None else "",
            f"HHI {fmt.number(p.crowding_hhi, 2)}",
        ),
        "confidence": Cell(
            fmt.pct(p.model_confidence, 0),
            conf_state,
            f"low {fmt.pct(p.lowest_model_confidence, 0)} · floor "
            f"{fmt.pct(lim.model_confidence, 0)}",
        ),
        "alerts": Cell(
            str(len(mine)) if alerts is not None else fmt.NO_DATA,
            ("bad" if unacked else "warn") if mine else ("ok" if alerts is not None else ""),
            f"{unacked} not acknowledged" if unacked else "",
        ),
        "compliance": _compliance_cell(p.compliance_breaches, has_rules, ""),
    }


def _headline(data: ReportData) -> tuple[str, str, str]:
    """(headline sentence, its state, the email subject's tail)."""
    if not data.has_data:
        return "No portfolio data for this day.", "bad", "NO DATA"
    critical = sum(1 for b in data.breaches if b.level == "critical")
    warnings = len(data.breaches) - critical
    parts = []
    if critical:
        parts.append(f"{critical} limit breach{'es' if critical != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    if not parts:
        parts.append("all limits respected")
    alerts = data.firm.alerts
    if alerts is None:
        parts.append("alert history unavailable")
    else:
        unacked = data.firm.unacknowledged or 0
        text = f"{alerts} alert{'s' if alerts != 1 else ''}"
        parts.append(text + (f" ({unacked} not acknowledged)" if unacked else ""))
    state = "bad" if critical else "warn" if warnings or (data.firm.unacknowledged or 0) else "ok"
    for phrase, judged in headline_parts(data):
        parts.append(phrase)
        state = max(state, judged, key=SEVERITY.index)
    pnl = fmt.usd(data.firm.pnl, signed=True, ascii_minus=True)
    ret = fmt.pct(data.firm.daily_return, signed=True, ascii_minus=True)
    sentence = "; ".join(parts)
    sentence = sentence[0].upper() + sentence[1:] + "."
    return sentence, state, f"P&L {pnl} ({ret}), " + ", ".join(parts)


def build_view(data: ReportData) -> View:
    """Format and judge every figure of the report once."""
    w = data.window
    headline, state, subject_tail = _headline(data)
    day = w.day.strftime("%A, %B %-d, %Y")
    as_of = (
        f"Full day, 00:00{DASH}24:00 {w.place} time"
        if w.complete
        else f"Day in progress: as of {w.end.astimezone(w.zone):%H:%M} {w.place} time"
    )
    if w.session is None:
        session = "Exchange closed (weekend or holiday)"
    else:
        session = f"Regular session {w.session[0]:%H:%M}{DASH}{w.session[1]:%H:%M}"
    f = data.firm
    # Firm cards turn red when any portfolio is past the limit behind them.
    breached: dict[str, str] = {}
    for b in data.breaches:
        if breached.get(b.measure) != "bad":
            breached[b.measure] = "bad" if b.level == "critical" else "warn"
    firm = [
        ("Firm value", Cell(fmt.usd(f.value))),
        (
            "Daily P&L",
            Cell(
                fmt.usd(f.pnl, signed=True),
                breached.get("Daily loss", "" if f.pnl is None or f.pnl < 0 else "ok"),
                fmt.pct(f.daily_return, signed=True),
            ),
        ),
        (
            "Worst drawdown",
            Cell(
                fmt.pct(f.worst_drawdown),
                breached.get("Drawdown", ""),
                "deepest of any portfolio today",
            ),
        ),
        ("VaR 99% 1d", Cell(fmt.usd(f.var_usd), "", "sum of portfolios, undiversified")),
        (
            "Alerts today",
            Cell(
                fmt.NO_DATA if f.alerts is None else str(f.alerts),
                "" if f.alerts is None else "bad" if f.unacknowledged else "ok",
                "" if f.alerts is None else f"{f.unacknowledged or 0} not acknowledged",
            ),
        ),
        (
            "Compliance",
            _compliance_cell(f.compliance_breaches, bool(data.compliance), "all portfolios"),
        ),
    ]
    rows = [
        PortfolioRow(p.name, _portfolio_cells(p, data.alerts, data.compliance))
        for p in data.portfolios
    ]
    return View(
        data=data,
        title=f"Daily risk report \u2014 {day}",
        subject=f"[riskwatch] Daily risk report {w.day.isoformat()}: {subject_tail}",
        headline=headline,
        headline_state=state,
        as_of=as_of,
        session=session,
        firm=firm,
        columns=COLUMNS,
        portfolios=rows,
        performance=performance_section(data),
        validation=validation_section(data),
        trading=trading_section(data),
        notes=list(data.notes),
    )


# ----------------------------------------------------------------------------- HTML
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("riskwatch.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a typo in the template fails, never blanks a figure
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(
    clip=fmt.clip,
    usd=fmt.usd,
    pct=fmt.pct,
    in_unit=fmt.in_unit,
    clock=fmt.clock,
    stamp=fmt.stamp,
)


def render_html(view: View, charts: list[Chart], image_src: Callable[[Chart], str]) -> str:
    """The report page; `image_src` says where each chart's PNG is (file or cid:)."""
    template = _ENV.get_template("report.html.j2")
    return template.render(
        v=view,
        d=view.data,
        charts=[(c, image_src(c) if c.png else None) for c in charts],
        generated=view.data.generated_at.astimezone(view.data.window.zone),
        place=view.data.window.place,
    )


# ----------------------------------------------------------------------- plain text
_MARK: Mapping[str, str] = {"bad": " !!", "warn": " !", "ok": "", "": ""}
WRAP = 88  # plain-text paragraphs, for readers that do not wrap


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _section_text(section: Section) -> list[str]:
    """A performance or validation section: its notices, then each table under its heading."""
    lines = ["", section.title.upper(), "-" * len(section.title)]
    lines += [line for n in section.notices for line in textwrap.wrap(f"Note: {n}", WRAP)]
    for t in section.tables:
        lines += ["", *textwrap.wrap(t.heading + (f". {t.caption}" if t.caption else ""), WRAP)]
        rows = [[c.text + _MARK[c.state] for c in row] for row in t.rows]
        lines += _table(t.headers, rows) if rows else [t.empty]
    return lines


def _ascii(text: str) -> str:
    # Mail readers show plain text in any font; keep to characters every one has.
    return (
        text.replace(fmt.MINUS, "-")
        .replace(fmt.NO_DATA, "-")
        .replace(DASH, "-")
        .replace("\u00b7", "/")
    )


def render_text(view: View, charts: list[Chart]) -> str:
    """The plain-text part: the same sections, `!!` past a limit and `!` near it."""
    d = view.data
    day = d.window.day
    lines = [view.title, "=" * len(view.title), view.as_of + ". " + view.session + ".", ""]
    lines += [view.headline, ""]
    lines += [f"Note: {n}" for n in view.notes] + ([""] if view.notes else [])
    lines += ["FIRM", "----"]
    for name, cell in view.firm:
        note = f"  ({cell.note})" if cell.note else ""
        lines.append(f"{name + ':':<17}{cell.text}{_MARK[cell.state]}{note}")
    lines.append("")
    lines += ["PORTFOLIOS", "----------"]
    if view.portfolios:
        header = ["Portfolio", *(title for _, title in view.columns)]
        rows = [
            [r.name, *(r.cells[key].text + _MARK[r.cells[key].state] for key, _ in view.columns)]
            for r in view.portfolios
        ]
        lines += _table(header, rows)
    else:
        lines.append("No data.")
    lines += _section_text(view.trading)
    lines += _section_text(view.performance)
    lines += ["", "LIMIT BREACHES TODAY (!! past a hard limit, ! warning)", "-" * 20]
    if d.breaches:
        rows = [
            [fmt.clock(b.first_seen), b.portfolio, b.measure, fmt.in_unit(b.worst, b.unit),
             fmt.in_unit(b.limit, b.unit, limit=True), "!!" if b.level == "critical" else "!"]
            for b in d.breaches
        ]  # fmt: skip
        lines += _table(["First seen", "Portfolio", "Measure", "Worst", "Limit", ""], rows)
    else:
        lines.append("No limit breached." if d.has_data else "No data.")
    lines += _section_text(view.validation)
    lines += ["", "ALERTS AND ACKNOWLEDGEMENTS", "-" * 27]
    if d.alerts is None:
        lines.append(f"Alert history unavailable: {d.alerts_error}")
    elif not d.alerts:
        lines.append("No alerts.")
    else:
        rows = []
        for a in d.alerts:
            status = "firing" if a.status == "firing" else f"resolved {fmt.stamp(a.ends_at, day)}"
            ack = f"acked by {a.acked_by} {fmt.stamp(a.acked_at, day)}" if a.acked else "NOT ACKED"
            rows.append([fmt.stamp(a.starts_at, day), a.severity, a.alertname,
                         a.portfolio or "-", status, ack])  # fmt: skip
        lines += _table(["Started", "Severity", "Alert", "Portfolio", "Status", "Ack"], rows)
    lines += ["", "COMPLIANCE (value and limit at the day's end)", "-" * 10]
    if d.compliance:
        rows = [
            [r.portfolio, r.rule, r.description,
             "BREACH" if r.active else "breached earlier" if r.breached_today else "ok",
             fmt.in_unit(r.value, r.unit), fmt.in_unit(r.limit, r.unit, limit=True)]
            for r in d.compliance
        ]  # fmt: skip
        lines += _table(["Portfolio", "Rule", "Measure", "State", "Value", "Limit"], rows)
    else:
        lines.append("No data.")
    if any(c.png for c in charts):
        lines += ["", "Charts: " + ", ".join(c.title for c in charts if c.png) + " (HTML part)."]
    generated = d.generated_at.astimezone(d.window.zone)
    lines += ["", f"Generated {generated:%Y-%m-%d %H:%M} {d.window.place} time from "
              f"{d.prometheus_url} and {d.receiver_url}."]  # fmt: skip
    return _ascii("\n".join(lines)) + "\n"
