"""The trading agent: portfolio, positions, trades, model, risk, crowding and compliance.

Every figure is computed with `riskwatch.analytics` from what the broker and the
market-data source say, and published under the catalog's names. Data that could
not be refreshed is not re-published as fresh: the task fails (AgentTaskFailing),
`marketdata_last_update_timestamp_seconds` stops advancing (MarketDataStale and
DAT_001), and the last published values stay as they were.

Freshness is per symbol (`riskwatch.agents.prices`): a symbol whose tick is rejected
or missing keeps its last good price, which ages from its quote's time. Each book
publishes its held symbols' price ages and how many of its positions are valued on a
stale price; DAT_001's evidence names the stale symbols; and the feed's timestamp is
its oldest held price's (or its last usable answer, when that is older).

With a database the agent also keeps the broker's fills, publishes the realised
figures of its equity curve and closed trades, and at each exchange day's close
records its VaR and ES forecasts for the next exchange day and the day's realised
return in the forecast log (`riskwatch.agents.realised`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from riskwatch import analytics
from riskwatch.agents.equity import EquityStore
from riskwatch.agents.model import TradingModel
from riskwatch.agents.prices import LastPrices
from riskwatch.agents.realised import CloseRecorder, RealisedPerformance, close_forecasts
from riskwatch.calendar import MarketCalendar
from riskwatch.forecast_log import Forecast, ForecastLog
from riskwatch.policy import Policy
from riskwatch.publish import PositionFigures, Publisher
from riskwatch.runtime import Task, TaskContext
from riskwatch.settings import TaskSchedule, TradingAgentSettings
from riskwatch.sources.base import (
    BrokerSource,
    Execution,
    MarketDataSource,
    Position,
    RejectedTick,
    SourceError,
    validate_price,
)

log = logging.getLogger("riskwatch.agents.trading")

# analytics.performance_metrics key -> catalog metric.
PERFORMANCE_METRICS: Mapping[str, str] = {
    "annual_return": "risk_annual_return_ratio",
    "annual_volatility": "risk_annual_volatility_ratio",
    "sharpe": "risk_sharpe",
    "sortino": "risk_sortino",
    "calmar": "risk_calmar",
    "max_drawdown": "risk_max_drawdown_ratio",
    "win_rate": "risk_win_rate_ratio",
    "profit_factor": "risk_profit_factor",
    "win_loss_ratio": "risk_win_loss",
    "beta": "risk_beta",
    "alpha": "risk_alpha_ratio",
    "tracking_error": "risk_tracking_error_ratio",
    "information_ratio": "risk_information",
}
ADV_WINDOW = 20


@dataclass
class Book:
    """One portfolio's latest state, shared between its tasks."""

    name: str
    broker: BrokerSource
    model: TradingModel
    positions: list[Position] = field(default_factory=list)
    prices: dict[str, float] = field(default_factory=dict)
    value: float = 0.0
    cash: float = 0.0
    var_99: float | None = None
    executions: list[Execution] = field(default_factory=list)

    def figures(self) -> analytics.BookValues:
        """Value, exposures and weights at the latest prices: the backfill's function,
        on one row."""
        prices = [[self.prices[p.symbol] for p in self.positions]]
        quantity = [p.quantity for p in self.positions]
        return analytics.book_values(
            prices, quantity, self.cash, [p.sector for p in self.positions]
        )


@dataclass(frozen=True)
class _Structure:
    day: str
    loadings: np.ndarray  # factors x holdings
    absorption: float


class TradingAgent:
    """Builds the trading agent's tasks over its books, sources and publisher."""

    def __init__(
        self,
        settings: TradingAgentSettings,
        publisher: Publisher,
        market: MarketDataSource,
        books: Sequence[Book],
        equity: EquityStore,
        calendar: MarketCalendar,
        *,
        policy: Policy,
        forecast_log: ForecastLog | None = None,
    ) -> None:
        """`forecast_log` None: no close records (an agent without a database)."""
        self.settings = settings
        self.policy = policy
        self.pub = publisher
        self.market = market
        self.books = list(books)
        self.equity = equity
        self.calendar = calendar
        self.realised = RealisedPerformance(publisher, equity, calendar)
        self.closes = (
            None if forecast_log is None else CloseRecorder(forecast_log, equity, calendar)
        )
        self.last_market_update: datetime | None = None
        """When the feed last answered with a usable price (`now` of that cycle)."""
        self.quotes = LastPrices(calendar, policy.ops.market_data_stale_seconds)
        self._aged: dict[str, set[str]] = {}  # book -> symbols with a price-age series
        self.started_at = datetime.now(UTC)
        self._model_seen: datetime | None = None
        self._history: tuple[str, frozenset[str], pd.DataFrame] | None = None
        self._fields: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
        self._structures: dict[tuple[str, ...], _Structure] = {}
        self._rejected = publisher.counter("marketdata_rejected_ticks_total")
        self.compliance_rules = analytics.rules_from(policy.compliance_specs())
        self.compliance_limits = analytics.ComplianceLimits.from_mapping(
            overrides=policy.compliance_overrides(), rules=self.compliance_rules
        )
        c = policy.crowding
        self.crowding_thresholds = analytics.CrowdingThresholds(
            c.hhi_medium, c.hhi_high, c.gini_medium, c.gini_high
        )

    def tasks(self, schedules: Mapping[str, TaskSchedule]) -> list[Task]:
        """The agent's tasks with their schedules from settings."""
        jobs: dict[str, Callable[[TaskContext], None]] = {
            "portfolio": self.portfolio_task,
            "model": self.model_task,
            "risk": self.risk_task,
            "crowding": self.crowding_task,
            "compliance": self.compliance_task,
            "heartbeat": lambda _ctx: None,
        }
        return [Task(name, run, schedules[name]) for name, run in jobs.items()]

    # ----------------------------------------------------------------- prices
    def _refresh_prices(self, symbols: Sequence[str], now: datetime) -> dict[str, float]:
        """Fetch the last trades and keep each valid one with its quote's time; rejected
        ticks are logged and counted, never used. Returns the prices accepted now."""
        source = self.market.name
        ticks = self.market.last_trades(symbols)
        accepted: dict[str, float] = {}
        for symbol, tick in ticks.items():
            try:
                accepted[symbol] = validate_price(symbol, tick.price)
            except RejectedTick as rejected:
                self._count_rejection("tick", source, rejected)
                continue
            self.quotes.accept(symbol, accepted[symbol], tick.timestamp, now)
        if accepted:
            self.last_market_update = now
        return accepted

    def _publish_feed_time(self, now: datetime) -> None:
        """The feed's freshness: the oldest held symbol's price, or the feed's last
        usable answer when that is older (a feed whose every tick is rejected)."""
        if self.last_market_update is None:
            return
        held = {p.symbol for b in self.books for p in b.positions}
        ages = self.quotes.ages(held, now)
        age = max([*ages.values(), (now - self.last_market_update).total_seconds()])
        # Wall-clock, like every published timestamp: `now` may be simulated.
        self.pub.gauge("marketdata_last_update_timestamp_seconds").labels(self.market.name).set(
            time.time() - age
        )

    def _publish_price_ages(self, book: Book, ages: Mapping[str, float]) -> None:
        """Each held symbol's price age and the count of positions on a stale price;
        the series of symbols no longer held are removed."""
        gauge = self.pub.gauge("trading_price_age_seconds")
        for gone in self._aged.get(book.name, set()) - set(ages):
            gauge.remove(book.name, gone)
        for symbol, age in ages.items():
            gauge.labels(book.name, symbol).set(age)
        self._aged[book.name] = set(ages)
        stale = self.quotes.stale(ages)
        self.pub.gauge("trading_stale_positions").labels(book.name).set(len(stale))

    def _count_rejection(self, what: str, source: str, rejected: RejectedTick) -> None:
        self._rejected.labels(source, rejected.reason).inc()
        log.warning(
            f"{what} rejected",
            extra={"source": source, "symbol": rejected.symbol, "reason": rejected.reason},
        )

    def _accepted_executions(self, broker: BrokerSource, since: datetime) -> list[Execution]:
        """Fills with a usable price; a broken fill is logged and counted, not traded on."""
        accepted = []
        for ex in broker.executions(since):
            try:
                validate_price(ex.symbol, ex.price)
            except RejectedTick as rejected:
                self._count_rejection("execution", broker.name, rejected)
                continue
            accepted.append(ex)
        return accepted

    # -------------------------------------------------------------- portfolio
    def portfolio_task(self, ctx: TaskContext) -> None:
        day_start = self.calendar.session_start(ctx.now)
        for book in self.books:
            self.pub.gauge("riskwatch_broker_connected").labels(book.broker.name).set(
                int(book.broker.connected)
            )
            account = book.broker.account()
            book.positions = book.broker.positions()
            symbols = [p.symbol for p in book.positions]
            fresh = self._refresh_prices(symbols, ctx.now)
            missing = [s for s in symbols if s not in self.quotes]
            if missing:
                raise SourceError(f"{book.name}: no usable price yet for {missing[:5]}")
            # The last good price of each: a rejected or missing tick leaves it (aging).
            book.prices.update({s: self.quotes.price(s) for s in symbols})
            for symbol, price in fresh.items():
                self.pub.gauge("marketdata_price_usd").labels(self.market.name, symbol).set(price)
            self._publish_price_ages(book, self.quotes.ages(symbols, ctx.now))
            book.cash = account.cash
            figures = book.figures()
            book.value = float(figures.value[0])
            state = self.equity.record(book.name, ctx.now, book.value, day_start)
            self.pub.portfolio(
                book.name,
                value=book.value,
                cash=account.cash,
                daily_pnl=state.daily_pnl,
                drawdown=state.drawdown,
                peak=state.peak,
                gross_exposure=float(figures.gross[0]),
                net_exposure=float(figures.net[0]),
            )
            self.pub.positions(
                book.name,
                {
                    p.symbol: PositionFigures(
                        p.quantity,
                        float(figures.values[0, k]),
                        p.sector,
                        float(figures.weights[0, k]),
                    )
                    for k, p in enumerate(book.positions)
                },
            )
            sector_gauge = self.pub.gauge("trading_sector_weight_ratio")
            for sector, weight in figures.sector_weights.items():
                sector_gauge.labels(book.name, sector).set(float(weight[0]))
            book.executions = self._accepted_executions(book.broker, day_start)
            self.pub.trades(book.name, book.executions)
            new_fills = self.equity.record_executions(
                book.name, book.executions, book.positions, ctx.now
            )
            self.realised.refresh_trades(book.name, new_fills=new_fills > 0)
            traded = analytics.notional(
                [e.quantity for e in book.executions], [e.price for e in book.executions]
            ).sum()
            turnover = analytics.turnover_ratio(traded, book.value)
            self.pub.gauge("trading_turnover_ratio").labels(book.name).set(float(turnover))
            ctx.span.set_attribute(f"riskwatch.{book.name}.value_usd", book.value)
        self._publish_feed_time(ctx.now)

    # ------------------------------------------------------------------ model
    def model_task(self, ctx: TaskContext) -> None:
        # A model fed frozen prices would score its calls against a market that did not
        # move: while the feed is stale it sees nothing new and says what it said.
        fresh = self.last_market_update is not None and (
            self._model_seen is None or self.last_market_update > self._model_seen
        )
        for book in self._valued_books():
            if fresh:
                book.model.observe(book.prices, ctx.now)
            self.pub.model(
                book.name,
                book.model.name,
                confidence=book.model.confidence(),
                accuracy=book.model.accuracy(),
                reward=book.model.episode_reward(),
            )
        if fresh:
            self._model_seen = self.last_market_update

    # ------------------------------------------------------------------- risk
    def _daily_history(self, now: datetime) -> pd.DataFrame:
        """Daily closes and volumes of every held symbol, the benchmark and the factor
        proxies, fetched once a day: history does not change intraday."""
        # Held symbols, and symbols traded today (an order's ADV matters after a sale).
        wanted = {p.symbol for b in self.books for p in b.positions}
        wanted |= {e.symbol for b in self.books for e in b.executions}
        wanted |= set(self.settings.factor_proxies.values())
        if self.settings.benchmark:
            wanted.add(self.settings.benchmark)
        # Daily bars end with the previous New York session, so they change at New
        # York midnight: keyed by the UTC date, the cache served yesterday's bars from
        # 00:00 to 19:00 New York every day.
        day = now.astimezone(self.calendar.market.zone).date().isoformat()
        cached = self._history
        if cached is None or cached[0] != day or not wanted <= cached[1]:
            frame = self.market.daily_bars(sorted(wanted), self.settings.history_days)
            self._history = cached = (day, frozenset(wanted), frame)
        return cached[2]

    def _daily_field(self, now: datetime, name: str) -> pd.DataFrame:
        """One field (close, volume) of `_daily_history`, taken out once per history:
        each taking copies every symbol's whole history (at 10,000 positions, some
        40 ms of CPU a cycle for the two fields)."""
        history = self._daily_history(now)
        kept = self._fields.get(name)
        if kept is None or kept[0] is not history:
            kept = self._fields[name] = (history, _field(history, name))
        return kept[1]

    def _book_returns(self, book: Book, closes: pd.DataFrame) -> pd.Series:
        """Daily returns of the current holdings over the history (historical simulation)."""
        symbols = [p.symbol for p in book.positions]
        quantity = np.array([p.quantity for p in book.positions])
        equity = analytics.portfolio_value(closes[symbols].to_numpy() * quantity, book.cash)
        return pd.Series(analytics.simple_returns(equity), index=closes.index[1:])

    def risk_task(self, ctx: TaskContext) -> None:
        closes = self._daily_field(ctx.now, "close")
        s = self.settings
        tail = self.policy.tail_risk
        bench = None
        if s.benchmark:
            moves = analytics.simple_returns(closes[s.benchmark].to_numpy())
            bench = pd.Series(moves, index=closes.index[1:])
        confidences = (tail.var_confidence, tail.expected_shortfall_confidence)
        close = None if self.closes is None else self.closes.due(ctx.now)
        forecasts: list[Forecast] = []
        books = self._valued_books()
        for book in books:
            returns = self._book_returns(book, closes)
            figures = analytics.performance_metrics(returns, benchmark=bench)
            for key, metric in PERFORMANCE_METRICS.items():
                if key in figures:
                    self.pub.gauge(metric).labels(book.name).set(float(figures[key]))
            var_gauge = self.pub.gauge("risk_var_ratio")
            es_gauge = self.pub.gauge("risk_expected_shortfall_ratio")
            estimated: list[float] = []
            for method in self._estimable_methods(book.name, returns):
                # VaR and ES at both confidences from one estimate (one GARCH fit for
                # filtered_historical): the published pair, and at a close the forecasts.
                both = analytics.tail_figures(returns, confidences, method)
                var = float(both[tail.var_confidence].var)
                es = float(both[tail.expected_shortfall_confidence].es)
                var_gauge.labels(book.name, tail.var_label, method).set(var)
                es_gauge.labels(book.name, tail.expected_shortfall_label, method).set(es)
                estimated.append(var)
                if close is not None:
                    forecasts += close_forecasts(book.name, method, both, close, ctx.now)
            # Compliance's VaR rule reads the highest estimate, as the VaR alert does:
            # a breach by any model of the return distribution is a breach.
            book.var_99 = max(estimated)
            self.realised.refresh_curve(book.name, ctx.now)
        if self.closes is not None:
            if close is not None:  # only once every book has its forecasts
                self.closes.made(close, forecasts, [b.name for b in books])
            self.closes.write()

    def _estimable_methods(self, portfolio: str, returns: pd.Series) -> list[str]:
        """The policy's methods this history is long enough for.

        A method short of data (a GARCH fit needs 100 returns; a new listing or a
        short `trading.history_days` has fewer) is skipped with a warning and its
        series removed, so the others are still published and no stale figure stays.
        With none left the task fails: VaR would be unwatched (AgentTaskFailing).
        """
        tail = self.policy.tail_risk
        usable = int(returns.notna().sum())
        methods: list[str] = []
        for method in tail.methods:
            needed = analytics.minimum_observations(method)
            if usable >= needed:
                methods.append(method)
                continue
            log.warning(
                "%s: %s VaR/ES needs %d daily returns, the history has %d: not published",
                portfolio, method, needed, usable,
            )  # fmt: skip
            for name, label in (
                ("risk_var_ratio", tail.var_label),
                ("risk_expected_shortfall_ratio", tail.expected_shortfall_label),
            ):
                with contextlib.suppress(KeyError):  # never published: nothing to remove
                    self.pub.gauge(name).remove(portfolio, label, method)
        if not methods:
            raise SourceError(
                f"{portfolio}: {usable} daily returns are too few for any VaR method "
                f"({', '.join(tail.methods)})"
            )
        return methods

    # --------------------------------------------------------------- crowding
    def _holdings_structure(self, now: datetime, symbols: tuple[str, ...]) -> _Structure:
        """Factor loadings and absorption ratio of a set of holdings, cached per day.

        Both depend only on the holdings' daily history, which does not change
        intraday; only the weights do. Recomputing the 500x500 covariance
        eigen-decomposition every cycle would cost more than everything else together.
        """
        day = now.astimezone(UTC).date().isoformat()
        cached = self._structures.get(symbols)
        if cached is not None and cached.day == day:
            return cached
        closes = self._daily_field(now, "close")
        proxies = analytics.simple_returns(closes[list(self.settings.factor_proxies.values())])
        held = analytics.simple_returns(closes[list(symbols)])
        # Factor loadings of every holding at once: one least-squares solve (of one window).
        loadings = analytics.factor_loadings(proxies[None], held[None])[0]
        k = min(self.policy.crowding.absorption_top_k, len(symbols))
        structure = _Structure(day, loadings, analytics.absorption_ratio(held, k))
        self._structures = {s: v for s, v in self._structures.items() if v.day == day}
        self._structures[symbols] = structure
        return structure

    def crowding_task(self, ctx: TaskContext) -> None:
        for book in self._valued_books():
            symbols = tuple(p.symbol for p in book.positions)
            structure = self._holdings_structure(ctx.now, symbols)
            exposures = analytics.factor_exposures(structure.loadings[None], book.figures().weights)
            result = analytics.crowding_rows(exposures, self.crowding_thresholds)
            self.pub.gauge("crowding_hhi").labels(book.name).set(float(result.hhi[0]))
            self.pub.gauge("crowding_gini").labels(book.name).set(float(result.gini[0]))
            self.pub.gauge("crowding_level").labels(book.name).set(float(result.level[0]))
            self.pub.gauge("crowding_absorption_ratio").labels(book.name).set(structure.absorption)

    # ------------------------------------------------------------- compliance
    def compliance_task(self, ctx: TaskContext) -> None:
        volumes = self._daily_field(ctx.now, "volume")
        means = analytics.trailing_mean(volumes.to_numpy(), [len(volumes)], ADV_WINDOW)[0]
        adv = dict(zip(volumes.columns, means.tolist(), strict=True))
        active = self.pub.gauge("compliance_violation_active")
        value_g = self.pub.gauge("compliance_rule_value")
        limit_g = self.pub.gauge("compliance_rule_limit")
        for book in self._valued_books():
            if book.var_99 is None:
                self.risk_task(ctx)
            symbols = [p.symbol for p in book.positions]
            # Aged to this instant: while the feed is down the held prices go on aging.
            ages = self.quotes.ages(symbols, ctx.now)
            self._publish_price_ages(book, ages)
            snapshot = analytics.ComplianceSnapshot(
                portfolio_id=book.name,
                portfolio_value=book.value,
                now=ctx.now,
                positions=dict(zip(symbols, book.figures().values[0].tolist(), strict=True)),
                sectors={p.symbol: p.sector for p in book.positions},
                var_99=book.var_99 or 0.0,
                orders=[
                    order_of(e, _finite_or_zero(adv.get(e.symbol, 0.0))) for e in book.executions
                ],
                market_data_updated=(
                    {self.market.name: self.last_market_update} if self.last_market_update else {}
                ),
                price_ages=ages,
            )
            results = analytics.evaluate(
                snapshot,
                self.compliance_limits,
                rules=self.compliance_rules,
                is_session_open=self.calendar.is_regular_session,
            )
            for r in results:
                active.labels(book.name, r.rule_id, r.severity.value).set(int(r.violated))
                value_g.labels(book.name, r.rule_id).set(published_value(r.observed))
                limit_g.labels(book.name, r.rule_id).set(r.limit)
                subjects = [evidence_subject(k) for k in r.evidence] if r.violated else []
                self.pub.compliance_evidence(book.name, r.rule_id, subjects)

    def _valued_books(self) -> list[Book]:
        books = [b for b in self.books if b.value > 0 and b.positions]
        if not books:
            raise SourceError("no portfolio has been valued yet (the portfolio task runs first)")
        return books


def _field(history: pd.DataFrame, name: str) -> pd.DataFrame:
    """One field (close, volume) of a daily-bars frame, symbols as columns."""
    frame = history[name]
    assert isinstance(frame, pd.DataFrame)
    return frame


def order_of(execution: Execution, adv: float) -> analytics.Order:
    """A fill as compliance reads it: quantity signed by side, with its symbol's ADV."""
    e = execution
    return analytics.Order(
        e.symbol, e.quantity if e.side == "buy" else -e.quantity, e.price, e.timestamp, adv
    )


def published_value(value: float) -> float:
    """A rule's observed value as its gauge shows it."""
    # An order on a symbol with no volume has an infinite ADV fraction: publish a
    # large finite number rather than +Inf, which dashboards render poorly.
    return value if np.isfinite(value) else 1e9


def _finite_or_zero(value: float) -> float:
    # A symbol without volume history has no ADV; 0 makes any order on it an
    # EXE_001 breach, which is the cautious reading.
    return float(value) if np.isfinite(value) else 0.0


def evidence_subject(evidence_key: str) -> str:
    """The evidence label of a rule's evidence key (a symbol, for an order)."""
    # Order evidence is keyed SYMBOL@timestamp; a label keeps only the symbol, since
    # timestamps are unbounded values.
    return evidence_key.split("@", 1)[0]
