"""`riskwatch report`: build a day's executive report, and email it with `--send`.

Registered on the main CLI with `cli.add_command(report)`. Every failure is one line
through `riskwatch.cli.fail`: exit 2 for bad settings or options, 1 when Prometheus
cannot be read or the email cannot be sent (the report is on disk by then).

The command is the composition root of the report's clock: it reads "now" once from
`system_clock`, or from the `Clock` a caller puts in the context object under
"clock" (tests pass a `FixedClock`), and derives the default day and the report's
window from that one instant.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from riskwatch.cliutil import cli_settings, fail
from riskwatch.clock import Clock, system_clock
from riskwatch.report.mail import MailError
from riskwatch.report.model import ReportError


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-24") from None


@click.command("report")
@click.option(
    "--date",
    "day",
    callback=_parse_date,
    metavar="YYYY-MM-DD",
    help="Trading date to report on, in the market's time zone (default: today there).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the report; it goes in OUT/YYYY-MM-DD/ (default: report.out_dir).",
)
@click.option(
    "--send/--no-send",
    default=False,
    show_default=True,
    help="Email the report to report.recipients. Off unless asked: writing a report "
    "never mails a CRO by surprise (the health agent's daily task sends it).",
)
@click.option(
    "--pdf",
    is_flag=True,
    help="Also print the report to OUT/YYYY-MM-DD/report.pdf with Chromium (headless); "
    "report.attach_pdf attaches it to the email.",
)
@click.option("--prometheus-url", default=None, help="Default: the local stack's Prometheus.")
@click.option("--receiver-url", default=None, help="Default: the local stack's receiver.")
@click.pass_context
def report(
    ctx: click.Context,
    day: date | None,
    out: Path | None,
    send: bool,
    pdf: bool,
    prometheus_url: str | None,
    receiver_url: str | None,
) -> None:
    """The executive report: KPIs, charts, breaches, alerts and compliance for a day."""
    # Imported here: loading the report's renderers pulls in matplotlib, which
    # `riskwatch --help` should not pay for.
    from riskwatch.report.build import build_report, send_report

    settings = cli_settings(ctx)
    clock: Clock = ctx.obj.get("clock") or system_clock
    # One reading for both: a run that straddles midnight reports the day it started
    # on, as of the instant it started.
    now = clock()
    # "Today" is the market's (the policy's `market.timezone`), as in the report itself.
    day = day or now.astimezone(settings.policy.market.zone).date()
    try:
        built = build_report(
            settings,
            day,
            out or Path(settings.report.out_dir),
            prometheus_url=prometheus_url,
            receiver_url=receiver_url,
            now=now,
            pdf=pdf,
        )
    except ReportError as exc:
        fail(str(exc), 1)
    click.echo(f"report for {day} written to {built.html_path}")
    if built.pdf_path is not None:
        click.echo(f"PDF written to {built.pdf_path}")
    data = built.data
    if not data.has_data:
        click.echo(f"riskwatch: warning: no portfolio data for {day}; the report says so", err=True)
    if data.alerts_error:
        click.echo(f"riskwatch: warning: alerts section unavailable: {data.alerts_error}", err=True)
    if not send:
        return
    try:
        attempts = send_report(settings, built)
    except MailError as exc:
        fail(str(exc), 1)
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    click.echo(f"emailed to {', '.join(settings.report.recipients)}{tries}")
