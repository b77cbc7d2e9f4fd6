"""`riskwatch alerts render|check`: the alerting config's generator and its checks.

Registered on the main CLI with `cli.add_command(alerts)`; also runs on its own as
`python -m riskwatch.alerting.cli`.
"""

from __future__ import annotations

from pathlib import Path

import click

from riskwatch.alerting import calendar
from riskwatch.alerting import check as checks
from riskwatch.cliutil import cli_settings, fail
from riskwatch.clock import Clock, system_clock
from riskwatch.policy import PolicyError
from riskwatch.settings import ConfigError, Settings


@click.group("alerts")
def alerts() -> None:
    """Alert rules, routes and their checks (limits in policy.yaml)."""


@alerts.command("render")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the rules, an Alertmanager config and its templates into this folder, "
    "for a Prometheus and Alertmanager of your own (the deployment's policy file and "
    "grafana_url), instead of regenerating the checkout's files.",
)
@click.pass_context
def render_cmd(ctx: click.Context, out: Path | None) -> None:
    """Regenerate alerts/rules/*.yml and the market calendar from policy.yaml.

    The calendar lists the exchange's holidays and half days from today (the injected
    clock's, `obj["clock"]`, else the wall clock's) for market.mute_horizon_days."""
    settings = cli_settings(ctx)
    project_dir: Path = settings.project_dir
    clock: Clock = ctx.ensure_object(dict).get("clock", system_clock)
    if out is not None:
        _export(settings, out, clock)
        return
    try:
        changed = checks.render(project_dir, clock)
    except PolicyError as exc:
        fail(str(exc), 2)
    for line in changed:
        click.echo(line)
    if not changed:
        click.echo("generated files already up to date")


def _export(settings: Settings, out: Path, clock: Clock) -> None:
    from riskwatch.alerting.export import export

    try:
        policy = settings.policy
        today = clock().astimezone(policy.market.zone).date()
        written = export(settings.project_dir, policy, settings.grafana_url, out, today)
    except (ConfigError, PolicyError, calendar.CalendarError) as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    for path in written:
        click.echo(f"wrote {path}")


@alerts.command("check")
@click.pass_context
def check_cmd(ctx: click.Context) -> None:
    """Fail unless the generated files are in sync and promtool and amtool pass."""
    settings = cli_settings(ctx)
    failed = 0
    for step in checks.check(
        settings.project_dir, settings.stack.promtool_bin, settings.stack.amtool_bin
    ):
        click.echo(f"{'ok' if step.ok else 'FAILED'}  {step.name}")
        if not step.ok:
            failed += 1
            if step.detail:
                click.echo("    " + step.detail.replace("\n", "\n    "))
    if failed:
        fail(f"{failed} alerting check(s) failed")
    click.echo("all alerting checks passed")


if __name__ == "__main__":  # pragma: no cover - `python -m riskwatch.alerting.cli`
    alerts()
