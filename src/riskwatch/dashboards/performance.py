"""Performance figures as tables: realised (what the desk did) and holdings-based.

Two kinds of Sharpe, drawdown and win rate reach the dashboards, and a reader must
never mistake one for the other:

- realised (`risk_realised_*`, `trading_closed_trades_*`): the desk's own daily equity
  curve and the round trips its fills closed. This is what a CRO means by Sharpe.
- holdings-based (`risk_*`): today's holdings replayed over the price history, a
  backtest of the current book, which says nothing of how the desk traded.

Every title and description says which a table shows; the realised one comes first.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import table

from riskwatch.dashboards.measures import portfolio_selector, ref_id, table_query
from riskwatch.dashboards.panels import column, table_panel
from riskwatch.dashboards.style import (
    COUNT,
    GREEN,
    PERCENT,
    RED,
    USD,
    steps,
    warning_critical,
)
from riskwatch.policy import Policy

Figure = tuple[str, str, str | None]
"""(metric, column header, Grafana unit or None for a plain ratio); a table's order."""

REALISED: tuple[Figure, ...] = (
    ("risk_realised_sharpe", "Sharpe", None),
    ("risk_realised_sortino", "Sortino", None),
    ("risk_realised_calmar", "Calmar", None),
    ("risk_realised_max_drawdown_ratio", "Max drawdown", PERCENT),
    ("risk_realised_days", "Days", COUNT),
    ("trading_closed_trades", "Closed trades", COUNT),
    ("trading_closed_trades_win_rate_ratio", "Win rate", PERCENT),
    ("trading_closed_trades_profit_factor", "Profit factor", None),
    ("trading_closed_trades_average_win_usd", "Average win", USD),
    ("trading_closed_trades_average_loss_usd", "Average loss", USD),
)

HOLDINGS_BASED: tuple[Figure, ...] = (
    ("risk_annual_return_ratio", "Annual return", PERCENT),
    ("risk_annual_volatility_ratio", "Volatility", PERCENT),
    ("risk_sharpe", "Sharpe", None),
    ("risk_sortino", "Sortino", None),
    ("risk_calmar", "Calmar", None),
    ("risk_max_drawdown_ratio", "Max drawdown", PERCENT),
    ("risk_win_rate_ratio", "Win rate", PERCENT),
    ("risk_profit_factor", "Profit factor", None),
    ("risk_win_loss", "Win/loss", None),
    ("risk_beta", "Beta", None),
    ("risk_alpha_ratio", "Alpha", PERCENT),
    ("risk_tracking_error_ratio", "Tracking error", PERCENT),
    ("risk_information", "Information ratio", None),
)

REALISED_TITLE = "Realised performance (desk P&L and closed trades)"
HOLDINGS_TITLE = "Holdings-based backtest (today's holdings over the price history)"


def figures_table(
    title: str, description: str, figures: tuple[Figure, ...], limits: Policy, *, width: int = 24
) -> table.Panel:
    """One row per portfolio, one column per figure; drawdown coloured by its limits."""
    d = limits.defaults
    panel = table_panel(
        title,
        description,
        columns={"portfolio": "Portfolio"}
        | {f"Value #{ref_id(i)}": header for i, (_, header, _) in enumerate(figures)},
        width=width,
        height=5,
    )
    for i, (metric, header, unit) in enumerate(figures):
        selector = portfolio_selector(metric)
        panel.with_target(table_query(f"max by (portfolio) ({selector})", ref_id(i)))
        column(panel, header, unit=unit or "none", decimals=0 if unit == COUNT else 2)
    headers = {header for _, header, _ in figures}
    for header in ("Annual return", "Alpha"):
        if header in headers:
            column(panel, header, unit=PERCENT, thresholds=steps(RED, (0.0, GREEN)))
    column(
        panel,
        "Max drawdown",
        unit=PERCENT,
        thresholds=warning_critical(d.drawdown_warning, d.drawdown_critical),
    )
    return panel


def realised_table(limits: Policy, *, width: int = 24) -> table.Panel:
    """What the desk did: its realised equity curve and closed trades, per portfolio."""
    return figures_table(
        REALISED_TITLE,
        "Realised: Sharpe, Sortino, Calmar and max drawdown of each portfolio's own daily "
        "equity curve (annualised; Days is how many daily returns they rest on, and a few "
        "weeks are noise), and win rate, profit factor and average win and loss of the "
        "round trips its fills closed (FIFO). Not to be confused with the holdings-based "
        "backtest, which replays today's holdings over the price history.",
        REALISED,
        limits,
        width=width,
    )


def holdings_table(limits: Policy) -> table.Panel:
    """What today's book would have done over the price history, per portfolio."""
    return figures_table(
        HOLDINGS_TITLE,
        "Holdings-based: today's holdings replayed over the daily price history "
        "(annualised), i.e. what the current book would have done, not what the desk "
        "did; see the realised table for that. Alpha, beta, tracking error and "
        "information ratio are against the benchmark.",
        HOLDINGS_BASED,
        limits,
    )
