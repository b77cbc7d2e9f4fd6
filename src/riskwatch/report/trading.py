"""The day's trading for the report: trades, open positions, contributions, watch list.

Two sources, both real, never filled in:

- The fills the trading agent keeps in PostgreSQL (`agent_executions`, after the book
  it first traded against, `agent_trade_start` and `agent_opening_lots`), read with SQL
  here: the report is a feature of its own and does not import the agents. They give
  the day's trades, the P&L each closing fill realised (matched FIFO by
  `riskwatch.analytics.trades.closed_trades`, as the agents' closed-trade figures are),
  the cost of the lots still open, and what was paid and received during the day.
- The agents' position figures in Prometheus (`trading_position_quantity`,
  `trading_position_market_value_usd`, `trading_position_weight_ratio`): what is held
  at the window's end, at what value and weight.

A position's unrealised P&L is its market value less the cost of its open lots; its
part of the day's P&L is its value at the end less its value at the start and the net
amount paid for it during the day. The watch list judges each position against the
policy's per-position compliance limits (`POSITION_RULES`).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from riskwatch.analytics.trades import closed_trades
from riskwatch.policy import Policy
from riskwatch.report.model import (
    Contribution,
    PositionRow,
    ReportWindow,
    TradeRow,
    Trading,
    WatchRow,
)
from riskwatch.report.prom import PrometheusClient, by_labels

log = logging.getLogger("riskwatch.report.trading")

# The policy's compliance rules that bound one position, and the figure each reads:
# "market_value" (absolute dollars) or "weight" (absolute share of the book).
POSITION_RULES: dict[str, str] = {"RISK_001": "market_value", "CON_001": "weight"}
# Quantities are floats (fractional shares); what is within this of zero is flat.
_FLAT = 1e-9
CONNECT_TIMEOUT_SECONDS = 5

# Every fill since each book's first record, with the book it started from as fills at
# its time: opening lots sort before the executions (which are strictly after it).
_FILLS = """
SELECT s.portfolio, s.as_of AS ts, 0 AS kind, l.symbol AS tiebreak, l.symbol,
       l.quantity, l.price
FROM agent_trade_start s JOIN agent_opening_lots l USING (portfolio)
WHERE s.as_of < %(until)s
UNION ALL
SELECT e.portfolio, e.ts, 1, e.exec_id, e.symbol,
       CASE e.side WHEN 'buy' THEN e.quantity ELSE -e.quantity END, e.price
FROM agent_executions e JOIN agent_trade_start s USING (portfolio)
WHERE e.ts > s.as_of AND e.ts < %(until)s
ORDER BY 1, 2, 3, 4
"""


@dataclass(frozen=True)
class Fill:
    """One row of `_FILLS`: a fill, or a lot of the opening book (`opening`)."""

    portfolio: str
    at: datetime
    opening: bool
    symbol: str
    quantity: float
    price: float


def read_fills(dsn: str, until: datetime) -> list[Fill]:
    """Every book's fills before `until`, in execution order per book; empty when the
    agents never kept any (their tables do not exist yet).

    Raises:
        psycopg.Error: the database is unreachable.
    """
    with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        try:
            rows = conn.execute(_FILLS, {"until": until}).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
    return [
        Fill(str(p), ts, kind == 0, str(symbol), float(qty), float(px))
        for p, ts, kind, _tie, symbol, qty, px in rows
    ]


def open_lots(quantities: Sequence[float], prices: Sequence[float]) -> tuple[float, float | None]:
    """(signed quantity, average price of the lots still open) after one symbol's fills
    in order, FIFO: a fill closes the oldest lots on the other side first."""
    lots: deque[list[float]] = deque()
    scale = max((abs(q) for q in quantities), default=0.0) * _FLAT
    for qty, price in zip(quantities, prices, strict=True):
        left = qty
        while abs(left) > scale and lots and math.copysign(1, lots[0][0]) != math.copysign(1, left):
            taken = min(abs(left), abs(lots[0][0]))
            lots[0][0] -= math.copysign(taken, lots[0][0])
            left -= math.copysign(taken, left)
            if abs(lots[0][0]) <= scale:
                lots.popleft()
        if abs(left) > scale:
            lots.append([left, price])
    held = sum(q for q, _ in lots)
    if abs(held) <= scale:
        return 0.0, None
    return held, sum(q * p for q, p in lots) / held


def _trades_of_book(fills: list[Fill], window: ReportWindow) -> list[TradeRow]:
    """The book's fills in the window, each with the P&L it realised."""
    realised: dict[int, float] = {}
    if fills:
        matched = closed_trades(
            [f.symbol for f in fills], [f.quantity for f in fills], [f.price for f in fills]
        )
        realised = dict(
            zip(matched.index.to_numpy(dtype=int).tolist(), matched["pnl"].tolist(), strict=True)
        )
    return [
        TradeRow(
            f.portfolio,
            f.symbol,
            "buy" if f.quantity > 0 else "sell",
            abs(f.quantity),
            f.price,
            f.at.astimezone(window.zone),
            realised.get(i),
        )
        for i, f in enumerate(fills)
        if not f.opening and f.at >= window.start
    ]


class TradingReader:
    """Reads the day's trading for one window from the database and Prometheus."""

    def __init__(
        self,
        prom: PrometheusClient,
        window: ReportWindow,
        policy: Policy,
        dsn: str | None,
        watchlist_size: int,
    ) -> None:
        self.prom = prom
        self.window = window
        self.policy = policy
        self.dsn = dsn
        self.watchlist_size = watchlist_size

    def read(self) -> Trading:
        """Everything the trading sections show; a database error only empties the
        parts that come from it, and says why in `trades_error`."""
        trading = Trading()
        held = self._positions_at_end()
        fills: list[Fill] = []
        if self.dsn is None:
            trading.trades_error = (
                "no database configured (database_url), so the agents' fills were not read"
            )
        else:
            try:
                fills = read_fills(self.dsn, self.window.end)
            except psycopg.Error as exc:
                trading.trades_error = "cannot read the agents' fills: " + " ".join(
                    str(exc).split()
                )
                log.warning("trading sections without fills: %s", trading.trades_error)
        books: dict[str, list[Fill]] = {}
        by_position: dict[tuple[str, str], list[Fill]] = {}
        for f in fills:
            books.setdefault(f.portfolio, []).append(f)
            by_position.setdefault((f.portfolio, f.symbol), []).append(f)
        for book in books.values():
            trading.trades += _trades_of_book(book, self.window)
        trading.trades.sort(key=lambda t: (t.at, t.portfolio, t.symbol))
        trading.positions = self._position_rows(held, by_position)
        trading.contributions = self._contributions(held, by_position, trading.trades)
        trading.watch = self._watch(trading.positions)
        return trading

    # -- Prometheus: the agents' position figures.
    def _last(self, metric: str) -> dict[tuple[str, str], float]:
        """Each position's value of `metric` at the window's end, or its last in the
        window once it stopped (summed over its other labels, e.g. sector)."""
        by, w = "sum by (portfolio, symbol)", self.window.seconds
        expr = f"({by} ({metric})) or ({by} (last_over_time({metric}[{w}s])))"
        return by_labels(self.prom.vector(expr, self.window.end), "portfolio", "symbol")

    def _seen(self, by: str) -> dict[Any, float]:
        """When each `by` group of position series was last seen in the window: now for
        those present at its end (their sample's time), else the last minute they were."""
        series, w = "trading_position_quantity", self.window.seconds
        expr = (
            f"(max by ({by}) (timestamp({series}))) or "
            f"(max by ({by}) (max_over_time(timestamp({series})[{w}s:60s])))"
        )
        return by_labels(self.prom.vector(expr, self.window.end), *by.split(", "))

    def _positions_at_end(self) -> dict[tuple[str, str], dict[str, float]]:
        """Positions held at the window's end: those the agents still published when
        their book last published any (a position closed during the day is gone)."""
        position_seen = self._seen("portfolio, symbol")
        book_seen = self._seen("portfolio")
        figures = {
            "quantity": self._last("trading_position_quantity"),
            "market_value": self._last("trading_position_market_value_usd"),
            "weight": self._last("trading_position_weight_ratio"),
        }
        held: dict[tuple[str, str], dict[str, float]] = {}
        for key, at in position_seen.items():
            # One step of the subquery's minute grid behind the book is still held.
            if at < book_seen.get(key[0], at) - 60:
                continue
            values = {name: f[key] for name, f in figures.items() if key in f}
            if values.get("quantity", 1.0) != 0:
                held[key] = values
        return held

    def _start_values(self) -> dict[tuple[str, str], float]:
        """Each position's market value at the window's start (its last within a day
        before it)."""
        expr = "sum by (portfolio, symbol) (last_over_time(trading_position_market_value_usd[1d]))"
        return by_labels(self.prom.vector(expr, self.window.start), "portfolio", "symbol")

    # -- the sections.
    def _position_rows(
        self,
        held: dict[tuple[str, str], dict[str, float]],
        fills: dict[tuple[str, str], list[Fill]],
    ) -> list[PositionRow]:
        rows = []
        for (portfolio, symbol), values in sorted(held.items()):
            own = fills.get((portfolio, symbol), [])
            qty, cost = open_lots([f.quantity for f in own], [f.price for f in own])
            quantity = values.get("quantity", qty)
            value = values.get("market_value")
            # The cost applies only when the fills account for the position the agents
            # report: otherwise the database is behind or ahead, and a P&L would be made up.
            unrealised = None
            if cost is not None and value is not None and math.isclose(qty, quantity):
                unrealised = value - qty * cost
            rows.append(
                PositionRow(
                    portfolio,
                    symbol,
                    quantity,
                    value,
                    values.get("weight"),
                    cost if unrealised is not None else None,
                    unrealised,
                )
            )
        return rows

    def _contributions(
        self,
        held: dict[tuple[str, str], dict[str, float]],
        fills: dict[tuple[str, str], list[Fill]],
        trades: list[TradeRow],
    ) -> list[Contribution]:
        if not fills:
            return []
        start_values = self._start_values()
        start = self.window.start
        realised: dict[tuple[str, str], float] = {}
        for t in trades:
            realised[(t.portfolio, t.symbol)] = realised.get((t.portfolio, t.symbol), 0.0) + (
                t.realised or 0.0
            )
        books = {portfolio for portfolio, _ in fills}
        keys = set(fills) | {key for key in held if key[0] in books}
        out = []
        for key in sorted(keys):
            own = fills.get(key, [])
            before = sum(f.quantity for f in own if f.opening or f.at < start)
            today = [f for f in own if not f.opening and f.at >= start]
            after = before + sum(f.quantity for f in today)
            if (abs(after) > _FLAT) != (key in held):
                # The fills and the agents' figures disagree on whether it is held at the
                # end (a fill not kept yet, a position from before the fills were kept):
                # any figure would be made up.
                continue
            if not today and key not in held:
                continue  # closed before the day, untouched in it
            start_value = start_values.get(key) if abs(before) > _FLAT else 0.0
            end_value = held[key].get("market_value") if key in held else 0.0
            if start_value is None or end_value is None:
                continue  # a value the agents did not publish: no figure, not zero
            paid = sum(f.quantity * f.price for f in today)
            out.append(
                Contribution(key[0], key[1], end_value - start_value - paid, realised.get(key, 0.0))
            )
        return sorted(out, key=lambda c: (-c.pnl, c.portfolio, c.symbol))

    def _watch(self, positions: list[PositionRow]) -> list[WatchRow]:
        rules = {r: f for r, f in POSITION_RULES.items() if r in self.policy.compliance.rules}
        rows = []
        for p in positions:
            candidates = []
            for rule, figure in rules.items():
                value = p.market_value if figure == "market_value" else p.weight
                if value is None:
                    continue
                spec = self.policy.compliance.rules[rule]
                limit = self.policy.compliance_limit(rule, p.portfolio)
                candidates.append(
                    WatchRow(p.portfolio, p.symbol, rule, spec.title, spec.unit, value, limit)
                )
            if candidates:
                rows.append(max(candidates, key=lambda r: r.usage))
        rows.sort(key=lambda r: (-r.usage, r.portfolio, r.symbol))
        return rows[: self.watchlist_size]
