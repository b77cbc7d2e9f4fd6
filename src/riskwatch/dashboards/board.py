"""A riskwatch dashboard's frame: its defaults, datasource, variables and alert markers.

`new_dashboard` gives every dashboard the same tag, links menu, time range,
datasource variable and firing-alert annotations; the panels go on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

TAG = "riskwatch"
"""Every riskwatch dashboard carries this tag; the dashboard links menu lists them by it."""

DATASOURCE_UID = "riskwatch-prometheus"
"""The uid of the Prometheus datasource in dashboards/provisioning/datasources."""

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
"""Panels query the `datasource` variable, which defaults to DATASOURCE_UID, so the
dashboards also work in a Grafana whose Prometheus has another uid."""

ALERTS_FIRING = 'ALERTS{alertstate="firing",alertname!="Watchdog"}'
"""Every firing alert but the always-firing Watchdog, which only proves the pipeline."""


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
