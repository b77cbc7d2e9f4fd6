"""The report's performance and model-validation sections, formatted once for HTML and text.

Each is a `Section`: a title, notices and tables of `Cell`s, which the HTML template and
the plain text render the same way, so a red zone in one is `!!` in the other.

Two things are said, never left to the reader to infer:

- which figures are realised (the desk's own equity curve and closed trades) and
  which are a holdings-based backtest (today's holdings over the price history);
- when there is no current validation: a VaR model without a recent backtest is
  unvalidated, and the section says so rather than showing nothing, which would read
  as nothing wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from riskwatch.report import fmt
from riskwatch.report.fmt import Cell
from riskwatch.report.model import (
    HOLDINGS_BASED,
    REALISED,
    Backtest,
    Figure,
    LimitsInForce,
    PerformanceRow,
    ReportData,
    Trading,
    Validation,
)

# How close to a limit a figure turns amber: 80% of the way there.
NEAR_LIMIT = 0.8
ZONE_STATE = {"green": "ok", "yellow": "warn", "red": "bad"}
LEGEND = (
    "Zone: the Basel traffic light. Exceptions: days the loss exceeded the VaR forecast. "
    "Kupiec p tests their rate, Christoffersen p their clustering, coverage p both: a "
    "small p-value rejects the model. ES Z2: Acerbi and Szekely's test of the ES forecast."
)


@dataclass(frozen=True)
class Table:
    """A table of a section: its heading, headers and rows (the first `labels` columns
    are names, the rest figures), and what to say when it has no rows."""

    heading: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]]
    empty: str
    labels: int = 1


@dataclass(frozen=True)
class Section:
    """A titled part of the report: notices first, then tables."""

    title: str
    notices: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


# ------------------------------------------------------------------- performance
def _figure(figure: Figure, value: float | None) -> str:
    if figure.unit == "percent":
        return fmt.pct(value)
    if figure.unit == "usd":
        return fmt.usd(value)
    return fmt.number(value, 0 if figure.unit == "count" else 2)


def _drawdown_state(value: float | None, limits: LimitsInForce | None) -> str:
    """A max drawdown against the portfolio's drawdown limits, as the dashboards colour it."""
    if value is None or limits is None or limits.drawdown_critical is None:
        return ""
    if value > limits.drawdown_critical:
        return "bad"
    warning = limits.drawdown_warning
    return "warn" if warning is not None and value > warning else "ok"


def _figures_table(
    heading: str,
    caption: str,
    figures: tuple[Figure, ...],
    rows: Iterable[PerformanceRow],
    limits: dict[str, LimitsInForce],
    empty: str,
    *,
    judge_drawdown: bool,
) -> Table:
    body = []
    for row in rows:
        if not any(f.metric in row.figures for f in figures):
            continue
        cells = [Cell(row.portfolio)]
        for f in figures:
            value = row.figures.get(f.metric)
            # Only the desk's own fall is held against its drawdown limits: the
            # holdings-based one is a what-if, and no limit applies to it.
            judged = judge_drawdown and f.header == "Max drawdown"
            state = _drawdown_state(value, limits.get(row.portfolio)) if judged else ""
            cells.append(Cell(_figure(f, value), state))
        body.append(cells)
    headers = ["Portfolio", *(f.header for f in figures)]
    return Table(heading, caption, headers, body, empty)


def performance_section(data: ReportData) -> Section:
    """Realised figures first, then the holdings-based backtest, each labelled so."""
    limits = {p.name: p.limits for p in data.portfolios}
    return Section(
        "Performance",
        tables=[
            _figures_table(
                "Realised (desk P&L and closed trades)",
                "What the desk did: Sharpe, Sortino and max drawdown of each portfolio's own "
                "daily equity curve over the days shown (annualised; a few weeks are noise), "
                "and the round trips its fills closed.",
                REALISED,
                data.performance,
                limits,
                "No realised figures in Prometheus for this day: the trading agent "
                "publishes them from its daily equity history and closed trades.",
                judge_drawdown=True,
            ),
            _figures_table(
                "Holdings-based backtest (today's holdings over the price history)",
                "What the current book would have done had it been held throughout: a "
                "backtest of today's holdings, not the desk's record.",
                HOLDINGS_BASED,
                data.performance,
                limits,
                "No holdings-based figures in Prometheus for this day.",
                judge_drawdown=False,
            ),
        ],
    )


# -------------------------------------------------------------------- validation
def _confidence(label: str) -> str:
    try:
        return fmt.limit_pct(float(label))
    except ValueError:
        return label


def _backtest_row(b: Backtest) -> list[Cell]:
    zone = Cell(b.zone.title() if b.zone else fmt.NO_DATA, ZONE_STATE.get(b.zone or "", ""))
    expected = ""
    if b.observations is not None:
        try:
            expected = f"expected {b.observations * (1 - float(b.confidence)):.1f}"
        except ValueError:
            expected = ""
    exceptions = Cell(
        f"{fmt.number(b.exceptions)} of {fmt.number(b.observations)}",
        zone.state if zone.state != "ok" else "",
        expected,
    )
    es = Cell(
        fmt.number(b.es_z2, 2),
        "" if b.es_rejected is None else "bad" if b.es_rejected else "ok",
        "" if b.es_rejected is None else "rejected" if b.es_rejected else "passed",
    )
    return [
        Cell(b.portfolio),
        Cell(b.method),
        Cell(_confidence(b.confidence)),
        Cell(zone.text, zone.state, pill=b.zone is not None),
        exceptions,
        Cell(fmt.number(b.kupiec_p, 3)),
        Cell(fmt.number(b.christoffersen_p, 3)),
        Cell(fmt.number(b.coverage_p, 3)),
        es,
    ]


def _freshness(v: Validation | None, data: ReportData) -> tuple[list[str], str]:
    """(notices, caption): a notice unless a run validated the last exchange day."""
    if v is None:
        return ["This report did not read the model validation: the VaR models' backtests "
                "are unknown here, which is not the same as green."], ""  # fmt: skip
    if v.last_success is None:
        return [
            f"No model validation run in the last {v.lookback.days} days: Prometheus holds "
            f"no successful run of the nightly validation job (riskwatch validate). The VaR "
            f"models are unvalidated, which is not the same as green."
        ], ""
    last = f"{fmt.stamp(v.last_success, data.window.day)} {data.window.place} time"
    covered = f", covering up to {v.as_of:%a %b %-d}" if v.as_of is not None else ""
    if v.current:
        return [], f"The last validation run succeeded {last}{covered}."
    return [
        f"No model validation since the close of {v.due:%a %b %-d}: the last run "
        f"succeeded {last}{covered}, and the results below are from it."
    ], ""


def validation_section(data: ReportData) -> Section:
    """The zone, exceptions and tests per portfolio and method; the gates that failed."""
    v = data.validation
    notices, caption = _freshness(v, data)
    backtests = v.backtests if v else []
    gates = v.gates if v else []
    failed = [g for g in gates if not g.passed]
    return Section(
        "Model validation",
        notices=notices,
        tables=[
            Table(
                "VaR and ES backtests",
                " ".join(filter(None, (caption, LEGEND))),
                [
                    "Portfolio",
                    "Method",
                    "Confidence",
                    "Zone",
                    "Exceptions",
                    "Kupiec p",
                    "Christoffersen p",
                    "Coverage p",
                    "ES Z2",
                ],
                [_backtest_row(b) for b in backtests],
                "No backtest results.",
                labels=3,
            ),
            Table(
                "Data gates",
                "The gates the last run failed: until a run passes them, its data, and so "
                "its zones and p-values, cannot be trusted."
                if failed
                else "",
                ["Gate", "Value", "Threshold"],
                [
                    [
                        Cell(g.name),
                        Cell(fmt.number(g.value, 2), "bad"),
                        Cell(fmt.number(g.threshold, 2)),
                    ]
                    for g in failed
                ],
                f"All {len(gates)} data gates passed." if gates else "No gate results.",
            ),
        ],
    )


def headline_parts(data: ReportData) -> list[tuple[str, str]]:
    """What the headline says of the validation: (phrase, state) for red and yellow
    backtests, failed gates, and a validation that is missing or out of date."""
    v = data.validation
    if v is None:
        return []
    parts = []
    for zone, state in (("red", "bad"), ("yellow", "warn")):
        count = sum(1 for b in v.backtests if b.zone == zone)
        if count:
            parts.append((f"{count} VaR backtest{'s' if count != 1 else ''} {zone}", state))
    failed = sum(1 for g in v.gates if not g.passed)
    if failed:
        parts.append((f"{failed} validation gate{'s' if failed != 1 else ''} failed", "warn"))
    if v.last_success is None:
        parts.append(("no model validation", "warn"))
    elif not v.current:
        parts.append(("model validation out of date", "warn"))
    return parts


# ----------------------------------------------------------------- the day's trading
# Contributors and detractors listed each.
TOP_MOVERS = 5


def _usage_state(usage: float) -> str:
    return "bad" if usage > 1 else "warn" if usage > NEAR_LIMIT else "ok"


def _trades_table(t: Trading, day: date) -> Table:
    closing = t.closing_trades
    shown = sorted(t.trades, key=lambda r: r.at, reverse=True)[: t.shown]
    caption = ""
    if t.trades:
        wins = sum(1 for r in closing if (r.realised or 0.0) > 0)
        realised = sum(r.realised or 0.0 for r in closing)
        rate = fmt.pct(t.win_rate, 0)
        caption = (
            f"{len(t.trades)} fill{'s' if len(t.trades) != 1 else ''}; "
            f"{len(closing)} closed a position (matched first-in first-out): win rate "
            f"{rate} ({wins} of {len(closing)}), realised {fmt.usd(realised, signed=True)}."
        )
        if len(shown) < len(t.trades):
            caption += f" The latest {len(shown)} are listed."
    rows = [
        [
            Cell(fmt.stamp(r.at, day)),
            Cell(r.portfolio),
            Cell(r.symbol),
            Cell(r.side.title()),
            Cell(fmt.number(r.quantity, 0 if float(r.quantity).is_integer() else 2)),
            Cell(fmt.number(r.price, 2)),
            Cell(
                fmt.usd(r.realised, signed=True) if r.realised is not None else "opened",
                "" if r.realised is None else "ok" if r.realised > 0 else "bad",
            ),
        ]
        for r in shown
    ]
    empty = (
        f"No data: {t.trades_error}."
        if t.trades_error
        else "No data: the agents recorded no fills on this day."
    )
    return Table(
        "Trades",
        caption,
        ["Time", "Portfolio", "Symbol", "Side", "Quantity", "Price", "Realised P&L"],
        rows,
        empty,
        labels=4,
    )


def _positions_table(t: Trading) -> Table:
    rows = [
        [
            Cell(p.portfolio),
            Cell(p.symbol),
            Cell(fmt.number(p.quantity, 0 if float(p.quantity).is_integer() else 2)),
            Cell(fmt.usd(p.market_value)),
            Cell(fmt.pct(p.weight, 1)),
            Cell(fmt.number(p.average_cost, 2)),
            Cell(
                fmt.usd(p.unrealised, signed=True),
                "" if p.unrealised is None else "ok" if p.unrealised >= 0 else "bad",
            ),
        ]
        for p in sorted(t.positions, key=lambda p: -abs(p.market_value or 0.0))
    ]
    return Table(
        "Open positions",
        "At the day's end, largest first. Unrealised P&L: market value less the cost of "
        "the lots still open; a dash where the agents' fills do not account for the position."
        if rows
        else "",
        [
            "Portfolio",
            "Symbol",
            "Quantity",
            "Market value",
            "Weight",
            "Average cost",
            "Unrealised P&L",
        ],
        rows,
        "No data: the agents published no open positions for this day.",
        labels=2,
    )


def _movers_table(t: Trading, heading: str, sign: int) -> Table:
    movers = [c for c in t.contributions if c.pnl * sign > 0]
    movers.sort(key=lambda c: -c.pnl * sign)
    rows = [
        [
            Cell(c.portfolio),
            Cell(c.symbol),
            Cell(fmt.usd(c.pnl, signed=True), "ok" if c.pnl > 0 else "bad"),
            Cell(fmt.usd(c.realised, signed=True)),
        ]
        for c in movers[:TOP_MOVERS]
    ]
    if t.trades_error:
        empty = f"No data: {t.trades_error}."
    elif not t.contributions:
        empty = "No data: no position of a book whose fills the agents keep."
    else:
        empty = "None today."
    return Table(heading, "", ["Portfolio", "Symbol", "Day's P&L", "Of which realised"],
                 rows, empty, labels=2)  # fmt: skip


def _watch_table(t: Trading, count: int) -> Table:
    rows = [
        [
            Cell(w.portfolio),
            Cell(w.symbol),
            Cell(f"{w.rule} {w.measure}"),
            Cell(fmt.in_unit(abs(w.value), w.unit)),
            Cell(fmt.in_unit(w.limit, w.unit, limit=True)),
            Cell(fmt.pct(w.usage, 0), _usage_state(w.usage)),
        ]
        for w in t.watch
    ]
    return Table(
        "Watch list: positions nearest their limits",
        f"Each position against the policy's per-position limits (up to {count} shown); "
        "amber from 80% of a limit, red past it."
        if rows
        else "",
        ["Portfolio", "Symbol", "Limit", "Value", "Limit value", "Used"],
        rows,
        "No data: the agents published no open positions for this day.",
        labels=3,
    )


def trading_section(data: ReportData) -> Section:
    """The day's trades and win rate, open positions, top contributors and detractors,
    and the watch list; each table says "No data" when its source has none."""
    t = data.trading
    return Section(
        "The day's trading",
        notices=[f"The agents' fills were not read: {t.trades_error}."] if t.trades_error else [],
        tables=[
            _trades_table(t, data.window.day),
            _positions_table(t),
            _movers_table(t, "Top contributors to the day's P&L", 1),
            _movers_table(t, "Top detractors from the day's P&L", -1),
            _watch_table(t, len(t.watch)),
        ],
    )
