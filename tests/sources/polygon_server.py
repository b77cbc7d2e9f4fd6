"""A local HTTP server that answers like Polygon, from the JSON in fixtures/.

Routes: ``/v2/last/trade/{T}`` serves ``last_trade_{T}.json`` and
``/v2/aggs/ticker/{T}/range/1/day/{from}/{to}`` serves ``aggs_{T}.json``; anything
without a fixture gets Polygon's 404. Tests queue other answers per ticker (`script`),
served in order before the fixtures, and read back every request the server saw.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"

_ROUTES = (
    (re.compile(r"^/v2/last/trade/(?P<ticker>[^/]+)$"), "last_trade_{}.json"),
    (
        re.compile(r"^/v2/aggs/ticker/(?P<ticker>[^/]+)/range/1/day/[^/]+/[^/]+$"),
        "aggs_{}.json",
    ),
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def error(cls, status: int, retry_after: str | None = None) -> Reply:
        body = (
            fixture(f"error_{status}.json")
            if (FIXTURES / f"error_{status}.json").exists()
            else b"{}"
        )
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return cls(status, body, headers)


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, list[str]]
    ticker: str | None
    authorization: str | None


@dataclass
class FakePolygon:
    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    _scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, ticker: str, *replies: Reply) -> None:
        """Answer the next requests for `ticker` with `replies`, then from fixtures."""
        with self._lock:
            self._scripts.setdefault(ticker, deque()).extend(replies)

    def seen(self, ticker: str) -> list[Seen]:
        return [r for r in self.requests if r.ticker == ticker]

    def answer(self, raw_path: str, authorization: str | None) -> Reply:
        parts = urlsplit(raw_path)
        ticker, template = None, ""
        for pattern, route_template in _ROUTES:
            match = pattern.match(parts.path)
            if match:
                ticker, template = match["ticker"], route_template
                break
        with self._lock:
            self.requests.append(Seen(parts.path, parse_qs(parts.query), ticker, authorization))
            queued = self._scripts.get(ticker or "")
            if queued:
                return queued.popleft()
        if ticker is not None and (FIXTURES / template.format(ticker)).exists():
            return Reply(200, fixture(template.format(ticker)))
        return Reply.error(404)


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@contextmanager
def serve_polygon() -> Iterator[FakePolygon]:
    fake = FakePolygon()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = fake.answer(self.path, self.headers.get("Authorization"))
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-polygon", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
