"""The cost curve of one trading agent: CPU per cycle and memory at several book sizes.

One portfolio with 3 years of daily history, at 500, 2,000 and 10,000 positions by
default, each size in a fresh process so that its memory is its own. Every trading
task (portfolio, model, risk, crowding, compliance) runs as the agent runs it each
minute, with pushes off and the equity curve in memory. For each size it prints

- the CPU time of a steady cycle (median and 95th percentile), per position, and as a
  share of the 60 s risk interval (target: < 0.5%);
- the first cycle apart: it also fetches and caches the day's history and works out
  the holdings' factor structure, both once a day;
- the process's peak resident set size (interpreter, libraries, the synthetic market
  and its history included) and the tracemalloc peak of one steady cycle;
- the CPU time of serialising the registry, which every push does, and its size;
- the median CPU time of each task, to show which one bends the curve, and the CPU
  of a minute on the default schedule: each task as often as its interval says, and a
  push after every cycle, i.e. every shortest interval (15 s: the portfolio task).

    .venv/bin/python benchmarks/bench_agent.py [--positions 500 2000 10000] [--cycles 20]

Not a test: it asserts nothing but that no task fails, and reports.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest

from riskwatch.agents.equity import EquityStore
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.tracing import make_tracer
from riskwatch.agents.trading import Book, TradingAgent
from riskwatch.calendar import MarketCalendar
from riskwatch.publish import Publisher
from riskwatch.runtime import AgentRuntime, Task, TaskContext
from riskwatch.settings import load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker

INTERVAL_SECONDS = 60.0
DEFAULT_UNIVERSE = 600  # the synthetic market's own size, when it holds the book


def measure(positions: int, cycles: int) -> dict[str, Any]:
    """Build one agent over a ``positions`` book, run its cycles, return the figures."""
    # A big book breaches the shipped 30-position limit; the benchmark times the
    # computation, not a breach, so the policy gets an override for it (policy lives
    # in the policy file only: a copy of the shipped one).
    policy = yaml.safe_load(load_settings().policy_path.read_text())
    policy["compliance"].setdefault("overrides", {})["big"] = {"POS_001": positions + 1}
    folder = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    # The settings' book size only sizes the CLI's synthetic books (at most 5,000);
    # this book is built below, at the size asked for.
    settings = load_settings(
        policy_file=folder / "policy.yaml",
        trading={"history_days": 756, "portfolios": [{"name": "big"}]},
    )
    calendar = MarketCalendar(settings.policy.market)
    market = SyntheticMarket(
        settings.trading.seed,
        universe_size=max(DEFAULT_UNIVERSE, positions),
        calendar=calendar,
    )
    book = Book(
        "big",
        SyntheticBroker(market, "big", 50_000_000.0, positions),
        MomentumModel(min_scored=settings.policy.trading_model.min_scored_predictions),
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
    task_cpu: dict[str, list[float]] = {}
    tasks = [
        Task(t.name, _timed(t.run, task_cpu.setdefault(t.name, [])), t.schedule)
        for t in agent.tasks(settings.agent.tasks)
    ]
    tracer, _ = make_tracer("trading", "bench", settings.agent)
    runtime = AgentRuntime("trading", publisher, tasks, agent.calendar, tracer)

    def cycle() -> None:
        _, failed = runtime.cycle(force=True)
        assert failed == 0, "a task failed"

    cpu, wall = time.process_time(), time.perf_counter()
    cycle()
    first_cpu, first_wall = time.process_time() - cpu, time.perf_counter() - wall
    for samples in task_cpu.values():
        samples.clear()

    cycle_cpu = []
    for _ in range(cycles):
        cpu = time.process_time()
        cycle()
        cycle_cpu.append(time.process_time() - cpu)
    push_cpu = []
    for _ in range(5):
        cpu = time.process_time()
        body = generate_latest(publisher.registry)
        push_cpu.append(time.process_time() - cpu)
    # ru_maxrss is in KiB on Linux; read before tracemalloc's own bookkeeping grows it.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    cycle()
    _, cycle_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "positions": positions,
        "cycles": cycles,
        "first_cpu": first_cpu,
        "first_wall": first_wall,
        "cycle_cpu": cycle_cpu,
        "task_cpu": {name: statistics.median(s) for name, s in task_cpu.items() if s},
        "task_interval": {t.name: t.schedule.interval_seconds for t in tasks},
        "push_cpu": statistics.median(push_cpu),
        "push_bytes": len(body),
        "peak_rss_bytes": peak_rss,
        "cycle_peak_bytes": cycle_peak,
    }


def _timed(
    run: Callable[[TaskContext], None], samples: list[float]
) -> Callable[[TaskContext], None]:
    """``run``, appending the CPU seconds of each call to ``samples``."""

    def timed(ctx: TaskContext) -> None:
        cpu = time.process_time()
        try:
            run(ctx)
        finally:
            samples.append(time.process_time() - cpu)

    return timed


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile of ``samples`` (linear interpolation, as numpy's default)."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def report(rows: list[dict[str, Any]]) -> None:
    """Print the cost table, the per-task table and the first cycles."""
    mib = 1024 * 1024
    print(
        f"{'positions':>9} | {'CPU/cycle median':>16} | {'p95':>8} | {'per position':>12} | "
        f"{'peak RSS':>8} | {'cycle alloc':>11} | {'push body':>16} | {'share of 60 s':>13}"
    )
    print("-" * 118)
    for row in rows:
        median = statistics.median(row["cycle_cpu"])
        p95 = percentile(row["cycle_cpu"], 0.95)
        print(
            f"{row['positions']:>9,} | {median * 1e3:>13.1f} ms | {p95 * 1e3:>5.1f} ms | "
            f"{median / row['positions'] * 1e6:>9.1f} us | "
            f"{row['peak_rss_bytes'] / mib:>5.0f} MB | {row['cycle_peak_bytes'] / mib:>8.1f} MB | "
            f"{row['push_cpu'] * 1e3:>5.1f} ms {row['push_bytes'] / 1024:>5.0f} KB | "
            f"{median / INTERVAL_SECONDS:>13.3%}"
        )
    names = list(rows[0]["task_cpu"])
    print()
    print("median CPU per task, ms: " + ", ".join(names) + "; a minute on the default schedule")
    for row in rows:
        cells = ", ".join(f"{row['task_cpu'][name] * 1e3:.1f}" for name in names)
        minute = per_minute(row)
        print(
            f"{row['positions']:>9,}: {cells}; {minute * 1e3:.0f} ms ({minute / 60:.2%} of a core)"
        )
    print()
    for row in rows:
        print(
            f"first cycle at {row['positions']:,} (fetches the history, works out the factor "
            f"structure): {row['first_cpu']:.2f} s CPU, {row['first_wall']:.2f} s wall"
        )


def per_minute(row: dict[str, Any]) -> float:
    """CPU seconds of a minute of the default schedule: every task at its interval, and
    a push (the serialised registry) after each cycle, every shortest interval."""
    interval = row["task_interval"]
    tasks = sum(60.0 / interval[name] * cpu for name, cpu in row["task_cpu"].items())
    pushes = 60.0 / min(interval.values())
    return float(tasks + pushes * row["push_cpu"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, nargs="+", default=[500, 2000, 10_000])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.positions[0], args.cycles)))
        return
    command = [sys.executable, __file__, "--child", "--cycles", str(args.cycles)]
    rows = []
    for positions in args.positions:
        child = subprocess.run(
            [*command, "--positions", str(positions)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"one portfolio, 756 days of history, {args.cycles} steady cycles a size")
    report(rows)


if __name__ == "__main__":
    main()
