"""Throughput of the alert receiver: alerts stored per second over real HTTP.

Starts a throwaway PostgreSQL cluster (default durability: fsync on) and the
receiver under waitress on a free loopback port, then posts webhook payloads of
`--batch-size` alerts each, every alert new, from `--clients` concurrent clients.

    .venv/bin/python benchmarks/bench_receiver.py [--batches 200] [--clients 1 4]

Not a test: the figure depends on the machine. It prints one line per client count.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

import requests
from pydantic import SecretStr

from riskwatch.receiver.serve import serving_in_thread
from riskwatch.settings import Settings
from riskwatch.stack.postgres import LocalPostgres, find_postgres_bin_dir

WEBHOOK = "/webhook/alertmanager"


@contextmanager
def throwaway_cluster() -> Iterator[LocalPostgres]:
    """A started PostgreSQL cluster in a temporary folder, removed afterwards."""
    bin_dir = find_postgres_bin_dir(None)
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        state_dir = Path(tmp)
        cluster = LocalPostgres.in_state_dir(
            bin_dir, state_dir, "127.0.0.1", _free_port(), create=True
        )
        try:
            cluster.initialize()
            cluster.start(30.0)
            yield cluster
        finally:
            cluster.stop()
            if not cluster.home.is_relative_to(state_dir):
                shutil.rmtree(cluster.home, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_serial = count()


def batch(size: int) -> dict[str, Any]:
    """A firing payload of `size` alerts never sent before."""
    alerts = []
    for _ in range(size):
        n = next(_serial)
        labels = {
            "alertname": f"BenchAlert{n % 17}",
            "severity": ("warning", "critical")[n % 2],
            "portfolio": f"p{n % 5}",
            "team": "risk",
            "instance": f"bench-{n}",
        }
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"benchmark alert {n}"},
                "startsAt": "2024-05-01T09:30:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local/graph",
                "fingerprint": hashlib.sha256(str(n).encode()).hexdigest()[:16],
            }
        )
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "bench",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": alerts,
    }


def measure(base_url: str, batches: int, batch_size: int, clients: int) -> float:
    """Post `batches` payloads from `clients` threads; returns alerts stored per second."""
    bodies = [batch(batch_size) for _ in range(batches)]  # built before the clock starts
    local = threading.local()

    def post(body: dict[str, Any]) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(base_url + WEBHOOK, json=body, timeout=30)
        response.raise_for_status()
        stored: int = response.json()["stored"]
        return stored

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        stored = sum(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    if stored != batches * batch_size:
        raise SystemExit(f"expected {batches * batch_size} alerts stored, got {stored}")
    return stored / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="payloads per run")
    parser.add_argument("--batch-size", type=int, default=100, help="alerts per payload")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 4], help="concurrent clients per run"
    )
    args = parser.parse_args()
    with throwaway_cluster() as cluster:
        settings = Settings(database_url=SecretStr(cluster.dsn), receiver_token=None)
        with serving_in_thread(settings) as base_url:
            measure(base_url, 5, args.batch_size, 1)  # warm up: pool, plans, caches
            for clients in args.clients:
                rate = measure(base_url, args.batches, args.batch_size, clients)
                print(
                    f"clients={clients} batches={args.batches} batch_size={args.batch_size} "
                    f"threads={settings.receiver.threads}: {rate:,.0f} alerts stored/s"
                )


if __name__ == "__main__":
    main()
