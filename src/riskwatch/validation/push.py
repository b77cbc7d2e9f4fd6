"""The run's results as catalog metrics, pushed to the Pushgateway as a batch job.

The Pushgateway's intended use: a job that ends pushes what it found, under its own
job name (`validation.job`, default `riskwatch_validate`) and the grouping key
`dataset`. The push replaces the group whole (PUT), so a portfolio or method that
left the forecast log leaves the Pushgateway too.

Unlike an agent's `Publisher`, which pushes in the background and shrugs off a
Pushgateway that is down, a batch job pushes once, synchronously, with a few
retries, and fails loudly: nobody would otherwise notice a validation that was never
published. A run that fails before it has results pushes nothing, which leaves the
previous run's `riskwatch_validation_last_success_timestamp_seconds` in place for
ValidationJobMissing to age.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from riskwatch import catalog
from riskwatch.analytics.backtest import ZONES
from riskwatch.policy import confidence_label
from riskwatch.publish import RetryPolicy
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.validation.findings import Findings

log = logging.getLogger("riskwatch.validation.push")


class PushError(Exception):
    """The results could not be pushed; already phrased as one line."""


@dataclass(frozen=True)
class RunTimes:
    """The instants and duration a push reports."""

    succeeded_at: float
    """Wall-clock unix time the run completed (Prometheus compares it with time())."""
    duration_seconds: float
    as_of_close: float
    """Unix time of the close of the validated exchange day."""


def results_registry(findings: Findings, times: RunTimes) -> CollectorRegistry:
    """Every validation metric of one run, in a registry of its own."""
    registry = CollectorRegistry()
    dataset = findings.dataset.name

    made: dict[str, Gauge] = {}

    def gauge(name: str) -> Gauge:
        if name not in made:
            made[name] = catalog.make_gauge(name, registry)
        return made[name]

    gauge("riskwatch_validation_last_success_timestamp_seconds").labels(dataset).set(
        times.succeeded_at
    )
    gauge("riskwatch_validation_duration_seconds").labels(dataset).set(times.duration_seconds)
    gauge("riskwatch_validation_as_of_timestamp_seconds").labels(dataset).set(times.as_of_close)
    passed, value, threshold = (
        gauge(f"riskwatch_validation_gate_{part}") for part in ("passed", "value", "threshold")
    )
    for g in findings.gates:
        passed.labels(dataset, g.name).set(1 if g.passed else 0)
        value.labels(dataset, g.name).set(g.value)
        threshold.labels(dataset, g.name).set(g.threshold)
    ratio = gauge("riskwatch_validation_data_completeness_ratio")
    for s in findings.completeness.symbols:
        ratio.labels(dataset, s.symbol).set(s.ratio)
    for group in findings.backtests:
        window = group.window
        if window is None:
            continue
        labels = (dataset, group.portfolio, group.method, confidence_label(group.confidence))
        var = window.var
        figures: dict[str, float] = {
            "riskwatch_validation_var_exceptions": var.exceptions,
            "riskwatch_validation_var_observations": var.n,
            "riskwatch_validation_var_zone": ZONES.index(var.zone),
            "riskwatch_validation_var_kupiec_p_ratio": var.kupiec_p,
            "riskwatch_validation_var_christoffersen_p_ratio": var.christoffersen_p,
            "riskwatch_validation_var_conditional_coverage_p_ratio": var.conditional_coverage_p,
        }
        if window.es is not None:
            figures["riskwatch_validation_es_z2"] = window.es.z2
            figures["riskwatch_validation_es_rejected"] = 1 if window.es.rejected else 0
        for name, figure in figures.items():
            gauge(name).labels(*labels).set(figure)
    model = findings.model
    gauge("riskwatch_validation_model_windows").labels(dataset).set(len(model.windows))
    latest = model.latest_complete
    if latest is not None:
        gauge("riskwatch_validation_model_return_ratio").labels(dataset).set(latest.total_return)
        gauge("riskwatch_validation_model_sharpe").labels(dataset).set(latest.sharpe)
        gauge("riskwatch_validation_model_max_drawdown_ratio").labels(dataset).set(
            latest.max_drawdown
        )
    return registry


def push_results(
    url: str,
    job: str,
    dataset: str,
    registry: CollectorRegistry,
    retry: RetryPolicy,
    *,
    access: PushgatewayAccess | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """PUT `registry` to the group ``job=<job>, dataset=<dataset>``, retrying with
    `retry`'s backoff.

    Raises:
        PushError: every attempt failed.
    """
    delays = iter(retry.delays())
    attempt = 0
    while True:
        attempt += 1
        try:
            push_to_gateway(
                url,
                job=job,
                registry=registry,
                grouping_key={"dataset": dataset},
                timeout=retry.timeout_seconds,
                handler=(access or PushgatewayAccess()).handler(),
            )
            return
        except OSError as exc:  # refused, timed out, or an HTTP error status
            delay = next(delays, None)
            if delay is None:
                raise PushError(
                    f"cannot push the validation results to the Pushgateway at {url} "
                    f"(job {job}) after {attempt} attempt(s): {exc}"
                ) from None
            log.warning("push to %s failed (%s); retrying in %.1fs", url, exc, delay)
            sleep(delay)
