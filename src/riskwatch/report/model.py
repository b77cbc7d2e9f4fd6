"""The executive report's data: the day it covers and the figures it shows.

A report covers one trading date of the market: from 00:00 to 24:00 in the market's
zone (the policy's `market.timezone`, which the window carries as `zone`), or to now
while the day is still running (`report_window`). "Now" is always passed in
(the collection reads it from an injected `riskwatch.clock.Clock`), so what a report
of a given day shows never depends on when the code, or its test, happens to run.

This module owns the dataclasses the collection fills in and the renderers format
(`ReportData` and its parts), the limits a portfolio's figures are judged against
(`limits_for`) and `ReportError`. It holds data only: no queries, no rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from riskwatch.calendar import MarketCalendar
from riskwatch.policy import Policy

FIRM = "Firm"
# One chart point a minute: 1,440 points for a whole day, fine for a line chart, and a
# breach shorter than a minute still shows in the KPIs (they use *_over_time).
STEP_SECONDS = 60


class ReportError(Exception):
    """The report cannot be built; the message is one line for the operator."""


# --------------------------------------------------------------------------- window
@dataclass(frozen=True)
class ReportWindow:
    """The market's day a report covers and the part of it that has happened.

    Lengths and comparisons go through unix time, so they are right on a
    daylight-saving day whatever zone the instants carry (see `report_window`).
    """

    day: date
    start: datetime
    end: datetime
    day_end: datetime
    session: tuple[datetime, datetime] | None
    """Regular open and close in `zone`; None when the exchange is closed."""
    zone: ZoneInfo
    """The market's time zone: the report shows every time of day in it."""

    @property
    def place(self) -> str:
        """The zone's place for the reader: "New York" in "09:41 New York time"."""
        return zone_name(self.zone)

    @property
    def complete(self) -> bool:
        """True once the day is over: the report then shows it in full."""
        return self.end.timestamp() >= self.day_end.timestamp()

    @property
    def seconds(self) -> int:
        """The window's length for `[...]` ranges, at least one step."""
        return max(STEP_SECONDS, int(self.end.timestamp() - self.start.timestamp()))


def report_window(day: date, now: datetime, calendar: MarketCalendar) -> ReportWindow:
    """The window of `day` as seen at `now`; a day in the future is an error.

    Its instants are in UTC: Python subtracts and compares two datetimes of the same
    zone by their wall clocks, which would make a daylight-saving day 24 hours long
    instead of 23 or 25 and misplace the window's `[...]` ranges by an hour.
    """
    zone = calendar.zone
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    day_end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    now = now.astimezone(UTC)
    if start > now:
        raise ReportError(
            f"{day} has not started yet in {zone_name(zone)}; pick today or a past date"
        )
    session = calendar.session_times(day)
    return ReportWindow(day, start, min(now, day_end), day_end, session, zone)


def zone_name(zone: ZoneInfo) -> str:
    """How the report names a time zone: its place, "New York" for America/New_York."""
    return zone.key.rsplit("/", 1)[-1].replace("_", " ")


# ------------------------------------------------------------------------ the data
@dataclass(frozen=True)
class Series:
    """One line of a chart: unix times and values."""

    label: str
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class LimitsInForce:
    """The policy's limits in force for one portfolio; None where a report has none."""

    drawdown_warning: float | None = None
    drawdown_critical: float | None = None
    daily_loss: float | None = None
    var: float | None = None
    expected_shortfall: float | None = None
    model_confidence: float | None = None


def limits_for(limits: Policy, portfolio: str) -> LimitsInForce:
    """The limits in force for `portfolio`, with its overrides."""
    return LimitsInForce(
        drawdown_warning=limits.limit("drawdown_warning", portfolio),
        drawdown_critical=limits.limit("drawdown_critical", portfolio),
        daily_loss=limits.limit("daily_loss", portfolio),
        var=limits.limit("var", portfolio),
        expected_shortfall=limits.limit("expected_shortfall", portfolio),
        model_confidence=limits.limit("model_confidence", portfolio),
    )


@dataclass
class PortfolioKpis:
    """One portfolio's figures at the window's end, and the day's extremes."""

    name: str
    limits: LimitsInForce
    value: float | None = None
    pnl: float | None = None
    daily_return: float | None = None
    worst_return: float | None = None
    drawdown: float | None = None
    worst_drawdown: float | None = None
    var: float | None = None
    worst_var: float | None = None
    expected_shortfall: float | None = None
    worst_expected_shortfall: float | None = None
    crowding_level: float | None = None
    worst_crowding_level: float | None = None
    crowding_hhi: float | None = None
    model_confidence: float | None = None
    lowest_model_confidence: float | None = None
    alerts: int = 0
    compliance_breaches: int = 0


@dataclass
class FirmKpis:
    """The firm's figures: the recording rules' firm:* series and the day's totals."""

    value: float | None = None
    pnl: float | None = None
    daily_return: float | None = None
    worst_drawdown: float | None = None
    var_usd: float | None = None
    alerts: int | None = None
    unacknowledged: int | None = None
    compliance_breaches: int = 0


@dataclass(frozen=True)
class ComplianceRow:
    """One rule of one portfolio at the window's end."""

    portfolio: str
    rule: str
    description: str
    unit: str
    severity: str
    active: bool | None
    breached_today: bool
    value: float | None
    limit: float | None
    first_breach: datetime | None = None


@dataclass(frozen=True)
class Breach:
    """A limit crossed during the day, whether or not an alert went out for it."""

    portfolio: str
    measure: str
    worst: float
    limit: float
    unit: str
    level: str  # "critical" or "warning"
    first_seen: datetime | None


@dataclass(frozen=True)
class AlertRow:
    """One alert from the receiver's audit trail, with its acknowledgement."""

    id: int
    alertname: str
    severity: str
    portfolio: str
    summary: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    acked: bool
    acked_by: str | None
    acked_at: datetime | None
    ack_note: str | None = None
    """The latest acknowledgement's note, as its author wrote it (any length)."""


# ------------------------------------------------- performance and model validation
@dataclass(frozen=True)
class Figure:
    """A performance figure the report shows: its metric, header and how it reads."""

    metric: str
    header: str
    unit: str
    """"ratio" (a plain number, 2 decimals), "percent", "count" or "usd"."""


REALISED: tuple[Figure, ...] = (
    Figure("risk_realised_sharpe", "Sharpe", "ratio"),
    Figure("risk_realised_sortino", "Sortino", "ratio"),
    Figure("risk_realised_max_drawdown_ratio", "Max drawdown", "percent"),
    Figure("risk_realised_days", "Days", "count"),
    Figure("trading_closed_trades", "Closed trades", "count"),
    Figure("trading_closed_trades_win_rate_ratio", "Win rate", "percent"),
    Figure("trading_closed_trades_profit_factor", "Profit factor", "ratio"),
    Figure("trading_closed_trades_average_win_usd", "Average win", "usd"),
    Figure("trading_closed_trades_average_loss_usd", "Average loss", "usd"),
)
"""What the desk did: its own daily equity curve and the round trips its fills closed."""

HOLDINGS_BASED: tuple[Figure, ...] = (
    Figure("risk_annual_return_ratio", "Annual return", "percent"),
    Figure("risk_annual_volatility_ratio", "Volatility", "percent"),
    Figure("risk_sharpe", "Sharpe", "ratio"),
    Figure("risk_sortino", "Sortino", "ratio"),
    Figure("risk_max_drawdown_ratio", "Max drawdown", "percent"),
    Figure("risk_win_rate_ratio", "Win rate", "percent"),
    Figure("risk_profit_factor", "Profit factor", "ratio"),
)
"""What today's holdings would have done over the price history: a backtest of the book."""


@dataclass(frozen=True)
class PerformanceRow:
    """One portfolio's performance figures by metric; a figure not published is absent."""

    portfolio: str
    figures: dict[str, float]


@dataclass(frozen=True)
class Backtest:
    """The last nightly backtest of one VaR/ES method of one portfolio at one confidence."""

    portfolio: str
    method: str
    confidence: str
    zone: str | None = None
    exceptions: float | None = None
    observations: float | None = None
    kupiec_p: float | None = None
    christoffersen_p: float | None = None
    coverage_p: float | None = None
    es_z2: float | None = None
    es_rejected: bool | None = None


@dataclass(frozen=True)
class Gate:
    """One data gate of the last validation run, with its measured value and threshold."""

    name: str
    passed: bool
    value: float | None = None
    threshold: float | None = None


@dataclass
class Validation:
    """What Prometheus holds of the nightly validation job (`riskwatch validate`)."""

    dataset: str
    due: datetime
    """The close of the last exchange day before the report's day: a run that
    succeeded after it has validated that day."""
    lookback: timedelta
    """How far back before the window's end the report looked for a run."""
    last_success: datetime | None = None
    as_of: datetime | None = None
    """The close of the last exchange day the last run validated, when it says."""
    backtests: list[Backtest] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)

    @property
    def current(self) -> bool:
        """True when a run succeeded after the close of the last exchange day."""
        return self.last_success is not None and self.last_success >= self.due


# ------------------------------------------------------------------ the day's trading
@dataclass(frozen=True)
class TradeRow:
    """One fill of the day, and the P&L it realised by closing earlier lots (FIFO)."""

    portfolio: str
    symbol: str
    side: str
    quantity: float
    price: float
    at: datetime
    realised: float | None
    """None when the fill only opened or added to a position: it closed nothing."""


@dataclass(frozen=True)
class PositionRow:
    """One open position at the window's end: the agents' figures, and its cost from the
    fills kept in the database."""

    portfolio: str
    symbol: str
    quantity: float
    market_value: float | None
    weight: float | None
    average_cost: float | None
    """Of the lots still open (FIFO); None when the database has no fills for it."""
    unrealised: float | None


@dataclass(frozen=True)
class Contribution:
    """One position's part of the day's P&L: its value at the end, less its value at the
    start and what was paid for it during the day (sales count as receipts)."""

    portfolio: str
    symbol: str
    pnl: float
    realised: float
    """The part of `pnl` the day's closing fills realised."""


@dataclass(frozen=True)
class WatchRow:
    """A position's nearest limit: the policy's per-position compliance rule it is
    closest to, and how much of that limit it uses."""

    portfolio: str
    symbol: str
    rule: str
    measure: str
    unit: str
    value: float
    limit: float

    @property
    def usage(self) -> float:
        """The share of the limit used, from 0; past 1 is a breach."""
        return abs(self.value) / self.limit if self.limit > 0 else float("inf")


@dataclass
class Trading:
    """The day's trading: fills from the agents' database, positions from their figures.

    A list is empty when its source has nothing for the day; `trades_error` says why the
    database was not read (none configured, or unreachable), in which case the trades,
    costs and contributions are unknown rather than nil.
    """

    trades: list[TradeRow] = field(default_factory=list)
    trades_error: str | None = None
    positions: list[PositionRow] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)
    watch: list[WatchRow] = field(default_factory=list)
    shown: int = 40
    """How many of the day's trades the report lists (`report.trades_shown`)."""

    @property
    def closing_trades(self) -> list[TradeRow]:
        """The day's fills that closed something: what the win rate counts."""
        return [t for t in self.trades if t.realised is not None]

    @property
    def win_rate(self) -> float | None:
        """Share of the day's closing fills with a positive realised P&L; None without one."""
        closing = self.closing_trades
        if not closing:
            return None
        return sum(1 for t in closing if (t.realised or 0.0) > 0) / len(closing)


@dataclass
class ReportData:
    """Everything a report shows; the renderers only format it."""

    window: ReportWindow
    generated_at: datetime
    prometheus_url: str
    receiver_url: str
    firm: FirmKpis = field(default_factory=FirmKpis)
    portfolios: list[PortfolioKpis] = field(default_factory=list)
    series: dict[str, list[Series]] = field(default_factory=dict)
    compliance: list[ComplianceRow] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    alerts: list[AlertRow] | None = None
    alerts_error: str | None = None
    alerts_truncated: bool = False
    notes: list[str] = field(default_factory=list)
    tail_confidences: tuple[float, float] | None = None
    """The policy's VaR and ES confidences the tail-risk figures are at."""
    performance: list[PerformanceRow] = field(default_factory=list)
    validation: Validation | None = None
    """None when the report did not look (a report built without Prometheus)."""
    trading: Trading = field(default_factory=Trading)

    @property
    def has_data(self) -> bool:
        """False when Prometheus holds no portfolio figures for the day at all."""
        return bool(self.portfolios)
