"""Every series of one book: value, P&L, positions, trades, the model, daily figures.

`BookFigures` adds one book's series to the history's families; `DailyHistory` is
the trailing daily history the once-a-day figures (VaR and ES, performance, crowding,
compliance) are computed from, as of each exchange day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from riskwatch import analytics
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.trading import (
    ADV_WINDOW,
    PERFORMANCE_METRICS,
    evidence_subject,
    order_of,
    published_value,
)
from riskwatch.demo.backfill.base import BackfillError, FloatArray, IntArray
from riskwatch.demo.backfill.timeline import Timeline
from riskwatch.settings import Settings
from riskwatch.sources.synthetic import SyntheticMarket

if TYPE_CHECKING:
    from riskwatch.demo.backfill.desk import Book, History

MODEL_READ_SECONDS = 300
"""How often the model's figures are read: reading them is a pass over its hour."""
SIDES = ("buy", "sell")


class DailyHistory:
    """The trailing daily history as of each exchange day of the timeline.

    The daily bars are fetched once, as the live agent fetches them today; the window
    as of an earlier day is the `history_days` rows before it. Like the live agent,
    a day's figures use no data of that day itself.
    """

    def __init__(
        self,
        market: SyntheticMarket,
        settings: Settings,
        books: Sequence[Book],
        timeline: Timeline,
    ) -> None:
        t = settings.trading
        wanted = {s for b in books for s in b.symbols} | set(t.factor_proxies.values())
        if t.benchmark:
            wanted.add(t.benchmark)
        self.symbols = sorted(wanted)
        self.length = t.history_days
        updates = timeline.daily_updates()
        self.updates = updates
        days = [timeline.days[int(timeline.day[u])] for u in updates]
        rows = t.history_days + (timeline.days[-1] - timeline.days[0]).days + 10
        bars = market.daily_bars(self.symbols, rows)
        self.closes = bars["close"][self.symbols].to_numpy(dtype=np.float64)
        self.volumes = bars["volume"][self.symbols].to_numpy(dtype=np.float64)
        dates = pd.DatetimeIndex(bars.index)
        # Rows strictly before each update's day: its history ends the day before.
        self.cut = np.searchsorted(dates, pd.DatetimeIndex([pd.Timestamp(d) for d in days]))
        if len(self.cut) and int(self.cut.min()) < self.length:
            raise BackfillError("the synthetic market's daily history is too short")
        self.column = {s: k for k, s in enumerate(self.symbols)}
        steps = np.arange(self.length - 1)
        # Row k of a returns array is the move from close k to close k + 1; the window
        # as of an update is the length - 1 moves between its `length` closes.
        self.window = (self.cut - self.length)[None, :] + steps[:, None]

    def columns(self, symbols: Sequence[str]) -> list[int]:
        return [self.column[s] for s in symbols]

    def returns(self, closes: FloatArray) -> FloatArray:
        """Daily simple returns, per update in columns (or per update x column)."""
        windows: FloatArray = analytics.simple_returns(closes)[self.window]
        return windows

    def stacked_returns(self, closes: FloatArray) -> FloatArray:
        """Daily simple returns of columns, one ``(T, columns)`` block per update."""
        return np.moveaxis(self.returns(closes), 1, 0)

    def adv(self) -> list[dict[str, float]]:
        """20-day average daily volume as of each update, as compliance reads it."""
        means = analytics.trailing_mean(self.volumes, self.cut, ADV_WINDOW)
        return [dict(zip(self.symbols, row, strict=True)) for row in means.tolist()]


class BookFigures:
    """Every series of one book, added to the history's families."""

    def __init__(
        self,
        history: History,
        book: Book,
        prices: FloatArray,
        at: IntArray,
        daily: DailyHistory,
    ) -> None:
        self.h = history
        self.book = book
        self.name = book.settings.name
        self.prices = prices
        self.at = at
        self.daily = daily
        # The agent's own function, on every instant at once.
        self.figures = analytics.book_values(prices, book.quantity, book.cash, book.sectors)
        self.values = self.figures.values
        self.value = self.figures.value

    def publish(self) -> None:
        self._portfolio()
        self._positions()
        self._trades()
        self._model()
        self._daily()

    def _add(self, metric: str, values: FloatArray, **labels: str) -> None:
        self.h.family(metric).add(values, portfolio=self.name, **labels)

    def _constant(self, number: float) -> FloatArray:
        return np.where(np.isnan(self.value), np.nan, number)

    # -------------------------------------------------------------- portfolio
    def _portfolio(self) -> None:
        tl, value, figures = self.h.timeline, self.value, self.figures
        peak = analytics.running_peak(value)
        # Daily P&L as the EquityStore has it: from the last value recorded before New
        # York midnight (held values make that the value just before midnight), or from
        # the day's first value when nothing was recorded before.
        starts = tl.day_starts()
        before = value[np.maximum(starts - 1, 0)]
        first_of_day = np.full(len(tl.days), np.nan)
        first_of_day[tl.day[self.daily.updates]] = value[self.daily.updates]
        base = np.where((starts > 0) & ~np.isnan(before), before, first_of_day)
        self._add("trading_portfolio_value_usd", value)
        self._add("trading_cash_balance_usd", self._constant(self.book.cash))
        self._add("trading_daily_pnl_usd", analytics.pnl_since(value, base[tl.day[self.at]]))
        self._add("trading_drawdown_ratio", analytics.drawdown(value, peak))
        self._add("trading_peak_value_usd", peak)
        self._add("trading_gross_exposure_usd", figures.gross)
        self._add("trading_net_exposure_usd", figures.net)

    def _positions(self) -> None:
        b = self.book
        weights = self.figures.weights
        for k, (symbol, sector) in enumerate(zip(b.symbols, b.sectors, strict=True)):
            self._add(
                "trading_position_quantity", self._constant(float(b.quantity[k])), symbol=symbol
            )
            self._add(
                "trading_position_market_value_usd", self.values[:, k], symbol=symbol, sector=sector
            )
            self._add("trading_position_weight_ratio", weights[:, k], symbol=symbol)
        self._add("trading_positions", self._constant(float(len(b.symbols))))
        # The synthetic feed quotes every held symbol at every instant: as the agent
        # ages them, no price is ever old and no position is valued on a stale one.
        for symbol in b.symbols:
            self._add("trading_price_age_seconds", self._constant(0.0), symbol=symbol)
        self._add("trading_stale_positions", self._constant(0.0))
        for sector, weight in self.figures.sector_weights.items():
            self._add("trading_sector_weight_ratio", weight, sector=sector)

    def _trades(self) -> None:
        tl = self.h.timeline
        fills = self.h.fills[self.name]
        index = np.array([f.index for f in fills], dtype=np.int64)
        notional = analytics.notional(
            [f.execution.quantity for f in fills], [f.execution.price for f in fills]
        )
        sides = np.array([f.execution.side for f in fills])
        for side in SIDES:
            mine = sides == side
            count = np.bincount(index[mine], minlength=tl.size).cumsum().astype(np.float64)
            traded = np.bincount(index[mine], notional[mine], minlength=tl.size).cumsum()
            # Counters start at 0 with the (notional) agent at the start of the history.
            self._add("trading_trades_total", self._constant(0.0) + count, side=side)
            self._add("trading_traded_notional_usd_total", self._constant(0.0) + traded, side=side)
        # Turnover: today's traded notional over value, today being the latest run's day.
        total = np.bincount(index, notional, minlength=tl.size).cumsum()
        day_start = tl.day_starts()[tl.day[self.at]]
        today = total[self.at] - np.where(day_start > 0, total[np.maximum(day_start - 1, 0)], 0.0)
        self._add("trading_turnover_ratio", analytics.turnover_ratio(today, self.value))

    def _model(self) -> None:
        """The live MomentumModel, fed the book's prices once a minute while the agent
        runs (its model task's interval), so confidence, accuracy and reward are the
        model's own and not a lookalike; they are read every five minutes."""
        tl, b = self.h.timeline, self.book
        minute = tl.times // 60
        observed = np.flatnonzero(tl.recorded & np.r_[True, minute[1:] != minute[:-1]])
        read = tl.times[observed] // MODEL_READ_SECONDS
        read_at = np.r_[True, read[1:] != read[:-1]]
        model = MomentumModel(
            b.settings.model,
            min_scored=self.h.settings.policy.trading_model.min_scored_predictions,
        )
        figures = np.full((observed.size, 3), np.nan)
        for j, i in enumerate(observed.tolist()):
            model.observe(dict(zip(b.symbols, self.prices[i].tolist(), strict=True)), tl.at(i))
            if read_at[j]:
                accuracy, reward = model.accuracy(), model.episode_reward()
                figures[j] = (
                    model.confidence(),
                    np.nan if accuracy is None else accuracy,
                    np.nan if reward is None else reward,
                )
        events = observed[read_at]
        spread = _spread(figures[read_at], events, self.at)
        for k, metric in enumerate(
            (
                "riskwatch_model_confidence_ratio",
                "riskwatch_model_accuracy_ratio",
                "riskwatch_model_episode_reward",
            )
        ):
            self._add(metric, spread[:, k], model=model.name)

    # ------------------------------------------------------------------ daily
    def _daily(self) -> None:
        """Risk, crowding and compliance, once per exchange day (see the package doc)."""
        s, d, b = self.h.settings.trading, self.daily, self.book
        tail = self.h.settings.policy.tail_risk
        n = len(d.updates)
        equity = analytics.portfolio_value(d.closes[:, d.columns(b.symbols)] * b.quantity, b.cash)
        returns = d.returns(equity)
        figures: dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray] = {}
        if n:
            bench = d.returns(d.closes[:, d.column[s.benchmark]]) if s.benchmark else None
            performance = analytics.performance_metrics(returns, benchmark=bench)
            for key, metric in PERFORMANCE_METRICS.items():
                if key in performance:
                    figures[metric, ()] = np.asarray(performance[key], dtype=np.float64)
            confidences = (tail.var_confidence, tail.expected_shortfall_confidence)
            estimates: list[FloatArray] = []
            for method in tail.methods:
                # Both figures from one estimate per update: for filtered_historical
                # that is one GARCH fit of each day's history instead of two. They are
                # value_at_risk's and expected_shortfall's, as the agent publishes them.
                both = analytics.tail_figures(returns, confidences, method)
                var = both[tail.var_confidence].var
                es = both[tail.expected_shortfall_confidence].es
                var_labels = (("confidence", tail.var_label), ("method", method))
                es_labels = (("confidence", tail.expected_shortfall_label), ("method", method))
                figures["risk_var_ratio", var_labels] = np.asarray(var, dtype=np.float64)
                estimates.append(np.asarray(var, dtype=np.float64))
                figures["risk_expected_shortfall_ratio", es_labels] = np.asarray(
                    es, dtype=np.float64
                )
            # The highest estimate of any method, as the agent's compliance reads it.
            var_99 = np.max(estimates, axis=0)
            figures.update(self._crowding())
            figures.update(self._compliance(var_99))
        for (metric, labels), per_update in figures.items():
            values = _spread(per_update[:, None], d.updates, self.at)[:, 0]
            self._add(metric, values, **dict(labels))

    def _crowding(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray]:
        s, d, b = self.h.settings.trading, self.daily, self.book
        proxies = d.stacked_returns(d.closes[:, d.columns(list(s.factor_proxies.values()))])
        held = d.stacked_returns(d.closes[:, d.columns(b.symbols)])
        crowding = self.h.settings.policy.crowding
        thresholds = analytics.CrowdingThresholds(
            crowding.hhi_medium, crowding.hhi_high, crowding.gini_medium, crowding.gini_high
        )
        top_k = min(crowding.absorption_top_k, len(b.symbols))
        # The agent's functions, on every update's window at once.
        loadings = analytics.factor_loadings(proxies, held)
        exposures = analytics.factor_exposures(loadings, self.figures.weights[d.updates])
        result = analytics.crowding_rows(exposures, thresholds)
        return {
            ("crowding_hhi", ()): result.hhi,
            ("crowding_gini", ()): result.gini,
            ("crowding_level", ()): result.level,
            ("crowding_absorption_ratio", ()): analytics.absorption_ratios(held, top_k),
        }

    def _compliance(
        self, var_99: FloatArray
    ) -> dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray]:
        d, b, h = self.daily, self.book, self.h
        policy = self.h.settings.policy
        rules = analytics.rules_from(policy.compliance_specs())
        limits = analytics.ComplianceLimits.from_mapping(
            overrides=policy.compliance_overrides(), rules=rules
        )
        out: dict[tuple[str, tuple[tuple[str, str], ...]], FloatArray] = {}

        def put(metric: str, labels: tuple[tuple[str, str], ...], j: int, number: float) -> None:
            out.setdefault((metric, labels), np.full(len(d.updates), np.nan))[j] = number

        for j, (u, adv) in enumerate(zip(d.updates.tolist(), d.adv(), strict=True)):
            now = h.timeline.at(u)
            day = h.timeline.day[u]
            orders = [
                order_of(f.execution, adv.get(f.execution.symbol, 0.0))
                for f in h.fills[self.name]
                if f.index <= u and h.timeline.day[f.index] == day
            ]
            snapshot = analytics.ComplianceSnapshot(
                portfolio_id=self.name,
                portfolio_value=float(self.value[u]),
                now=now,
                positions=dict(zip(b.symbols, self.values[u].tolist(), strict=True)),
                sectors=dict(zip(b.symbols, b.sectors, strict=True)),
                var_99=float(var_99[j]),
                orders=orders,
                # The agent refreshes prices just before it checks compliance, and the
                # synthetic feed quotes every held symbol at that instant: none has aged.
                market_data_updated={self.h.market.name: now},
                price_ages=dict.fromkeys(b.symbols, 0.0),
            )
            results = analytics.evaluate(
                snapshot, limits, rules=rules, is_session_open=h.calendar.is_regular_session
            )
            for r in results:
                rule = (("rule", r.rule_id),)
                put(
                    "compliance_violation_active",
                    (*rule, ("severity", r.severity.value)),
                    j,
                    float(r.violated),
                )
                put("compliance_rule_value", rule, j, published_value(r.observed))
                put("compliance_rule_limit", rule, j, r.limit)
                for subject in {evidence_subject(key) for key in r.evidence} if r.violated else ():
                    put("compliance_violation_evidence_info", (*rule, ("subject", subject)), j, 1.0)
        return out


def _spread(per_event: FloatArray, events: IntArray, at: IntArray) -> FloatArray:
    """Values known at event instants, seen at every instant from each event on (NaN
    before the first): `at` is each instant's latest recorded instant."""
    which = np.searchsorted(events, at, side="right") - 1
    out = per_event[np.maximum(which, 0)].astype(np.float64)
    out[which < 0] = np.nan
    return out
