"""What the panels show: their PromQL targets and the figures shared by dashboards.

The query factories make a panel's targets (range, instant, table); a `Measure` is a
figure several dashboards show (VaR, ES, the crowding indices) with its series and
the levels the policy sets for it, so every dashboard shows it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.models import prometheus as prom_model

from riskwatch.policy import Policy
from riskwatch.promql import selector


# --------------------------------------------------------------------- queries
def query(expr: str, legend: str = "") -> prometheus.Dataquery:
    """A range query, for time series."""
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").range()


def instant(expr: str, legend: str = "") -> prometheus.Dataquery:
    """An instant query: the latest value, for stats, gauges and bar gauges."""
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").instant()


def table_query(expr: str, ref_id: str) -> prometheus.Dataquery:
    """An instant query in table format: one row per series, one column per label."""
    return (
        prometheus.Dataquery()
        .expr(expr)
        .format(prom_model.PromQueryFormat.TABLE)
        .instant()
        .ref_id(ref_id)
    )


def ref_id(i: int) -> str:
    """The refId of a table's `i`-th query (A, B, ...): its value column is
    `Value #<refId>` once the queries are merged."""
    return chr(ord("A") + i)


def portfolio_selector(metric: str, *matchers: str) -> str:
    """`metric{portfolio=~"$portfolio",...}`: a selector limited to the chosen portfolios."""
    return selector(metric, 'portfolio=~"$portfolio"', *matchers)


# ------------------------------------------------------------------- measures
@dataclass(frozen=True)
class Measure:
    """A figure shown on several dashboards: its name, series and limits."""

    title: str
    meaning: str
    series: str
    levels: tuple[float, ...]
    limit_name: str = ""


def tail_risk(limits: Policy) -> tuple[Measure, Measure]:
    """VaR and ES, the highest estimate over methods, as the tail-risk alerts watch them."""
    tail, d = limits.tail_risk, limits.defaults
    return (
        Measure(
            f"VaR {tail.var_confidence:.0%} 1-day",
            "Value at Risk",
            portfolio_selector("portfolio:risk_var_ratio:max", f'confidence="{tail.var_label}"'),
            (d.var,),
            "var",
        ),
        Measure(
            f"ES {tail.expected_shortfall_confidence:.1%} 1-day",
            "Expected Shortfall (the average loss beyond the VaR)",
            portfolio_selector(
                "portfolio:risk_expected_shortfall_ratio:max",
                f'confidence="{tail.expected_shortfall_label}"',
            ),
            (d.expected_shortfall,),
            "expected_shortfall",
        ),
    )


def crowding_indices(policy: Policy) -> tuple[Measure, Measure]:
    """HHI and Gini with the medium and high thresholds the trading agent classifies by.

    Both read the policy's crowding thresholds, so a tile turns orange or red exactly
    when the agent calls the level medium or high.
    """
    crowd = policy.crowding
    return (
        Measure(
            "Crowding HHI",
            "Concentration of factor exposures (1/n to 1)",
            portfolio_selector("crowding_hhi"),
            (crowd.hhi_medium, crowd.hhi_high),
        ),
        Measure(
            "Crowding Gini",
            "Inequality of absolute factor exposures (0 to 1)",
            portfolio_selector("crowding_gini"),
            (crowd.gini_medium, crowd.gini_high),
        ),
    )
