"""A Prometheus of a test's own: its rule files and its Alertmanagers, on a free
loopback port, polled until ready and stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from riskwatch.settings import load_settings
from tests.support.alertmanager import tool
from tests.support.stack import free_port, wait_for


@contextmanager
def running_prometheus(
    state: Path,
    rule_groups: list[dict[str, Any]],
    alertmanagers: Sequence[str],
    evaluation_interval: str = "1s",
) -> Iterator[str]:
    """Prometheus evaluating `rule_groups` every `evaluation_interval` and sending its
    alerts to every one of `alertmanagers` (host:port), as a Prometheus in front of an
    HA pair does; nothing is scraped. Its config, data and log (`log`) go in `state`;
    yields its URL once ready."""
    state.mkdir(parents=True, exist_ok=True)
    rules = state / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups}, sort_keys=False))
    config = state / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"evaluation_interval": evaluation_interval},
                "rule_files": [str(rules)],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
                },
            },
            sort_keys=False,
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (state / "log").open("wb") as log:
        process = subprocess.Popen(
            [
                tool(load_settings().stack.prometheus_bin),
                f"--config.file={config}",
                f"--storage.tsdb.path={state / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                # An alert that fires before the Alertmanagers are discovered is dropped,
                # and sent again only after the resend delay (1 m by default).
                "--rules.alert.resend-delay=1s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def ready() -> bool:
        assert process.poll() is None, (state / "log").read_text()[-2000:]
        try:
            return requests.get(f"{url}/-/ready", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(ready, "the test's Prometheus to be ready", timeout=30)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
