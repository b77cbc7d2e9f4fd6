"""Capacity of one local stack: N agents, each a full 500-position book, on the real stack.

Starts `riskwatch stack up` on free loopback ports in a temporary folder (or uses
`--state-dir` of a running one), then raises the number of simulated agents through
`--agents` (default 1, 10, 50, 200). Each agent is a real `riskwatch.publish.Publisher`
holding what a trading agent publishes for one portfolio of `--positions` positions
(portfolio figures, four series per position, sector weights, VaR and ES for every
policy method, performance, crowding, every compliance rule, the model, and the
agent's task bookkeeping), with values that move every cycle, pushed (PUT) at the
shipped 15 s portfolio interval, the agents' phases spread over the interval.

With `--mode scrape` the agents are not pushed: each serves /metrics (as
`agent.metrics_listen` does) and the stack's Prometheus scrapes them directly
through its `agents` job (file_sd, `stack.agent_targets_file`). With `--static-pages`
as well, each agent's page is rendered once and served as bytes from one port, so that
Prometheus, not the Python load generator, is what a level measures.

At each N, after a warm-up cycle, for `--window` seconds it measures:
  - push latency, p50 and p95 (push mode; a push is one `Publisher.push_now()`);
  - CPU (cores) and peak RSS of the Pushgateway and of Prometheus, from /proc;
  - Prometheus' active series (`prometheus_tsdb_head_series`);
  - the longest rule-group evaluation and the longest scrape of the agents' data;
  - seconds from a breaching push (a 20% drawdown of a fresh portfolio, injected
    `--breaches` times under that load) to its post in the Slack sink, p95;
  - the load generator's own CPU, since it shares the machine.
It prints a table, marks every figure over its budget, and names the knee: the first
N where a figure passes its budget. `--json FILE` keeps the figures; `--chart FILE`
draws them (PNG; scale_chart.py draws several runs, push and scrape, on one).

    .venv/bin/python benchmarks/bench_scale.py [--agents 1 10 50 200] [--mode push|scrape]

Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_alert_latency import PORTS, free_port, slack_arrivals
from scale_chart import chart
from scale_load import TARGETS_FILE, Load, SimAgent, StaticPages, serve_for_scrape
from scale_table import BUDGETS, collapsed, print_table

from riskwatch.prometheus_api import Prometheus
from riskwatch.publish import Publisher
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.postgres import remove_cluster
from riskwatch.stack.processes import ProcessRecord
from riskwatch.stack.runner import Stack


def process_sample(record: ProcessRecord) -> tuple[float, float]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    stat = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(stat[11]) + int(stat[12])) / ticks
    rss = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, float(rss)


def query(url: str, expr: str) -> float:
    """The first value `expr` gives now, NaN when it gives none."""
    result = Prometheus(url, timeout=30).instant(expr)
    return float(result[0]["value"][1]) if result else float("nan")


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class Breacher:
    """Publishes a 20% drawdown for a fresh portfolio, as an agent would: pushed with
    the agent's retries, or (scrape mode) set on a served agent for its next scrape."""

    def __init__(self, settings: Settings, served: Publisher | None) -> None:
        self.settings, self.served = settings, served

    def breach(self, portfolio: str) -> float | None:
        """When the figure was published, or None if every push attempt failed."""
        if self.served is not None:
            self.served.gauge("trading_drawdown_ratio").labels(portfolio).set(0.2)
            return time.time()
        access = PushgatewayAccess.from_settings(self.settings)
        pub = Publisher(portfolio, self.settings.url.pushgateway, access=access)
        pub.gauge("trading_drawdown_ratio").labels(portfolio).set(0.2)
        pushed = time.time()
        ok = pub.push(wait=True)
        pub.close()
        return pushed if ok else None

    def clear(self, portfolio: str) -> None:
        if self.served is not None:
            self.served.gauge("trading_drawdown_ratio").remove(portfolio)
        else:
            retire(self.settings, portfolio)


@contextmanager
def the_stack(args: argparse.Namespace) -> Iterator[tuple[Settings, Stack]]:
    if args.state_dir:
        settings = load_settings(state_dir=args.state_dir)
        yield settings, Stack(settings)
        return
    with tempfile.TemporaryDirectory(prefix="riskwatch-scale-") as tmp:
        stack_fields: dict[str, Any] = {name: free_port() for name in PORTS}
        settings = load_settings(state_dir=Path(tmp), stack=stack_fields)
        stack = Stack(settings)
        stack.up()
        try:
            yield settings, stack
        finally:
            stack.down()
            remove_cluster(stack.layout.root)  # as root it lives outside tmp


def measure(
    args: argparse.Namespace,
    settings: Settings,
    stack: Stack,
    load: Load,
    breacher: Breacher,
    n: int,
) -> dict[str, Any]:
    """One level: wait until every agent is in Prometheus, then measure for the window
    with breaches injected."""
    prom = settings.url.prometheus
    scraped_job = "pushgateway" if args.mode == "push" else "agents"
    records = {
        name: ProcessRecord.load(stack.layout.run, name) for name in ("pushgateway", "prometheus")
    }
    # Warm-up: every agent has pushed (or been scraped) and reached Prometheus.
    present = (
        'count(count by (agent) (push_time_seconds{job="riskwatch",agent=~"scale-.+"}))'
        if args.mode == "push"
        else 'count(up{job="agents",agent=~"scale-.+"} == 1)'
    )
    deadline = time.monotonic() + 10 * load.interval
    while query(prom, present) < n and time.monotonic() < deadline:
        time.sleep(1)  # polling Prometheus until the level is fully in
    load.reset()
    cpu0 = {k: process_sample(r)[0] for k, r in records.items() if r is not None}
    rss_peak = {k: 0.0 for k in cpu0}
    own0, wall0 = time.process_time(), time.time()
    pushed: dict[str, float] = {}
    spacing = args.window / max(args.breaches, 1)
    lost = 0
    for b in range(args.breaches):
        portfolio = f"breach-{n:03d}-{b:02d}"
        when = breacher.breach(portfolio)
        if when is None:
            lost += 1
        else:
            pushed[portfolio] = when
        for k, r in records.items():
            if r is not None:
                rss_peak[k] = max(rss_peak[k], process_sample(r)[1])
        time.sleep(spacing)  # a load pattern: breaches spread over the window
    wall = time.time() - wall0
    cpu = {k: (process_sample(r)[0] - cpu0[k]) / wall for k, r in records.items() if r is not None}
    own = (time.process_time() - own0) / wall
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not set(pushed) <= set(
        slack_arrivals(stack.layout.outbox)
    ):
        time.sleep(0.5)  # polling the sink for the last breaches' posts
    arrivals = slack_arrivals(stack.layout.outbox)
    slack = [arrivals[p] - t for p, t in pushed.items() if p in arrivals]
    window = f"{int(wall)}s"
    with load._lock:
        latencies, late, done, failures = list(load.latencies), load.late, load.done, load.failures
    figures = {
        "agents": n,
        "series": query(prom, "prometheus_tsdb_head_series"),
        "push_p50_s": statistics.median(latencies) if latencies else float("nan"),
        "push_p95_s": quantile(latencies, 95),
        "pushes": done,
        "push_failures": failures,
        "late_pushes": late / done if done else float("nan"),
        "pushgateway_cpu": cpu.get("pushgateway", float("nan")),
        "pushgateway_rss_mb": rss_peak.get("pushgateway", float("nan")) / 2**20,
        "prometheus_cpu": cpu.get("prometheus", float("nan")),
        "prometheus_rss_mb": rss_peak.get("prometheus", float("nan")) / 2**20,
        "rule_eval_max_s": query(
            prom, f"max(max_over_time(prometheus_rule_group_last_duration_seconds[{window}]))"
        ),
        "scrape_max_s": query(
            prom, f'max(max_over_time(scrape_duration_seconds{{job="{scraped_job}"}}[{window}]))'
        ),
        "slack_p50_s": statistics.median(slack) if slack else float("nan"),
        "slack_p95_s": quantile(slack, 95),
        "breaches_delivered": f"{len(slack)}/{len(pushed) + lost}",
        "loader_cpu": own,
    }
    for portfolio in pushed:
        breacher.clear(portfolio)
    return figures


def retire(settings: Settings, agent: str) -> None:
    """Delete an agent's group; under load a delete can time out like a push."""
    access = PushgatewayAccess.from_settings(settings)
    try:
        Publisher(agent, settings.url.pushgateway, access=access).delete()
    except OSError as exc:
        print(f"could not delete group {agent}: {exc}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[1, 10, 50, 200])
    parser.add_argument("--positions", type=int, default=500)
    parser.add_argument("--mode", choices=("push", "scrape"), default="push")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per N")
    parser.add_argument("--breaches", type=int, default=10, help="breaching pushes per N")
    parser.add_argument("--state-dir", type=Path, help="use this running stack")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--chart", type=Path, help="draw the figures into this PNG")
    parser.add_argument(
        "--static-pages",
        action="store_true",
        help="scrape mode: render each agent's page once and serve the bytes from one "
        "port, so the level measures Prometheus rather than the load generator",
    )
    parser.add_argument(
        "--past-collapse",
        action="store_true",
        help="go on to larger N after a level where most pushes failed (the Pushgateway's "
        "memory then grows with its backlog: several GB)",
    )
    args = parser.parse_args()
    # A stopped run still stops its stack (the `finally` blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[dict[str, Any]] = []
    with the_stack(args) as (settings, stack):
        interval = settings.agent.tasks["portfolio"].interval_seconds
        url = settings.url.pushgateway if args.mode == "push" else None
        load = Load(interval=interval, push=args.mode == "push")
        served = None
        ports: dict[str, int] = {}  # served agent -> its port
        static = None
        if args.static_pages and args.mode != "scrape":
            parser.error("--static-pages is for --mode scrape")
        if args.mode == "scrape":
            served = Publisher("scale-breaches")
            if args.static_pages:
                static = StaticPages(settings.stack.host)
            serve_for_scrape(settings, stack, served, [], ports, static)
        breacher = Breacher(settings, served)
        load.start()
        try:
            for n in sorted(args.agents):
                if rows and collapsed(rows[-1]) and not args.past_collapse:
                    print(
                        f"N = {n}: not run, the Pushgateway collapsed at N = "
                        f"{rows[-1]['agents']} (--past-collapse runs it anyway)",
                        flush=True,
                    )
                    rows.append({"agents": n, "not_run": "collapsed"})
                    continue
                start = time.time()
                if static is not None:
                    for i in range(len(static.pages), n):
                        static.add(SimAgent(i, args.positions, settings, url))
                else:
                    for i in range(len(load.agents), n):
                        agent = SimAgent(i, args.positions, settings, url)
                        load.add(agent, start + interval * i / n)
                if served is not None:
                    serve_for_scrape(
                        settings, stack, served, [a.pub for a in load.agents], ports, static
                    )
                rows.append(measure(args, settings, stack, load, breacher, n))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            load.stop()
            if static is not None:
                static.close()
            if served is not None:
                served.close()
                (stack.layout.agent_targets / TARGETS_FILE).unlink(missing_ok=True)
            for agent in load.agents:
                agent.pub.close()
                # Only a stack that outlives the run (--state-dir) keeps the groups; a
                # temporary one is purged, and a collapsed gateway would time out on
                # every delete.
                if args.mode == "push" and args.state_dir:
                    retire(settings, agent.name)
    print_table(rows)
    mode = "scrape, static pages" if args.static_pages else args.mode
    if args.json:
        args.json.write_text(json.dumps({"mode": mode, "budgets": BUDGETS, "rows": rows}, indent=2))
    if args.chart:
        chart({mode: [r for r in rows if not r.get("not_run")]}, BUDGETS, args.chart)


if __name__ == "__main__":
    main()
