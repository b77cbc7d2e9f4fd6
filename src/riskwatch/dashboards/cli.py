"""`riskwatch dashboards build|check|push|preview`.

Registered on the main CLI as the `dashboards` group; also runs on its own as
`python -m riskwatch.dashboards.cli`. Grafana's URL, token and folder are options
with environment fallbacks; nothing secret has a default.
"""

from __future__ import annotations

from pathlib import Path

import click

from riskwatch.cliutil import cli_settings, fail
from riskwatch.policy import PolicyError
from riskwatch.settings import ConfigError, Settings

URL_ENV = "RISKWATCH_GRAFANA_URL"
# The variable's name, not a token.
TOKEN_ENV = "RISKWATCH_GRAFANA_TOKEN"  # nosec B105


@click.group("dashboards")
def dashboards() -> None:
    """Grafana dashboards generated from code (dashboards/*.json)."""


@dashboards.command("build")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the dashboards' JSON into this folder, from the deployment's policy "
    "file, to import into a Grafana of your own, instead of regenerating the "
    "checkout's dashboards/*.json.",
)
@click.pass_context
def build_cmd(ctx: click.Context, out: Path | None) -> None:
    """Regenerate dashboards/*.json from the code and policy.yaml."""
    from riskwatch.dashboards import build

    settings = cli_settings(ctx)
    if out is not None:
        try:
            files = build.render(settings.policy)
            out.mkdir(parents=True, exist_ok=True)
            for filename, content in files.items():
                (out / filename).write_text(content)
                click.echo(f"wrote {out / filename}")
        except (ConfigError, PolicyError) as exc:
            fail(str(exc), 2)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        return
    try:
        changed = build.write(settings.project_dir)
    except PolicyError as exc:
        fail(str(exc), 2)
    for path in changed:
        click.echo(f"wrote {path}")
    if not changed:
        click.echo("dashboards already up to date")


@dashboards.command("check")
@click.pass_context
def check_cmd(ctx: click.Context) -> None:
    """Fail if dashboards/*.json differ from a fresh build, or if a panel or rule reads
    a metric the catalog does not declare, or a catalog metric is read by nothing."""
    from riskwatch.dashboards import build, check

    project_dir = cli_settings(ctx).project_dir
    try:
        stale = build.stale(project_dir)
        boards = build.build_all(build.project_limits(project_dir))
    except PolicyError as exc:
        fail(str(exc), 2)
    for problem in stale:
        click.echo(problem)
    problems = check.problems(boards, check.rule_files(project_dir))
    for problem in problems:
        click.echo(problem)
    if stale:
        fail(f"{len(stale)} dashboard file(s) out of date: run `riskwatch dashboards build`")
    if problems:
        fail(f"{len(problems)} dashboard/catalog problem(s)")
    click.echo(f"{len(boards)} dashboards up to date; panels, rules and catalog agree")


def _read_token(token_file: Path | None, settings: Settings) -> str:
    if token_file is not None:
        try:
            return token_file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read the token file {token_file}: {exc.strerror}", 2)
    secret = settings.grafana_token
    token = secret.get_secret_value().strip() if secret is not None else ""
    if not token:
        fail(f"no Grafana token: pass --token-file or set {TOKEN_ENV}", 2)
    return token


@dashboards.command("push")
@click.option(
    "--grafana-url",
    default=None,
    help=f"Grafana's base URL, e.g. https://grafana.example.com (default: ${URL_ENV}).",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"File holding a Grafana service-account token (default: ${TOKEN_ENV}).",
)
@click.option("--folder", default=None, help="Grafana folder title (default: grafana_folder).")
@click.pass_context
def push_cmd(
    ctx: click.Context, grafana_url: str | None, token_file: Path | None, folder: str | None
) -> None:
    """Upload the dashboards, built with the running policy, to Grafana (by uid)."""
    from riskwatch.dashboards import build
    from riskwatch.dashboards.push import PushError, push

    settings = cli_settings(ctx)
    grafana_url = grafana_url or settings.grafana_url
    if not grafana_url:
        fail(f"no Grafana URL: pass --grafana-url or set {URL_ENV}", 2)
    token = _read_token(token_file, settings)
    folder = folder or settings.grafana_folder
    # Built from the policy in force, not read from the committed files: those carry
    # the repository's policy, and an operator's limits must reach the panels.
    boards = build.build_all(settings.policy)
    try:
        pushed = push(boards, grafana_url, token, folder)
    except PushError as exc:
        fail(str(exc))
    for item in pushed:
        click.echo(f"pushed {item.uid} (version {item.version}) {item.url}")


@dashboards.command("preview")
@click.option(
    "--prometheus-url",
    default=None,
    help="Prometheus to query (default: the local stack's, from settings).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the PNGs (created if missing). No default: a preview never lands "
    "in the checkout's docs unless you name that folder.",
)
@click.option(
    "--range",
    "range_",
    default=None,
    help="Time range to show, e.g. 1h or 30m (default: each dashboard's own, 6h).",
)
@click.option("--dashboard", "names", multiple=True, help="Only this dashboard (repeatable).")
@click.pass_context
def preview_cmd(
    ctx: click.Context,
    prometheus_url: str | None,
    out: Path,
    range_: str | None,
    names: tuple[str, ...],
) -> None:
    """Render a PNG of each dashboard from the real Prometheus, in its layout."""
    from riskwatch.dashboards import build
    from riskwatch.dashboards.preview.render import render_all
    from riskwatch.policy import duration_seconds
    from riskwatch.prometheus_api import Prometheus, PrometheusError

    settings = cli_settings(ctx)
    try:
        seconds = float(duration_seconds(range_)) if range_ else None
    except ValueError as exc:
        fail(f"--range: {exc}", 2)
    boards = build.build_all(settings.policy)
    unknown = sorted(set(names) - set(boards))
    if unknown:
        fail(f"no dashboard {', '.join(unknown)}; there are {', '.join(boards)}", 2)
    chosen = {n: b for n, b in boards.items() if not names or n in names}
    prometheus = Prometheus(prometheus_url or settings.url.prometheus)
    try:
        written = render_all(chosen, prometheus, out, window_seconds=seconds)
    except PrometheusError as exc:
        fail(str(exc))
    for path in written:
        click.echo(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover - `python -m riskwatch.dashboards.cli`
    dashboards()
