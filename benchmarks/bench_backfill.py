"""Historical mode: seconds to backfill 30 days at 15 s of the demo book into Prometheus.

Starts a throwaway Prometheus (the real binary, on a free port, its TSDB in a temp
folder) that scrapes itself, as the stack's does, then runs `backfill` for the
default `settings.trading.portfolios` and checks that the history is queryable from
the first day to the last. Prints generation, promtool and loading seconds, the
total, and the samples, series and blocks written.

    .venv/bin/python benchmarks/bench_backfill.py [--days 30] [--resolution 15]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

from riskwatch.demo.backfill import backfill
from riskwatch.settings import load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def series(url: str, selector: str, at: float) -> int:
    """How many series matching `selector` a query at `at` sees (5-minute lookback)."""
    params: dict[str, str | float] = {"query": f"count({selector})", "time": at}
    resp = requests.get(f"{url}/api/v1/query", params=params, timeout=30)
    resp.raise_for_status()
    result = resp.json()["data"]["result"]
    return int(result[0]["value"][1]) if result else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        state = Path(tmp)
        settings = load_settings(state_dir=state, stack={"prometheus_port": free_port()})
        url = settings.url.prometheus
        config = state / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 15s}\n"
            "scrape_configs:\n"
            f"  - {{job_name: prometheus, static_configs: [{{targets: ['{url[7:]}']}}]}}\n"
        )
        prometheus = subprocess.Popen(
            [
                settings.stack.prometheus_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={state / 'prometheus'}",
                f"--storage.tsdb.retention.time={settings.stack.prometheus_retention}",
                f"--web.listen-address={url[7:]}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(state / "prometheus.log").open("w"),
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    sys.exit("Prometheus did not become ready; see its log")
                time.sleep(0.2)

            stages: dict[str, float] = {}
            began = time.monotonic()

            def progress(stage: str, fraction: float) -> None:
                stages.setdefault(stage, time.monotonic() - began)

            result = backfill(
                settings, args.days, resolution_seconds=args.resolution, progress=progress
            )

            # Queryable over the whole span: the series a query sees an hour in, in the
            # middle and at the end, the agent's and the recording rules' (firm:, portfolio:).
            checks = {
                f"{label} {kind}": series(url, selector, at.timestamp())
                for label, at in (
                    ("start + 1h", result.start + timedelta(hours=1)),
                    ("middle", result.start + (result.end - result.start) / 2),
                    ("end - 1m", result.end - timedelta(minutes=1)),
                )
                for kind, selector in (
                    ("agent", '{job="riskwatch",agent="demo-trading"}'),
                    ("rules", '{__name__=~"(firm|portfolio):.+"}'),
                )
            }
            blocks_bytes = sum(
                f.stat().st_size for f in (state / "prometheus").rglob("*") if f.is_file()
            )
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)

    span = f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC"
    books = ", ".join(f"{p.name} ({p.positions})" for p in settings.trading.portfolios)
    print(f"backfill of {args.days} days at {args.resolution} s, {span}; books {books}")
    rows = (
        ("generation: series and OpenMetrics text", result.generate_seconds),
        ("promtool, summed over blocks (runs beside the writing)", result.promtool_seconds),
        ("waiting for Prometheus to load the blocks", result.load_seconds),
        ("total", result.seconds),
    )
    for what, seconds in rows:
        print(f"  {what:<56} {seconds:6.1f} s")
    size = f"TSDB {blocks_bytes / 1e6:.1f} MB"
    print(f"  samples {result.samples:,}, series {result.series}, blocks {result.blocks}, {size}")
    print("  stages began at " + ", ".join(f"{s} {t:.1f} s" for s, t in stages.items()))
    print("  series seen at " + ", ".join(f"{k}: {n}" for k, n in checks.items()))
    if not all(checks.values()):
        sys.exit("the backfilled history is not queryable over its whole span")


if __name__ == "__main__":
    main()
