"""Polygon market data through the official `massive` client (successor of polygon-api-client).

`PolygonSource` answers `last_trades` from ``/v2/last/trade/{ticker}``, `daily_bars`
from ``/v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}`` and `minute_bars` from
``/v2/aggs/ticker/{ticker}/range/1/minute/{day}/{day}``, one request per symbol.

Retries. This module is the only retry layer. massive builds its urllib3 pool with a
``Retry`` that silently retries 413/429/499/5xx a few times with its own short backoff
and, for any other non-200, raises ``BadResponse`` carrying only the body, so the status
and ``Retry-After`` are lost. We replace that policy through massive's documented
``connection_pool_kw`` with `_HandBackErrors`, which never retries and turns every
error status into `_HttpError` before massive sees it. Our loop then retries 429, 5xx
and transport errors with bounded exponential backoff (``Retry-After`` wins when the
server sends it) and gives up with `SourceError` after ``max_retries``.

Budget. Every HTTP attempt, retries included, takes a token from a `RequestBudget`
(a token bucket of ``requests_per_minute``), so the free tier's 5 requests a minute is
respected before Polygon has to answer 429.

Prices. Every price goes through `validate_price`; a rejected one is logged, reported
to ``on_reject`` (wire it to ``marketdata_rejected_ticks_total{source,reason}``) and
left out of the result. `last_success` is the wall-clock time of the newest call that
returned accepted data, for ``marketdata_last_update_timestamp_seconds{source}``.

Time is injected (``clock``, ``sleep``, ``now``) so tests never wait for real.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import urllib3
from massive import RESTClient
from massive.exceptions import BadResponse
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from riskwatch.calendar import regular_hours
from riskwatch.source_settings import PolygonConfig

from .base import RejectedTick, SourceError, Tick, validate_price

log = logging.getLogger(__name__)

T = TypeVar("T")

SOURCE = "polygon"

# Polygon's fact, not the desk's: a US stock day aggregate is stamped at the start of
# its day in New York time whatever market the desk's policy names, so its date is
# read in this zone (the desk's zone is `MarketCalendar.zone`).
POLYGON_DAY_ZONE = ZoneInfo("America/New_York")

# Likewise Polygon's US stock minute bars cover the extended hours; the regular hours
# they are cut to are those of the US exchanges.
POLYGON_EXCHANGE = "XNYS"

# Statuses worth another try: rate limiting and server-side trouble. Any other error
# status (401/403 bad key or plan, 400 bad request) will not get better by retrying.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Daily bars are sessions, the request range is calendar days: 5 sessions a week plus
# about ten US market holidays a year, with a margin.
_CALENDAR_DAYS_PER_SESSION = 7 / 5 * 1.06
_CALENDAR_DAYS_MARGIN = 7

# US equity daily bars are stamped in exchange time; the session date is taken there.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _polygon_dates(stamps: pd.Index) -> pd.DatetimeIndex:
    """Day-bar start stamps (UTC) as the naive session dates Polygon means by them."""
    return pd.DatetimeIndex(stamps).tz_convert(POLYGON_DAY_ZONE).normalize().tz_localize(None)


class RequestBudget:
    """A token bucket: at most `per_minute` requests in any minute, bursts up to that.

    `acquire` waits for a token with the injected `sleep`, or raises SourceError when the
    wait would exceed `max_wait` seconds.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        max_wait: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity  # start full: a fresh process has used no budget
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> None:
        """Take one request token, waiting for it if need be."""
        self._refill()
        if self._tokens < 1:
            wait = (1 - self._tokens) / self.rate
            if wait > self.max_wait:
                raise SourceError(
                    f"{SOURCE}: request budget of {self.capacity:g}/min exhausted; next "
                    f"request possible in {wait:.1f}s (> {self.max_wait:g}s allowed)"
                )
            self._sleep(wait)
            self._refill()
        # A clock that did not move during the sleep (or rounding) must not leave us
        # owing more than one token.
        self._tokens = max(self._tokens - 1, 0.0)


class _HttpError(Exception):
    """A non-200 answer with what massive's BadResponse would have dropped."""

    def __init__(self, status: int, retry_after: float | None, body: str) -> None:
        # Polygon's error bodies are small JSON; one line of it is enough for a log.
        super().__init__(f"HTTP {status}: {' '.join(body.split())[:300]}")
        self.status = status
        self.retry_after = retry_after
        self.body = body


class _NotJsonError(Exception):
    """The body is not JSON. Deliberately not a ValueError: massive catches those and
    returns an empty list, which would read as "no data" rather than a broken answer."""


class _StrictJson:
    """The `custom_json` massive decodes with: json, failing loudly on a bad body."""

    @staticmethod
    def loads(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise _NotJsonError(f"{SOURCE}: response is not JSON: {exc}") from None


class _HandBackErrors(Retry):
    """urllib3 policy for massive's pool: never retry, hand every error status to us.

    urllib3 calls `increment` with the response for each status in `status_forcelist`;
    raising there carries status and Retry-After out through massive unchanged.
    Transport errors go to urllib3's own handling which, with total=0, raises
    MaxRetryError at once.
    """

    # Loosely typed on purpose: urllib3 and its drop-in fork urllib3-future (which
    # replaces the `urllib3` package when installed) type this method differently.
    # Both pass the response and the error by keyword.
    def increment(self, *args: Any, **kwargs: Any) -> Any:
        response = kwargs.get("response")
        if response is not None and kwargs.get("error") is None and response.status >= 400:
            try:
                retry_after = self.get_retry_after(response)
            except InvalidHeader:
                retry_after = None
            body = response.data.decode("utf-8", errors="replace")
            raise _HttpError(response.status, retry_after, body)
        return super().increment(*args, **kwargs)

    @classmethod
    def policy(cls) -> _HandBackErrors:
        return cls(
            total=0,
            redirect=0,
            status_forcelist=frozenset(range(400, 600)),
            raise_on_status=True,
        )


def _as_float(value: object) -> float:
    """A number from JSON, NaN for anything missing or not numeric (rejected as "nan")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PolygonSource:
    """`MarketDataSource` backed by Polygon's REST API via `massive.RESTClient`.

    Args:
        config: endpoint, key, budget and retry settings.
        on_reject: called with each rejected price (after logging); the agent increments
            ``marketdata_rejected_ticks_total{source="polygon", reason=tick.reason}``.
        clock: monotonic seconds, for the request budget.
        sleep: how to wait (backoff and budget); tests pass a recorder.
        now: wall-clock UTC, for `last_success` and the daily-bars date range.

    Not thread-safe (the budget is per instance): one instance per agent loop.
    """

    name = SOURCE

    def __init__(
        self,
        config: PolygonConfig,
        *,
        on_reject: Callable[[RejectedTick], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.config = config
        self._on_reject = on_reject
        self._sleep = sleep
        self._now = now
        self.rate_limited = 0
        """HTTP 429 answers seen so far (retries included), for the exporter's counter."""
        self.budget = RequestBudget(
            config.requests_per_minute,
            max_wait=config.budget_max_wait_seconds,
            clock=clock,
            sleep=sleep,
        )
        self._client = RESTClient(
            api_key=config.api_key.get_secret_value(),
            connect_timeout=config.timeout_seconds,
            read_timeout=config.timeout_seconds,
            retries=0,
            base=config.base_url.rstrip("/"),
            pagination=False,
            custom_json=_StrictJson,
            connection_pool_kw={"retries": _HandBackErrors.policy()},
        )
        self._last_success: datetime | None = None

    @property
    def last_success(self) -> datetime | None:
        """Wall-clock UTC time of the newest call that returned accepted data, or None."""
        return self._last_success

    # --- MarketDataSource -------------------------------------------------------------

    def last_trades(self, symbols: Sequence[str]) -> dict[str, Tick]:
        """The last trade per symbol; unknown symbols and rejected prices are left out.

        Raises SourceError when Polygon cannot answer (budget, retries exhausted, auth,
        malformed body): a partial answer would hide stale symbols behind a fresh
        `last_success`.
        """
        ticks: dict[str, Tick] = {}
        for symbol in symbols:
            trade = self._request(symbol, self._client.get_last_trade, symbol)
            tick = self._tick(symbol, trade)
            if tick is not None:
                ticks[symbol] = tick
        if ticks:
            self._last_success = self._now()
        return ticks

    def daily_bars(self, symbols: Sequence[str], days: int) -> pd.DataFrame:
        """The last `days` daily bars, oldest first: index `date` (session date, naive),
        columns (field, symbol) with fields ``close`` and ``volume``.

        A bar whose close is rejected leaves that cell NaN; a symbol with no bars has no
        columns. Adjusted for splits. During a session the newest bar is the partial day.
        """
        if days < 1:
            raise ValueError("days must be at least 1")
        today = self._now().astimezone(UTC).date()
        start = today - timedelta(
            days=math.ceil(days * _CALENDAR_DAYS_PER_SESSION) + _CALENDAR_DAYS_MARGIN
        )
        columns: dict[tuple[str, str], pd.Series] = {}
        for symbol in symbols:
            bars = self._aggs(symbol, "day", start, today)
            if bars is not None:
                bars = bars.set_axis(_polygon_dates(bars.index), axis=0)
                # A corrected bar can repeat a date; the later one wins.
                bars = bars[~bars.index.duplicated(keep="last")]
                columns[("close", symbol)] = bars["close"]
                columns[("volume", symbol)] = bars["volume"]
        if not columns:
            empty = pd.DataFrame(
                index=pd.DatetimeIndex([], name="date"),
                columns=pd.MultiIndex.from_tuples([], names=["field", "symbol"]),
            )
            return empty
        frame = pd.concat(columns, axis=1).sort_index()
        frame.columns = frame.columns.set_names(["field", "symbol"])
        frame.index.name = "date"
        ordered = [(f, s) for f in ("close", "volume") for s in symbols if (f, s) in columns]
        frame = frame[ordered].tail(days)
        if frame["close"].notna().to_numpy().any():
            self._last_success = self._now()
        return frame

    def minute_bars(self, symbols: Sequence[str], day: date) -> pd.DataFrame:
        """`day`'s 1-minute closes in regular US trading hours (`MinuteBarSource`), from
        ``/v2/aggs/ticker/{ticker}/range/1/minute/{day}/{day}``, one request per symbol.

        Polygon's minute range holds the extended hours too; only the bars starting in
        the regular hours are kept. A rejected close leaves that minute NaN; a symbol
        without bars has an all-NaN column.

        Raises SourceError as `daily_bars` does.
        """
        open_, close = (t.astimezone(UTC) for t in regular_hours(POLYGON_EXCHANGE, day))
        minutes = pd.date_range(open_, close, freq="min", inclusive="left", name="minute")
        columns: dict[str, pd.Series] = {}
        for symbol in symbols:
            bars = self._aggs(symbol, "minute", day, day)
            closes = pd.Series(math.nan, index=minutes) if bars is None else bars["close"]
            closes = closes[~closes.index.duplicated(keep="last")]
            columns[symbol] = closes.reindex(minutes)
        frame = pd.DataFrame(columns, index=minutes)
        if frame.notna().to_numpy().any():
            self._last_success = self._now()
        return frame

    # --- parsing ----------------------------------------------------------------------

    def _reject(self, symbol: str, price: float) -> float | None:
        try:
            return validate_price(symbol, price)
        except RejectedTick as rejected:
            log.warning("%s: %s", SOURCE, rejected)
            if self._on_reject is not None:
                self._on_reject(rejected)
            return None

    def _tick(self, symbol: str, trade: object) -> Tick | None:
        if trade is None or isinstance(trade, list):
            # massive answers [] when the body has no "results": no trade to report.
            log.warning("%s: no last trade for %s", SOURCE, symbol)
            return None
        price = self._reject(symbol, _as_float(getattr(trade, "price", None)))
        if price is None:
            return None
        stamp = getattr(trade, "sip_timestamp", None) or getattr(
            trade, "participant_timestamp", None
        )
        if not isinstance(stamp, int):
            log.warning("%s: last trade for %s has no timestamp; left out", SOURCE, symbol)
            return None
        size = _as_float(getattr(trade, "size", None))
        return Tick(
            symbol=symbol,
            price=price,
            # SIP timestamps are integer nanoseconds; integer arithmetic keeps the
            # microseconds a float conversion would round.
            timestamp=_EPOCH + timedelta(microseconds=stamp // 1000),
            size=size if math.isfinite(size) else 0.0,
        )

    def _aggs(
        self, symbol: str, timespan: Literal["day", "minute"], start: date, end: date
    ) -> pd.DataFrame | None:
        """`symbol`'s 1-`timespan` aggregates from `start` to `end` (inclusive, Polygon's
        range): columns ``close`` (NaN where rejected) and ``volume``, indexed by each
        bar's start (UTC); None when Polygon has none. Split-adjusted, through the
        budget and retries of `_request`."""
        aggs = self._request(
            symbol,
            self._client.get_aggs,
            symbol,
            1,
            timespan,
            start.isoformat(),
            end.isoformat(),
            adjusted=True,
            sort="asc",
            limit=50000,
        )
        if not isinstance(aggs, list) or not aggs:
            log.warning("%s: no %s bars for %s", SOURCE, timespan, symbol)
            return None
        rows: list[tuple[int, float, float]] = []
        for agg in aggs:
            stamp = getattr(agg, "timestamp", None)
            if not isinstance(stamp, int):
                raise SourceError(f"{SOURCE}: {timespan} bar for {symbol} without a timestamp")
            close = self._reject(symbol, _as_float(getattr(agg, "close", None)))
            volume = _as_float(getattr(agg, "volume", None))
            rows.append((stamp, math.nan if close is None else close, volume))
        stamps, closes, volumes = zip(*rows, strict=True)
        index = pd.to_datetime(list(stamps), unit="ms", utc=True)
        return pd.DataFrame({"close": closes, "volume": volumes}, index=index)

    # --- HTTP with budget and retries -------------------------------------------------

    def _request(self, symbol: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`call(*args, **kwargs)` within the budget, retried on 429, 5xx and transport
        errors; None when Polygon says the symbol is unknown (404)."""
        cfg = self.config
        attempt = 0
        while True:
            self.budget.acquire()
            try:
                return call(*args, **kwargs)
            except _HttpError as exc:
                if exc.status == 404:
                    log.warning("%s: %s unknown (404)", SOURCE, symbol)
                    return None
                if exc.status == 429:
                    self.rate_limited += 1
                if exc.status not in RETRYABLE_STATUSES:
                    raise SourceError(f"{SOURCE}: {symbol}: {exc}") from None
                failure: Exception = exc
                wait = self._backoff(attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > cfg.backoff_max_seconds:
                        raise SourceError(
                            f"{SOURCE}: {symbol}: HTTP {exc.status} with Retry-After "
                            f"{exc.retry_after:g}s, above backoff_max_seconds "
                            f"{cfg.backoff_max_seconds:g}"
                        ) from None
                    wait = exc.retry_after
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                failure, wait = exc, self._backoff(attempt)
            except _NotJsonError as exc:
                # Not retried: a body that is not JSON is a broken endpoint or proxy,
                # and a retry would spend budget to learn the same.
                raise SourceError(f"{exc} ({symbol})") from None
            except (BadResponse, AttributeError, TypeError, KeyError) as exc:
                # BadResponse only for a success status other than 200 (_HandBackErrors
                # takes every error status); the others are massive's models choking on
                # a body of another shape.
                raise SourceError(f"{SOURCE}: {symbol}: unexpected response: {exc!r}") from None
            if attempt >= cfg.max_retries:
                raise SourceError(
                    f"{SOURCE}: {symbol}: giving up after {attempt + 1} attempts: {failure}"
                ) from None
            attempt += 1
            log.warning(
                "%s: %s: %s; retry %d/%d in %.1fs",
                SOURCE,
                symbol,
                failure,
                attempt,
                cfg.max_retries,
                wait,
            )
            self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        return float(min(cfg.backoff_initial_seconds * 2**attempt, cfg.backoff_max_seconds))


__all__ = ["RETRYABLE_STATUSES", "PolygonConfig", "PolygonSource", "RequestBudget"]
