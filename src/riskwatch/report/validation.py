"""What the report reads of the models: performance figures and the nightly validation.

Both are instant queries at the window's end. The performance figures are the last
value of the day of each portfolio, realised and holdings-based alike
(`riskwatch.report.model.REALISED`, `HOLDINGS_BASED`).

The validation job pushes once a night and the Pushgateway repeats its last results
until the next run, replacing them whole. So the results are the series present at the
window's end (a portfolio or method the last run dropped is gone, not shown from an
older run), while a result in Prometheus says nothing of whether the job still runs:
the report looks back `LOOKBACK` for the nightly run's last success (setting
`validation.dataset`, the desk's own) and judges the run by it. It is current when it
succeeded after the close of the last exchange day before the report's day
(`Validation.current`): ValidationJobMissing's rule, read from the calendar rather
than from the agents. An exchange day makes the next night's run due, a weekend or a
holiday makes none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from riskwatch.analytics.backtest import ZONES
from riskwatch.calendar import MarketCalendar
from riskwatch.policy import Policy
from riskwatch.promql import matcher, selector
from riskwatch.report.model import (
    HOLDINGS_BASED,
    REALISED,
    Backtest,
    Gate,
    PerformanceRow,
    ReportWindow,
    Validation,
)
from riskwatch.report.prom import PrometheusClient, by_labels

LOOKBACK = timedelta(days=7)
"""How far back a run is looked for: past a long weekend and a holiday, so that the
last run is found and dated even when it is days old."""

_BACKTEST = ("portfolio", "method", "confidence")
_BACKTEST_FIGURES = {
    "exceptions": "riskwatch_validation_var_exceptions",
    "observations": "riskwatch_validation_var_observations",
    "kupiec_p": "riskwatch_validation_var_kupiec_p_ratio",
    "christoffersen_p": "riskwatch_validation_var_christoffersen_p_ratio",
    "coverage_p": "riskwatch_validation_var_conditional_coverage_p_ratio",
    "es_z2": "riskwatch_validation_es_z2",
}


def collect_performance(prom: PrometheusClient, window: ReportWindow) -> list[PerformanceRow]:
    """Each portfolio's realised and holdings-based figures at the window's end."""
    rows: dict[str, dict[str, float]] = {}
    for figure in (*REALISED, *HOLDINGS_BASED):
        expr = f"max by (portfolio) (last_over_time({figure.metric}[{window.seconds}s]))"
        for portfolio, value in by_labels(prom.vector(expr, window.end), "portfolio").items():
            rows.setdefault(portfolio, {})[figure.metric] = value
    return [PerformanceRow(name, rows[name]) for name in sorted(rows) if name]


def validation_due(window: ReportWindow, policy: Policy) -> datetime:
    """The close of the last exchange day before the window's day: the nightly run
    that validates it is due by the report's day, and a run that succeeded after it
    is current. On a Monday it is Friday's close, after a holiday the day before it."""
    return MarketCalendar(policy.market).previous_session_close(window.start)


class ValidationReader:
    """Reads the desk's last validation run as Prometheus held it at the window's end."""

    def __init__(
        self,
        prom: PrometheusClient,
        window: ReportWindow,
        policy: Policy,
        dataset: str,
        job: str,
    ) -> None:
        """`job` is the nightly run's Pushgateway job (`validation.job`): another job
        validating a dataset of the same name (a demo world's, a one-off run) is not
        the nightly run, and its results must not pass for it."""
        self.prom = prom
        self.window = window
        self.dataset = dataset
        self.job = job
        self.due = validation_due(window, policy)
        self.seconds = int(
            window.end.timestamp() - window.start.timestamp() + LOOKBACK.total_seconds()
        )

    def _selector(self, metric: str) -> str:
        return selector(
            metric, matcher("job", "=", self.job), matcher("dataset", "=", self.dataset)
        )

    def _present(self, metric: str, by: str) -> list[tuple[dict[str, str], float]]:
        """`metric`'s series of the run the Pushgateway held at the window's end."""
        return self.prom.vector(f"{by} ({self._selector(metric)})", self.window.end)

    def _time(self, metric: str) -> datetime | None:
        """A timestamp metric's latest value over the lookback, as a time of the market."""
        expr = f"max(last_over_time({self._selector(metric)}[{self.seconds}s]))"
        rows = self.prom.vector(expr, self.window.end)
        return (
            datetime.fromtimestamp(rows[0][1], UTC).astimezone(self.window.zone) if rows else None
        )

    def read(self) -> Validation:
        """The run's time, its backtests per portfolio, method and confidence, its gates."""
        found = Validation(self.dataset, self.due, LOOKBACK)
        found.last_success = self._time("riskwatch_validation_last_success_timestamp_seconds")
        found.as_of = self._time("riskwatch_validation_as_of_timestamp_seconds")
        by = f"max by ({', '.join(_BACKTEST)})"
        zones = by_labels(self._present("riskwatch_validation_var_zone", by), *_BACKTEST)
        figures = {
            name: by_labels(self._present(metric, by), *_BACKTEST)
            for name, metric in _BACKTEST_FIGURES.items()
        }
        rejected = by_labels(self._present("riskwatch_validation_es_rejected", by), *_BACKTEST)
        keys = set(zones) | set(rejected) | {k for values in figures.values() for k in values}
        for key in sorted(keys):
            zone, value = zones.get(key), {name: v.get(key) for name, v in figures.items()}
            portfolio, method, confidence = key
            found.backtests.append(
                Backtest(
                    portfolio,
                    method,
                    confidence,
                    # A value past red (a job that knows more zones) reads as red.
                    zone=None if zone is None else ZONES[min(max(round(zone), 0), len(ZONES) - 1)],
                    exceptions=value["exceptions"],
                    observations=value["observations"],
                    kupiec_p=value["kupiec_p"],
                    christoffersen_p=value["christoffersen_p"],
                    coverage_p=value["coverage_p"],
                    es_z2=value["es_z2"],
                    es_rejected=None if key not in rejected else rejected[key] > 0,
                )
            )
        passed = by_labels(
            self._present("riskwatch_validation_gate_passed", "min by (gate)"), "gate"
        )
        measured = by_labels(
            self._present("riskwatch_validation_gate_value", "max by (gate)"), "gate"
        )
        threshold = by_labels(
            self._present("riskwatch_validation_gate_threshold", "max by (gate)"), "gate"
        )
        found.gates = [
            Gate(gate, passed[gate] > 0, measured.get(gate), threshold.get(gate))
            for gate in sorted(passed)
        ]
        return found
