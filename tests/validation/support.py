"""Helpers for the validation tests: the command as a user runs it (in process, with
an injected clock and market source), and what the Pushgateway holds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from riskwatch.cli import cli
from riskwatch.clock import FixedClock
from riskwatch.settings import Settings, ValidationSettings
from tests.support.stack import pushgateway_get

JOB = ValidationSettings().job


def validate(
    args: list[str],
    *,
    at: datetime,
    env: Mapping[str, str],
    market: Any = None,
) -> Result:
    """`riskwatch validate ARGS` at the instant `at`, with the settings in `env`."""
    obj = {"clock": FixedClock(at), "market": market}
    return CliRunner().invoke(cli, ["validate", *args], obj=obj, env=dict(env))


Sample = tuple[str, frozenset[tuple[str, str]]]


def pushed(settings: Settings, dataset: str, job: str = JOB) -> dict[Sample, float]:
    """Every sample the Pushgateway holds in the group (job, dataset): by metric name
    and labels (job and instance left out)."""
    resp = pushgateway_get(settings, "/metrics")
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            if s.labels.get("job") != job or s.labels.get("dataset") != dataset:
                continue
            labels = frozenset((k, v) for k, v in s.labels.items() if k not in ("job", "instance"))
            out[(s.name, labels)] = s.value
    return out


def sample(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The value of `name` with exactly these labels."""
    return samples[(name, frozenset(labels.items()))]


def historical_only(policy: dict[str, Any]) -> None:
    """A `policy_copy` edit: the historical method alone, for runs that test the job
    rather than the models (the filtered method fits a GARCH per day)."""
    policy["tail_risk"]["methods"] = ["historical"]


def one_line(result: Result) -> str:
    """The command's stderr, which must be a single line."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
