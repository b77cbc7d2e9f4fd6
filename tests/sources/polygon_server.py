"""A local HTTP server that answers like Polygon, from the JSON in fixtures/.

Routes: ``/v2/last/trade/{T}`` serves ``last_trade_{T}.json`` and
``/v2/aggs/ticker/{T}/range/1/day/{from}/{to}`` serves ``aggs_{T}.json``; anything
without a fixture gets Polygon's 404. ``/v2/aggs/ticker/{T}/range/1/minute/{from}/{to}``
is generated rather than recorded: a bar for every minute of every weekday in the
range from 09:30 to 16:00 New York time, plus one pre-market bar at 08:00 (Polygon's
minute range includes the extended hours), less the minutes a test removed
(`FakePolygon.remove_minutes`). Tests queue other answers per ticker (`script`),
served in order before the fixtures, and read back every request the server saw.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

FIXTURES = Path(__file__).parent / "fixtures"

_ROUTES = (
    (re.compile(r"^/v2/last/trade/(?P<ticker>[^/]+)$"), "last_trade_{}.json"),
    (
        re.compile(r"^/v2/aggs/ticker/(?P<ticker>[^/]+)/range/1/day/[^/]+/[^/]+$"),
        "aggs_{}.json",
    ),
)

_MINUTES = re.compile(
    r"^/v2/aggs/ticker/(?P<ticker>[^/]+)/range/1/minute/(?P<start>[^/]+)/(?P<end>[^/]+)$"
)
NEW_YORK = ZoneInfo("America/New_York")
OPEN, CLOSE, PRE_MARKET = time(9, 30), time(16, 0), time(8, 0)


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


def day_aggs(ticker: str, days: Iterable[date]) -> bytes:
    """Polygon's daily aggregates body for `ticker`, a bar on each of `days` (stamped,
    as Polygon stamps US stock days, at the day's start in New York), closes moving a
    few tenths of a percent a day."""
    results = [
        {"v": 1_000_000, "o": 100.0, "c": 100.0 + (k % 5) / 10, "h": 101.0, "l": 99.0,
         "t": int(datetime.combine(day, time(0), NEW_YORK).timestamp() * 1000), "n": 1000}
        for k, day in enumerate(days)
    ]  # fmt: skip
    body = {"ticker": ticker, "adjusted": True, "resultsCount": len(results)}
    return json.dumps({**body, "results": results, "status": "OK"}).encode()


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
    _removed: dict[str, set[datetime]] = field(default_factory=dict)
    _garbage: dict[str, dict[datetime, object]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, ticker: str, *replies: Reply) -> None:
        """Answer the next requests for `ticker` with `replies`, then from fixtures."""
        with self._lock:
            self._scripts.setdefault(ticker, deque()).extend(replies)

    def remove_minutes(self, ticker: str, *minutes: datetime) -> None:
        """Serve no minute bar for `ticker` at these minutes (bar starts)."""
        with self._lock:
            self._removed.setdefault(ticker, set()).update(minutes)

    def garble_minute(self, ticker: str, minute: datetime, close: object) -> None:
        """Serve `close` (a string, null, NaN...) as `ticker`'s close at `minute`."""
        with self._lock:
            self._garbage.setdefault(ticker, {})[minute] = close

    def minute_aggs(self, ticker: str, start: date, end: date) -> bytes:
        """Polygon's minute aggregates body for `ticker` from `start` to `end`."""
        results = []
        day = start
        while day <= end:
            if day.weekday() < 5:
                opening = datetime.combine(day, OPEN, NEW_YORK)
                minutes = int((datetime.combine(day, CLOSE, NEW_YORK) - opening).seconds / 60)
                stamps = [datetime.combine(day, PRE_MARKET, NEW_YORK)]
                stamps += [opening + timedelta(minutes=k) for k in range(minutes)]
                for k, stamp in enumerate(stamps):
                    with self._lock:
                        if stamp in self._removed.get(ticker, ()):
                            continue
                        close = self._garbage.get(ticker, {}).get(stamp, 100.0 + k / 100)
                    results.append(
                        {"v": 1000 + k, "o": 100.0, "c": close, "h": 101.0, "l": 99.0,
                         "t": int(stamp.timestamp() * 1000), "n": 10}
                    )  # fmt: skip
            day += timedelta(days=1)
        body = {"ticker": ticker, "adjusted": True, "resultsCount": len(results)}
        # NaN as bare NaN, as a broken upstream would write it: json allows it by default.
        return json.dumps({**body, "results": results, "status": "OK"}).encode()

    def seen(self, ticker: str) -> list[Seen]:
        return [r for r in self.requests if r.ticker == ticker]

    def answer(self, raw_path: str, authorization: str | None) -> Reply:
        parts = urlsplit(raw_path)
        ticker, template = None, ""
        minute = _MINUTES.match(parts.path)
        if minute is not None:
            ticker = minute["ticker"]
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
        if minute is not None:
            start, end = (date.fromisoformat(minute[k]) for k in ("start", "end"))
            return Reply(200, self.minute_aggs(minute["ticker"], start, end))
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
