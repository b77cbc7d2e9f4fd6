"""The receiver's Prometheus metrics, declared in `riskwatch.catalog`.

Each app gets its own CollectorRegistry, so several apps in one process (tests, a
benchmark) count separately; `/metrics` exposes exactly that registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from flask import Flask, current_app
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from riskwatch.catalog import make_counter, make_gauge, make_histogram

RejectReason = Literal[
    "unauthorized", "too_large", "invalid", "database_unavailable", "database_error"
]
REJECT_REASONS: Final[tuple[RejectReason, ...]] = (
    "unauthorized",
    "too_large",
    "invalid",
    "database_unavailable",
    "database_error",
)
ALERT_STATUSES: Final = ("firing", "resolved")

_EXTENSION = "riskwatch.receiver.metrics"


@dataclass(frozen=True)
class ReceiverMetrics:
    """The metric objects of one receiver app."""

    registry: CollectorRegistry
    alerts_received: Counter
    alerts_stored: Counter
    alerts_duplicate: Counter
    payloads_rejected: Counter
    storage_duration: Histogram
    database_up: Gauge

    @classmethod
    def create(cls) -> ReceiverMetrics:
        """Metrics in a fresh registry, every known label value present from the start.

        Series that exist at zero make `rate()` and `increase()` correct from the first
        event instead of missing it.
        """
        registry = CollectorRegistry()
        metrics = cls(
            registry=registry,
            alerts_received=make_counter("riskwatch_receiver_alerts_received_total", registry),
            alerts_stored=make_counter("riskwatch_receiver_alerts_stored_total", registry),
            alerts_duplicate=make_counter("riskwatch_receiver_alerts_duplicate_total", registry),
            payloads_rejected=make_counter("riskwatch_receiver_payloads_rejected_total", registry),
            storage_duration=make_histogram(
                "riskwatch_receiver_storage_duration_seconds", registry
            ),
            database_up=make_gauge("riskwatch_receiver_database_up", registry),
        )
        for status in ALERT_STATUSES:
            metrics.alerts_received.labels(status=status)
            metrics.alerts_stored.labels(status=status)
        for reason in REJECT_REASONS:
            metrics.payloads_rejected.labels(reason=reason)
        return metrics

    def reject(self, reason: RejectReason) -> None:
        """Count one rejected webhook payload."""
        self.payloads_rejected.labels(reason=reason).inc()

    def install(self, app: Flask) -> None:
        """Make these the metrics `current()` returns inside `app`."""
        app.extensions[_EXTENSION] = self


def metrics_of(app: Flask) -> ReceiverMetrics:
    """The metrics installed in `app`."""
    metrics = app.extensions[_EXTENSION]
    assert isinstance(metrics, ReceiverMetrics)
    return metrics


def current() -> ReceiverMetrics:
    """The metrics of the app handling the current request."""
    return metrics_of(current_app)
