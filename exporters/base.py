"""What every sidecar exporter shares: collect on scrape, with a timeout, and say so.

An exporter is a prometheus_client custom collector that reads its source when
Prometheus scrapes, keeps no state between scrapes, and reports
`<name>_scrape_success` and `<name>_scrape_duration_seconds`. A source that fails
or hangs past the timeout sets success to 0; /metrics itself always answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from riskwatch import catalog

log = logging.getLogger("riskwatch.exporters")

Families = Iterable[Any]


class TimedCollector(Collector):
    """Runs `collect_source` on every scrape within `timeout_seconds`."""

    def __init__(
        self, name: str, collect_source: Callable[[], Families], timeout_seconds: float
    ) -> None:
        self.name = name
        self.collect_source = collect_source
        self.timeout_seconds = timeout_seconds
        # One worker: a source that hangs holds it, and later scrapes time out at once
        # instead of piling up threads against a dead database or gateway.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-collect")

    def collect(self) -> Iterator[Any]:
        started = time.perf_counter()
        families: list[Any] = []
        ok = False

        def gather() -> None:
            # Families yielded before a failure are kept: a gateway that drops mid-scrape
            # still reports that it is disconnected.
            for item in self.collect_source():
                families.append(item)

        try:
            self._pool.submit(gather).result(timeout=self.timeout_seconds)
            ok = True
        except FutureTimeout:
            log.warning("%s collection timed out after %.1fs", self.name, self.timeout_seconds)
        except Exception as exc:  # the failure is reported as scrape_success 0
            log.warning("%s collection failed: %s", self.name, " ".join(str(exc).split()))
        yield from list(families)
        success = catalog.family(f"{self.name}_scrape_success")
        success.add_metric([], 1.0 if ok else 0.0)
        duration = catalog.family(f"{self.name}_scrape_duration_seconds")
        duration.add_metric([], time.perf_counter() - started)
        yield success
        yield duration


def wsgi_app(
    registry: CollectorRegistry,
) -> Callable[[WSGIEnvironment, StartResponse], list[bytes]]:
    """/metrics from `registry` and /healthz (the process is up, whatever the source says)."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body = generate_latest(registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [body]
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics\n"]

    return app


def serve(collector: TimedCollector, host: str, port: int) -> None:
    """Serve the collector on host:port until interrupted."""
    from waitress import serve as waitress_serve

    registry = CollectorRegistry()
    registry.register(collector)
    log.info("%s exporter on http://%s:%d/metrics", collector.name, host, port)
    waitress_serve(wsgi_app(registry), host=host, port=port, threads=4, _quiet=True)
