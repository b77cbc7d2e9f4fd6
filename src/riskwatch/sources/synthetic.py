"""A deterministic synthetic market: same seed, same market, every time (its broker is
`synthetic_broker.SyntheticBroker`).

Daily returns follow a factor model (market, momentum, value, quality, size, low
volatility) with sector structure and Student-t idiosyncratic noise, so the risk
figures have fat tails to find. Intraday prices are a seeded random walk from the
previous close, keyed by the minute, so two processes asked at the same instant see
the same price. Factor-mimicking ETFs (MTUM, VLUE, QUAL, SIZE, USMV) and SPY are in
the universe, so the agents estimate factor exposures exactly as they do on real data.

Intraday volatility follows the market phase: U-shaped through regular hours (busy
at the open and the close, quiet at lunch), low before and after, near flat at night,
with occasional jumps. The hours and the zone the day is read in are those of the
`MarketCalendar` it is given (the policy's market). The demo's incidents are scripted
`Move`s: a market or a set of symbols drifts by a given log-return over a given span
of time, with extra volatility, as a deterministic function of time; a volatility
regime (`set_daily_volatility`) scales every daily return from a date on. An
`outage` silences the whole feed; a `halt` stops single symbols trading while the rest
of the tape goes on, so their last trade (stamped with its own time) grows old. `clock`
lets the demo run the market on a simulated clock; by default it is the wall clock.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from riskwatch.calendar import MarketCalendar, regular_hours
from riskwatch.settings import DEFAULT_FACTOR_PROXIES
from riskwatch.sources.base import (
    SourceError,
    Tick,
)

SECTORS = ("technology", "financials", "health_care", "energy", "consumer", "industrials")
FACTOR_PROXIES = DEFAULT_FACTOR_PROXIES
FACTORS = tuple(FACTOR_PROXIES)  # style factors, then one per sector
STYLES = tuple(f for f in FACTORS if f not in SECTORS)
BENCHMARK = "SPY"
# A generous history, so any history_days setting up to ~8 years is served.
HISTORY_DAYS = 2_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Move:
    """A scripted price move: `log_return` spread evenly over [start, start + duration),
    on `symbols` (None: every instrument, ETFs included), with `extra_volatility`
    (daily, like the instruments' own) added while it lasts."""

    start: datetime
    duration: timedelta
    log_return: float
    symbols: frozenset[str] | None = None
    extra_volatility: float = 0.0
    name: str = field(default="move", compare=False)

    def progress(self, when: datetime) -> float:
        if when <= self.start:
            return 0.0
        span = self.duration.total_seconds()
        return 1.0 if span <= 0 else min(1.0, (when - self.start).total_seconds() / span)

    def applies_to(self, symbol: str) -> bool:
        return self.symbols is None or symbol in self.symbols


@dataclass(frozen=True)
class TradingDay:
    """A day's hours as minutes since local midnight: extended and regular."""

    pre_open: int
    open: int
    close: int
    after_close: int

    @property
    def regular_minutes(self) -> int:
        """The length of the regular session, in minutes."""
        return self.close - self.open


@lru_cache(maxsize=8)
def intraday_volatility_profile(day: TradingDay) -> np.ndarray:
    """Relative volatility per minute of the local day (1440 values, mean 1 over
    regular hours): a U through the regular session, 0.35 in extended hours, 0.05 at
    night."""
    minutes = np.arange(24 * 60)
    profile = np.full(minutes.shape, 0.05)
    extended = (minutes >= day.pre_open) & (minutes < day.after_close)
    profile[extended] = 0.35
    regular = (minutes >= day.open) & (minutes < day.close)
    x = (minutes[regular] - day.open) / day.regular_minutes  # 0 at the open, 1 at the close
    u = 0.6 + 2.2 * (x - 0.5) ** 2 + 0.8 * np.exp(-x * 25) + 0.5 * np.exp(-(1 - x) * 25)
    profile[regular] = u / u.mean()
    profile.flags.writeable = False  # shared through the cache
    return profile


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


# Intraday minute returns trend mildly, as liquid equities do over minutes: enough for
# a momentum model to be right more often than not (about 60% over 5 minutes).
DEFAULT_MOMENTUM = 0.5
# Jumps: about one a month per instrument, a few daily standard deviations in size.
_JUMPS_PER_DAY = 1 / 21
_JUMP_SIZE_DAILY_VOLS = 3.0


def stable_seed(*parts: object) -> int:
    """A seed that is the same for the same parts in every process (unlike hash())."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True)
class Instrument:
    symbol: str
    sector: str
    loadings: tuple[float, ...]  # market beta first, then FACTORS
    volatility: float  # idiosyncratic daily
    adv_shares: float
    base_price: float


class SyntheticMarket:
    """The market: a fixed universe with a seeded daily and intraday history."""

    name = "synthetic"

    def __init__(
        self,
        seed: int = 7,
        universe_size: int = 600,
        clock: Callable[[], datetime] = _utc_now,
        *,
        calendar: MarketCalendar,
    ) -> None:
        self.seed = seed
        self.clock = clock
        # The tape trades the policy's market: its exchange's hours, in its zone.
        self._exchange = calendar.name
        self.zone = calendar.zone
        self._extended = (calendar.pre_open, calendar.after_close)
        self._moves: list[Move] = []
        self._outages: list[tuple[datetime, datetime]] = []
        self._halts: list[tuple[frozenset[str], datetime, datetime]] = []
        self._momentum: list[tuple[datetime, float]] = []
        self._volatility: list[tuple[date, float]] = []
        rng = np.random.default_rng(stable_seed("universe", seed))
        self.instruments: dict[str, Instrument] = {}
        for i in range(universe_size):
            symbol = f"S{i:04d}"
            sector = SECTORS[i % len(SECTORS)]
            styles = dict(zip(STYLES, rng.normal(0.0, 0.4, len(STYLES)), strict=True))
            loadings = (
                float(rng.normal(1.0, 0.25)),
                *(float(styles.get(f, 1.0 if f == sector else 0.0)) for f in FACTORS),
            )
            self.instruments[symbol] = Instrument(
                symbol,
                sector,
                loadings,
                float(rng.uniform(0.008, 0.025)),
                float(rng.uniform(2e5, 5e6)),
                float(rng.uniform(20, 400)),
            )
        for k, factor in enumerate(FACTORS):
            loadings = tuple([1.0] + [1.0 if j == k else 0.0 for j in range(len(FACTORS))])
            proxy = FACTOR_PROXIES[factor]
            self.instruments[proxy] = Instrument(proxy, "etf", loadings, 0.001, 5e6, 100.0)
        self.instruments[BENCHMARK] = Instrument(
            BENCHMARK, "etf", (1.0, *([0.0] * len(FACTORS))), 0.0005, 8e7, 450.0
        )
        self._shocks: dict[str, float] = {}
        self._lock = threading.Lock()
        self._daily_cache: dict[date, pd.DataFrame] = {}
        # The daily draws are the seed's whatever the end date: histories that differ
        # only in their dates share their numbers (all of them, without a volatility
        # regime), keyed by the per-day volatility scale, the one input that varies.
        self._by_scale: dict[bytes, pd.DataFrame] = {}
        self._paths: dict[tuple[str, date], tuple[float, np.ndarray]] = {}
        self._days: dict[date, TradingDay] = {}  # price_at asks for every price

    def trading_day(self, day: date) -> TradingDay:
        """`day`'s hours in the market's zone. A half day is traded like a full one:
        the tape's shape does not follow the exchange's early closes."""
        known = self._days.get(day)
        if known is not None:
            return known
        open_, close = (t.astimezone(self.zone) for t in regular_hours(self._exchange, day))
        pre_open, after_close = self._extended
        hours = TradingDay(
            _minutes(pre_open),
            open_.hour * 60 + open_.minute,
            close.hour * 60 + close.minute,
            _minutes(after_close),
        )
        with self._lock:
            if len(self._days) > 64:  # a long backfill walks through years
                self._days.clear()
            self._days[day] = hours
        return hours

    def in_regular_hours(self, when: datetime) -> bool:
        """True in the regular hours of a weekday (holidays and half days included)."""
        local = when.astimezone(self.zone)
        day = self.trading_day(local.date())
        minute = local.hour * 60 + local.minute
        return local.weekday() < 5 and day.open <= minute < day.close

    # ------------------------------------------------------------ daily history
    def _daily(self, end: date) -> pd.DataFrame:
        """Close prices and volumes for HISTORY_DAYS business days ending at `end`."""
        with self._lock:
            cached = self._daily_cache.get(end)
        if cached is not None:
            return cached
        days = pd.bdate_range(end=pd.Timestamp(end), periods=HISTORY_DAYS)
        scale = self._volatility_scale(days)
        with self._lock:
            shared = self._by_scale.get(scale.tobytes())
        if shared is None:
            shared = self._history(days, scale)
            with self._lock:
                while len(self._by_scale) >= 4:
                    self._by_scale.pop(next(iter(self._by_scale)))
                self._by_scale[scale.tobytes()] = shared
        frame = shared.copy(deep=False)  # the same numbers under this end's dates
        frame.index = days
        with self._lock:
            # Today's and yesterday's histories are what gets asked for; keep a few.
            while len(self._daily_cache) >= 4:
                self._daily_cache.pop(next(iter(self._daily_cache)))
            self._daily_cache[end] = frame
        return frame

    def _history(self, days: pd.DatetimeIndex, scale: np.ndarray) -> pd.DataFrame:
        """Closes and volumes of every instrument on `days`, returns scaled by `scale`."""
        rng = np.random.default_rng(stable_seed("daily", self.seed))
        # Factor returns: market drift and vol, factors smaller; a stressed spell now and then.
        n_f = 1 + len(FACTORS)
        vol = np.array([0.007] + [0.004 if f in STYLES else 0.005 for f in FACTORS])
        stress = np.where(rng.random(HISTORY_DAYS) < 0.05, 2.5, 1.0)
        factor_returns = rng.standard_t(4, size=(HISTORY_DAYS, n_f)) * vol / np.sqrt(2)
        factor_returns *= stress[:, None]
        factor_returns[:, 0] += 0.0003
        symbols = list(self.instruments)
        loadings = np.array([self.instruments[s].loadings for s in symbols])
        idio_vol = np.array([self.instruments[s].volatility for s in symbols])
        idio = rng.standard_t(4, size=(HISTORY_DAYS, len(symbols))) * idio_vol / np.sqrt(2)
        returns = factor_returns @ loadings.T + idio
        returns *= scale[:, None]
        base = np.array([self.instruments[s].base_price for s in symbols])
        closes = base * np.exp(np.cumsum(np.log1p(np.clip(returns, -0.5, 0.5)), axis=0))
        adv = np.array([self.instruments[s].adv_shares for s in symbols])
        volumes = adv * rng.lognormal(0.0, 0.3, size=(HISTORY_DAYS, len(symbols)))
        return pd.concat(
            {
                "close": pd.DataFrame(closes, index=days, columns=symbols),
                "volume": pd.DataFrame(volumes.round(), index=days, columns=symbols),
            },
            axis=1,
        )

    def _volatility_scale(self, days: pd.DatetimeIndex) -> np.ndarray:
        """Per business day, the factor its returns are scaled by: that of the regime
        begun last by then (1 before the first)."""
        scale = np.ones(len(days))
        with self._lock:
            # By date; of two from the same date, the one set later.
            regimes = sorted(self._volatility, key=lambda regime: regime[0])
        for since, factor in regimes:
            scale[days >= pd.Timestamp(since)] = factor
        return scale

    def set_daily_volatility(self, factor: float, since: date) -> None:
        """From business day `since` on, every daily return (market, factors and each
        name's own) is `factor` times what it would have been: a volatility regime.

        The draws stay those of the seed, so the market before `since` is unchanged and
        the regime is as deterministic as the rest. Only the daily history moves: each
        day's minute path keeps its own volatility, so intraday figures (P&L, drawdown,
        the model) behave as on any day. Several regimes apply by date, each until the
        next one begins (factor 1 ends one).
        """
        if not (factor > 0 and np.isfinite(factor)):
            raise ValueError(f"volatility factor must be a positive number, got {factor!r}")
        with self._lock:
            self._volatility.append((since, float(factor)))
            # Every history built from here on, and the minute paths resting on it, change.
            self._daily_cache.clear()
            self._by_scale.clear()
            self._paths.clear()

    def daily_bars(self, symbols: Sequence[str], days: int) -> pd.DataFrame:
        unknown = [s for s in symbols if s not in self.instruments]
        if unknown:
            raise SourceError(f"synthetic market has no symbol(s) {unknown[:5]}")
        if days > HISTORY_DAYS:
            raise SourceError(f"synthetic history holds {HISTORY_DAYS} days, asked for {days}")
        end = (self.clock().astimezone(self.zone) - timedelta(days=1)).date()
        frame = self._daily(end).iloc[-days:]
        return frame.loc[:, (slice(None), list(symbols))]

    # ---------------------------------------------------------------- intraday
    def _intraday(self, symbol: str, day: date) -> tuple[float, np.ndarray]:
        """The previous close and the day's minute path of log moves, cached per day."""
        key = (symbol, day)
        with self._lock:
            hit = self._paths.get(key)
        if hit is not None:
            return hit
        inst = self.instruments[symbol]
        # One column, not the whole "close" block (a copy of every instrument's).
        previous_close = float(self._daily(day - timedelta(days=1))[("close", symbol)].iloc[-1])
        rng = np.random.default_rng(stable_seed("intraday", self.seed, symbol, day))
        steps = rng.standard_t(5, 24 * 60) * np.sqrt(3 / 5)  # unit variance, fat tails
        steps = self._autocorrelated(steps, day)
        hours = self.trading_day(day)
        profile = intraday_volatility_profile(hours)
        session = hours.regular_minutes
        steps *= inst.volatility / np.sqrt(session) * profile
        jumps = rng.random(24 * 60) < _JUMPS_PER_DAY / session * (profile > 0.5)
        steps[jumps] += (
            rng.standard_t(3, int(jumps.sum()))
            * inst.volatility
            * (_JUMP_SIZE_DAILY_VOLS / np.sqrt(3))
        )
        path = np.cumsum(steps)
        with self._lock:
            if len(self._paths) > 4 * len(self.instruments):  # yesterday's paths go
                self._paths.clear()
            self._paths[key] = (previous_close, path)
        return previous_close, path

    def _autocorrelated(self, shocks: np.ndarray, day: date) -> np.ndarray:
        """AR(1) minute returns, y[t] = phi y[t-1] + sqrt(1 - phi^2) e[t], with phi from
        the momentum regime in force each minute (variance stays that of e)."""
        phis = np.full(shocks.shape, DEFAULT_MOMENTUM)
        with self._lock:
            regimes = list(self._momentum)
        for start, phi in regimes:
            local = start.astimezone(self.zone)
            if local.date() < day:
                phis[:] = phi
            elif local.date() == day:
                phis[local.hour * 60 + local.minute :] = phi
        out = np.empty_like(shocks)
        previous = 0.0
        scale = np.sqrt(1 - phis**2)
        for t in range(shocks.size):  # 1440 steps, once per symbol and day
            previous = phis[t] * previous + scale[t] * shocks[t]
            out[t] = previous
        return out

    def set_momentum(self, phi: float, start: datetime) -> None:
        """From `start`, minute returns have autocorrelation `phi`: positive trends
        (momentum pays), negative mean-reverts (momentum models start losing)."""
        if not -1 < phi < 1:
            raise ValueError(f"autocorrelation must be in (-1, 1), got {phi!r}")
        with self._lock:
            self._momentum.append((start, phi))
            self._paths.clear()  # paths of days from `start` on change

    def price_at(self, symbol: str, when: datetime) -> float:
        """The deterministic price of `symbol` at minute resolution, moves included."""
        local = when.astimezone(self.zone)
        previous_close, path = self._intraday(symbol, local.date())
        log_price = float(path[local.hour * 60 + local.minute])
        with self._lock:
            moves = [m for m in self._moves if m.applies_to(symbol)]
            shock = self._shocks.get(symbol, 1.0)
        for move in moves:
            done = move.progress(when)
            log_price += move.log_return * done
            if move.extra_volatility and 0.0 < done < 1.0:
                minutes = self.trading_day(local.date()).regular_minutes
                rng = np.random.default_rng(
                    stable_seed("move", self.seed, move.name, symbol, when.replace(second=0))
                )
                log_price += float(rng.normal(0.0, move.extra_volatility / np.sqrt(minutes) * 4))
        return previous_close * float(np.exp(log_price)) * shock

    def last_trades(self, symbols: Sequence[str]) -> dict[str, Tick]:
        now = self.clock()
        with self._lock:
            down = any(start <= now < end for start, end in self._outages)
        if down:
            raise SourceError(f"{self.name}: feed outage (no data since the outage began)")
        ticks: dict[str, Tick] = {}
        for s in symbols:
            if s in self.instruments:
                since = self._halted_since(s, now)
                at = now if since is None else since
                ticks[s] = Tick(s, self.price_at(s, at), at)
        return ticks

    def _halted_since(self, symbol: str, when: datetime) -> datetime | None:
        """When the halt `symbol` is in at `when` began, or None when it trades."""
        with self._lock:
            starts = [a for names, a, b in self._halts if symbol in names and a <= when < b]
        return min(starts, default=None)

    def minute_bars(self, symbols: Sequence[str], day: date) -> pd.DataFrame:
        """`day`'s 1-minute closes in regular hours (`MinuteBarSource`): each minute's
        `price_at`, so the bars are the tape the agents saw. Minutes not yet reached on
        the clock, and those inside an outage, have no bar (NaN): the feed had none."""
        unknown = [s for s in symbols if s not in self.instruments]
        if unknown:
            raise SourceError(f"synthetic market has no symbol(s) {unknown[:5]}")
        open_, close = (t.astimezone(UTC) for t in regular_hours(self._exchange, day))
        minutes = pd.date_range(open_, close, freq="min", inclusive="left", name="minute")
        now = self.clock()
        with self._lock:
            outages = list(self._outages)
        served = [
            m.to_pydatetime()
            for m in minutes
            if m < now and not any(start <= m < end for start, end in outages)
        ]
        columns = {
            s: [
                math.nan if self._halted_since(s, m) is not None else self.price_at(s, m)
                for m in served
            ]
            for s in symbols
        }
        return pd.DataFrame(columns, index=pd.DatetimeIndex(served, name="minute")).reindex(minutes)

    def move(self, move: Move) -> None:
        """Script a price move (see `Move`)."""
        with self._lock:
            self._moves.append(move)

    def outage(self, start: datetime, end: datetime) -> None:
        """The feed answers nothing between `start` and `end`."""
        with self._lock:
            self._outages.append((start, end))

    def halt(self, symbols: Sequence[str], start: datetime, end: datetime) -> None:
        """Trading in `symbols` halts between `start` and `end`: the feed's last trade
        of each stays the one at `start` (price and time), and their minute bars inside
        the halt are missing, while every other symbol goes on trading."""
        with self._lock:
            self._halts.append((frozenset(symbols), start, end))

    def shock(self, symbol: str, factor: float) -> None:
        """Scale `symbol`'s price by `factor` from now on (1.0 removes the shock)."""
        with self._lock:
            self._shocks[symbol] = factor

    def sector(self, symbol: str) -> str:
        return self.instruments[symbol].sector

    def adv(self, symbol: str) -> float:
        return self.instruments[symbol].adv_shares
