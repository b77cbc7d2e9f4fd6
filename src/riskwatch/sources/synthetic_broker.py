"""A synthetic broker: one portfolio's account on a `SyntheticMarket`.

Its book, and the fills it reports every half hour of regular trading, are drawn from
seeds of the market's, so the live agent, the demo and the historical backfill see
the same account at the same instant.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import numpy as np

from riskwatch.sources.base import Account, Execution, Position, Side
from riskwatch.sources.synthetic import SECTORS, SyntheticMarket, stable_seed


class SyntheticBroker:
    """One portfolio's account at a synthetic broker, on a SyntheticMarket."""

    name = "synthetic"

    def __init__(
        self,
        market: SyntheticMarket,
        portfolio: str,
        initial_value: float,
        positions: int,
        book_seed: str | None = None,
    ) -> None:
        self.market = market
        self.portfolio = portfolio
        # `book_seed` lets a renamed portfolio (the demo prefixes names) hold the same book.
        rng = np.random.default_rng(stable_seed("book", market.seed, book_seed or portfolio))
        stocks = [s for s, i in market.instruments.items() if i.sector != "etf"]
        if positions > len(stocks):
            raise ValueError(f"{portfolio}: {positions} positions exceed the universe")
        # Spread across sectors in turn, as a diversified book is: random picks would
        # leave some books sector-concentrated, which reads as factor crowding.
        by_sector = {
            sector: list(rng.permutation([s for s in stocks if market.sector(s) == sector]))
            for sector in SECTORS
        }
        chosen = sorted(str(by_sector[SECTORS[i % len(SECTORS)]][i // len(SECTORS)])
                        for i in range(positions))  # fmt: skip
        # Invest 55% of the value, in near-equal weights (a diversified book whose
        # positions stay inside the default compliance limits).
        weights = rng.dirichlet(np.full(positions, 30.0)) * 0.55
        start = market.clock() - timedelta(days=1)
        self._positions: dict[str, float] = {}
        invested = 0.0
        for symbol, w in zip(chosen, weights, strict=True):
            price = market.price_at(symbol, start)
            qty = float(max(1, round(initial_value * w / price)))
            self._positions[symbol] = qty
            invested += qty * price
        self._cash = initial_value - invested
        self._cost = {s: market.price_at(s, start) for s in chosen}
        self._booked: list[Execution] = []
        # The demo books trades from its own thread while the agent reads the book.
        self._book_lock = threading.Lock()
        self.connected = True

    def account(self) -> Account:
        now = self.market.clock()
        with self._book_lock:
            cash, held = self._cash, dict(self._positions)
        value = cash + sum(q * self.market.price_at(s, now) for s, q in held.items())
        return Account(cash=cash, net_liquidation=value)

    def positions(self) -> list[Position]:
        with self._book_lock:
            held, cost = dict(self._positions), dict(self._cost)
        return [Position(s, q, cost[s], self.market.sector(s)) for s, q in sorted(held.items())]

    def executions(self, since: datetime) -> list[Execution]:
        """A rebalancing fill every 30 minutes of regular hours, deterministic by portfolio,
        and the trades booked with `trade`."""
        now = self.market.clock()
        fills = []
        slot = since.replace(second=0, microsecond=0)
        slot += timedelta(minutes=(30 - slot.minute % 30) % 30)
        with self._book_lock:
            held = dict(self._positions)
            booked = [ex for ex in self._booked if since <= ex.timestamp <= now]
        symbols = sorted(held)
        while slot <= now:
            if not self.market.in_regular_hours(slot):
                slot += timedelta(minutes=30)
                continue
            rng = np.random.default_rng(stable_seed("fill", self.market.seed, self.portfolio, slot))
            symbol = symbols[int(rng.integers(len(symbols)))]
            side: Side = "buy" if rng.random() < 0.5 else "sell"
            qty = float(max(1, round(abs(held[symbol]) * 0.02)))
            fills.append(
                Execution(
                    exec_id=f"{self.portfolio}-{slot:%Y%m%d%H%M}",
                    symbol=symbol,
                    side=side,
                    quantity=qty,
                    price=self.market.price_at(symbol, slot),
                    timestamp=slot,
                )
            )
            slot += timedelta(minutes=30)
        return sorted(fills + booked, key=lambda ex: ex.timestamp)

    def trade(self, symbol: str, side: Side, quantity: float) -> Execution:
        """Book a trade at the market's current price (the demo's fat-finger order)."""
        now = self.market.clock()
        price = self.market.price_at(symbol, now)
        signed = quantity if side == "buy" else -quantity
        with self._book_lock:
            remaining = self._positions.get(symbol, 0.0) + signed
            if abs(remaining) < 1e-9:
                self._positions.pop(symbol, None)  # a closed position is no position
            else:
                self._positions[symbol] = remaining
            self._cost.setdefault(symbol, price)
            self._cash -= signed * price
            fill = Execution(
                f"{self.portfolio}-booked-{len(self._booked)}", symbol, side, quantity, price, now
            )
            self._booked.append(fill)
        return fill
