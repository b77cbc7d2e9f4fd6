"""One validation run: load the dataset, score it, write the artifacts, push.

`run_validation` is what `riskwatch validate` and the health agent's nightly task
both call. It reads no clock of its own: "now" is the caller's (the command's
`Clock`, the runtime's `TaskContext.now`), and decides the default day and what
counts as the future. Only the pushed `riskwatch_validation_last_success_timestamp_seconds`
is wall-clock time, because Prometheus compares it with its own `time()`.

A run that has results writes its artifacts before it pushes, so a Pushgateway that
is down loses nothing: the outcome carries the push error, and the artifacts are on
disk. A gate that fails is a result, not a failure of the run: the results are
written and pushed, `riskwatch_validation_last_success_timestamp_seconds` advances (the job
ran; ValidationGateFailed says which gate failed), and the outcome says so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import psycopg

from riskwatch.calendar import MarketCalendar
from riskwatch.publish import Publisher, RetryPolicy
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import Settings
from riskwatch.sources.base import MarketDataSource, SourceError
from riskwatch.validation.artifacts import Artifacts, write_artifacts
from riskwatch.validation.charts import draw_charts
from riskwatch.validation.datasets import DATASETS, DESK, Dataset, load_offline
from riskwatch.validation.desk import ForecastHistory, desk_span, load_desk
from riskwatch.validation.findings import Findings, assess
from riskwatch.validation.markdown import render_markdown
from riskwatch.validation.push import PushError, RunTimes, push_results, results_registry
from riskwatch.validation.span import last_completed_session
from riskwatch.validation.summary import summary


class ValidationRunError(Exception):
    """The run could not produce results (no database, data source down, artifacts
    not writable); already phrased as one line."""


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced."""

    findings: Findings
    artifacts: Artifacts
    duration_seconds: float
    push_error: str | None = None
    """Why the push failed; None when it succeeded or was not asked for."""
    pushed: bool = False


def desk_symbols(settings: Settings) -> tuple[str, ...]:
    """The symbols a desk run scores: `validation.symbols`, else the benchmark and the
    factor proxies, the series every risk figure of the desk depends on."""
    if settings.validation.symbols is not None:
        return settings.validation.symbols
    t = settings.trading
    named = [t.benchmark, *t.factor_proxies.values()]
    return tuple(dict.fromkeys(s for s in named if s))


def pushgateway_url(settings: Settings) -> str:
    """Where the results go: `validation.pushgateway_url`, then the agents'."""
    v = settings.validation
    return v.pushgateway_url or settings.agent.pushgateway_url or settings.url.pushgateway


def load_dataset(
    settings: Settings,
    name: str,
    *,
    now: datetime,
    as_of: date | None = None,
    since: date | None = None,
    market: MarketDataSource | None = None,
    log: ForecastHistory | None = None,
) -> Dataset:
    """The dataset `name` as of `as_of` (default: the last completed exchange day at
    `now` for the desk, the last day of the history for an offline dataset).

    Raises:
        ValueError: an unknown dataset name.
        SpanError: a date the dataset cannot be validated as of.
        ValidationRunError: the forecast log or the market source cannot be read.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    policy = settings.policy
    calendar = MarketCalendar(policy.market)
    if name != DESK:
        return load_offline(name, policy, calendar, as_of=as_of, since=since)
    # The dates first: a day in the future is bad input whatever the database says.
    span = desk_span(policy, calendar, now, as_of or last_completed_session(calendar, now), since)
    if log is None:
        log = _forecast_log(settings)
    if market is None:
        from riskwatch.sources.configured import make_market

        # Its rejected-tick counter is not pushed: the agents count those.
        market = make_market(settings, Publisher("validation"))
    try:
        return load_desk(
            span,
            log=log,
            market=market,
            symbols=desk_symbols(settings),
            now=now,
            session=calendar.session_times(span.as_of),
        )
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())
        raise ValidationRunError(f"cannot read the forecast log: {detail}") from None
    except SourceError as exc:
        raise ValidationRunError(f"cannot read bars from the market source: {exc}") from None


def _forecast_log(settings: Settings) -> ForecastHistory:
    from riskwatch.database import local_database_url
    from riskwatch.forecast_log import ForecastLog

    dsn = local_database_url(settings)
    if dsn is None:
        raise ValidationRunError(
            "the desk dataset reads the forecast log in PostgreSQL: set "
            "RISKWATCH_DATABASE_URL (or start the local stack)"
        )
    return ForecastLog(dsn)


def run_validation(
    settings: Settings,
    dataset: Dataset,
    *,
    now: datetime,
    started: float,
    out_dir: Path | None = None,
    push: bool = True,
    url: str | None = None,
) -> RunOutcome:
    """Score `dataset`, write its artifacts under `out_dir` (default
    `validation.out_dir`) and, with `push`, push the results.

    Args:
        started: `time.perf_counter()` when the run began (before loading the data),
            for the duration it reports.

    Raises:
        ValidationRunError: the artifacts cannot be written (nothing is pushed then).
    """
    policy = settings.policy
    findings = assess(dataset, policy.validation)
    charts = draw_charts(findings, policy)
    duration = time.perf_counter() - started
    data = summary(findings, policy, generated_at=now, duration_seconds=duration)
    markdown = render_markdown(data, [(c.name, c.title) for c in charts])
    folder = out_dir or settings.validation.out_dir
    try:
        artifacts = write_artifacts(folder, data, markdown, charts)
    except OSError as exc:
        raise ValidationRunError(f"cannot write the artifacts under {folder}: {exc}") from None
    outcome = RunOutcome(findings, artifacts, duration)
    if not push:
        return outcome
    target = url or pushgateway_url(settings)
    session = MarketCalendar(policy.market).session_times(dataset.span.as_of)
    times = RunTimes(
        succeeded_at=time.time(),
        duration_seconds=time.perf_counter() - started,
        as_of_close=session[1].timestamp() if session else float("nan"),
    )
    a = settings.agent
    retry = RetryPolicy(
        a.push_timeout_seconds,
        a.push_max_attempts,
        a.push_backoff_initial_seconds,
        a.push_backoff_max_seconds,
    )
    try:
        push_results(
            target,
            settings.validation.job,
            dataset.name,
            results_registry(findings, times),
            retry,
            access=PushgatewayAccess.from_settings(settings),
        )
    except PushError as exc:
        return RunOutcome(findings, artifacts, duration, push_error=str(exc))
    return RunOutcome(findings, artifacts, duration, pushed=True)


def describe(outcome: RunOutcome) -> Sequence[str]:
    """What a run found, in a few lines for the terminal or the log."""
    f = outcome.findings
    span = f.dataset.span
    lines = [
        f"validated {f.dataset.name} as of {span.as_of} ({span.since} to {span.as_of}, "
        f"{len(span.sessions)} sessions) in {outcome.duration_seconds:.1f} s",
        f"artifacts: {outcome.artifacts.folder}",
    ]
    lines += [f"warning: {w}" for w in f.dataset.warnings]
    for g in f.gates:
        lines.append(
            f"gate {g.name}: {'pass' if g.passed else 'FAIL'} "
            f"({g.value:.4g} {g.rule} {g.threshold:g}; {g.detail})"
        )
    for group in f.backtests:
        if group.window is None:
            continue
        var = group.window.var
        lines.append(
            f"{group.portfolio} {group.method} {group.confidence:g}: {var.exceptions} "
            f"exceptions in {var.n} days, {var.zone}"
        )
    return lines
