"""Historical mode: seconds to backfill 30 days at 15 s of the demo book into Prometheus.

Starts a throwaway Prometheus (the real binary, on a free port, its TSDB in a temp
folder) that scrapes itself, recorded in the temp state folder's run/ as
`riskwatch stack up` records the stack's, so the backfill restarts it to load the
blocks as it restarts the stack's. It then runs `backfill` for the default
`settings.trading.portfolios` and checks that the history is queryable from the first
day to the last. Prints generation, promtool and loading seconds, the total, and the
samples, series and blocks written; with `--runs N`, each run on a fresh Prometheus,
then the median of each figure. `--wait` does not restart Prometheus but waits for its
periodic block reload (once a minute), as the backfill does for any other Prometheus.

    .venv/bin/python benchmarks/bench_backfill.py [--days 30] [--resolution 15] [--runs 3] [--wait]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import requests
import yaml

from riskwatch.demo.backfill import BackfillResult, backfill
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.processes import http_ok, is_alive, spawn, wait_until
from riskwatch.stack.runner import Stack


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def recorded_prometheus(
    state: Path, *, scrape_interval: str = "15s", rules: Sequence[dict[str, Any]] = ()
) -> Iterator[Settings]:
    """A Prometheus on a free loopback port that scrapes itself every `scrape_interval`
    and evaluates `rules` as often, its TSDB where the stack's goes in `state` and its
    run record where `riskwatch stack up` keeps the stack's: a backfill treats it as
    the stack's own. Yields the settings that point at it; stopped afterwards (the
    process the record names then, restarted or not)."""
    settings = load_settings(state_dir=state, stack={"prometheus_port": free_port()})
    stack = Stack(settings)
    address = settings.url.prometheus.split("://", 1)[1]
    (state / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "r", "rules": rules}]}))
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(state / "rules.yml")],
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [address]}]}],
    }
    (state / "prometheus.yml").write_text(yaml.safe_dump(config))
    binary = shutil.which(settings.stack.prometheus_bin)
    if binary is None:
        raise SystemExit(f"{settings.stack.prometheus_bin} not found: `riskwatch stack install`")
    record = spawn(
        "prometheus",
        [
            binary,
            f"--config.file={state / 'prometheus.yml'}",
            f"--storage.tsdb.path={stack.layout.root / 'prometheus'}",
            f"--storage.tsdb.retention.time={settings.stack.prometheus_retention}",
            f"--web.listen-address={address}",
        ],
        stack.layout.logs / "prometheus.log",
    )
    record.save(stack.layout.run)
    try:
        wait_until(
            partial(http_ok, f"{settings.url.prometheus}/-/ready"),
            "prometheus",
            settings.stack.ready_timeout_seconds,
            alive=partial(is_alive, record),
            log_path=record.log,
        )
        yield settings
    finally:
        stack.stop("prometheus")


def series(url: str, selector: str, at: float) -> int:
    """How many series matching `selector` a query at `at` sees (5-minute lookback)."""
    params: dict[str, str | float] = {"query": f"count({selector})", "time": at}
    resp = requests.get(f"{url}/api/v1/query", params=params, timeout=30)
    resp.raise_for_status()
    result = resp.json()["data"]["result"]
    return int(result[0]["value"][1]) if result else 0


def run(days: int, resolution: int, restart: bool) -> tuple[BackfillResult, dict[str, int]]:
    """One backfill into a fresh Prometheus; the result, and the series a query sees an
    hour in, in the middle and at the end, the agent's and the recording rules'."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp,
        recorded_prometheus(Path(tmp)) as settings,
    ):
        result = backfill(settings, days, resolution_seconds=resolution, restart=restart)
        url = settings.url.prometheus
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
    return result, checks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--resolution", type=int, default=15)
    parser.add_argument("--runs", type=int, default=1, help="runs, each on a fresh TSDB")
    parser.add_argument(
        "--wait", action="store_true", help="wait for Prometheus's reload; no restart"
    )
    args = parser.parse_args()

    books = ", ".join(f"{p.name} ({p.positions})" for p in load_settings().trading.portfolios)
    print(f"backfill of {args.days} days at {args.resolution} s; books {books}")
    rows = {
        "generation: series and OpenMetrics text": lambda r: r.generate_seconds,
        "promtool, summed over its parallel runs": lambda r: r.promtool_seconds,
        "loading: Prometheus serves the blocks": lambda r: r.load_seconds,
        "total": lambda r: r.seconds,
    }
    results: list[BackfillResult] = []
    for number in range(1, args.runs + 1):
        began = time.monotonic()
        result, checks = run(args.days, args.resolution, restart=not args.wait)
        results.append(result)
        how = "restarted" if result.restarted else "waited for its reload"
        print(f"run {number} ({time.monotonic() - began:.1f} s with Prometheus start/stop):")
        for what, figure in rows.items():
            print(f"  {what:<44} {figure(result):6.1f} s")
        print(
            f"  samples {result.samples:,}, series {result.series}, blocks {result.blocks}; "
            f"Prometheus {how}"
        )
        print("  series seen at " + ", ".join(f"{k}: {n}" for k, n in checks.items()))
        if not all(checks.values()):
            sys.exit("the backfilled history is not queryable over its whole span")
    if len(results) > 1:
        print(f"median of {len(results)} runs:")
        for what, figure in rows.items():
            print(f"  {what:<44} {statistics.median(map(figure, results)):6.1f} s")


if __name__ == "__main__":
    main()
