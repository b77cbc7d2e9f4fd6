"""PolygonSource against a local HTTP server that answers like Polygon.

The real massive client and urllib3 do the HTTP; only time is faked (FakeClock), so
backoff and budget waits are asserted, never slept.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from riskwatch.sources.base import MarketDataSource, MinuteBarSource, RejectedTick, SourceError
from riskwatch.sources.polygon import PolygonConfig, PolygonSource, RequestBudget
from tests.sources.polygon_server import FakeClock, FakePolygon, Reply
from tests.sources.ports import stable_port

API_KEY = "test-key-123"
NOW = datetime(2024, 5, 31, 21, 0, tzinfo=UTC)  # a Friday, after the close


def make_source(
    url: str, clock: FakeClock, rejects: list[RejectedTick] | None = None, **config: Any
) -> PolygonSource:
    return PolygonSource(
        PolygonConfig(api_key=API_KEY, base_url=url, **config),
        on_reject=None if rejects is None else rejects.append,
        clock=clock,
        sleep=clock.sleep,
        now=lambda: NOW,
    )


def test_config_needs_a_key_and_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="api_key"):
        PolygonConfig()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="extra"):
        PolygonConfig(api_key="k", requests_per_hour=5)  # type: ignore[call-arg]
    assert "sekrit-value" not in repr(PolygonConfig(api_key="sekrit-value"))


def test_last_trades_parses_recorded_responses(polygon: FakePolygon, clock: FakeClock) -> None:
    source = make_source(polygon.url, clock)
    assert isinstance(source, MarketDataSource)
    assert source.last_success is None

    ticks = source.last_trades(["AAPL", "MSFT"])

    assert set(ticks) == {"AAPL", "MSFT"}
    aapl = ticks["AAPL"]
    assert aapl.price == 192.345
    assert aapl.size == 100
    assert aapl.timestamp == datetime(2024, 5, 31, 12, 0, 0, 123456, tzinfo=UTC)
    assert ticks["MSFT"].price == 414.12
    assert [r.path for r in polygon.requests] == ["/v2/last/trade/AAPL", "/v2/last/trade/MSFT"]
    assert all(r.authorization == f"Bearer {API_KEY}" for r in polygon.requests)
    assert source.last_success == NOW
    assert clock.sleeps == []


def test_daily_bars_frame(polygon: FakePolygon, clock: FakeClock) -> None:
    source = make_source(polygon.url, clock)

    bars = source.daily_bars(["AAPL", "MSFT"], days=3)

    assert list(bars.columns) == [
        ("close", "AAPL"),
        ("close", "MSFT"),
        ("volume", "AAPL"),
        ("volume", "MSFT"),
    ]
    assert bars.columns.names == ["field", "symbol"]
    assert bars.index.name == "date"
    assert list(bars.index) == list(pd.to_datetime(["2024-05-29", "2024-05-30", "2024-05-31"]))
    assert bars["close"]["AAPL"].tolist() == [190.29, 191.29, 192.25]
    assert bars["volume"]["AAPL"].tolist() == [53068016, 49947941, 75158277]
    # MSFT had no bar on 05-29: a gap on that date, the other dates still line up.
    assert math.isnan(bars.loc["2024-05-29", ("close", "MSFT")])
    assert bars["close"]["MSFT"].tolist()[1:] == [414.67, 415.13]

    request = polygon.seen("AAPL")[0]
    assert request.path == "/v2/aggs/ticker/AAPL/range/1/day/2024-05-19/2024-05-31"
    assert request.query == {"adjusted": ["true"], "sort": ["asc"], "limit": ["50000"]}
    assert source.last_success == NOW


def test_daily_bars_of_a_symbol_without_bars_are_left_out(
    polygon: FakePolygon, clock: FakeClock
) -> None:
    source = make_source(polygon.url, clock)

    assert source.daily_bars(["EMPTY"], days=5).empty
    assert source.last_success is None
    bars = source.daily_bars(["EMPTY", "AAPL"], days=5)
    assert list(bars.columns.get_level_values("symbol").unique()) == ["AAPL"]
    assert len(bars) == 5


def test_429_then_200_backs_off_then_recovers(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply.error(429), Reply.error(429))
    source = make_source(polygon.url, clock)

    ticks = source.last_trades(["AAPL"])

    assert ticks["AAPL"].price == 192.345
    # Three requests reached the server (so massive/urllib3 did not retry behind our
    # back) and we waited 1 s then 2 s between them.
    assert len(polygon.seen("AAPL")) == 3
    assert clock.sleeps == [1.0, 2.0]


def test_retry_after_is_honoured(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply.error(429, retry_after="7"), Reply.error(503, retry_after="3"))
    source = make_source(polygon.url, clock)

    assert "AAPL" in source.last_trades(["AAPL"])
    assert clock.sleeps == [7.0, 3.0]
    assert len(polygon.seen("AAPL")) == 3


def test_retry_after_longer_than_the_backoff_ceiling_gives_up(
    polygon: FakePolygon, clock: FakeClock
) -> None:
    polygon.script("AAPL", Reply.error(429, retry_after="3600"))
    source = make_source(polygon.url, clock, backoff_max_seconds=30)

    with pytest.raises(SourceError, match="Retry-After 3600s"):
        source.last_trades(["AAPL"])
    assert len(polygon.seen("AAPL")) == 1
    assert clock.sleeps == []


def test_5xx_past_max_retries_raises(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", *[Reply.error(500)] * 10)
    source = make_source(
        polygon.url, clock, max_retries=4, backoff_initial_seconds=1, backoff_max_seconds=5
    )

    with pytest.raises(SourceError, match="giving up after 5 attempts: HTTP 500"):
        source.last_trades(["AAPL"])
    assert len(polygon.seen("AAPL")) == 5
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0]  # doubling, capped at the ceiling
    assert source.last_success is None


def test_other_client_errors_are_not_retried(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply.error(403))
    source = make_source(polygon.url, clock)

    with pytest.raises(SourceError, match=r"HTTP 403.*not entitled"):
        source.last_trades(["AAPL", "MSFT"])
    assert len(polygon.requests) == 1
    assert clock.sleeps == []


def test_unknown_symbol_is_left_out(polygon: FakePolygon, clock: FakeClock) -> None:
    source = make_source(polygon.url, clock)

    ticks = source.last_trades(["NOSUCH", "AAPL"])

    assert list(ticks) == ["AAPL"]
    assert len(polygon.seen("NOSUCH")) == 1


def test_unreachable_server_is_retried_then_raises(clock: FakeClock) -> None:
    port = stable_port()  # free, nobody listening, and not handed out meanwhile
    source = make_source(f"http://127.0.0.1:{port}", clock, max_retries=2)

    with pytest.raises(SourceError, match="giving up after 3 attempts"):
        source.last_trades(["AAPL"])
    assert clock.sleeps == [1.0, 2.0]


def test_request_budget_spaces_requests(polygon: FakePolygon, clock: FakeClock) -> None:
    source = make_source(polygon.url, clock, requests_per_minute=2)
    symbols = ["AAPL", "MSFT", "AAPL", "MSFT", "AAPL"]
    at: list[float] = []
    original = source.budget.acquire

    def acquire_and_note() -> None:
        original()
        at.append(clock.now)

    source.budget.acquire = acquire_and_note  # type: ignore[method-assign]

    for symbol in symbols:
        source.last_trades([symbol])

    # A burst of two, then one request every 30 s: never more than 2 in any minute.
    assert clock.sleeps == pytest.approx([30.0, 30.0, 30.0])
    assert at == pytest.approx([1000.0, 1000.0, 1030.0, 1060.0, 1090.0])
    assert len(polygon.requests) == 5


def test_retries_spend_the_budget_too(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply.error(500), Reply.error(500))
    source = make_source(polygon.url, clock, requests_per_minute=1, backoff_initial_seconds=1)

    assert "AAPL" in source.last_trades(["AAPL"])
    # backoff 1 s, then the budget tops it up to a full minute; twice.
    assert clock.sleeps == pytest.approx([1.0, 59.0, 2.0, 58.0])


def test_budget_wait_beyond_the_limit_raises(polygon: FakePolygon, clock: FakeClock) -> None:
    source = make_source(polygon.url, clock, requests_per_minute=1, budget_max_wait_seconds=10)

    with pytest.raises(SourceError, match="request budget of 1/min exhausted"):
        source.last_trades(["AAPL", "MSFT"])
    assert [r.ticker for r in polygon.requests] == ["AAPL"]
    assert clock.sleeps == []


def test_request_budget_refills_over_time() -> None:
    clock = FakeClock()
    budget = RequestBudget(3, max_wait=60, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        budget.acquire()
    assert clock.sleeps == []
    clock.now += 40  # two tokens back
    budget.acquire()
    budget.acquire()
    assert clock.sleeps == []
    budget.acquire()
    assert clock.sleeps == pytest.approx([20.0])


def test_bad_prices_are_rejected_counted_and_never_returned(
    polygon: FakePolygon, clock: FakeClock
) -> None:
    rejects: list[RejectedTick] = []
    source = make_source(polygon.url, clock, rejects)

    ticks = source.last_trades(["ZERO", "NEG", "NAN", "NULL", "AAPL"])

    assert list(ticks) == ["AAPL"]
    assert [(r.symbol, r.reason) for r in rejects] == [
        ("ZERO", "non_positive"),
        ("NEG", "non_positive"),
        ("NAN", "nan"),
        ("NULL", "nan"),
    ]


def test_bad_closes_leave_gaps_and_are_counted(polygon: FakePolygon, clock: FakeClock) -> None:
    rejects: list[RejectedTick] = []
    source = make_source(polygon.url, clock, rejects)

    bars = source.daily_bars(["GLTCH"], days=4)

    closes = bars["close"]["GLTCH"]
    assert closes.iloc[0] == 10.2 and closes.iloc[3] == 10.8
    assert closes.iloc[1:3].isna().all()
    assert (closes.dropna() > 0).all()
    assert bars["volume"]["GLTCH"].tolist() == [1000, 1200, 900, 1500]
    assert [r.reason for r in rejects] == ["non_positive", "nan"]


def test_malformed_json_raises_without_retry(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply(200, b'{"results": {"T": "AAPL", "p": 19'))
    source = make_source(polygon.url, clock)

    with pytest.raises(SourceError, match="not JSON"):
        source.last_trades(["AAPL"])
    assert len(polygon.seen("AAPL")) == 1
    assert clock.sleeps == []


def test_unexpected_shape_raises(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply(200, b'{"status": "OK", "results": ["not", "a", "bar"]}'))
    source = make_source(polygon.url, clock)

    with pytest.raises(SourceError, match="unexpected response"):
        source.daily_bars(["AAPL"], days=2)


def test_minute_bars_of_the_regular_hours(polygon: FakePolygon, clock: FakeClock) -> None:
    rejects: list[RejectedTick] = []
    source = make_source(polygon.url, clock, rejects)
    assert isinstance(source, MinuteBarSource)
    day = NOW.date()
    opening = datetime(2024, 5, 31, 13, 30, tzinfo=UTC)  # 09:30 in New York (EDT)
    polygon.remove_minutes("AAPL", opening + timedelta(minutes=1), opening + timedelta(minutes=2))
    polygon.garble_minute("AAPL", opening + timedelta(minutes=3), math.nan)
    polygon.garble_minute("MSFT", opening, "garbage")

    bars = source.minute_bars(["AAPL", "MSFT"], day)

    request = polygon.seen("AAPL")[0]
    assert request.path == "/v2/aggs/ticker/AAPL/range/1/minute/2024-05-31/2024-05-31"
    assert request.query == {"adjusted": ["true"], "sort": ["asc"], "limit": ["50000"]}
    assert list(bars.columns) == ["AAPL", "MSFT"]
    # The regular hours only: the server's 08:00 pre-market bar is left out.
    assert len(bars) == 390
    assert bars.index[0] == pd.Timestamp(opening)
    assert bars.index[-1] == pd.Timestamp("2024-05-31 19:59", tz="UTC")
    # The server's close of the k-th bar of the day (the pre-market one is k=0).
    assert bars["MSFT"].iloc[1] == 100.0 + 2 / 100
    assert bars["AAPL"].notna().sum() == 387  # two removed, one NaN rejected
    assert bars["AAPL"].iloc[1:4].isna().all()
    assert math.isnan(bars["MSFT"].iloc[0]) and bars["MSFT"].notna().sum() == 389
    assert [(r.symbol, r.reason) for r in rejects] == [("AAPL", "nan"), ("MSFT", "nan")]
    assert source.last_success == NOW


def test_minute_bars_share_the_budget_and_retries(polygon: FakePolygon, clock: FakeClock) -> None:
    polygon.script("AAPL", Reply.error(429), Reply.error(429), Reply.error(429))
    source = make_source(polygon.url, clock, max_retries=2)

    with pytest.raises(SourceError, match=r"AAPL: giving up after 3 attempts: HTTP 429"):
        source.minute_bars(["AAPL"], NOW.date())
    assert clock.sleeps == [1.0, 2.0]
    assert source.rate_limited == 3
