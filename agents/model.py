"""The trading model as riskwatch sees it: a confidence, an accuracy and a reward.

Users implement `TradingModel` around their own model; `MomentumModel` is the
reference implementation the demo runs. Accuracy is over a rolling hour of
predictions, each scored when its horizon has passed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class TradingModel(Protocol):
    """What the trading agent asks of a model, once per model cycle."""

    name: str

    def observe(self, prices: Mapping[str, float], now: datetime) -> None:
        """See the latest accepted prices."""
        ...

    def confidence(self) -> float:
        """Confidence in the current signal, 0-1."""
        ...

    def accuracy(self) -> float | None:
        """Share of the last hour's scored predictions that came true; None while the
        record is too short to say (the series is then withdrawn, not left frozen)."""
        ...

    def episode_reward(self) -> float | None:
        """Reward over the current episode in the model's own units; None if undefined."""
        ...


@dataclass(frozen=True)
class _Prediction:
    made_at: datetime
    symbol: str
    price: float
    direction: int  # +1 up, -1 down


class MomentumModel:
    """Predicts that each symbol keeps moving the way it last moved.

    Confidence is the model's estimate of its own hit rate: the posterior mean
    (hits + 1) / (calls + 2) over the last hour, so a model whose calls stop coming true
    loses confidence; reward is the sum of direction x return over the episode's scored
    predictions, in basis points.

    A hit rate needs a record: until `min_scored` of the window's predictions have been
    scored (the policy's `trading_model.min_scored_predictions`) the model reports no
    accuracy and a confidence of 0.5, undecided. Its first few dozen calls are noise (a
    rate from 24 calls lands 10 points or more off a third of the time), and a reading that
    noisy, frozen by a feed outage or a dead agent, would hold an alert's `for` open.
    """

    def __init__(
        self,
        name: str = "momentum",
        horizon: timedelta = timedelta(minutes=5),
        window: timedelta = timedelta(hours=1),
        *,
        min_scored: int,
    ) -> None:
        if min_scored < 1:
            raise ValueError(f"min_scored must be at least 1, got {min_scored!r}")
        self.name = name
        self.horizon = horizon
        self.window = window
        self.min_scored = min_scored
        self._last: dict[str, float] = {}
        self._open: deque[_Prediction] = deque()
        self._scored: deque[tuple[datetime, bool]] = deque()
        self._reward_bps = 0.0
        self._scored_any = False

    def observe(self, prices: Mapping[str, float], now: datetime) -> None:
        while self._open and now - self._open[0].made_at >= self.horizon:
            p = self._open.popleft()
            # A price that has not moved is no evidence either way: no score.
            if p.symbol in prices and prices[p.symbol] != p.price:
                move = math.log(prices[p.symbol] / p.price)
                self._scored.append((now, p.direction * move > 0))
                self._reward_bps += p.direction * move * 1e4
                self._scored_any = True
        while self._scored and now - self._scored[0][0] > self.window:
            self._scored.popleft()
        for symbol, price in prices.items():
            previous = self._last.get(symbol)
            if previous is not None and price != previous:
                direction = 1 if price > previous else -1
                self._open.append(_Prediction(now, symbol, price, direction))
            self._last[symbol] = price

    def confidence(self) -> float:
        if len(self._scored) < self.min_scored:
            return 0.5
        hits = sum(hit for _, hit in self._scored)
        return (hits + 1) / (len(self._scored) + 2)

    def accuracy(self) -> float | None:
        if len(self._scored) < self.min_scored:
            return None
        return sum(hit for _, hit in self._scored) / len(self._scored)

    def episode_reward(self) -> float | None:
        return self._reward_bps if self._scored_any else None
