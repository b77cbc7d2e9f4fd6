"""``riskwatch alerts``: the alerting config's commands (``render``, ``check``) and the
receiver's audit trail from a terminal (``list``, ``show``, ``ack``).

The trail commands are the receiver's JSON API (`ReceiverClient`) printed for people:
they reach the receiver and authenticate as `riskwatch report` does (the local stack's
receiver, the token from the settings) unless told otherwise.

This module puts two features' commands under one name, so it sits beside
`riskwatch.cli`, above the features, not inside either: features do not import each
other (pyproject's [tool.importlinter]).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from riskwatch.cliutil import LazyGroup, cli_settings, fail
from riskwatch.receiver_client import ReceiverClient, ReceiverError

F = TypeVar("F", bound=Callable[..., Any])

# The list's columns, in order: the API's field names.
COLUMNS = (
    "id",
    "status",
    "alertname",
    "severity",
    "team",
    "portfolio",
    "starts_at",
    "acked_by",
)


class _AlertsGroup(LazyGroup):
    # The rules' commands need the dashboards extra (the exchange calendar, the
    # backtest's zones); list|show|ack are the receiver's client, in the core.
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            lazy={
                "render": ("riskwatch.alerting.cli:render_cmd", "dashboards"),
                "check": ("riskwatch.alerting.cli:check_cmd", "dashboards"),
            },
            **kwargs,
        )


@click.group("alerts", cls=_AlertsGroup, context_settings={"help_option_names": ["-h", "--help"]})
def alerts() -> None:
    """Alert rules and their checks (render, check), and the receiver's stored alerts
    (list, show, ack)."""


class _Instant(click.ParamType[str]):
    """An RFC 3339 timestamp with an offset, e.g. 2024-05-01T09:30:00Z."""

    name = "RFC3339"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, datetime):
            instant: datetime | None = value
        else:
            try:
                instant = datetime.fromisoformat(str(value))
            except ValueError:
                instant = None
        if instant is None or instant.tzinfo is None:
            self.fail(
                f"{value!r} is not an RFC 3339 timestamp with an offset, e.g. 2024-05-01T09:30:00Z"
            )
        # In UTC as the API writes instants, to the microsecond given: no rounding.
        return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _receiver_options(func: F) -> F:
    """`--receiver-url` and `--token-file`, which every trail command takes."""
    url = click.option(
        "--receiver-url",
        default=None,
        help="The receiver's base URL (default: the local stack's, as `riskwatch report`).",
    )
    token = click.option(
        "--token-file",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="A file holding your API token (`riskwatch users add`). Default: "
        "RISKWATCH_RECEIVER_TOKEN (or receiver_token_file), else the local stack's token.",
    )
    return url(token(func))


def _client(
    ctx: click.Context, receiver_url: str | None, token_file: Path | None
) -> ReceiverClient:
    settings = cli_settings(ctx)
    if token_file is not None:
        try:
            token: str | None = token_file.read_text().strip()
        except OSError as exc:
            fail(f"--token-file {token_file}: {exc.strerror}", 2)
        if not token:
            fail(f"--token-file {token_file} is empty", 2)
    else:
        token = settings.receiver_admin_token()
    return ReceiverClient(receiver_url or settings.url.receiver, token)


def _refused(exc: ReceiverError) -> NoReturn:
    message = str(exc)
    if exc.status == 401:
        message += " (check the token: --token-file, or RISKWATCH_RECEIVER_TOKEN)"
    fail(message)


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


# ----------------------------------------------------------------------- list
@alerts.command("list")
@click.option("--status", type=click.Choice(["firing", "resolved"]), default=None)
@click.option("--severity", default=None, help="e.g. critical, warning.")
@click.option("--team", default=None)
@click.option("--portfolio", default=None)
@click.option("--alertname", default=None)
@click.option("--since", type=_Instant(), default=None, help="Started at or after (RFC 3339).")
@click.option("--until", type=_Instant(), default=None, help="Started before (RFC 3339).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Alerts per page (default: the receiver's default page size).",
)
@click.option("--all", "every_page", is_flag=True, help="Follow the receiver's pages to the end.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert per line.")
@_receiver_options
@click.pass_context
def list_cmd(
    ctx: click.Context,
    status: str | None,
    severity: str | None,
    team: str | None,
    portfolio: str | None,
    alertname: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
    every_page: bool,
    as_json: bool,
    receiver_url: str | None,
    token_file: Path | None,
) -> None:
    """The stored alerts, newest first: one page, or with --all every page.

    --json prints JSON lines (one alert object per line, as the API returns it), so
    `--all --json` streams page after page and each line reads on its own (jq -c).
    """
    client = _client(ctx, receiver_url, token_file)
    query = {
        "status": status,
        "severity": severity,
        "team": team,
        "portfolio": portfolio,
        "alertname": alertname,
        "since": since,
        "until": until,
        "limit": limit,
    }
    try:
        if every_page:
            pages, more = client.pages(**query), None
        else:
            first, more = client.page(**query)
            pages = iter([first])
        found: list[dict[str, Any]] = []
        for page in pages:
            found.extend(page)
            if as_json:  # as each page arrives: a long trail streams
                for alert in page:
                    click.echo(json.dumps(alert, sort_keys=True))
    except ReceiverError as exc:
        _refused(exc)
    if not as_json:
        _print_table(found)
    if more is not None:
        # On stderr, so the table or JSON lines on stdout stay what was listed.
        click.echo(
            f"more alerts than these {len(found)}: --all lists every page (or narrow the filters)",
            err=True,
        )


def _print_table(found: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if not found:
        click.echo("no alerts match")
        return
    table = Table(box=None, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column.upper(), no_wrap=True)
    for alert in found:
        # Text, not str: a label value with [brackets] is data, not rich markup.
        table.add_row(*(Text(_text(alert.get(column))) for column in COLUMNS))
    # Not a terminal (a pipe, a file): wide enough that no row folds.
    width = None if sys.stdout.isatty() else 250
    Console(width=width, highlight=False).print(table)


# ----------------------------------------------------------------------- show
@alerts.command("show")
@click.argument("alert_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="The API's JSON, indented.")
@_receiver_options
@click.pass_context
def show_cmd(
    ctx: click.Context,
    alert_id: int,
    as_json: bool,
    receiver_url: str | None,
    token_file: Path | None,
) -> None:
    """Alert ID: its fields, labels, annotations, runbook and dashboard links, and its
    timeline (notifications received, acknowledgements with notes, silences)."""
    client = _client(ctx, receiver_url, token_file)
    try:
        alert = client.alert(alert_id)
    except ReceiverError as exc:
        _refused(exc)
    if as_json:
        click.echo(json.dumps(alert, indent=2, sort_keys=True))
        return
    for line in describe_alert(alert):
        click.echo(line)


def describe_alert(alert: dict[str, Any]) -> list[str]:
    """An alert with its history (`GET /api/alerts/<id>`) as the lines `show` prints."""
    annotations: dict[str, str] = alert.get("annotations") or {}
    labels: dict[str, str] = alert.get("labels") or {}
    acked = f"by {alert.get('acked_by')} at {alert.get('acked_at')}" if alert.get("acked") else "no"
    lines = [
        f"alert {alert['id']}: {alert.get('alertname')} ({alert.get('status')})",
        *_fields(
            [
                ("severity", alert.get("severity")),
                ("team", alert.get("team")),
                ("portfolio", alert.get("portfolio")),
                ("starts_at", alert.get("starts_at")),
                ("ends_at", alert.get("ends_at")),
                ("first_received", alert.get("first_received_at")),
                ("last_received", alert.get("last_received_at")),
                ("acked", acked),
                ("fingerprint", alert.get("fingerprint")),
                ("generator_url", alert.get("generator_url")),
                ("runbook_url", annotations.get("runbook_url")),
                ("dashboard_url", annotations.get("dashboard_url")),
            ]
        ),
        "labels:",
        *(f"  {name}={value}" for name, value in sorted(labels.items())),
        "annotations:",
        *(f"  {name}: {value}" for name, value in sorted(annotations.items())),
        "timeline:",
    ]
    events = timeline(alert)
    lines.extend(f"  {at}  {what}" for at, what in events)
    if not events:
        lines.append("  (nothing recorded)")
    return lines


def _fields(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    return [f"  {name + ':':<16} {_text(value)}" for name, value in pairs]


def timeline(alert: dict[str, Any]) -> list[tuple[str, str]]:
    """The alert's history as (time, what happened), oldest first: each notification
    received, each acknowledgement with its note, each silence made and expired."""
    entries: list[tuple[str, str]] = []
    for event in alert.get("events", []):
        ends = f", ends {event['ends_at']}" if event.get("ends_at") else ""
        entries.append(
            (
                event["received_at"],
                f"{event['status']:<8} received via {_text(event.get('receiver'))}{ends}",
            )
        )
    for ack in alert.get("acks", []):
        silenced = f" (silence {ack['silence_id']})" if ack.get("silence_id") else ""
        entries.append((ack["at"], f"{'ack':<8} by {ack['who']}: {ack.get('why', '')}{silenced}"))
    for silence in alert.get("silences", []):
        entries.append(
            (
                silence["created_at"],
                f"{'silence':<8} {silence['silence_id']} by {silence.get('created_by')}"
                f" until {silence.get('ends_at')}",
            )
        )
        if silence.get("expired_at"):
            entries.append(
                (
                    silence["expired_at"],
                    f"{'unsilence':<8} {silence['silence_id']} expired by "
                    f"{_text(silence.get('expired_by'))}",
                )
            )
    # By instant, not by text: "…:00Z" sorts after "…:00.5Z" as a string.
    return sorted(entries, key=lambda entry: datetime.fromisoformat(entry[0]))


# ------------------------------------------------------------------------ ack
@alerts.command("ack")
@click.argument("alert_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--note", required=True, help="Why: what is being done about it.")
@click.option(
    "--silence-hours",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Also silence the alert in Alertmanager for this many hours.",
)
@_receiver_options
@click.pass_context
def ack_cmd(
    ctx: click.Context,
    alert_id: int,
    note: str,
    silence_hours: float | None,
    receiver_url: str | None,
    token_file: Path | None,
) -> None:
    """Acknowledge alert ID as the token's user (the receiver records who, never this
    command), with --note; with --silence-hours, silence it too."""
    client = _client(ctx, receiver_url, token_file)
    try:
        acked = client.ack(alert_id, note, silence_hours)
    except ReceiverError as exc:
        _refused(exc)
    # A receiver that does not return the new ack yet: it is the last of the history.
    ack = acked["ack"] or (acked["acks"][-1] if acked["acks"] else {})
    click.echo(
        f"alert {alert_id} ({acked.get('alertname')}) acknowledged by {_text(ack.get('who'))} "
        f"at {_text(ack.get('at'))}: {_text(ack.get('why'))}"
    )
    silence_id = acked["silence_id"]
    if silence_id is not None:
        made = [s for s in acked["silences"] if s.get("silence_id") == silence_id]
        until = f" until {made[0].get('ends_at')}" if made else ""
        click.echo(f"silenced: silence {silence_id}{until}")
