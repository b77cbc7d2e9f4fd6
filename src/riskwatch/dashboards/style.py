"""How a dashboard figure looks: Grafana units, colours, thresholds and value mappings.

Every panel of a kind looks the same: USD with no cents, ratios as percentages, red
past a limit, green inside it. Thresholds are never written here: the dashboards get
their levels from the limits config (`policy.yaml`, via `riskwatch.policy`), the same
file the alert rules are rendered from, so a gauge turns red exactly when its alert
fires; these helpers only turn the levels into Grafana's threshold steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from grafana_foundation_sdk.builders import bargauge, dashboard, gauge, stat, table, timeseries
from grafana_foundation_sdk.models import dashboard as model

from riskwatch.policy import Policy

# Grafana unit ids.
USD = "currencyUSD"
PERCENT = "percentunit"  # a 0-1 ratio, shown as a percentage
SECONDS = "s"
COUNT = "none"

GREEN = "green"
ORANGE = "orange"
YELLOW = "yellow"  # the Basel traffic light's middle zone, named as regulators name it
RED = "red"
BLUE = "blue"

# Money is left to Grafana's scaled currency format ($1.25M, $19.2K): fixed decimals
# would print a $1,254,000 book as "$1M". Percentages get two decimals: a 0.05%
# move in drawdown or VaR matters against limits of a few percent.
PERCENT_DECIMALS = 2


# ------------------------------------------------------------------ thresholds
def steps(base: str, *levels: tuple[float, str]) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: `base` below the first level, then each level's colour."""
    return (
        dashboard.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [model.Threshold(value=None, color=base)]
            + [model.Threshold(value=value, color=color) for value, color in levels]
        )
    )


def ceiling(limit: float) -> dashboard.ThresholdsConfig:
    """Green up to a maximum, red from it on (drawdown, VaR, ES, staleness)."""
    return steps(GREEN, (limit, RED))


def floor(limit: float) -> dashboard.ThresholdsConfig:
    """Red below a minimum, green from it on (model confidence and accuracy)."""
    return steps(RED, (limit, GREEN))


def warning_critical(warning: float, critical: float) -> dashboard.ThresholdsConfig:
    """Green, orange from the warning limit, red from the critical limit."""
    return steps(GREEN, (warning, ORANGE), (critical, RED))


def profit_loss(loss_limit: float) -> dashboard.ThresholdsConfig:
    """Returns: red beyond the daily loss limit, orange for a loss, green for a gain."""
    return steps(RED, (-loss_limit, ORANGE), (0.0, GREEN))


def zero_is_good() -> dashboard.ThresholdsConfig:
    """Counts of problems: green at zero, red from one."""
    return steps(GREEN, (1.0, RED))


def limit_overrides(
    panel: stat.Panel | gauge.Panel | bargauge.Panel | timeseries.Panel | table.Panel,
    limits: Policy,
    names: Sequence[str],
    thresholds: Callable[..., dashboard.ThresholdsConfig],
    *,
    max_for: Callable[..., float] | None = None,
) -> None:
    """Per-portfolio thresholds for the portfolios whose limits differ from the defaults.

    Series are named by portfolio (legend `{{portfolio}}`), so an override by name gives
    fund-b its approved 15% drawdown limit while every other portfolio keeps 10%:
    `thresholds(*values)` receives the portfolio's values of the limits `names`.
    """
    overridden = sorted({p for name in names for p in limits.overrides(name)})
    for portfolio in overridden:
        values = [limits.limit(name, portfolio) for name in names]
        properties = [
            model.DynamicConfigValue(id_val="thresholds", value=thresholds(*values).build())
        ]
        if max_for is not None:
            properties.append(model.DynamicConfigValue(id_val="max", value=max_for(*values)))
        panel.override_by_name(portfolio, properties)


# -------------------------------------------------------------------- mappings
def states(*entries: tuple[float, str, str]) -> list[model.ValueMapping]:
    """Value mappings: each (value, text, colour) shows a word instead of a number."""
    return [
        model.ValueMap(
            options={
                f"{value:g}": model.ValueMappingResult(text=label, color=color, index=i)
                for i, (value, label, color) in enumerate(entries)
            }
        )
    ]


UP_DOWN = states((1, "UP", GREEN), (0, "DOWN", RED))
OK_BREACH = states((0, "OK", GREEN), (1, "BREACH", RED))
ZONES = states((0, "GREEN", GREEN), (1, "YELLOW", YELLOW), (2, "RED", RED))
"""The Basel traffic light of a VaR backtest (riskwatch_validation_var_zone)."""
PASS_FAIL = states((1, "PASS", GREEN), (0, "FAIL", RED))
PASS_REJECTED = states((0, "PASS", GREEN), (1, "REJECTED", RED))
