"""The executive dashboard: what the CRO opens first, and where every alert links to.

Top to bottom it answers: how much is the firm worth and what did it make today; how
has each book really done, and does its VaR model hold; is any portfolio near its
drawdown limit; what does it hold and trade; can the models
be trusted; how much tail risk and crowding does it run; is anything in breach.
Its uid is fixed by the alerts' `dashboard_url` (policy.yaml `links`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from riskwatch.dashboards.board import ALERTS_FIRING, new_dashboard, portfolio_variable
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
    gauge_panel,
    pie_panel,
    stat_panel,
    status_grid,
    table_panel,
    timeseries_panel,
)
from riskwatch.dashboards.performance import realised_table
from riskwatch.dashboards.style import (
    BLUE,
    GREEN,
    OK_BREACH,
    ORANGE,
    PERCENT,
    PERCENT_DECIMALS,
    RED,
    USD,
    ceiling,
    floor,
    limit_overrides,
    profit_loss,
    states,
    steps,
    warning_critical,
    zero_is_good,
)
from riskwatch.dashboards.validation import zone_by_portfolio
from riskwatch.policy import Policy

TOP_POSITIONS = 15


def _drawdown_max(warning: float, critical: float) -> float:
    # The dial ends at twice the critical limit: the limit sits mid-dial, so both the
    # distance to it and a breach beyond it are visible.
    return round(critical * 2, 6)


def build(limits: Policy) -> dashboard.Dashboard:
    """The executive dashboard, with thresholds from `limits`."""
    p = portfolio_selector
    d = limits.defaults
    board = new_dashboard(
        limits.links.uid("executive"),
        "riskwatch: Executive",
        "Firm and portfolio value, P&L, drawdown, positions, models, tail risk, crowding "
        "and compliance against their limits.",
        variables=[portfolio_variable()],
        annotation_expr=(
            'ALERTS{alertstate="firing",alertname!="Watchdog",portfolio=~"$portfolio|"}'
        ),
    )

    # ----------------------------------------------------------------- firm
    board.with_row(dashboard.Row("Firm"))
    board.with_panel(
        stat_panel(
            "Firm value",
            "Marked-to-market value of every portfolio together, in USD.",
            unit=USD,
            sparkline=True,
        )
        .thresholds(steps(BLUE))
        .with_target(query("firm:trading_portfolio_value_usd:sum", "Firm"))
    )
    board.with_panel(
        stat_panel(
            "Firm P&L today",
            "Profit and loss of every portfolio since the previous session's close, in USD.",
            unit=USD,
            sparkline=True,
        )
        .thresholds(steps(RED, (0.0, GREEN)))
        .with_target(query("firm:trading_daily_pnl_usd:sum", "Firm"))
    )
    board.with_panel(
        stat_panel(
            "Firm return today",
            f"Today's P&L over firm value. Orange for a loss, red beyond the daily loss "
            f"limit of {d.daily_loss:.0%}.",
            unit=PERCENT,
            decimals=PERCENT_DECIMALS,
        )
        .thresholds(profit_loss(d.daily_loss))
        .with_target(instant("firm:trading_daily_return:ratio", "Firm"))
    )
    board.with_panel(
        stat_panel(
            "Worst drawdown",
            f"The deepest fall from peak value of any portfolio. Orange from "
            f"{d.drawdown_warning:.0%}, red from {d.drawdown_critical:.0%} (the default "
            "limits; see the gauges for each portfolio's own).",
            unit=PERCENT,
            decimals=PERCENT_DECIMALS,
        )
        .thresholds(warning_critical(d.drawdown_warning, d.drawdown_critical))
        .with_target(instant("firm:trading_drawdown_ratio:max", "Firm"))
    )
    board.with_panel(
        stat_panel(
            "Compliance breaches",
            "Compliance rules in breach now, over every portfolio. Anything above zero is red.",
        )
        .thresholds(zero_is_good())
        .with_target(instant("firm:compliance_violation_active:sum", "Breaches"))
    )
    board.with_panel(
        stat_panel(
            "Alerts firing",
            "Critical and warning alerts firing now (the list is at the bottom).",
        )
        .thresholds(zero_is_good())
        .with_target(
            instant(
                'count(ALERTS{alertstate="firing",severity=~"critical|warning"}) or vector(0)',
                "Alerts",
            )
        )
    )

    # ----------------------------------------------------------- portfolios
    board.with_row(dashboard.Row("Portfolios"))
    board.with_panel(
        stat_panel(
            "Value",
            "Marked-to-market value of each portfolio, in USD.",
            unit=USD,
            width=8,
            height=5,
        )
        .thresholds(steps(BLUE))
        .with_target(instant(p("portfolio:trading_portfolio_value_usd:sum"), "{{portfolio}}"))
    )
    board.with_panel(
        stat_panel(
            "P&L today",
            "Profit and loss since the previous session's close, in USD.",
            unit=USD,
            width=8,
            height=5,
        )
        .thresholds(steps(RED, (0.0, GREEN)))
        .with_target(instant(p("portfolio:trading_daily_pnl_usd:sum"), "{{portfolio}}"))
    )
    daily_return = (
        stat_panel(
            "Return today",
            f"Today's P&L over portfolio value. Orange for a loss, red beyond the daily "
            f"loss limit ({d.daily_loss:.0%} unless the portfolio has its own).",
            unit=PERCENT,
            decimals=PERCENT_DECIMALS,
            width=8,
            height=5,
        )
        .thresholds(profit_loss(d.daily_loss))
        .with_target(instant(p("portfolio:trading_daily_return:ratio"), "{{portfolio}}"))
    )
    limit_overrides(daily_return, limits, ["daily_loss"], profit_loss)
    board.with_panel(daily_return)
    board.with_panel(
        timeseries_panel(
            "Value over time",
            "Marked-to-market value of each portfolio over time, in USD.",
            unit=USD,
        ).with_target(query(p("portfolio:trading_portfolio_value_usd:sum"), "{{portfolio}}"))
    )
    board.with_panel(
        timeseries_panel(
            "P&L today over time",
            "Profit and loss since the previous session's close, over time, in USD.",
            unit=USD,
        ).with_target(query(p("portfolio:trading_daily_pnl_usd:sum"), "{{portfolio}}"))
    )

    # ----------------------------------------- realised, does the VaR model hold
    board.with_row(dashboard.Row("Realised performance and VaR model validation"))
    board.with_panel(realised_table(limits, width=16))
    board.with_panel(zone_by_portfolio())

    # ------------------------------------------------------------- drawdown
    board.with_row(dashboard.Row("Drawdown against limits"))
    drawdown_gauge = (
        gauge_panel(
            "Drawdown",
            f"Fall from each portfolio's peak value. Orange past the warning limit "
            f"({d.drawdown_warning:.0%}), red past the critical limit "
            f"({d.drawdown_critical:.0%}); portfolios with approved limits of their own "
            "are marked against those.",
            unit=PERCENT,
            maximum=_drawdown_max(d.drawdown_warning, d.drawdown_critical),
            height=8,
        )
        .thresholds(warning_critical(d.drawdown_warning, d.drawdown_critical))
        .with_target(
            instant(f"max by (portfolio) ({p('trading_drawdown_ratio')})", "{{portfolio}}")
        )
    )
    limit_overrides(
        drawdown_gauge,
        limits,
        ["drawdown_warning", "drawdown_critical"],
        warning_critical,
        max_for=_drawdown_max,
    )
    board.with_panel(drawdown_gauge)
    drawdown_series = (
        timeseries_panel(
            "Drawdown over time",
            "Fall from peak value; the dashed lines are the warning and critical limits.",
            unit=PERCENT,
            decimals=PERCENT_DECIMALS,
            limit_lines=True,
        )
        .thresholds(warning_critical(d.drawdown_warning, d.drawdown_critical))
        .min(0)
        .with_target(query(f"max by (portfolio) ({p('trading_drawdown_ratio')})", "{{portfolio}}"))
    )
    limit_overrides(
        drawdown_series, limits, ["drawdown_warning", "drawdown_critical"], warning_critical
    )
    board.with_panel(drawdown_series)

    # ------------------------------------------------------ positions, trades
    board.with_row(dashboard.Row("Positions and trading"))
    board.with_panel(
        bar_gauge_panel(
            f"Largest positions (top {TOP_POSITIONS})",
            "Gross market value per symbol over the selected portfolios, in USD.",
            unit=USD,
            height=9,
        )
        .thresholds(steps(BLUE))
        .with_target(
            instant(
                f"topk({TOP_POSITIONS}, sum by (symbol) "
                f"(abs({p('trading_position_market_value_usd')})))",
                "{{symbol}}",
            )
        )
    )
    board.with_panel(
        pie_panel(
            "Exposure by sector",
            "Gross market value per sector over the selected portfolios, in USD.",
            unit=USD,
            height=9,
        ).with_target(
            instant(
                f"sum by (sector) (abs({p('trading_position_market_value_usd')}))", "{{sector}}"
            )
        )
    )
    board.with_panel(
        stat_panel(
            "Trades",
            "Executions in the selected time range, by side.",
            width=4,
            height=9,
            vertical=True,
        )
        .thresholds(steps(BLUE))
        .with_target(
            instant(f"sum by (side) (increase({p('trading_trades_total')}[$__range]))", "{{side}}")
        )
    )
    board.with_panel(
        stat_panel(
            "Traded notional",
            "Notional traded in the selected time range, by side, in USD.",
            unit=USD,
            width=4,
            height=9,
            vertical=True,
        )
        .thresholds(steps(BLUE))
        .with_target(
            instant(
                f"sum by (side) (increase({p('trading_traded_notional_usd_total')}[$__range]))",
                "{{side}}",
            )
        )
    )

    # ---------------------------------------------------------------- models
    board.with_row(dashboard.Row("Trading models"))
    confidence = (
        stat_panel(
            "Model confidence",
            f"Each model's confidence in its current signal. Red below "
            f"{d.model_confidence:.0%}: its signals are close to guesses.",
            unit=PERCENT,
            decimals=1,
            width=8,
            height=5,
            sparkline=True,
        )
        .thresholds(floor(d.model_confidence))
        .with_target(query(p("riskwatch_model_confidence_ratio"), "{{portfolio}} · {{model}}"))
    )
    board.with_panel(confidence)
    board.with_panel(
        stat_panel(
            "Model accuracy (last hour)",
            f"Share of each model's predictions over the last hour that came true. Red "
            f"below {d.model_accuracy:.0%}: worse than a coin.",
            unit=PERCENT,
            decimals=1,
            width=8,
            height=5,
            sparkline=True,
        )
        .thresholds(floor(d.model_accuracy))
        .with_target(query(p("riskwatch_model_accuracy_ratio"), "{{portfolio}} · {{model}}"))
    )
    board.with_panel(
        stat_panel(
            "Model reward (episode)",
            "Each model's reward over its current episode, in the model's own units: "
            "green when positive.",
            decimals=2,
            width=8,
            height=5,
            sparkline=True,
        )
        .thresholds(steps(RED, (0.0, GREEN)))
        .with_target(query(p("riskwatch_model_episode_reward"), "{{portfolio}} · {{model}}"))
    )

    # ---------------------------------------------------- tail risk, crowding
    board.with_row(dashboard.Row("Tail risk and crowding"))
    for measure in tail_risk(limits):
        (limit,) = measure.levels
        tail_panel = (
            bar_gauge_panel(
                measure.title,
                f"{measure.meaning} as a share of portfolio value: the highest estimate "
                f"of any method. Red past the limit ({limit:.1%}).",
                unit=PERCENT,
                decimals=PERCENT_DECIMALS,
                maximum=round(limit * 2, 6),
                width=6,
                height=6,
            )
            .thresholds(ceiling(limit))
            .with_target(instant(measure.series, "{{portfolio}}"))
        )
        limit_overrides(tail_panel, limits, [measure.limit_name], ceiling)
        board.with_panel(tail_panel)
    for measure in crowding_indices(limits):
        medium, high = measure.levels
        board.with_panel(
            stat_panel(
                measure.title,
                f"{measure.meaning}. Orange from {medium:g}, red from {high:g}.",
                decimals=3,
                height=6,
            )
            .thresholds(steps(GREEN, (medium, ORANGE), (high, RED)))
            .with_target(instant(measure.series, "{{portfolio}}"))
        )
    board.with_panel(
        stat_panel(
            "Crowding level",
            f"The agent's verdict. An alert warns from level {limits.crowding.rising_level} "
            f"and pages from level {limits.crowding.high_level} once it lasts.",
            height=6,
            background=True,
        )
        .mappings(states((0, "LOW", GREEN), (1, "MEDIUM", ORANGE), (2, "HIGH", RED)))
        .thresholds(
            steps(
                GREEN,
                (float(limits.crowding.rising_level), ORANGE),
                (float(limits.crowding.high_level), RED),
            )
        )
        .with_target(instant(p("crowding_level"), "{{portfolio}}"))
    )

    # ------------------------------------------------------ compliance, alerts
    board.with_row(dashboard.Row("Compliance and alerts"))
    board.with_panel(
        status_grid(
            "Compliance by rule",
            "Each compliance rule over the selected portfolios: BREACH when any of them "
            "is in breach. The Compliance dashboard has the values and limits.",
            OK_BREACH,
            height=8,
        )
        .thresholds(zero_is_good())
        .with_target(instant(f"max by (rule) ({p('compliance_violation_active')})", "{{rule}}"))
    )
    alerts = table_panel(
        "Firing alerts",
        "Every alert firing now, most severe first. Each links to its runbook from the "
        "notification.",
        columns={
            "alertname": "Alert",
            "severity": "Severity",
            "portfolio": "Portfolio",
            "team": "Team",
            "agent": "Agent",
        },
        width=12,
        height=8,
        sort_by="Severity",
    ).with_target(table_query(ALERTS_FIRING, "A"))
    board.with_panel(alerts)
    return board
