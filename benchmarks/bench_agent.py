"""Agent CPU time per cycle: a 500-position portfolio with 3 years of daily history.

Runs every trading task (portfolio, model, risk, crowding, compliance) as the agent
does each minute, with pushes off and the equity curve in memory, and prints the
CPU seconds per cycle as a fraction of the 60 s risk interval (target: < 0.5%).
The first cycle also fetches and caches the day's history; it is reported apart.

    .venv/bin/python benchmarks/bench_agent.py [--positions 500] [--cycles 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from riskwatch.agents.equity import EquityStore
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.tracing import make_tracer
from riskwatch.agents.trading import Book, TradingAgent
from riskwatch.calendar import MarketCalendar
from riskwatch.publish import Publisher
from riskwatch.runtime import AgentRuntime
from riskwatch.settings import load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--positions", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()

    # A 500-position book breaches the shipped 30-position limit; the benchmark times
    # the computation, not a breach, so the policy gets an override for it (policy
    # lives in the policy file only: a copy of the shipped one).
    policy = yaml.safe_load(load_settings().policy_path.read_text())
    policy["compliance"].setdefault("overrides", {})["big"] = {"POS_001": 1000}
    folder = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    settings = load_settings(
        policy_file=folder / "policy.yaml",
        trading={
            "history_days": 756,
            "portfolios": [{"name": "big", "positions": args.positions}],
        },
    )
    calendar = MarketCalendar(settings.policy.market)
    market = SyntheticMarket(settings.trading.seed, calendar=calendar)
    book = Book(
        "big",
        SyntheticBroker(market, "big", 50_000_000.0, args.positions),
        MomentumModel(),
    )
    publisher = Publisher("bench")  # no Pushgateway: we time the computation
    agent = TradingAgent(
        settings.trading,
        publisher,
        market,
        [book],
        EquityStore(None),
        calendar,
        policy=settings.policy,
    )
    tracer, _ = make_tracer("trading", "bench", settings.agent)
    runtime = AgentRuntime(
        "trading", publisher, agent.tasks(settings.agent.tasks), agent.calendar, tracer
    )

    cpu0, wall0 = time.process_time(), time.perf_counter()
    ran, failed = runtime.cycle(force=True)
    assert failed == 0, "a task failed during the warm-up cycle"
    first_cpu, first_wall = time.process_time() - cpu0, time.perf_counter() - wall0

    cpu_samples = []
    for _ in range(args.cycles):
        cpu = time.process_time()
        _, failed = runtime.cycle(force=True)
        assert failed == 0
        cpu_samples.append(time.process_time() - cpu)

    median = statistics.median(cpu_samples)
    worst = max(cpu_samples)
    print(f"portfolio: {args.positions} positions, {settings.trading.history_days} days")
    print(f"first cycle (fetches history): {first_cpu:.3f} s CPU, {first_wall:.3f} s wall")
    print(
        f"steady cycle CPU: median {median * 1000:.1f} ms, max {worst * 1000:.1f} ms "
        f"over {args.cycles} cycles of {ran} tasks"
    )
    print(
        f"fraction of the 60 s interval: median {median / 60:.3%}, max {worst / 60:.3%} "
        f"(target < 0.5%)"
    )


if __name__ == "__main__":
    main()
