"""The model-validation alerts, rendered into `alerts/rules/validation.rules.yml`.

The nightly `riskwatch validate` batch job pushes its verdicts under its own job, once
a night, and the Pushgateway holds them until the next run: each VaR backtest's Basel
zone (VaRBacktestYellow, VaRBacktestRed), each gate (ValidationGateFailed), and when it
last succeeded (ValidationJobMissing). The zone and gate rules aggregate by their
labels and never list values: a new dataset, portfolio, VaR method (or none) or gate
is covered. ValidationJobMissing alone names a dataset, the nightly one, because it is
about what must exist (as AgentMissing names the policy's agents).

Every alert here carries `source: validation`. Alertmanager re-sends the risk team's
once a day rather than every four hours: a zone or a gate changes only with the next
night's run, and a red zone may last months.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from riskwatch.alerting.rules.common import AlertRule, Builder, Severity, query_value

# The trading phases' task, as BrokerDisconnected reads it: no metric publishes the
# market's calendar, so the trading agents' portfolio task is what says it traded.
from riskwatch.alerting.rules.health import TRADING_TASK
from riskwatch.analytics.backtest import ZONES, Zone, zone_alert_name
from riskwatch.policy import Policy
from riskwatch.promql import matcher, percent, selector
from riskwatch.settings import ValidationSettings

# The nightly dataset, the one expected to stay fresh: what the scheduled run
# validates by default (settings validation.dataset). The rules are rendered from the
# policy alone, so they watch the default. The offline checks (sp500) push once.
_NIGHTLY_DATASET = ValidationSettings().dataset

# Every alert here, in one group of validation.rules.yml, read from the validation
# job's pushes (no agent label, so AgentDown holds none of them back).
_rule = partial(
    AlertRule, file="validation", group="riskwatch-validation", labels={"source": "validation"}
)

# One VaR backtest: the labels of the validation_var_* series.
_BACKTEST = ("dataset", "portfolio", "method", "confidence")

# The zones that alert, and how loud; riskwatch_validation_var_zone publishes a zone's index in
# analytics' ZONES (0 green, 1 yellow, 2 red).
_ZONES: tuple[tuple[Zone, Severity], ...] = (("yellow", "warning"), ("red", "critical"))

_MODEL = (
    "The {{ $labels.confidence | humanizePercentage }} VaR of portfolio "
    "{{ $labels.portfolio }} ({{ with $labels.method }}method {{ . }}{{ else }}no method "
    "label{{ end }}, dataset {{ $labels.dataset }})"
)


def _backtest_figure(metric: str) -> str:
    """Go template: the count `metric` of the alert's own backtest."""
    same = ",".join(f"{label}=%q" for label in _BACKTEST)
    args = [f"$labels.{label}" for label in _BACKTEST]
    return query_value(f"max({metric}{{{same}}})", *args, fmt='printf "%.0f"', missing="?")


def _zones(limits: Policy) -> Iterator[AlertRule]:
    validation = limits.validation
    exceptions = _backtest_figure("riskwatch_validation_var_exceptions")
    days = _backtest_figure("riskwatch_validation_var_observations")
    tally = f"{exceptions} exceptions in {days} days"
    meaning = {
        "yellow": (
            f"at least {percent(validation.zone_yellow_probability)} (red from "
            f"{percent(validation.zone_red_probability)}): the model may understate the "
            "risk, though chance could explain it. Under Basel its capital multiplier "
            "rises above 3; look before it turns red."
        ),
        "red": (
            f"at least {percent(validation.zone_red_probability)}: the model understates "
            "the risk. Under Basel its capital multiplier is 4 instead of 3; do not rely "
            "on its VaR until it is recalibrated."
        ),
    }
    for zone, severity in _ZONES:
        level = ZONES.index(zone)
        yield _rule(
            name=zone_alert_name(zone),
            # Exactly the zone's level: a red backtest is not also yellow. No alertgroup
            # pairs them: the inhibit rule's `equal: [alertgroup, portfolio]` would let
            # one method's red silence another method's yellow.
            expr=f"max by ({', '.join(_BACKTEST)}) (riskwatch_validation_var_zone) == {level}",
            severity=severity,
            team="risk",
            summary=f"A VaR model's backtest is in the Basel {zone} zone.",
            description=(
                f"{_MODEL} is in the Basel {zone} zone on the last validation run: "
                f"{tally}. For a correct model, the binomial probability of that many "
                f"exceptions or fewer is {meaning[zone]}"
            ),
            value=tally,
            limit=f"the {zone} zone",
        )


def _gates(limits: Policy) -> Iterator[AlertRule]:
    def figure(metric: str) -> str:
        return query_value(
            f"max({metric}{{dataset=%q,gate=%q}})",
            "$labels.dataset",
            "$labels.gate",
            fmt='printf "%.4g"',
            missing="?",
        )

    value, threshold = (
        figure("riskwatch_validation_gate_value"),
        figure("riskwatch_validation_gate_threshold"),
    )
    yield _rule(
        name="ValidationGateFailed",
        expr="max by (dataset, gate) (riskwatch_validation_gate_passed) == 0",
        severity="warning",
        team="risk",
        per_portfolio=False,
        summary="A model-validation run failed one of its gates.",
        description=(
            "The last validation run of dataset {{ $labels.dataset }} failed gate "
            f"{{{{ $labels.gate }}}}: {value} against a threshold of {threshold}. Its data "
            "cannot be trusted, so neither can its backtest zones and p-values, green "
            "ones included, until a run passes."
        ),
        value=value,
        limit=threshold,
    )


def _job(limits: Policy) -> Iterator[AlertRule]:
    validation = limits.validation
    stale = validation.job_stale
    succeeded = selector(
        "riskwatch_validation_last_success_timestamp_seconds",
        matcher("dataset", "=", _NIGHTLY_DATASET),
    )
    # The portfolio task's last success as of `stale` ago: when the market last traded
    # by then. Trading makes the next night's run due; a weekend or a holiday has none.
    trading = matcher("task", "=", TRADING_TASK)
    traded = (
        f"max({selector('riskwatch_agent_last_success_timestamp_seconds', trading)} offset {stale})"
    )
    last = query_value(
        "time() - max(riskwatch_validation_last_success_timestamp_seconds{dataset=%q})",
        "$labels.dataset",
        fmt="humanizeDuration",
        missing="no success on record",
    )
    yield _rule(
        name="ValidationJobMissing",
        expr=(
            f"(\n  max by (dataset) ({succeeded})\n  < on () group_left ()\n  {traded}\n)\n"
            f"or\n(\n  absent({succeeded})\n  and on ()\n  {traded}\n)"
        ),
        severity="warning",
        team="ops",
        per_portfolio=False,
        summary="The nightly model validation has not succeeded after an exchange day.",
        description=(
            "The nightly validation of dataset {{ $labels.dataset }} has not succeeded "
            f"since the market traded, {stale} ago or more: the run after that exchange "
            "day failed or never started, or the Pushgateway lost its results. The VaR "
            "backtest zones are out of date, so a model gone red would not page. Time "
            f"since the last success: {last}."
        ),
    )


BUILDERS: tuple[Builder, ...] = (_zones, _gates, _job)
"""The validation alerts, in the order validation.rules.yml lists them."""
