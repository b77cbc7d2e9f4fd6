"""Publishing: catalog metrics in one registry, pushed to the Pushgateway or scraped.

`Publisher` is the public API a trading system uses to report to riskwatch::

    from riskwatch.publish import Publisher
    from riskwatch.pushgateway import PushgatewayAccess

    login = PushgatewayAccess.parse(Path(".state/secrets/pushgateway_auth").read_text())
    pub = Publisher(agent="desk-7", pushgateway_url="http://127.0.0.1:19091", access=login)
    pub.portfolio("alpha", value=1_250_000, cash=180_000, daily_pnl=-4_200, drawdown=0.031)
    pub.positions("alpha", {"AAPL": PositionFigures(100, 19_150.0, "tech", 0.015)})
    pub.model("alpha", "momentum", confidence=0.72)
    pub.push()

Pushes use PUT (`push_to_gateway`): the group `job/agent` is replaced whole, so a
position that closed disappears from the Pushgateway too. They happen on a
background thread with bounded exponential backoff: a Pushgateway that is down
never blocks or crashes the caller, and the next push after it returns carries the
full current state. A Pushgateway that only agents may write to (basic auth, TLS:
docs/security.md) is reached through a `riskwatch.pushgateway.PushgatewayAccess`.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    delete_from_gateway,
    push_to_gateway,
)
from prometheus_client.exposition import start_http_server

from riskwatch import catalog
from riskwatch.pushgateway import OPEN_ACCESS, PushgatewayAccess

if TYPE_CHECKING:  # an annotation only: the core never imports pandas for it
    from riskwatch.sources.base import Execution

log = logging.getLogger("riskwatch.publish")

PUSH_JOB = "riskwatch"


@dataclass(frozen=True)
class PositionFigures:
    """What is published per open position."""

    quantity: float
    market_value: float
    sector: str
    weight: float


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for pushes."""

    timeout_seconds: float = 2.0
    max_attempts: int = 5
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def delays(self) -> Iterable[float]:
        delay = self.initial_backoff_seconds
        for _ in range(self.max_attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_backoff_seconds)


class Publisher:
    """Catalog metrics for one agent, with push and scrape exposition."""

    def __init__(
        self,
        agent: str,
        pushgateway_url: str | None = None,
        *,
        job: str = PUSH_JOB,
        retry: RetryPolicy = RetryPolicy(),
        registry: CollectorRegistry | None = None,
        access: PushgatewayAccess = OPEN_ACCESS,
    ) -> None:
        if not agent:
            raise ValueError("agent id must not be empty: it keys the Pushgateway group")
        self.agent = agent
        self.pushgateway_url = pushgateway_url
        self.job = job
        self.retry = retry
        self.access = access
        self.registry = registry if registry is not None else CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._positions: dict[str, set[tuple[str, str]]] = {}
        self._evidence: dict[tuple[str, str], set[str]] = {}
        self._seen_executions: set[str] = set()
        self._pusher: _Pusher | None = None
        self._server: WSGIServer | None = None
        self.push_failures = self.counter("riskwatch_agent_push_failures_total")
        self.push_failures.labels(agent)  # present at 0 from the start

    # ------------------------------------------------------------- catalog access
    def _metric(self, name: str, factory: Callable[[str, CollectorRegistry], Any]) -> Any:
        with self._lock:
            if name not in self._metrics:
                self._metrics[name] = factory(name, self.registry)
            return self._metrics[name]

    def gauge(self, name: str) -> Gauge:
        """The catalog gauge `name` in this publisher's registry."""
        metric: Gauge = self._metric(name, catalog.make_gauge)
        return metric

    def counter(self, name: str) -> Counter:
        """The catalog counter `name` in this publisher's registry."""
        metric: Counter = self._metric(name, catalog.make_counter)
        return metric

    def histogram(self, name: str) -> Histogram:
        metric: Histogram = self._metric(name, catalog.make_histogram)
        return metric

    # ---------------------------------------------------------------- figures
    def portfolio(
        self,
        portfolio: str,
        *,
        value: float,
        cash: float,
        daily_pnl: float,
        drawdown: float,
        peak: float | None = None,
        gross_exposure: float | None = None,
        net_exposure: float | None = None,
    ) -> None:
        """Portfolio-level figures (contract metrics of the trading agent)."""
        if not 0.0 <= drawdown <= 1.0:
            raise ValueError(f"drawdown {drawdown!r} for {portfolio} is outside 0-1")
        self.gauge("trading_portfolio_value_usd").labels(portfolio).set(value)
        self.gauge("trading_cash_balance_usd").labels(portfolio).set(cash)
        self.gauge("trading_daily_pnl_usd").labels(portfolio).set(daily_pnl)
        self.gauge("trading_drawdown_ratio").labels(portfolio).set(drawdown)
        optional = {
            "trading_peak_value_usd": peak,
            "trading_gross_exposure_usd": gross_exposure,
            "trading_net_exposure_usd": net_exposure,
        }
        for name, figure in optional.items():
            if figure is not None:
                self.gauge(name).labels(portfolio).set(figure)

    def positions(self, portfolio: str, figures: Mapping[str, PositionFigures]) -> None:
        """Every open position; series of positions no longer held are removed."""
        qty = self.gauge("trading_position_quantity")
        mv = self.gauge("trading_position_market_value_usd")
        weight = self.gauge("trading_position_weight_ratio")
        current = {(symbol, f.sector) for symbol, f in figures.items()}
        for symbol, sector in self._positions.get(portfolio, set()) - current:
            qty.remove(portfolio, symbol)
            mv.remove(portfolio, symbol, sector)
            weight.remove(portfolio, symbol)
        for symbol, f in figures.items():
            qty.labels(portfolio, symbol).set(f.quantity)
            mv.labels(portfolio, symbol, f.sector).set(f.market_value)
            weight.labels(portfolio, symbol).set(f.weight)
        self._positions[portfolio] = current
        self.gauge("trading_positions").labels(portfolio).set(len(figures))

    def trades(self, portfolio: str, executions: Iterable[Execution]) -> int:
        """Count new executions (de-duplicated by exec_id); returns how many were new."""
        trades = self.counter("trading_trades_total")
        notional = self.counter("trading_traded_notional_usd_total")
        for side in ("buy", "sell"):  # both series exist from the start, at 0
            trades.labels(portfolio, side)
            notional.labels(portfolio, side)
        new = 0
        for ex in executions:
            key = f"{portfolio}/{ex.exec_id}"
            if key in self._seen_executions:
                continue
            self._seen_executions.add(key)
            trades.labels(portfolio, ex.side).inc()
            notional.labels(portfolio, ex.side).inc(abs(ex.quantity * ex.price))
            new += 1
        return new

    def model(
        self,
        portfolio: str,
        model: str,
        *,
        confidence: float,
        accuracy: float | None = None,
        reward: float | None = None,
    ) -> None:
        """The trading model's confidence, 1-hour accuracy and episode reward; a figure
        given as None withdraws its series (no reading, rather than the last one frozen)."""
        self.gauge("riskwatch_model_confidence_ratio").labels(portfolio, model).set(confidence)
        for name, value in (
            ("riskwatch_model_accuracy_ratio", accuracy),
            ("riskwatch_model_episode_reward", reward),
        ):
            if value is None:
                self.gauge(name).remove(portfolio, model)
            else:
                self.gauge(name).labels(portfolio, model).set(value)

    def compliance_evidence(self, portfolio: str, rule: str, subjects: Iterable[str]) -> None:
        """Evidence series for a rule: one per offending symbol or sector, removed when clear."""
        info = self.gauge("compliance_violation_evidence_info")
        now = set(subjects)
        for gone in self._evidence.get((portfolio, rule), set()) - now:
            info.remove(portfolio, rule, gone)
        for subject in now:
            info.labels(portfolio, rule, subject).set(1)
        self._evidence[(portfolio, rule)] = now

    # ------------------------------------------------------------------ output
    def push(self, wait: bool = False) -> bool:
        """Push the whole registry in the background; with `wait`, block and report success."""
        if self.pushgateway_url is None:
            raise ValueError("no Pushgateway URL configured for this publisher")
        if self._pusher is None:
            self._pusher = _Pusher(self)
        return self._pusher.request(wait)

    def push_now(self) -> None:
        """One synchronous push attempt; raises on failure."""
        assert self.pushgateway_url is not None
        push_to_gateway(
            self.pushgateway_url,
            job=self.job,
            registry=self.registry,
            grouping_key={"agent": self.agent},
            timeout=self.retry.timeout_seconds,
            handler=self.access.handler(),
        )

    def delete(self) -> None:
        """Remove this agent's group from the Pushgateway; raises on failure.

        Only for agents that must leave nothing behind (ephemeral test agents): a
        stopped agent otherwise keeps its group, so that AgentDown pages.
        """
        assert self.pushgateway_url is not None
        delete_from_gateway(
            self.pushgateway_url,
            job=self.job,
            grouping_key={"agent": self.agent},
            timeout=self.retry.timeout_seconds,
            handler=self.access.handler(),
        )

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on host:port so Prometheus can scrape this agent directly,
        until `close()`."""
        if self._server is not None:
            raise RuntimeError(f"agent {self.agent} already serves its metrics")
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        """Stop the background pusher and the /metrics server, if any."""
        if self._pusher is not None:
            self._pusher.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def agent_groups(
    pushgateway_url: str,
    agent: str,
    *,
    job: str = PUSH_JOB,
    timeout: float = 5.0,
    access: PushgatewayAccess = OPEN_ACCESS,
) -> list[dict[str, str]]:
    """The grouping keys (every label but `job`) of the Pushgateway's groups of `agent`
    under `job`: the one a `Publisher` pushes, and any pushed with a longer key.

    Raises OSError when the Pushgateway cannot be reached, ValueError when what
    answers is not a Pushgateway.
    """
    url = f"{pushgateway_url.rstrip('/')}/api/v1/metrics"
    body = access.open(url, timeout=timeout)
    try:
        groups = [group["labels"] for group in json.loads(body)["data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{url} did not answer as a Pushgateway does: {exc!r}") from None
    return [
        {k: v for k, v in labels.items() if k != "job"}
        for labels in groups
        if labels.get("job") == job and labels.get("agent") == agent
    ]


def retire_agent(
    pushgateway_url: str,
    agent: str,
    *,
    job: str = PUSH_JOB,
    timeout: float = 5.0,
    access: PushgatewayAccess = OPEN_ACCESS,
) -> list[dict[str, str]]:
    """Delete every Pushgateway group of `agent` under `job`; the grouping keys deleted.

    Retiring is explicit because a stopped agent's group is what AgentDown evaluates.
    Raises OSError when the Pushgateway cannot be reached (see `agent_groups`).
    """
    if not agent:
        raise ValueError("agent id must not be empty")
    groups = agent_groups(pushgateway_url, agent, job=job, timeout=timeout, access=access)
    for key in groups:
        delete_from_gateway(
            pushgateway_url, job=job, grouping_key=key, timeout=timeout, handler=access.handler()
        )
    return groups


class _Pusher:
    """A background thread that pushes the newest state, retrying with backoff."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self._wanted = threading.Event()
        self._done = threading.Condition()
        self._generation = 0
        self._result: tuple[int, bool] = (0, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="riskwatch-pusher", daemon=True)
        self._thread.start()

    def request(self, wait: bool) -> bool:
        with self._done:
            self._generation += 1
            wanted = self._generation
        self._wanted.set()
        if not wait:
            return True
        with self._done:
            self._done.wait_for(lambda: self._result[0] >= wanted or self._stop.is_set())
            return self._result[0] >= wanted and self._result[1]

    def stop(self) -> None:
        self._stop.set()
        self._wanted.set()
        with self._done:
            self._done.notify_all()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        pub = self.publisher
        while not self._stop.is_set():
            self._wanted.wait()
            self._wanted.clear()
            if self._stop.is_set():
                return
            with self._done:
                generation = self._generation
            ok = self._push_with_backoff()
            if not ok:
                pub.push_failures.labels(pub.agent).inc()
            with self._done:
                self._result = (generation, ok)
                self._done.notify_all()

    def _push_with_backoff(self) -> bool:
        pub = self.publisher
        delays = iter(pub.retry.delays())
        while True:
            try:
                pub.push_now()
                return True
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403):
                    # Retrying cannot help: the credentials are wrong or missing.
                    log.error(
                        "push to %s refused (%s %s): check the Pushgateway credentials "
                        "(pushgateway_auth_file, see docs/security.md)",
                        pub.pushgateway_url,
                        exc.code,
                        exc.reason,
                    )
                    return False
                failure: OSError = exc
            except OSError as exc:  # URLError, connection refused, timeouts
                failure = exc
            delay = next(delays, None)
            if delay is None or self._stop.is_set():
                log.warning(
                    "push to %s failed, giving up until the next cycle: %s",
                    pub.pushgateway_url,
                    failure,
                )
                return False
            log.info(
                "push to %s failed (%s); retrying in %.1fs", pub.pushgateway_url, failure, delay
            )
            # The retry pushes the newest state, so requests made meanwhile are not lost.
            if self._stop.wait(delay):
                return False
