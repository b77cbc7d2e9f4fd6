"""The recording rules, rendered into `alerts/rules/recording.rules.yml`.

Pre-aggregated series for the dashboards, named level:metric:operations: per-portfolio
sums and maxima that drop the job/agent labels, and the firm's totals. The demo's
backfill evaluates the same `RecordingRule` definitions on its own series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class RecordingRule:
    """One recording rule, for dashboards: named level:metric:operations.

    A rule is its definition, not a PromQL string: `op` over `source` (summed or the
    highest, per the `by` labels), or `source` divided by `denominator` on matching
    labels. `expr` renders it; the backfill evaluates the same definition on its own
    series, so it never parses PromQL.
    """

    record: str
    op: Literal["sum", "max", "ratio"]
    source: str
    by: tuple[str, ...] = ()
    denominator: str | None = None

    def __post_init__(self) -> None:
        if (self.op == "ratio") != (self.denominator is not None):
            raise ValueError(f"{self.record}: a ratio, and only a ratio, has a denominator")

    @property
    def expr(self) -> str:
        """The rule as PromQL."""
        if self.op == "ratio":
            return f"{self.source} / {self.denominator}"
        grouping = f" by ({', '.join(self.by)}) " if self.by else ""
        return f"{self.op}{grouping}({self.source})"


def _sum(record: str, source: str, *by: str) -> RecordingRule:
    return RecordingRule(record, "sum", source, by)


def _max(record: str, source: str, *by: str) -> RecordingRule:
    return RecordingRule(record, "max", source, by)


def _ratio(record: str, numerator: str, denominator: str) -> RecordingRule:
    return RecordingRule(record, "ratio", numerator, denominator=denominator)


RECORDING_RULES: tuple[RecordingRule, ...] = (
    # One agent publishes a portfolio; sum by portfolio drops job/agent labels so
    # dashboards key on the portfolio alone.
    _sum("portfolio:trading_portfolio_value_usd:sum", "trading_portfolio_value_usd", "portfolio"),
    _sum("portfolio:trading_daily_pnl_usd:sum", "trading_daily_pnl_usd", "portfolio"),
    _ratio(
        "portfolio:trading_daily_return:ratio",
        "portfolio:trading_daily_pnl_usd:sum",
        "portfolio:trading_portfolio_value_usd:sum",
    ),
    _max("portfolio:risk_var_ratio:max", "risk_var_ratio", "portfolio", "confidence"),
    _max(
        "portfolio:risk_expected_shortfall_ratio:max",
        "risk_expected_shortfall_ratio",
        "portfolio",
        "confidence",
    ),
    _sum("portfolio:compliance_violation_active:sum", "compliance_violation_active", "portfolio"),
    # Firm totals for the executive dashboard.
    _sum("firm:trading_portfolio_value_usd:sum", "portfolio:trading_portfolio_value_usd:sum"),
    _sum("firm:trading_daily_pnl_usd:sum", "portfolio:trading_daily_pnl_usd:sum"),
    _ratio(
        "firm:trading_daily_return:ratio",
        "firm:trading_daily_pnl_usd:sum",
        "firm:trading_portfolio_value_usd:sum",
    ),
    _sum("firm:trading_gross_exposure_usd:sum", "trading_gross_exposure_usd"),
    _max("firm:trading_drawdown_ratio:max", "trading_drawdown_ratio"),
    _sum("firm:compliance_violation_active:sum", "portfolio:compliance_violation_active:sum"),
)
"""Every recording rule, in the order recording.rules.yml lists them."""
