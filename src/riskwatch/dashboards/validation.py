"""What the dashboards show of the nightly model validation (`riskwatch validate`).

The job backtests every VaR and ES method of every portfolio against what happened
and pushes its results once a night; the Pushgateway then shows them until the next
run. So every panel here reads the desk's own run (dataset `desk`), and the age of
the last successful run sits beside the zones: a zone that stopped being refreshed
is old news, and no data at all means no validation ran, never a green model.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat
from scipy import stats

from riskwatch.dashboards.measures import (
    instant,
    portfolio_selector,
    query,
    ref_id,
    table_query,
)
from riskwatch.dashboards.panels import (
    column,
    stat_panel,
    state_timeline_panel,
    status_grid,
    table_panel,
    timeseries_panel,
)
from riskwatch.dashboards.style import (
    COUNT,
    GREEN,
    ORANGE,
    PASS_FAIL,
    PASS_REJECTED,
    RED,
    SECONDS,
    YELLOW,
    ZONES,
    steps,
)
from riskwatch.policy import Policy, duration_seconds
from riskwatch.promql import matcher, selector
from riskwatch.settings import ValidationSettings


def nightly() -> str:
    """The matcher of the nightly run's dataset, the desk's own (setting
    validation.dataset's default, as ValidationJobMissing reads it); others, such as
    sp500, are reference histories pushed once."""
    return matcher("dataset", "=", ValidationSettings().dataset)


ZONE_LEGEND = "{{portfolio}} · {{method}}"

# (metric, column header) of the backtest table, in its order; rows are one
# portfolio's method at one confidence.
BACKTEST: tuple[tuple[str, str], ...] = (
    ("riskwatch_validation_var_zone", "Zone"),
    ("riskwatch_validation_var_exceptions", "Exceptions"),
    ("riskwatch_validation_var_observations", "Days"),
    ("riskwatch_validation_var_kupiec_p_ratio", "Kupiec p"),
    ("riskwatch_validation_var_christoffersen_p_ratio", "Christoffersen p"),
    ("riskwatch_validation_var_conditional_coverage_p_ratio", "Coverage p"),
    ("riskwatch_validation_es_z2", "ES Z2"),
    ("riskwatch_validation_es_rejected", "ES test"),
)


def zone_exceptions(limits: Policy) -> tuple[int, int]:
    """The exception counts from which a full backtest turns yellow and red.

    The Basel zones by the policy's numbers: with F the binomial probability of x
    exceptions or fewer over `backtest_days` at the VaR's tail probability, yellow from
    the smallest x with F >= zone_yellow_probability, red from F >= zone_red_probability
    (5 and 10 at 99% over 250 days).
    """
    v = limits.validation
    n, p = v.backtest_days, 1.0 - limits.tail_risk.var_confidence
    return (
        int(stats.binom.ppf(v.zone_yellow_probability, n, p)),
        int(stats.binom.ppf(v.zone_red_probability, n, p)),
    )


def zone_by_portfolio(*, width: int = 8, height: int = 5) -> stat.Panel:
    """The worst zone of any method per portfolio: the executive's "does VaR hold?"."""
    return (
        status_grid(
            "VaR backtest zone (worst method)",
            "The Basel traffic light of each portfolio's VaR models, from the nightly "
            "backtest of the desk's own forecasts against its realised returns: the worst "
            "of its methods. No tile means no validation ran; the Risk detail dashboard "
            "has each method, its exceptions and tests, and the age of the last run.",
            ZONES,
            width=width,
            height=height,
        )
        .thresholds(steps(GREEN, (1.0, YELLOW), (2.0, RED)))
        .with_target(
            instant(
                "max by (portfolio) "
                f"({portfolio_selector('riskwatch_validation_var_zone', nightly())})",
                "{{portfolio}}",
            )
        )
    )


def add_validation_row(board: dashboard.Dashboard, limits: Policy) -> None:
    """The risk dashboard's model-validation row: zones, tests, exceptions, age, gates."""
    v = limits.validation
    tail = limits.tail_risk
    yellow, red = zone_exceptions(limits)
    desk = nightly()
    stale = duration_seconds(v.job_stale)
    board.with_row(dashboard.Row("Model validation (nightly VaR and ES backtest)"))

    def series(metric: str, *matchers: str) -> str:
        return portfolio_selector(metric, desk, *matchers)

    by_method = "max by (portfolio, method, confidence)"
    backtests = table_panel(
        "VaR and ES backtest by portfolio and method",
        f"The last nightly backtest of each method's 1-day forecasts against the next "
        f"day's realised return, over the last {v.backtest_days} exchange days. Zone: "
        f"the Basel traffic light. Exceptions: days the loss exceeded the VaR. Kupiec p "
        f"tests their rate, Christoffersen p their clustering, coverage p both (small "
        f"p-values reject the model). ES Z2: Acerbi-Szekely's test of the ES, rejected "
        f"below {v.es_z2_critical:g}.",
        columns={"portfolio": "Portfolio", "method": "Method", "confidence": "Confidence"}
        | {f"Value #{ref_id(i)}": header for i, (_, header) in enumerate(BACKTEST)},
        width=16,
        height=9,
    )
    for i, (metric, _) in enumerate(BACKTEST):
        backtests.with_target(table_query(f"{by_method} ({series(metric)})", ref_id(i)))
    column(backtests, "Zone", mappings=ZONES)
    for header in ("Exceptions", "Days"):
        column(backtests, header, unit=COUNT, decimals=0)
    for header in ("Kupiec p", "Christoffersen p", "Coverage p"):
        column(backtests, header, unit="none", decimals=3)
    column(
        backtests,
        "ES Z2",
        unit="none",
        decimals=2,
        thresholds=steps(RED, (v.es_z2_critical, GREEN)),
    )
    column(backtests, "ES test", mappings=PASS_REJECTED)
    board.with_panel(backtests)

    board.with_panel(
        stat_panel(
            "Last validation",
            f"Time since the nightly validation job last succeeded. It runs after each "
            f"exchange day. Orange from {v.job_stale}: expected after a weekend or a "
            f"holiday, otherwise the zones beside it are stale (ValidationJobMissing). "
            f"No value: it never ran.",
            unit=SECONDS,
            decimals=1,
            width=4,
            height=9,
        )
        .thresholds(steps(GREEN, (stale, ORANGE)))
        .with_target(
            instant(
                "time() - "
                f"max({selector('riskwatch_validation_last_success_timestamp_seconds', desk)})",
                "Age",
            )
        )
    )
    board.with_panel(
        status_grid(
            "Validation gates",
            f"The last run's data gates (ValidationGateFailed): at least "
            f"{v.min_complete_windows:.0%} of the model-backtest windows complete, data "
            f"completeness of {v.min_data_completeness:.0%} or more, no daily return of "
            f"{v.max_abs_return:.0%} or more, at least {v.min_windows} window(s).",
            PASS_FAIL,
            width=4,
            height=9,
        )
        .thresholds(steps(RED, (1.0, GREEN)))
        .with_target(
            instant(
                f"min by (gate) ({selector('riskwatch_validation_gate_passed', desk)})", "{{gate}}"
            )
        )
    )

    at_var = f'confidence="{tail.var_label}"'
    board.with_panel(
        timeseries_panel(
            f"VaR {tail.var_confidence:.0%} exceptions in the backtest window",
            f"Days in the last {v.backtest_days} whose loss exceeded the {tail.var_confidence:.0%} "
            f"VaR forecast, per portfolio and method, as each night's run counted them. A "
            f"full window turns yellow from {yellow} exceptions and red from {red} (dashed "
            f"lines).",
            unit=COUNT,
            decimals=0,
            limit_lines=True,
            stepped=True,
        )
        .thresholds(steps(GREEN, (float(yellow), YELLOW), (float(red), RED)))
        .min(0)
        .with_target(
            query(
                "max by (portfolio, method) "
                f"({series('riskwatch_validation_var_exceptions', at_var)})",
                ZONE_LEGEND,
            )
        )
    )
    board.with_panel(
        state_timeline_panel(
            f"VaR {tail.var_confidence:.0%} backtest zone over time",
            "The Basel zone of each portfolio's VaR methods as each night's run left it: "
            "green, yellow, red. A gap is a time no result was published.",
            ZONES,
            width=12,
        ).with_target(
            query(
                f"max by (portfolio, method) ({series('riskwatch_validation_var_zone', at_var)})",
                ZONE_LEGEND,
            )
        )
    )
