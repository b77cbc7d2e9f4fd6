"""A realistic day of report data without a stack: seeded intraday paths for two
portfolios, one of which breaches its drawdown and VaR limits in the afternoon."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from riskwatch.report.breaches import derive_breaches
from riskwatch.report.model import (
    FIRM,
    AlertRow,
    Backtest,
    ComplianceRow,
    Contribution,
    FirmKpis,
    Gate,
    LimitsInForce,
    PerformanceRow,
    PortfolioKpis,
    PositionRow,
    ReportData,
    ReportWindow,
    Series,
    TradeRow,
    Trading,
    Validation,
    WatchRow,
)
from riskwatch.report.validation import LOOKBACK
from tests.support.calendar import shipped_zone

DAY = date(2026, 11, 24)  # a Tuesday
LIMITS = LimitsInForce(0.05, 0.10, 0.02, 0.02, 0.025, 0.5)

# The NYSE's regular session on the day of each of tests/support/calendar.py's
# situations, from its published calendar; None when it did not open.
SESSIONS: dict[str, tuple[str, str] | None] = {
    "weekday-regular-hours": ("09:30", "16:00"),
    "weekday-overnight": ("09:30", "16:00"),
    "saturday": None,
    "after-a-holiday": ("09:30", "16:00"),
    "half-day": ("09:30", "13:00"),
    "monday-after-thanksgiving": ("09:30", "16:00"),
    "dst-spring-forward": None,
    "dst-fall-back": None,
}


def _window(day: date = DAY) -> ReportWindow:
    zone = shipped_zone()
    start = datetime.combine(day, time(0), zone)
    end = start + timedelta(days=1)
    session = (
        datetime.combine(day, time(9, 30), zone),
        datetime.combine(day, time(16), zone),
    )
    return ReportWindow(day, start, end, end, session, zone)


def sample_report(seed: int = 3) -> ReportData:
    """Two books from 04:00 to 20:00; beta falls 12% after 13:00."""
    rng = np.random.default_rng(seed)
    w = _window()
    t0 = datetime.combine(DAY, time(4), shipped_zone()).timestamp()
    times = tuple(float(t0 + 60 * i) for i in range(16 * 60))
    n = len(times)
    data = ReportData(w, datetime(2026, 11, 24, 22, 0, tzinfo=UTC), "http://prom", "http://recv")
    books = {"alpha": (1_000_000.0, 0.0), "beta": (500_000.0, -0.12)}
    firm_pnl = np.zeros(n)
    firm_value = np.zeros(n)
    for name, (start_value, shock) in books.items():
        steps = rng.normal(0, 0.0006, n)
        crash_from = 9 * 60  # 13:00
        if shock:
            steps[crash_from : crash_from + 120] += shock / 120
        path = start_value * np.exp(np.cumsum(steps))
        pnl = path - start_value
        peak = np.maximum.accumulate(np.maximum(path, start_value * 1.01))
        dd = 1 - path / peak
        var = 0.012 + 0.002 * np.sin(np.arange(n) / 90) + (np.clip(dd - 0.02, 0, None) * 0.4)
        es = var * 1.25
        conf = np.clip(0.7 - dd * 3 + rng.normal(0, 0.02, n), 0, 1)
        firm_pnl += pnl
        firm_value += path
        for key, values in (
            ("value", path),
            ("pnl", pnl),
            ("daily_return", pnl / path),
            ("drawdown", dd),
            ("var", var),
            ("expected_shortfall", es),
            ("model_confidence", conf),
        ):
            data.series.setdefault(key, []).append(
                Series(name, times, tuple(float(v) for v in values))
            )
        data.portfolios.append(
            PortfolioKpis(
                name,
                LIMITS,
                value=float(path[-1]),
                pnl=float(pnl[-1]),
                daily_return=float(pnl[-1] / path[-1]),
                worst_return=float((pnl / path).min()),
                drawdown=float(dd[-1]),
                worst_drawdown=float(dd.max()),
                var=float(var[-1]),
                worst_var=float(var.max()),
                expected_shortfall=float(es[-1]),
                worst_expected_shortfall=float(es.max()),
                crowding_level=1.0 if shock else 0.0,
                worst_crowding_level=2.0 if shock else 0.0,
                crowding_hhi=0.18 if shock else 0.11,
                model_confidence=float(conf[-1]),
                lowest_model_confidence=float(conf.min()),
                alerts=2 if shock else 0,
                compliance_breaches=1 if shock else 0,
            )
        )
    data.series["pnl"].append(Series(FIRM, times, tuple(float(v) for v in firm_pnl)))
    data.firm = FirmKpis(
        value=float(firm_value[-1]),
        pnl=float(firm_pnl[-1]),
        daily_return=float(firm_pnl[-1] / firm_value[-1]),
        worst_drawdown=max(p.worst_drawdown or 0 for p in data.portfolios),
        var_usd=sum((p.var or 0) * (p.value or 0) for p in data.portfolios),
        alerts=2,
        unacknowledged=1,
        compliance_breaches=1,
    )
    rules = [
        ("RISK_001", "Largest position value", "usd", "HIGH", 41_250.0, 50_000.0),
        ("RISK_002", "1-day 99% VaR, share of value", "percent", "HIGH", 0.0231, 0.02),
        ("POS_001", "Open positions", "count", "MEDIUM", 12.0, 30.0),
        ("DAT_001", "Market data age", "seconds", "LOW", 4.0, 300.0),
    ]
    breached_at = datetime.combine(DAY, time(13, 41), shipped_zone())
    for p in ("alpha", "beta"):
        for rule, desc, unit, sev, value, limit in rules:
            v = value if p == "beta" else value * 0.6
            data.compliance.append(
                ComplianceRow(p, rule, desc, unit, sev, v > limit, v > limit, v, limit,
                              breached_at if v > limit else None)
            )  # fmt: skip
    opened = datetime.combine(DAY, time(13, 38), shipped_zone())
    data.alerts = [
        AlertRow(41, "PortfolioDrawdownCritical", "critical", "beta",
                 "Portfolio beta is 11.8% below its peak value, beyond its critical drawdown "
                 "limit of 10%.", "firing", opened, None, True, "jane.cro",
                 opened + timedelta(minutes=7)),
        AlertRow(42, "VaRLimitBreached", "critical", "beta",
                 "Portfolio beta has a 1-day 99% Value at Risk of 2.31% of its value.",
                 "resolved", opened + timedelta(minutes=3), opened + timedelta(hours=2), False,
                 None, None),
    ]  # fmt: skip
    realised = {"risk_realised_days": 187.0, "trading_closed_trades": 412.0}
    data.performance = [
        PerformanceRow("alpha", realised | {"risk_realised_sharpe": 1.42, "risk_sharpe": 0.87,
                                            "risk_realised_max_drawdown_ratio": 0.041,
                                            "trading_closed_trades_win_rate_ratio": 0.538,
                                            "risk_max_drawdown_ratio": 0.22}),
        PerformanceRow("beta", realised | {"risk_realised_sharpe": -0.31, "risk_sharpe": 1.12,
                                           "risk_realised_max_drawdown_ratio": 0.141}),
    ]  # fmt: skip
    data.validation = sample_validation()
    data.trading = sample_trading()
    # The breach list is derived from the figures exactly as for real data.
    data.breaches = derive_breaches(data)
    return data


def sample_trading() -> Trading:
    """A few fills (two closing, one at a loss), three positions, one near its limit."""
    zone = shipped_zone()

    def at(hh: int, mm: int) -> datetime:
        return datetime.combine(DAY, time(hh, mm), zone)

    return Trading(
        trades=[
            TradeRow("alpha", "AAPL", "buy", 100, 190.5, at(9, 45), None),
            TradeRow("alpha", "AAPL", "sell", 40, 195.0, at(11, 2), 180.0),
            TradeRow("beta", "NVDA", "sell", 25, 880.0, at(13, 20), -1_250.0),
        ],
        positions=[
            PositionRow("alpha", "AAPL", 60, 11_820.0, 0.0118, 190.5, 390.0),
            PositionRow("beta", "NVDA", 50, 43_000.0, 0.0977, 910.0, -2_500.0),
            PositionRow("beta", "XOM", -80, -9_200.0, -0.0209, None, None),
        ],
        contributions=[
            Contribution("alpha", "AAPL", 570.0, 180.0),
            Contribution("beta", "XOM", 240.0, 0.0),
            Contribution("beta", "NVDA", -3_750.0, -1_250.0),
        ],
        watch=[
            WatchRow("beta", "NVDA", "RISK_001", "Largest position value", "usd", 43e3, 50e3),
            WatchRow("alpha", "AAPL", "RISK_001", "Largest position value", "usd", 11_820, 50e3),
        ],
    )


LONG_NOTE = (
    "Desk cutting beta exposure; " + "call with the PM at 14:00 about NVDA and the sector "
    "limits " * 60 + "x" * 1500
)[:5000]
"""A 5,000-character acknowledgement note, one word of it 1,500 characters long."""


def with_long_texts(data: ReportData) -> ReportData:
    """`data` with free text at its worst: a 5,000-character acknowledgement note and
    long unbroken labels, as a careless or hostile user could type them."""
    assert data.alerts is not None
    first = data.alerts[0]
    data.alerts[0] = AlertRow(
        first.id, "A" * 300, first.severity, first.portfolio, "S" * 2000, first.status,
        first.starts_at, first.ends_at, first.acked, "j" * 400, first.acked_at, LONG_NOTE,
    )  # fmt: skip
    return data


def sample_validation(*, ran: bool = True, current: bool = True) -> Validation:
    """Last night's run: alpha's models green, beta's historical yellow and gaussian red,
    the data completeness gate failed. Not `current`: it ran the week before; not `ran`:
    Prometheus holds no run."""
    zone = shipped_zone()
    # The report's day is a Tuesday: Monday's close makes the night's run due.
    due = datetime.combine(DAY - timedelta(days=1), time(16), zone)
    found = Validation("desk", due, LOOKBACK)
    if not ran:
        return found
    found.last_success = datetime.combine(
        DAY - timedelta(days=0 if current else 7), time(1, 12), zone
    )
    found.as_of = due - timedelta(days=0 if current else 7)
    for portfolio, zones in (("alpha", ("green",) * 3), ("beta", ("yellow", "red", "green"))):
        for method, z in zip(("historical", "gaussian", "cornish_fisher"), zones, strict=True):
            green = z == "green"
            found.backtests.append(
                Backtest(portfolio, method, "0.99", z, {"green": 2.0, "yellow": 7.0}.get(z, 12.0),
                         250.0, 0.5 if green else 0.001, 0.6, 0.4 if green else 0.002,
                         -0.2 if green else -1.9, not green)
            )  # fmt: skip
    found.gates = [
        Gate("complete_windows", True, 1.0, 0.7),
        Gate("data_completeness", False, 0.62, 0.7),
    ]
    return found


def empty_report(day: date = DAY) -> ReportData:
    """A day Prometheus knows nothing about, and a receiver that did not answer."""
    # Generated the next morning, like the window above (the whole day): a fixed
    # instant, not the hour the test runs at.
    generated = datetime.combine(day + timedelta(days=1), time(6), shipped_zone())
    data = ReportData(_window(day), generated, "http://prom", "http://recv")
    data.alerts_error = "cannot reach the receiver at http://recv: connection refused"
    data.validation = sample_validation(ran=False)
    data.notes.append("Prometheus at http://prom holds no portfolio figures for that day.")
    return data
