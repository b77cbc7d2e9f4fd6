"""The `riskwatch` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from riskwatch import catalog
from riskwatch.cliutil import LazyGroup, cli_settings, fail, parse_listen
from riskwatch.stack.errors import StackError

if TYPE_CHECKING:
    from riskwatch.runtime import Task
    from riskwatch.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


# The group modules, imported only when that group is used: the agents pull in pandas
# and the exchange calendar, which `riskwatch metrics` and the stack's own processes
# should not pay for at every start. Each maps to the extra it needs beyond the core.
_GROUPS: dict[str, tuple[str, str | None]] = {
    "agent": ("riskwatch.agents.cli:agent", "agents"),
    "exporter": ("riskwatch.exporters.cli:exporter", "agents"),
    "alerts": ("riskwatch.alerts_cli:alerts", None),  # render|check lazily: dashboards
    "demo": ("riskwatch.demo.cli:demo", "demo"),
    "dashboards": ("riskwatch.dashboards.cli:dashboards", "dashboards"),
    "report": ("riskwatch.report.cli:report", "agents"),
    "validate": ("riskwatch.validation.cli:validate", "agents"),
    "users": ("riskwatch.receiver.users_cli:users", None),
}


class _RootGroup(LazyGroup):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lazy=_GROUPS, **kwargs)


@click.group(cls=_RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML settings file (default: $RISKWATCH_CONFIG, then ./riskwatch.yaml).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "text"]),
    default=None,
    help="Logs on stderr: text on a terminal and JSON lines otherwise (auto, the "
    "default; setting log_format), or always one of them.",
)
@click.version_option(package_name="riskwatch", prog_name="riskwatch")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, log_format: str | None) -> None:
    """riskwatch: monitoring and alerting for trading desks."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["log_format"] = log_format
    # Which features share an agent's process is the composition root's call: the
    # health agent also sends the daily report and runs the nightly validation
    # (`agents` imports neither `report` nor `validation`).
    ctx.obj["health_tasks"] = health_agent_tasks


def health_agent_tasks(settings: Settings) -> list[Task]:
    """The tasks `riskwatch agent health` runs beside its checks: the daily report and
    the nightly model validation, each when enabled."""
    tasks: list[Task] = []
    if settings.report.enabled:
        from riskwatch.report.schedule import report_task

        daily = report_task(settings)
        daily.once = False  # `agent health --once` is a health check: it emails no CRO
        tasks.append(daily)
    if settings.validation.enabled:
        from riskwatch.validation.schedule import validation_task

        nightly = validation_task(settings)
        nightly.once = False  # nor does it run a batch job that pushes its own results
        tasks.append(nightly)
    return tasks


# --------------------------------------------------------------------- config
@cli.command("config")
@click.pass_context
def config_cmd(ctx: click.Context) -> None:
    """Print the effective settings as JSON (secrets masked)."""
    settings = cli_settings(ctx)
    click.echo(settings.model_dump_json(indent=2))


# -------------------------------------------------------------------- metrics
@cli.command("metrics")
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON.")
@click.option(
    "--renamed",
    is_flag=True,
    help="Print the metric_relabel_configs that map the old bare names to the prefixed "
    "ones, for the scrape jobs of agents not yet upgraded (docs/metric-names.md).",
)
def metrics_cmd(as_json: bool, renamed: bool) -> None:
    """Print the metrics catalog: every metric riskwatch emits."""
    if renamed:
        import yaml

        click.echo("# riskwatch metrics gained the riskwatch_ prefix: old -> new")
        for old, new in sorted(catalog.RENAMED.items()):
            click.echo(f"#   {old} -> {new}")
        relabel = {"metric_relabel_configs": catalog.migration_relabel_configs()}
        click.echo(yaml.safe_dump(relabel, sort_keys=False), nl=False)
        click.echo("# Still sent under an old name? No line from any source: remove the above.")
        click.echo(f"#   curl -s SOURCE/metrics | grep -E '{catalog.leftover_pattern()}'")
        return
    if as_json:
        click.echo(json.dumps([m.as_dict() for m in catalog.METRICS], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="riskwatch metrics catalog")
    for column in ("name", "type", "unit", "labels", "help"):
        table.add_column(column, overflow="fold")
    for m in catalog.METRICS:
        table.add_row(m.name, m.type, m.unit, ",".join(m.labels), m.help)
    Console(width=200).print(table)


# ---------------------------------------------------------------------- stack
# The name column of `stack install` and `stack status` ("victoriametrics" is the longest).
_NAME_WIDTH = 15


def _state_dir_option(func: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="State folder (default: settings state_dir, ./.state).",
    )(func)


@cli.group()
def stack() -> None:
    """Run the whole pipeline on loopback: Prometheus, Alertmanager, Pushgateway,
    PostgreSQL, the receiver and the demo notification sinks."""


def _stack(ctx: click.Context, state_dir: Path | None) -> Any:
    from riskwatch.stack.runner import Stack

    overrides = {"state_dir": state_dir} if state_dir is not None else {}
    return Stack(cli_settings(ctx, **overrides))


@stack.command("up")
@_state_dir_option
@click.pass_context
def stack_up(ctx: click.Context, state_dir: Path | None) -> None:
    """Start every component that is not running yet, and print the URLs."""
    runner = _stack(ctx, state_dir)
    try:
        status = runner.up(report=lambda line: click.echo(line, err=True))
    except StackError as exc:
        fail(str(exc))
    _print_status(status)
    if not status["healthy"]:
        sys.exit(1)


@stack.command("install")
@click.pass_context
def stack_install(ctx: click.Context) -> None:
    """Install any missing Debian package the stack needs (as root), then list the binaries."""
    from riskwatch.stack import binaries

    settings = cli_settings(ctx)
    try:
        found = binaries.resolve(settings, report=lambda line: click.echo(line, err=True))
    except StackError as exc:
        fail(str(exc))
    for role, path in sorted(found.items()):
        click.echo(f"{role:<{_NAME_WIDTH}} {path}")


@stack.command("status")
@_state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def stack_status(ctx: click.Context, state_dir: Path | None, as_json: bool) -> None:
    """Print each component's URL and health; exit 1 if any is unhealthy."""
    status = _stack(ctx, state_dir).status()
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        _print_status(status)
    sys.exit(0 if status["healthy"] else 1)


@stack.command("secrets")
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write them (default: the state folder's secrets/).",
)
@click.pass_context
def stack_secrets(ctx: click.Context, folder: Path | None) -> None:
    """Create the secrets the stack generates, if missing: the agents' Pushgateway
    login (pushgateway_auth, pushgateway_password, pushgateway_web.yml), 0600 in a
    0700 folder. docker compose mounts them from ./secrets (docs/security.md)."""
    from riskwatch.stack.secrets import ensure_pushgateway_auth

    try:
        auth = ensure_pushgateway_auth(cli_settings(ctx), folder)
    except (StackError, OSError) as exc:
        fail(f"cannot write the secrets: {exc}")
    for path in (auth.auth_file, auth.password_file, auth.web_config):
        click.echo(str(path))


@stack.command("down")
@_state_dir_option
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the PostgreSQL cluster and its data (the alert trail), including "
    "a home outside the state folder, before the folder itself is removed.",
)
@click.pass_context
def stack_down(ctx: click.Context, state_dir: Path | None, purge: bool) -> None:
    """Stop exactly what `stack up` started from this state folder."""
    from riskwatch.stack.postgres import remove_cluster

    try:
        runner = _stack(ctx, state_dir)
        runner.down(report=lambda line: click.echo(line, err=True))
        if purge and (removed := remove_cluster(runner.layout.root)) is not None:
            click.echo(f"postgres: removed {removed}", err=True)
    except StackError as exc:
        fail(str(exc))


def _row(mark: str, name: str, text: str) -> str:
    """One line of `stack status`: a state mark, the name in its column, then `text`."""
    return f"{mark:<4} {name}".ljust(5 + _NAME_WIDTH) + f" {text}"


def _print_status(status: dict[str, Any]) -> None:
    health = status["health"]
    # VictoriaMetrics only when stack.longterm runs it.
    keys = ("prometheus", "victoriametrics", "pushgateway", "alertmanager", "receiver", "database")
    for key in (k for k in keys if k in status):
        click.echo(_row("up" if health.get(key) else "DOWN", key, status[key]))
    click.echo(
        _row(
            "up" if health.get("sinks") else "DOWN",
            "outbox",
            f"{status['outbox']}  (email/*.eml, slack/*.json, heartbeat/*.json)",
        )
    )
    if status.get("console"):
        click.echo(_row("", "console", f"{status['console']}  (log in: riskwatch users)"))
    if status.get("receiver_token_file"):
        click.echo(
            _row(
                "",
                "admin token",
                f"{status['receiver_token_file']}  "
                "(the receiver's; the console's admin logs in with it)",
            )
        )
    if status.get("pushgateway_auth_file"):
        click.echo(_row("", "push login", f"{status['pushgateway_auth_file']}  (user:password)"))
    if "heartbeat" in status:
        click.echo(_heartbeat_line(status["heartbeat"]))


def _heartbeat_line(beat: dict[str, Any]) -> str:
    """The dead man's switch as one line: the last ping's age against what is expected."""
    from riskwatch.promql import human_duration

    expected = human_duration(beat["expected_every_seconds"])
    stale_after = human_duration(beat["stale_after_seconds"])
    if beat["state"] == "none":
        first = human_duration(beat["first_within_seconds"])
        return _row(
            "NONE",
            "heartbeat",
            f"no Watchdog ping has arrived yet: normal for {first} after Prometheus starts, "
            f"then every {expected}; later, alerting is not delivering",
        )
    age = human_duration(round(beat["age_seconds"]))
    if beat["state"] == "stale":
        return _row(
            "STALE",
            "heartbeat",
            f"last Watchdog ping {age} ago, older than {stale_after}: "
            "alerting is not delivering (see docs/runbooks/Watchdog.md)",
        )
    return _row("ok", "heartbeat", f"last Watchdog ping {age} ago (expected every {expected})")


# ----------------------------------------------------------- long-running services
@cli.command("receiver")
@click.option("--listen", default=None, help="HOST:PORT (default: stack.host and receiver_port).")
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve without any credential when none is configured (loopback only).",
)
@click.pass_context
def receiver_cmd(ctx: click.Context, listen: str | None, insecure_no_auth: bool) -> None:
    """Serve the Alertmanager webhook receiver (audit trail in PostgreSQL)."""
    from riskwatch.settings import ConfigError

    settings = cli_settings(ctx)
    host, port = (
        parse_listen(listen) if listen else (settings.stack.host, settings.stack.receiver_port)
    )
    if settings.database_url is None:
        fail("the receiver needs a database: set RISKWATCH_DATABASE_URL", 2)
    if insecure_no_auth:
        receiver = settings.receiver.model_copy(update={"insecure_no_auth": True})
        settings = settings.model_copy(update={"receiver": receiver})
    from riskwatch.receiver.serve import run

    try:
        run(settings, host, port)
    except ConfigError as exc:
        fail(str(exc), 2)


@cli.command("sinks")
@click.option("--outbox", type=click.Path(path_type=Path), default=None)
@click.option("--smtp-listen", default=None, help="HOST:PORT for the SMTP sink.")
@click.option("--slack-listen", default=None, help="HOST:PORT for the Slack-compatible sink.")
@click.pass_context
def sinks_cmd(
    ctx: click.Context, outbox: Path | None, smtp_listen: str | None, slack_listen: str | None
) -> None:
    """Serve the demo notification sinks (SMTP and Slack) that write to the outbox."""
    settings = cli_settings(ctx)
    st = settings.stack
    smtp = parse_listen(smtp_listen) if smtp_listen else (st.host, st.smtp_port)
    slack = parse_listen(slack_listen) if slack_listen else (st.host, st.slack_port)
    if smtp[0] != slack[0]:
        fail("the SMTP and Slack sinks must listen on the same host", 2)
    from riskwatch.sinks import run

    run(outbox or settings.state_dir / "outbox", smtp[0], smtp[1], slack[1])


def main() -> None:
    """Console-script entry point."""
    cli(obj={})
