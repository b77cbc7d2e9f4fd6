"""What the executive report shows, read from Prometheus and the alert receiver.

The `Collector` runs the report's queries for one `ReportWindow` and fills in
`ReportData` (both in `riskwatch.report.model`); `collect()` is its entry point.
Charts come from range queries over the window; KPIs and the compliance table come
from instant queries at the window's end over the whole window
(`last_over_time(x[window])`), so a past day whose agents stopped at 20:00 still shows
its closing figures rather than nothing. The breaches are derived from the collected
figures (`riskwatch.report.breaches`); the performance figures and the nightly model
validation are read by `riskwatch.report.validation`.

Prometheus is the report's backbone: if it cannot be reached, there is no report
(`ReportError`). The receiver only adds the alert history; if it is down, that
section says so and the rest of the report stands.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from riskwatch.calendar import MarketCalendar
from riskwatch.clock import Clock, system_clock
from riskwatch.database import local_database_url
from riskwatch.receiver_client import ReceiverClient, ReceiverError
from riskwatch.report.breaches import derive_breaches, first_crossing
from riskwatch.report.model import (
    FIRM,
    AlertRow,
    ComplianceRow,
    PortfolioKpis,
    ReportData,
    ReportWindow,
    Series,
    limits_for,
    report_window,
)
from riskwatch.report.prom import HTTP_TIMEOUT_SECONDS, PrometheusClient, by_labels
from riskwatch.report.trading import TradingReader
from riskwatch.report.validation import ValidationReader, collect_performance
from riskwatch.settings import Settings

log = logging.getLogger("riskwatch.report")

# An alert that started up to a week before the day and was still open counts too.
ALERT_LOOKBACK = timedelta(days=7)


class Collector:
    """Runs the report's queries for one window and assembles `ReportData`."""

    def __init__(
        self,
        settings: Settings,
        window: ReportWindow,
        prometheus_url: str,
        receiver_url: str,
        now: datetime,
    ) -> None:
        self.settings = settings
        self.window = window
        self.prom = PrometheusClient(prometheus_url)
        self.receiver = ReceiverClient(
            receiver_url,
            settings.receiver_admin_token(),
            settings.receiver.max_page_size,
            HTTP_TIMEOUT_SECONDS,
        )
        self.data = ReportData(window, now, prometheus_url.rstrip("/"), receiver_url.rstrip("/"))
        self.limits = settings.policy
        tail = self.limits.tail_risk
        self.var_conf, self.es_conf = tail.var_label, tail.expected_shortfall_label
        self.data.tail_confidences = (tail.var_confidence, tail.expected_shortfall_confidence)

    # -- query helpers, all instant queries at the window's end.
    def _at_end(self, fn: str, selector: str, agg: str = "") -> list[tuple[dict[str, str], float]]:
        """`fn` (last_over_time, min_over_time or max_over_time) of each series over the
        window, then `agg` (e.g. `max by (portfolio)`) across series.

        For the last value, the series present at the window's end win; a portfolio
        whose series all stopped earlier (an agent down at the close) falls back to the
        last value seen that day. Without the preference a series that vanished (a
        cleared breach, a replaced agent) would outvote the live one.
        """

        def agg_of(inner: str) -> str:
            return f"{agg} ({inner})" if agg else inner

        ranged = agg_of(f"{fn}({selector}[{self.window.seconds}s])")
        expr = f"({agg_of(selector)}) or ({ranged})" if fn == "last_over_time" else ranged
        return self.prom.vector(expr, self.window.end)

    def _range(self, expr: str, label: str = "portfolio") -> dict[str, Series]:
        out = {}
        for metric, s in self.prom.matrix(expr, self.window.start, self.window.end):
            name = metric.get(label, FIRM)
            out[name] = Series(name, s.times, s.values)
        return out

    def collect(self) -> ReportData:
        """All sections; raises ReportError when Prometheus cannot answer."""
        self._portfolios()
        self._firm()
        self._compliance()
        self.data.performance = collect_performance(self.prom, self.window)
        v = self.settings.validation
        self.data.validation = ValidationReader(
            self.prom, self.window, self.limits, v.dataset, v.job
        ).read()
        self._alerts()
        self.data.trading = TradingReader(
            self.prom,
            self.window,
            self.limits,
            local_database_url(self.settings),
            self.settings.report.watchlist_size,
        ).read()
        self.data.trading.shown = self.settings.report.trades_shown
        self.data.breaches = derive_breaches(self.data)
        if not self.data.has_data:
            self.data.notes.append(
                f"Prometheus at {self.data.prometheus_url} holds no portfolio figures for "
                f"{self.window.day}: no agent published that day, or it is past retention."
            )
        return self.data

    def _portfolios(self) -> None:
        var = f'portfolio:risk_var_ratio:max{{confidence="{self.var_conf}"}}'
        es = f'portfolio:risk_expected_shortfall_ratio:max{{confidence="{self.es_conf}"}}'
        ret = "portfolio:trading_daily_return:ratio"
        last, high, low = "last_over_time", "max_over_time", "min_over_time"
        by_max, by_min = "max by (portfolio)", "min by (portfolio)"
        queries: dict[str, tuple[str, str, str]] = {
            "value": (last, "portfolio:trading_portfolio_value_usd:sum", ""),
            "pnl": (last, "portfolio:trading_daily_pnl_usd:sum", ""),
            "daily_return": (last, ret, ""),
            "worst_return": (low, ret, ""),
            "drawdown": (last, "trading_drawdown_ratio", by_max),
            "worst_drawdown": (high, "trading_drawdown_ratio", by_max),
            "var": (last, var, ""),
            "worst_var": (high, var, ""),
            "expected_shortfall": (last, es, ""),
            "worst_expected_shortfall": (high, es, ""),
            "crowding_level": (last, "crowding_level", by_max),
            "worst_crowding_level": (high, "crowding_level", by_max),
            "crowding_hhi": (last, "crowding_hhi", by_max),
            "model_confidence": (last, "riskwatch_model_confidence_ratio", by_min),
            "lowest_model_confidence": (low, "riskwatch_model_confidence_ratio", by_min),
        }
        results = {
            attr: by_labels(self._at_end(fn, selector, agg), "portfolio")
            for attr, (fn, selector, agg) in queries.items()
        }
        names = sorted({p for values in results.values() for p in values if p})
        for name in names:
            kpis = PortfolioKpis(name, limits_for(self.limits, name))
            for attr, values in results.items():
                setattr(kpis, attr, values.get(name))
            self.data.portfolios.append(kpis)

        s = self.data.series
        s["value"] = self._sorted(self._range("portfolio:trading_portfolio_value_usd:sum"))
        s["pnl"] = self._sorted(
            self._range("portfolio:trading_daily_pnl_usd:sum")
            | self._range("firm:trading_daily_pnl_usd:sum")
        )
        s["daily_return"] = self._sorted(self._range(ret))
        s["drawdown"] = self._sorted(self._range(f"{by_max} (trading_drawdown_ratio)"))
        s["var"] = self._sorted(self._range(var))
        s["expected_shortfall"] = self._sorted(self._range(es))
        s["model_confidence"] = self._sorted(
            self._range(f"{by_min} (riskwatch_model_confidence_ratio)")
        )

    @staticmethod
    def _sorted(series: dict[str, Series]) -> list[Series]:
        # Portfolios in name order, the firm total last (drawn on top, in black).
        return sorted(series.values(), key=lambda x: (x.label == FIRM, x.label))

    def _firm(self) -> None:
        firm = self.data.firm

        def one(fn: str, selector: str) -> float | None:
            rows = self._at_end(fn, selector)
            return rows[0][1] if rows else None

        firm.value = one("last_over_time", "firm:trading_portfolio_value_usd:sum")
        firm.pnl = one("last_over_time", "firm:trading_daily_pnl_usd:sum")
        firm.daily_return = one("last_over_time", "firm:trading_daily_return:ratio")
        firm.worst_drawdown = one("max_over_time", "firm:trading_drawdown_ratio:max")
        # Dollar VaR adds up across books only as an upper bound (it ignores
        # diversification); the report labels it so.
        var_usd = [p.var * p.value for p in self.data.portfolios if p.var is not None and p.value]
        firm.var_usd = sum(var_usd) if var_usd else None

    def _compliance(self) -> None:
        by_rule = "max by (portfolio, rule)"
        active = self._at_end(
            "last_over_time", "compliance_violation_active", "max by (portfolio, rule, severity)"
        )
        value = by_labels(
            self._at_end("last_over_time", "compliance_rule_value", by_rule), "portfolio", "rule"
        )
        limit = by_labels(
            self._at_end("last_over_time", "compliance_rule_limit", by_rule), "portfolio", "rule"
        )
        during = by_labels(
            self._at_end("max_over_time", "compliance_violation_active", by_rule),
            "portfolio",
            "rule",
        )
        history = {
            (m.get("portfolio", ""), m.get("rule", "")): s
            for m, s in self.prom.matrix(
                f"{by_rule} (compliance_violation_active)", self.window.start, self.window.end
            )
        }
        rows = []
        for metric, state in active:
            key = (metric.get("portfolio", ""), metric.get("rule", ""))
            rule = self.limits.compliance.rules.get(key[1])
            # A rule the policy does not know (an agent's own) still shows, by its id.
            description, unit = (rule.title, rule.unit) if rule else (key[1], "number")
            breached = during.get(key, state) > 0
            rows.append(
                ComplianceRow(
                    portfolio=key[0],
                    rule=key[1],
                    description=description,
                    unit=unit,
                    severity=metric.get("severity", ""),
                    active=state > 0,
                    breached_today=breached,
                    value=value.get(key),
                    limit=limit.get(key),
                    first_breach=(
                        first_crossing(history.get(key), 0.0, self.window.zone)
                        if breached
                        else None
                    ),
                )
            )
        # The shipped rules in their evaluation order, any others after them.
        order = {rule: i for i, rule in enumerate(self.limits.compliance.rules)}
        self.data.compliance = sorted(
            rows, key=lambda r: (r.portfolio, order.get(r.rule, len(order)), r.rule)
        )
        counts: dict[str, int] = {}
        for r in rows:
            if r.breached_today:
                counts[r.portfolio] = counts.get(r.portfolio, 0) + 1
        for p in self.data.portfolios:
            p.compliance_breaches = counts.get(p.name, 0)
        self.data.firm.compliance_breaches = sum(counts.values())

    def _alerts(self) -> None:
        w = self.window
        try:
            raw = self.receiver.alerts(since=w.start - ALERT_LOOKBACK)
        except ReceiverError as exc:
            self.data.alerts_error = str(exc)
            log.warning("alert history unavailable: %s", exc)
            return
        self.data.alerts_truncated = len(raw) >= self.receiver.page_size
        rows = []
        for a in raw:
            row = _alert_row(a, w.zone)
            # The alert belongs to the day if it was open at any time during it.
            still_open = row.status == "firing" or row.ends_at is None
            if row.starts_at < w.end and (still_open or (row.ends_at or w.end) >= w.start):
                rows.append(row)
        rows.sort(key=lambda r: (r.starts_at, r.id))
        self.data.alerts = [self._with_note(r) for r in rows]
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.portfolio] = counts.get(r.portfolio, 0) + 1
        for p in self.data.portfolios:
            p.alerts = counts.get(p.name, 0)
        self.data.firm.alerts = len(rows)
        self.data.firm.unacknowledged = sum(1 for r in rows if not r.acked)

    def _with_note(self, row: AlertRow) -> AlertRow:
        """`row` with its latest acknowledgement's note; the list has none, so an acked
        alert's history is read (a few per day). Without it the row stands as it is."""
        if not row.acked:
            return row
        try:
            acks = self.receiver.alert(row.id).get("acks") or []
        except ReceiverError as exc:
            log.warning("acknowledgement note of alert %d unavailable: %s", row.id, exc)
            return row
        notes = [str(a.get("why") or "") for a in acks if a.get("why")]
        return replace(row, ack_note=notes[-1]) if notes else row


def _timestamp(text: str | None, zone: ZoneInfo) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(zone)


def _alert_row(a: Mapping[str, Any], zone: ZoneInfo) -> AlertRow:
    """One alert of the receiver's audit trail, its times in `zone` (the report's)."""
    annotations = a.get("annotations") or {}
    starts = _timestamp(a.get("starts_at"), zone)
    assert starts is not None  # the receiver's schema requires it
    return AlertRow(
        id=int(a["id"]),
        alertname=str(a.get("alertname") or "(unnamed)"),
        severity=str(a.get("severity") or ""),
        portfolio=str(a.get("portfolio") or ""),
        summary=str(annotations.get("description") or annotations.get("summary") or ""),
        status=str(a.get("status") or ""),
        starts_at=starts,
        ends_at=_timestamp(a.get("ends_at"), zone) if a.get("status") == "resolved" else None,
        acked=bool(a.get("acked")),
        acked_by=a.get("acked_by"),
        acked_at=_timestamp(a.get("acked_at"), zone),
    )


def collect(
    settings: Settings,
    day: date,
    *,
    prometheus_url: str | None = None,
    receiver_url: str | None = None,
    now: datetime | None = None,
    clock: Clock = system_clock,
) -> ReportData:
    """Query Prometheus and the receiver for `day` (a date in the market's zone) as of
    `now`.

    Without `now`, the report is as of `clock()` (the wall clock unless a test or a
    replay passes its own). A `day` that has not started by then is a ReportError.
    """
    now = now if now is not None else clock()
    window = report_window(day, now, MarketCalendar(settings.policy.market))
    collector = Collector(
        settings,
        window,
        prometheus_url or settings.url.prometheus,
        receiver_url or settings.url.receiver,
        now,
    )
    return collector.collect()
