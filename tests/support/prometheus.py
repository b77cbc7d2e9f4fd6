"""A Prometheus of a test's own: its rule files and its Alertmanagers, on a free
loopback port, polled until ready and stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from riskwatch.settings import load_settings
from tests.support.alertmanager import tool
from tests.support.processes import running_program
from tests.support.stack import free_port


@contextmanager
def running_prometheus(
    state: Path,
    rule_groups: list[dict[str, Any]],
    alertmanagers: Sequence[str],
    evaluation_interval: str = "1s",
    scrape_configs: Sequence[dict[str, Any]] = (),
) -> Iterator[str]:
    """Prometheus evaluating `rule_groups` every `evaluation_interval` and sending its
    alerts to every one of `alertmanagers` (host:port), as a Prometheus in front of an
    HA pair does; it scrapes only `scrape_configs`. Its config, data and log (`log`) go
    in `state`; yields its URL once ready."""
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
                "scrape_configs": list(scrape_configs),
            },
            sort_keys=False,
        )
    )
    port = free_port()
    argv = [
        tool(load_settings().stack.prometheus_bin),
        f"--config.file={config}",
        f"--storage.tsdb.path={state / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # An alert that fires before the Alertmanagers are discovered is dropped, and
        # sent again only after the resend delay (1 m by default).
        "--rules.alert.resend-delay=1s",
    ]
    with running_program(argv, state, f"http://127.0.0.1:{port}", "the test's Prometheus") as url:
        yield url
