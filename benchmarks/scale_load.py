"""bench_scale's load: simulated agents, each a full book in a real Publisher, pushed
on the agents' schedule or served for Prometheus to scrape."""

from __future__ import annotations

import heapq
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench_alert_latency import free_port
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from riskwatch.publish import Publisher
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import Settings
from riskwatch.stack.runner import Stack

SECTORS = ("tech", "health", "financials", "energy", "industrials", "consumer", "utilities")
TASKS = ("portfolio", "model", "risk", "crowding", "compliance", "health", "heartbeat")
CONFIDENCES = {"risk_var_ratio": "0.99", "risk_expected_shortfall_ratio": "0.975"}
PERFORMANCE = (
    "risk_annual_return_ratio",
    "risk_annual_volatility_ratio",
    "risk_sharpe",
    "risk_sortino",
    "risk_calmar",
    "risk_max_drawdown_ratio",
    "risk_win_rate_ratio",
    "risk_profit_factor",
    "risk_win_loss",
    "risk_beta",
    "risk_alpha_ratio",
    "risk_tracking_error_ratio",
    "risk_information",
    "crowding_hhi",
    "crowding_gini",
    "crowding_level",
    "crowding_absorption_ratio",
    "trading_turnover_ratio",
)


class SimAgent:
    """One agent's book in a real Publisher; `cycle()` moves the figures."""

    def __init__(self, index: int, positions: int, settings: Settings, url: str | None) -> None:
        self.name = f"scale-{index:03d}"
        access = PushgatewayAccess.from_settings(settings)
        self.pub = Publisher(self.name, url, access=access)
        self.rng = random.Random(index)
        self.symbols = [f"S{n:05d}" for n in range(positions)]
        self.policy = settings.policy
        self.value = 1_000_000.0

    def cycle(self) -> None:
        p, pub, rng = self.name, self.pub, self.rng
        self.value *= 1 + rng.gauss(0, 0.001)
        pub.portfolio(
            p,
            value=self.value,
            cash=0.1 * self.value,
            daily_pnl=rng.gauss(0, 5e3),
            drawdown=0.01,
            peak=self.value * 1.01,
            gross_exposure=0.9 * self.value,
            net_exposure=0.6 * self.value,
        )
        qty, mv = (
            pub.gauge("trading_position_quantity"),
            pub.gauge("trading_position_market_value_usd"),
        )
        weight, age = (
            pub.gauge("trading_position_weight_ratio"),
            pub.gauge("trading_price_age_seconds"),
        )
        each = 0.9 * self.value / len(self.symbols)
        for n, symbol in enumerate(self.symbols):
            qty.labels(p, symbol).set(100 + n)
            mv.labels(p, symbol, SECTORS[n % len(SECTORS)]).set(each * (1 + rng.gauss(0, 0.01)))
            weight.labels(p, symbol).set(each / self.value)
            age.labels(p, symbol).set(rng.uniform(0, 15))
        pub.gauge("trading_positions").labels(p).set(len(self.symbols))
        pub.gauge("trading_stale_positions").labels(p).set(0)
        for sector in SECTORS:
            pub.gauge("trading_sector_weight_ratio").labels(p, sector).set(0.9 / len(SECTORS))
        for name, confidence in CONFIDENCES.items():
            for method in self.policy.tail_risk.methods:
                pub.gauge(name).labels(p, confidence, method).set(rng.uniform(0.005, 0.012))
        for name in PERFORMANCE:
            pub.gauge(name).labels(p).set(rng.uniform(0.0, 0.3))
        for rule, _title, severity, limit in self.policy.compliance_specs():
            pub.gauge("compliance_violation_active").labels(p, rule, severity).set(0)
            pub.gauge("compliance_rule_value").labels(p, rule).set(0)
            pub.gauge("compliance_rule_limit").labels(p, rule).set(limit)
        pub.model(p, "momentum", confidence=0.8, accuracy=0.7, reward=1.0)
        now = time.time()
        for task in TASKS:
            pub.gauge("riskwatch_agent_task_duration_seconds").labels(p, task).set(0.01)
            pub.counter("riskwatch_agent_task_runs_total").labels(p, task).inc()
            pub.counter("riskwatch_agent_task_failures_total").labels(p, task)
            pub.gauge("riskwatch_agent_last_success_timestamp_seconds").labels(p, task).set(now)


@dataclass
class Load:
    """The agents, on their schedule, in a background thread."""

    interval: float
    agents: list[SimAgent] = field(default_factory=list)
    push: bool = True
    latencies: list[float] = field(default_factory=list)
    late: int = 0
    done: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=64)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, agent: SimAgent, start: float) -> None:
        with self._lock:
            self.agents.append(agent)
            heapq.heappush(self._heap, (start, len(self.agents) - 1))

    def reset(self) -> None:
        with self._lock:
            self.latencies, self.late, self.done, self.failures = [], 0, 0, 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due, index = self._heap[0] if self._heap else (time.time() + 0.1, -1)
            if due > time.time():
                # The schedule's own pacing: the next agent's push is not due yet.
                self._stop.wait(min(due - time.time(), 0.1))
                continue
            with self._lock:
                heapq.heapreplace(self._heap, (due + self.interval, index))
            self._pool.submit(self._one, self.agents[index], due)

    def _one(self, agent: SimAgent, due: float) -> None:
        started = time.time()
        agent.cycle()
        ok, took = True, 0.0
        if self.push:
            # As the agents push: in the background with retries and backoff
            # (Publisher.push); the latency is until the Pushgateway took it.
            t0 = time.perf_counter()
            ok = agent.pub.push(wait=True)
            took = time.perf_counter() - t0
        with self._lock:
            self.done += 1
            self.late += started - due > self.interval / 2
            self.failures += not ok
            if ok and self.push:
                self.latencies.append(took)


TARGETS_FILE = "bench-scale.json"


class StaticPages:
    """Each agent's page rendered once and served as bytes, all from one port (a path
    per agent, named in its target's `__metrics_path__`): Prometheus scrapes exactly what
    the agents would serve, while the load generator spends next to nothing, so a level
    measures Prometheus, not the generator."""

    def __init__(self, host: str) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.removeprefix("/metrics/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a scrape every 5 s per agent is not news

        self.host, self.port = host, free_port()
        self._server = ThreadingHTTPServer((host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def add(self, agent: SimAgent) -> None:
        """Render `agent` after one cycle and keep only its page."""
        agent.cycle()
        self.pages[agent.name] = generate_latest(agent.pub.registry)
        agent.pub.close()

    def groups(self) -> list[dict[str, object]]:
        return [
            {
                "targets": [f"{self.host}:{self.port}"],
                "labels": {"agent": name, "__metrics_path__": f"/metrics/{name}"},
            }
            for name in self.pages
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_for_scrape(
    settings: Settings,
    stack: Stack,
    breaches: Publisher,
    agents: list[Publisher],
    served: dict[str, int],
    static: StaticPages | None = None,
) -> None:
    """Serve each publisher not yet in `served` (agent -> port) on a free port, and
    write them, and the static pages if any, into the stack's target file for its
    agents job (Prometheus re-reads it on change)."""
    host = settings.stack.host
    for pub in [breaches, *agents]:
        if pub.agent not in served:
            served[pub.agent] = free_port()
            pub.serve(host, served[pub.agent])
    groups: list[dict[str, object]] = [
        {"targets": [f"{host}:{port}"], "labels": {"agent": agent}}
        for agent, port in served.items()
    ]
    if static is not None:
        groups += static.groups()
    target = stack.layout.agent_targets / TARGETS_FILE
    scratch = target.with_suffix(".tmp")
    scratch.write_text(json.dumps(groups))
    scratch.replace(target)  # Prometheus never reads a half-written file
