"""`riskwatch validate`: the model validation as a command, for cron or by hand.

Registered lazily on the main CLI. Exit codes, so that cron and a supervisor can tell
a result from a failure:

- 0: every gate passed; results written and pushed;
- 1: the run failed (no database, data source down, artifacts not writable, or the
  Pushgateway unreachable: then the artifacts are written and the line says where);
- 2: bad input (a date that is not one, in the future or outside the history; an
  unknown dataset; invalid settings);
- 3: a gate failed: the results are written and pushed all the same.

Every failure is one line through `riskwatch.cliutil.fail`. "Now" is read once, from
`system_clock` or the `Clock` a caller puts in the context object under "clock";
tests put a market source there too ("market").
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import click

from riskwatch.cliutil import cli_settings, fail
from riskwatch.clock import Clock, system_clock

# Exit status of a run whose results are in but a gate failed.
GATE_FAILED = 3


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date like 2026-11-24", 2)


@click.command("validate")
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    help="The exchange day to validate as of (default: the last completed one; for an "
    "offline dataset, the last day of its history).",
)
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    help="The first day of the span (default: two backtest windows back for the desk, "
    "the first forecastable day of an offline history).",
)
@click.option(
    "--dataset",
    default=None,
    metavar="NAME",
    help="desk (the forecast log and market source), sp500 or nasdaq (offline history "
    "shipped with arch); default: validation.dataset.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the artifacts, written to OUT/DATASET/DATE/ (default: validation.out_dir).",
)
@click.option("--push/--no-push", default=True, show_default=True, help="Push the results.")
@click.option("--pushgateway-url", default=None, help="Default: validation.pushgateway_url.")
@click.pass_context
def validate(
    ctx: click.Context,
    day: str | None,
    since: str | None,
    dataset: str | None,
    out: Path | None,
    push: bool,
    pushgateway_url: str | None,
) -> None:
    """Backtest every VaR/ES model, score the data and the trading model, apply the
    policy's gates, write JSON, Markdown and PNG, and push the results."""
    started = time.perf_counter()
    settings = cli_settings(ctx)
    as_of, first = _date(day, "--date"), _date(since, "--since")
    # Imported here: pandas, scipy and matplotlib are not for `riskwatch --help`.
    from riskwatch.validation.datasets import DATASETS
    from riskwatch.validation.job import (
        ValidationRunError,
        describe,
        load_dataset,
        run_validation,
    )
    from riskwatch.validation.span import SpanError

    name = dataset or settings.validation.dataset
    if name not in DATASETS:
        fail(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}", 2)
    clock: Clock = ctx.obj.get("clock") or system_clock
    now = clock()
    try:
        loaded = load_dataset(
            settings, name, now=now, as_of=as_of, since=first, market=ctx.obj.get("market")
        )
        outcome = run_validation(
            settings, loaded, now=now, started=started, out_dir=out, push=push,
            url=pushgateway_url,
        )  # fmt: skip
    except SpanError as exc:
        fail(str(exc), 2)
    except ValidationRunError as exc:
        fail(str(exc), 1)
    for line in describe(outcome):
        click.echo(line)
    findings = outcome.findings
    if outcome.push_error is not None:
        if not findings.passed:
            click.echo(f"riskwatch: warning: gates failed: {', '.join(findings.failed_gates)}",
                       err=True)  # fmt: skip
        fail(f"{outcome.push_error}; the artifacts are in {outcome.artifacts.folder}", 1)
    if not findings.passed:
        fail(
            f"validation gates failed: {', '.join(findings.failed_gates)}; the results "
            f"are {'pushed and ' if outcome.pushed else ''}in {outcome.artifacts.folder}",
            GATE_FAILED,
        )
