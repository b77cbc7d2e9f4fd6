"""What every sidecar exporter shares: collect on scrape, with a timeout, and say so.

An exporter is a prometheus_client custom collector that reads its source when
Prometheus scrapes, keeps no state between scrapes, and reports
`<name>_scrape_success` and `<name>_scrape_duration_seconds`. A source that fails
or hangs past the timeout sets success to 0; /metrics itself always answers. `serve`
puts it on the web (web.py: landing page, TLS and basic auth from a web config).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from riskwatch import catalog
from riskwatch.exporters.web import (
    DEFAULT_TELEMETRY_PATH,
    BasicAuth,
    WebConfig,
    exporter_app,
    make_server,
    serve_forever,
)

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


def serve(
    collector: TimedCollector,
    host: str,
    port: int,
    *,
    telemetry_path: str = DEFAULT_TELEMETRY_PATH,
    web_config: WebConfig | None = None,
    description: str = "",
) -> None:
    """Serve the collector on host:port until interrupted: the telemetry path, a
    landing page at / and /healthz, with the web config's TLS and basic auth."""
    web_config = web_config or WebConfig()
    registry = CollectorRegistry()
    registry.register(collector)
    auth = BasicAuth(web_config.users) if web_config.users else None
    app = exporter_app(
        registry,
        name=collector.name,
        version=_version(),
        telemetry_path=telemetry_path,
        auth=auth,
        description=description,
    )
    server = make_server(host, port, app, web_config.tls)
    scheme = "https" if web_config.tls is not None else "http"
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "%s exporter on %s://%s:%d%s%s",
        collector.name,
        scheme,
        shown,
        server.server_address[1],
        telemetry_path,
        " (basic auth)" if auth is not None else "",
    )
    serve_forever(server)


def _version() -> str:
    try:
        return metadata.version("riskwatch")
    except metadata.PackageNotFoundError:
        return "unknown"
