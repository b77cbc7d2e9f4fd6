"""Panel factories: one per kind of panel, each with riskwatch's look and a size.

Each dashboard module chains builder calls on these (`stat_panel(...).with_target(...)`),
so a panel reads as what it shows and every panel of a kind looks the same. Every
factory sizes its panel, so the dashboard builder lays them out left to right and
wraps at 24 columns: the order in the module is the order on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    dashboard,
    gauge,
    piechart,
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
from grafana_foundation_sdk.models import text as text_model

from riskwatch.dashboards.board import DATASOURCE
from riskwatch.dashboards.style import COUNT, PERCENT, PERCENT_DECIMALS

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
