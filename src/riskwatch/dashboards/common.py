"""Factories shared by every riskwatch dashboard: defaults, queries, units and colours.

Each dashboard module chains builder calls on these (`stat(...).with_target(...)`),
so a panel reads as what it shows and every panel of a kind looks the same: USD
with no cents, ratios as percentages, red past a limit, green inside it.

Thresholds are never written here: the panels get them from the limits config
(`policy.yaml`, via `riskwatch.alerting.limits`), the same file the alert
rules are rendered from, so a gauge turns red exactly when its alert fires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    dashboard,
    gauge,
    piechart,
    prometheus,
    stat,
    statetimeline,
    table,
    text,
    timeseries,
)
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import piechart as piechart_model
from grafana_foundation_sdk.models import prometheus as prom_model
from grafana_foundation_sdk.models import text as text_model

from riskwatch.policy import Policy
from riskwatch.promql import selector

TAG = "riskwatch"
"""Every riskwatch dashboard carries this tag; the dashboard links menu lists them by it."""

DATASOURCE_UID = "riskwatch-prometheus"
"""The uid of the Prometheus datasource in dashboards/provisioning/datasources."""

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
"""Panels query the `datasource` variable, which defaults to DATASOURCE_UID, so the
dashboards also work in a Grafana whose Prometheus has another uid."""

# Grafana unit ids.
USD = "currencyUSD"
PERCENT = "percentunit"  # a 0-1 ratio, shown as a percentage
SECONDS = "s"
COUNT = "none"

GREEN = "green"
ORANGE = "orange"
RED = "red"
BLUE = "blue"

# Money is left to Grafana's scaled currency format ($1.25M, $19.2K): fixed decimals
# would print a $1,254,000 book as "$1M". Percentages get two decimals: a 0.05%
# move in drawdown or VaR matters against limits of a few percent.
PERCENT_DECIMALS = 2

ALERTS_FIRING = 'ALERTS{alertstate="firing",alertname!="Watchdog"}'
"""Every firing alert but the always-firing Watchdog, which only proves the pipeline."""


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


# ---------------------------------------------------------------------- panels
P = TypeVar("P", bound=cogbuilder.Builder[model.Panel])


def _size(panel: P, width: int, height: int, decimals: int | None = None) -> P:
    # Every factory sizes its panel, so the dashboard builder lays them out left to
    # right and wraps at 24 columns: the order in the module is the order on screen.
    assert hasattr(panel, "span") and hasattr(panel, "height")
    panel.span(width)
    panel.height(height)
    if decimals is not None:
        assert hasattr(panel, "decimals")
        panel.decimals(decimals)
    return panel


def stat_panel(
    title: str,
    description: str,
    *,
    unit: str = COUNT,
    decimals: int | None = None,
    width: int = 4,
    height: int = 4,
    sparkline: bool = False,
    background: bool = False,
    vertical: bool = False,
) -> stat.Panel:
    """The latest value of each series as a big number, coloured by its thresholds."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common.BigValueGraphMode.AREA if sparkline else common.BigValueGraphMode.NONE)
        .color_mode(
            common.BigValueColorMode.BACKGROUND if background else common.BigValueColorMode.VALUE
        )
        .text_mode(common.BigValueTextMode.AUTO)
        .justify_mode(common.BigValueJustifyMode.CENTER)
        # Vertical stacks one value per row: for a few labelled values in a tall panel.
        .orientation(common.VizOrientation.VERTICAL if vertical else common.VizOrientation.AUTO)
    )
    if decimals is None and unit == COUNT:
        decimals = 0  # counts of trades, breaches, failures: increase() extrapolates
    return _size(panel, width, height, decimals)


def status_grid(
    title: str,
    description: str,
    mappings: list[model.ValueMapping],
    *,
    width: int = 12,
    height: int = 6,
) -> stat.Panel:
    """One coloured tile per series with a word (UP/DOWN, OK/BREACH): a status board."""
    return (
        stat_panel(title, description, width=width, height=height, background=True)
        .mappings(mappings)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .orientation(common.VizOrientation.VERTICAL)
    )


def gauge_panel(
    title: str,
    description: str,
    *,
    unit: str,
    maximum: float,
    width: int = 12,
    height: int = 7,
) -> gauge.Panel:
    """A dial per series with its thresholds marked on the rim."""
    panel = (
        gauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .decimals(PERCENT_DECIMALS if unit == PERCENT else 0)
        .min(0)
        .max(maximum)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .show_threshold_markers(True)
        .show_threshold_labels(False)
    )
    return _size(panel, width, height)


def bar_gauge_panel(
    title: str,
    description: str,
    *,
    unit: str,
    decimals: int | None = None,
    minimum: float | None = 0.0,
    maximum: float | None = None,
    width: int = 8,
    height: int = 8,
) -> bargauge.Panel:
    """Horizontal bars, one per series, coloured by their thresholds: ranking at a glance."""
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .value_mode(common.BarGaugeValueMode.COLOR)
        .show_unfilled(True)
    )
    if minimum is not None:
        panel.min(minimum)
    if maximum is not None:
        panel.max(maximum)
    return _size(panel, width, height, decimals)


def timeseries_panel(
    title: str,
    description: str,
    *,
    unit: str,
    decimals: int | None = None,
    width: int = 12,
    height: int = 8,
    limit_lines: bool = False,
    stepped: bool = False,
) -> timeseries.Panel:
    """Lines over the dashboard's time range; with `limit_lines`, thresholds are drawn
    as dashed lines so a reader sees how close each series runs to its limit."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .line_width(2)
        .fill_opacity(8)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .line_interpolation(
            common.LineInterpolation.STEP_AFTER if stepped else common.LineInterpolation.LINEAR
        )
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
        .thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(
                common.GraphThresholdsStyleMode.DASHED
                if limit_lines
                else common.GraphThresholdsStyleMode.OFF
            )
        )
    )
    if not limit_lines:
        # Without limits to draw, series take the palette, not the threshold colour.
        panel.color_scheme(dashboard.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC))
    return _size(panel, width, height, decimals)


def state_timeline_panel(
    title: str,
    description: str,
    mappings: list[model.ValueMapping],
    *,
    width: int = 24,
    height: int = 8,
) -> statetimeline.Panel:
    """One band per series, coloured by state over time: when each rule was breached."""
    panel = (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .mappings(mappings)
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
        .fill_opacity(80)
        .legend(common_builder.VizLegendOptions().show_legend(False))
    )
    return _size(panel, width, height)


def pie_panel(
    title: str, description: str, *, unit: str, width: int = 8, height: int = 8
) -> piechart.Panel:
    """A donut of shares, with the values and percentages in the legend."""
    panel = (
        piechart.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .pie_type(piechart_model.PieChartType.DONUT)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .legend(
            piechart.PieChartLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .values(
                [
                    piechart_model.PieChartLegendValues.VALUE,
                    piechart_model.PieChartLegendValues.PERCENT,
                ]
            )
        )
        .color_scheme(dashboard.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC))
    )
    return _size(panel, width, height)


def table_panel(
    title: str,
    description: str,
    *,
    columns: Mapping[str, str],
    width: int = 24,
    height: int = 8,
    sort_by: str | None = None,
    descending: bool = False,
) -> table.Panel:
    """A table of instant table queries merged on their shared labels.

    `columns` maps source column -> header; only those are shown, in that order. A
    query's value column is `Value #<refId>` once several queries are merged, so
    each query's refId names its column.
    """
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .with_transformation(model.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {},
                    "includeByName": {name: True for name in columns},
                    "indexByName": {name: i for i, name in enumerate(columns)},
                    "renameByName": dict(columns),
                },
            )
        )
    )
    if sort_by is not None:
        panel.sort_by(
            [common_builder.TableSortByFieldState().display_name(sort_by).desc(descending)]
        )
    return _size(panel, width, height)


def column(
    panel: table.Panel,
    header: str,
    *,
    unit: str | None = None,
    decimals: int | None = None,
    thresholds: dashboard.ThresholdsConfig | None = None,
    mappings: list[model.ValueMapping] | None = None,
) -> table.Panel:
    """Unit, decimals and colouring of one table column, matched by its header."""
    properties: list[model.DynamicConfigValue] = []
    if unit is not None:
        properties.append(model.DynamicConfigValue(id_val="unit", value=unit))
    if decimals is not None:
        properties.append(model.DynamicConfigValue(id_val="decimals", value=decimals))
    if thresholds is not None:
        properties.append(model.DynamicConfigValue(id_val="thresholds", value=thresholds.build()))
    if mappings is not None:
        properties.append(model.DynamicConfigValue(id_val="mappings", value=mappings))
    if thresholds is not None or mappings is not None:
        properties.append(
            model.DynamicConfigValue(
                id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}
            )
        )
    return panel.override_by_name(header, properties)


def text_panel(title: str, markdown: str, *, width: int = 24, height: int = 6) -> text.Panel:
    """Static Markdown: what the figures mean, next to the figures."""
    panel = text.Panel().title(title).mode(text_model.TextMode.MARKDOWN).content(markdown.strip())
    return _size(panel, width, height)


# ------------------------------------------------------------------- dashboard
class _PrometheusAnnotation(model.AnnotationQuery):
    """An annotation query with the Prometheus fields the SDK's model does not have.

    Grafana reads titleFormat, textFormat, tagKeys and step from a Prometheus
    annotation; without them every marker is an untitled dot.
    """

    def __init__(self, fields: Mapping[str, object], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fields = dict(fields)

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload.update(self.fields)
        return payload


class AlertAnnotations(cogbuilder.Builder[model.AnnotationQuery]):
    """Firing alerts drawn on every time series: the moment a limit was breached."""

    def __init__(self, expr: str) -> None:
        self.expr = expr

    def build(self) -> model.AnnotationQuery:
        return _PrometheusAnnotation(
            {
                "titleFormat": "{{alertname}}",
                "textFormat": "{{portfolio}} {{severity}}",
                "tagKeys": "severity,portfolio,team",
                "step": "60s",
                "useValueForTime": False,
            },
            name="Firing alerts",
            datasource=DATASOURCE,
            enable=True,
            hide=False,
            icon_color="red",
            expr=self.expr,
        )


def variable(name: str, label: str, expr: str, *, multi: bool = True) -> dashboard.QueryVariable:
    """A query variable over label values, every value selected by default."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .query(expr)
        .datasource(DATASOURCE)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(multi)
        .include_all(multi)
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


PORTFOLIO_VARIABLE = "label_values(trading_portfolio_value_usd, portfolio)"


def portfolio_variable() -> dashboard.QueryVariable:
    """`$portfolio`: every portfolio an agent publishes a value for."""
    return variable("portfolio", "Portfolio", PORTFOLIO_VARIABLE)


def new_dashboard(
    uid: str,
    title: str,
    description: str,
    *,
    variables: Iterable[dashboard.QueryVariable] = (),
    annotation_expr: str = ALERTS_FIRING,
) -> dashboard.Dashboard:
    """A dashboard with riskwatch's defaults: uid, tag, links, datasource, alert markers."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .readonly()  # generated from code: edits in the UI would be lost on the next push
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("30s")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .timepicker(
            dashboard.TimePicker().refresh_intervals(["10s", "30s", "1m", "5m", "15m", "1h"])
        )
        .link(
            dashboard.DashboardLink("riskwatch")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(
            dashboard.DatasourceVariable("datasource")
            .label("Data source")
            .type("prometheus")
            .current(model.VariableOption(selected=True, text=DATASOURCE_UID, value=DATASOURCE_UID))
        )
        .annotation(AlertAnnotations(annotation_expr))
    )
    for var in variables:
        board.with_variable(var)
    return board
