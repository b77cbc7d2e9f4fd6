"""Seconds from a breaching push to the Slack sink, over N breaches, with the shipped
intervals (prometheus.yml and alerts/alertmanager.yml as committed).

Starts its own stack on free loopback ports in a temporary folder, pushes a 20%
drawdown for N fresh portfolios a couple of seconds apart (so the pushes land at
every phase of the scrape and evaluation cycles), and times each until its Slack
post is in the outbox. Prints p50 and p95, then stops the stack.

    .venv/bin/python benchmarks/bench_alert_latency.py [--breaches 20]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway

from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.postgres import remove_cluster
from riskwatch.stack.runner import Stack

PORTS = (
    "prometheus_port",
    "pushgateway_port",
    "alertmanager_port",
    "receiver_port",
    "postgres_port",
    "smtp_port",
    "slack_port",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def push(settings: Settings, portfolio: str, value: float) -> None:
    registry = CollectorRegistry()
    Gauge("trading_drawdown_ratio", "d", ["portfolio"], registry=registry).labels(portfolio).set(
        value
    )
    push_to_gateway(
        settings.url.pushgateway,
        job="riskwatch",
        registry=registry,
        grouping_key={"agent": portfolio},
        handler=PushgatewayAccess.from_settings(settings).handler(),
    )


def slack_arrivals(outbox: Path) -> dict[str, float]:
    """Portfolio -> when its first Slack post was written."""
    seen: dict[str, float] = {}
    for path in sorted((outbox / "slack").glob("*.json")):
        post = json.loads(path.read_text())
        for attachment in post["message"].get("attachments", []):
            title = attachment.get("title", "")
            if "PortfolioDrawdownCritical" in title and " - " in title:
                seen.setdefault(title.rsplit(" - ", 1)[1], post["received_at"])
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--breaches", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=1.7, help="seconds between pushes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="riskwatch-latency-") as tmp:
        settings = load_settings(state_dir=Path(tmp), stack={field: free_port() for field in PORTS})
        stack = Stack(settings)
        stack.up()
        try:
            gateway, outbox = settings.url.pushgateway, stack.layout.outbox
            pushed: dict[str, float] = {}
            for n in range(args.breaches):
                name = f"latency-{n:02d}"
                pushed[name] = time.time()
                push(settings, name, 0.2)
                time.sleep(args.spacing)  # a load pattern, not a wait for readiness
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                arrivals = slack_arrivals(outbox)
                if all(p in arrivals for p in pushed):
                    break
                time.sleep(0.2)
            arrivals = slack_arrivals(outbox)
            missing = [p for p in pushed if p not in arrivals]
            latencies = sorted(arrivals[p] - pushed[p] for p in pushed if p in arrivals)
            for p in pushed:
                delete_from_gateway(
                    gateway,
                    job="riskwatch",
                    grouping_key={"agent": p},
                    handler=PushgatewayAccess.from_settings(settings).handler(),
                )
        finally:
            stack.down()
            remove_cluster(stack.layout.root)  # as root it lives outside tmp
    q = statistics.quantiles(latencies, n=20, method="inclusive")
    print(f"breaches: {len(pushed)}, delivered to Slack: {len(latencies)}, missing: {missing}")
    print(
        f"push -> Slack seconds: p50 {statistics.median(latencies):.1f}, p95 {q[18]:.1f}, "
        f"min {latencies[0]:.1f}, max {latencies[-1]:.1f}"
    )


if __name__ == "__main__":
    main()
