"""The risk detail dashboard: every performance and risk figure, per portfolio.

The executive dashboard shows the figures with limits; this one shows all of them
side by side, so a risk manager can compare portfolios and see what moves a limit.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from riskwatch.dashboards.board import new_dashboard, portfolio_variable
from riskwatch.dashboards.measures import (
    crowding_indices,
    instant,
    portfolio_selector,
    query,
    table_query,
    tail_risk,
)
from riskwatch.dashboards.panels import (
    bar_gauge_panel,
    column,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from riskwatch.dashboards.performance import holdings_table, realised_table
from riskwatch.dashboards.style import (
    BLUE,
    GREEN,
    ORANGE,
    PERCENT,
    PERCENT_DECIMALS,
    RED,
    USD,
    ceiling,
    limit_overrides,
    steps,
)
from riskwatch.dashboards.validation import add_validation_row
from riskwatch.policy import Policy


def build(limits: Policy) -> dashboard.Dashboard:
    """The risk detail dashboard, with thresholds from `limits`."""
    p = portfolio_selector
    d = limits.defaults
    tail = limits.tail_risk
    # The agents' own compliance limits: position and sector weights are coloured
    # against the policy's limits of rules CON_001 and CON_002.
    compliance = {rule: limits.compliance_limit(rule) for rule in ("CON_001", "CON_002")}
    crowd = limits.crowding
    board = new_dashboard(
        limits.links.uid("risk"),
        "riskwatch: Risk detail",
        "Every performance and risk figure of each portfolio: realised and holdings-based "
        "returns and ratios, tail risk by method and its nightly backtest, exposures, "
        "positions and crowding.",
        variables=[portfolio_variable()],
    )

    # ---------------------------------------------------------- performance
    # Realised first: what the desk did is what a reader means by Sharpe.
    board.with_row(dashboard.Row("Performance: realised, then the holdings-based backtest"))
    board.with_panel(realised_table(limits))
    board.with_panel(holdings_table(limits))

    # ------------------------------------------------------------ tail risk
    board.with_row(dashboard.Row("Tail risk"))
    var_header = f"VaR {tail.var_confidence:.0%}"
    es_header = f"ES {tail.expected_shortfall_confidence:.1%}"
    by_method = table_panel(
        "VaR and ES by method",
        f"1-day Value at Risk and Expected Shortfall as shares of portfolio value, by "
        f"estimation method. Red past the default limits ({d.var:.1%} and "
        f"{d.expected_shortfall:.1%}); the alerts take the highest method.",
        columns={
            "portfolio": "Portfolio",
            "method": "Method",
            "Value #A": var_header,
            "Value #B": es_header,
        },
        width=8,
        height=8,
    )
    var_series = p("risk_var_ratio", f'confidence="{tail.var_label}"')
    es_series = p("risk_expected_shortfall_ratio", f'confidence="{tail.expected_shortfall_label}"')
    by_method.with_target(table_query(f"max by (portfolio, method) ({var_series})", "A"))
    by_method.with_target(table_query(f"max by (portfolio, method) ({es_series})", "B"))
    column(
        by_method, var_header, unit=PERCENT, decimals=PERCENT_DECIMALS, thresholds=ceiling(d.var)
    )
    column(
        by_method,
        es_header,
        unit=PERCENT,
        decimals=PERCENT_DECIMALS,
        thresholds=ceiling(d.expected_shortfall),
    )
    board.with_panel(by_method)
    for measure in tail_risk(limits):
        (limit,) = measure.levels
        tail_series = (
            timeseries_panel(
                f"{measure.title}, highest estimate",
                f"{measure.meaning}, the figure its alert watches; the dashed line is the "
                f"limit ({limit:.1%}).",
                unit=PERCENT,
                decimals=PERCENT_DECIMALS,
                width=8,
                limit_lines=True,
            )
            .thresholds(ceiling(limit))
            .min(0)
            .with_target(query(measure.series, "{{portfolio}}"))
        )
        limit_overrides(tail_series, limits, [measure.limit_name], ceiling)
        board.with_panel(tail_series)

    # ------------------------------------------------------- model validation
    # Beside the VaR figures: does the model behind them hold?
    add_validation_row(board, limits)

    # -------------------------------------------------------------- exposure
    board.with_row(dashboard.Row("Exposure and positions"))
    for metric, title, description, unit in (
        ("trading_peak_value_usd", "Peak value", "Running peak of value: the drawdown base.", USD),
        ("trading_cash_balance_usd", "Cash", "Cash held by each portfolio.", USD),
        ("trading_positions", "Open positions", "Number of open positions.", "none"),
        (
            "trading_turnover_ratio",
            "Turnover today",
            "Notional traded today over portfolio value.",
            PERCENT,
        ),
    ):
        board.with_panel(
            stat_panel(
                title,
                description,
                unit=unit,
                decimals=0 if unit == "none" else PERCENT_DECIMALS if unit == PERCENT else None,
                width=6,
            )
            .thresholds(steps(BLUE))
            .with_target(instant(p(metric), "{{portfolio}}"))
        )
    board.with_panel(
        timeseries_panel(
            "Gross and net exposure",
            "Sum of absolute and of signed position market values, in USD.",
            unit=USD,
        )
        .with_target(query(p("trading_gross_exposure_usd"), "{{portfolio}} gross"))
        .with_target(query(p("trading_net_exposure_usd"), "{{portfolio}} net"))
    )
    con_002 = compliance["CON_002"]
    board.with_panel(
        bar_gauge_panel(
            "Sector weights",
            f"Absolute exposure per sector over portfolio value. Red from the sector "
            f"concentration limit of rule CON_002 ({con_002:.0%}).",
            unit=PERCENT,
            decimals=1,
            maximum=1.0,
            width=12,
        )
        .thresholds(ceiling(con_002))
        .with_target(instant(p("trading_sector_weight_ratio"), "{{portfolio}} · {{sector}}"))
    )
    con_001 = compliance["CON_001"]
    positions = table_panel(
        "Positions",
        f"Every open position, largest first. Weight is signed market value over portfolio "
        f"value; red from the single-position limit of rule CON_001 ({con_001:.0%}).",
        columns={
            "portfolio": "Portfolio",
            "symbol": "Symbol",
            "sector": "Sector",
            "Value #A": "Quantity",
            "Value #B": "Market value",
            "Value #C": "Weight",
        },
        height=10,
        sort_by="Market value",
        descending=True,
    )
    positions.with_target(table_query(p("trading_position_quantity"), "A"))
    positions.with_target(table_query(p("trading_position_market_value_usd"), "B"))
    positions.with_target(table_query(p("trading_position_weight_ratio"), "C"))
    column(positions, "Quantity", unit="none", decimals=0)
    column(positions, "Market value", unit=USD)
    column(
        positions,
        "Weight",
        unit=PERCENT,
        decimals=PERCENT_DECIMALS,
        thresholds=steps(GREEN, (con_001, RED)),
    )
    board.with_panel(positions)

    # -------------------------------------------------------------- crowding
    board.with_row(dashboard.Row("Factor crowding"))
    for measure in crowding_indices(limits):
        medium, high = measure.levels
        board.with_panel(
            timeseries_panel(
                measure.title,
                f"{measure.meaning}; dashed lines at the medium ({medium:g}) and high "
                f"({high:g}) thresholds the agent classifies by.",
                unit="none",
                decimals=3,
                width=8,
                limit_lines=True,
            )
            .thresholds(steps(GREEN, (medium, ORANGE), (high, RED)))
            .with_target(query(measure.series, "{{portfolio}}"))
        )
    board.with_panel(
        stat_panel(
            "Absorption ratio",
            f"Share of the holdings' return variance explained by the top "
            f"{crowd.absorption_top_k} eigenvectors: high means the book moves as one.",
            unit=PERCENT,
            decimals=1,
            width=8,
            height=8,
            sparkline=True,
        )
        .thresholds(steps(BLUE))
        .with_target(query(p("crowding_absorption_ratio"), "{{portfolio}}"))
    )
    return board
