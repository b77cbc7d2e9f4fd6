"""A recording pass-through in front of the receiver's webhook, for tests that must
tie the receiver's answers to particular alerts.

Alertmanager posts to the tap; the tap forwards the request unchanged (body and
Authorization) to the real receiver and hands back the receiver's own status, body and
Retry-After. It keeps, per delivery, which alerts the payload carried and what the
receiver answered, so a test can say "the payload carrying alert X got 503" instead
of "some payload got 503".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import yaml

# Longer than the receiver's wait for a database connection (db_timeout_seconds, 5 s)
# before it answers 503, so the tap never answers in the receiver's place.
UPSTREAM_TIMEOUT = 30.0


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the receiver answered it."""

    at: float
    alerts: tuple[tuple[str, str], ...]  # (fingerprint, status) per alert of the payload
    labels: tuple[dict[str, str], ...]  # each alert's labels, in the same order
    status: int  # the receiver's HTTP status (502: the tap could not reach it)
    answer: dict[str, Any]  # the receiver's JSON body, {} if none

    def carries(self, fingerprint: str, status: str) -> bool:
        return (fingerprint, status) in self.alerts


class WebhookTap:
    """The deliveries seen so far; `url` is what Alertmanager's webhook should post to."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def of(self, fingerprint: str, status: str | None = None) -> list[Delivery]:
        """The deliveries whose payload carried `fingerprint` (in `status`, if given)."""
        return [
            d
            for d in self.deliveries()
            if any(fp == fingerprint and status in (None, st) for fp, st in d.alerts)
        ]

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        tap = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    sent = json.loads(body)
                    alerts = tuple((a["fingerprint"], a["status"]) for a in sent["alerts"])
                    labels = tuple(dict(a["labels"]) for a in sent["alerts"])
                except (ValueError, KeyError, TypeError):
                    alerts, labels = (), ()
                headers = {
                    name: value
                    for name in ("Authorization", "Content-Type")
                    if (value := self.headers.get(name)) is not None
                }
                retry_after = None
                try:
                    resp = requests.post(
                        tap.upstream + self.path,
                        data=body,
                        headers=headers,
                        timeout=UPSTREAM_TIMEOUT,
                    )
                    status, answer_bytes = resp.status_code, resp.content
                    retry_after = resp.headers.get("Retry-After")
                except requests.RequestException as exc:
                    status, answer_bytes = 502, json.dumps({"error": str(exc)}).encode()
                try:
                    answer = json.loads(answer_bytes)
                except ValueError:
                    answer = {}
                tap._record(Delivery(time.time(), alerts, labels, status, answer))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer_bytes)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(answer_bytes)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the deliveries are the record

        return Handler

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def running_tap(upstream: str) -> Iterator[WebhookTap]:
    """A tap forwarding to `upstream` (the receiver's base URL) for the `with` block."""
    tap = WebhookTap(upstream)
    tap.start()
    try:
        yield tap
    finally:
        tap.close()


def metric_value(url: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`, from `url`/metrics
    (0 when there is none)."""
    from prometheus_client.parser import text_string_to_metric_families

    # Generous: during a database outage every receiver thread may be waiting out its
    # db_timeout on the pool, and a scrape queues behind them on a loaded machine.
    text = requests.get(f"{url}/metrics", timeout=30).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def webhook_only_config(
    path: Path,
    webhook_url: str,
    token_file: Path,
    *,
    receiver: str = "audit",
    group_by: tuple[str, ...] = ("alertname", "portfolio"),
    group_wait: str = "1s",
    group_interval: str = "2s",
) -> Path:
    """An Alertmanager config of a test's own: every alert to one webhook receiver
    (`receiver`, posting to `webhook_url` with the bearer token in `token_file`, resolved
    included), grouped as the shipped config groups, with short intervals."""
    config = {
        "global": {"resolve_timeout": "1h"},
        "route": {
            "receiver": receiver,
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": receiver,
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "max_alerts": 0,
                        "http_config": {
                            "authorization": {
                                "type": "Bearer",
                                "credentials_file": str(token_file),
                            }
                        },
                    }
                ],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
