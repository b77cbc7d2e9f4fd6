"""Metric names in shared namespaces carry the application prefix, and an upgrade from
the bare names has a working bridge (docs/metric-names.md)."""

from __future__ import annotations

import re
import subprocess
from functools import partial
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from riskwatch import catalog
from riskwatch.catalog import MetricSpec
from tests.support.alertmanager import tool
from tests.support.prometheus import running_prometheus
from tests.support.stack import free_port, prom_query, run_cli, wait_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["component_up", "agent_task_runs_total", "model_x_ratio"])
def test_the_catalog_refuses_a_bare_name_in_a_shared_namespace(name: str) -> None:
    kind = "counter" if name.endswith("_total") else "gauge"
    unit = "ratio" if name.endswith("_ratio") else "level" if kind == "gauge" else "count"
    with pytest.raises(ValueError, match=f"riskwatch_{name}"):
        MetricSpec(name, kind, unit, (), "help")


def test_no_declared_metric_is_in_a_shared_namespace_without_the_prefix() -> None:
    for spec in catalog.METRICS:
        assert not spec.name.startswith(catalog.SHARED_NAMESPACES), spec.name
    # What the issue named: the health agent's, the agents' and the broker's metrics.
    for old in ("component_up", "agent_task_runs_total", "broker_connected"):
        assert catalog.RENAMED[old] == f"riskwatch_{old}"
        assert catalog.RENAMED[old] in catalog.BY_NAME
    # Born prefixed: nothing to migrate from.
    assert "sink_notifications_total" not in catalog.RENAMED


def test_the_migration_note_lists_exactly_the_catalog_renames() -> None:
    text = (ROOT / "docs" / "metric-names.md").read_text()
    table = dict(re.findall(r"^\| `([a-z0-9_]+)` \| `([a-z0-9_]+)` \|$", text, re.M))
    assert table == catalog.RENAMED


def test_renamed_prints_the_relabelling_promtool_accepts(tmp_path: Path) -> None:
    result = run_cli("metrics", "--renamed")
    assert result.returncode == 0, result.stderr
    relabel = yaml.safe_load(result.stdout)["metric_relabel_configs"]
    config = tmp_path / "prometheus.yml"
    job = {"job_name": "old", "static_configs": [{"targets": ["127.0.0.1:1"]}]}
    config.write_text(
        yaml.safe_dump({"scrape_configs": [{**job, "metric_relabel_configs": relabel}]})
    )
    checked = run_cli_tool("promtool", "check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def run_cli_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool(argv[0]), *argv[1:]], capture_output=True, text=True, timeout=60)


def test_an_agent_of_the_previous_release_is_read_under_the_new_names(tmp_path: Path) -> None:
    """A target exposing the old bare names (a gauge, a counter with its _created, a
    histogram), scraped by a real Prometheus through the printed relabelling: every
    sample arrives under its prefixed name, and no bare name is stored."""
    registry = CollectorRegistry()
    Gauge("component_up", "old", ["component"], registry=registry).labels("prometheus").set(1)
    Counter("agent_task_runs", "old", ["agent", "task"], registry=registry).labels(
        "desk-1", "risk"
    ).inc(3)
    Histogram("receiver_storage_duration_seconds", "old", registry=registry).observe(0.02)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        relabel = catalog.migration_relabel_configs()
        scrape = {
            "job_name": "old-agent",
            "scrape_interval": "1s",
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            "metric_relabel_configs": relabel,
        }
        with running_prometheus(tmp_path, [], [], scrape_configs=[scrape]) as url:
            wanted = (
                'riskwatch_component_up{component="prometheus"}',
                'riskwatch_agent_task_runs_total{task="risk"}',
                "riskwatch_agent_task_runs_created",
                "riskwatch_receiver_storage_duration_seconds_count",
                'riskwatch_receiver_storage_duration_seconds_bucket{le="0.025"}',
            )
            for expr in wanted:
                wait_for(partial(prom_query, url, expr), f"{expr} scraped", timeout=30)
            assert (
                prom_query(url, 'riskwatch_agent_task_runs_total{agent="desk-1"}')[0]["value"][1]
                == "3"
            )
            stored = {s["metric"]["__name__"] for s in prom_query(url, '{job="old-agent"}')}
            bare = {n for n in stored if n.startswith(catalog.SHARED_NAMESPACES)}
            assert not bare, bare
        # Prometheus cannot tell the old sender any more; its /metrics page can.
        page = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        old = {line.split("{")[0].split(" ")[0] for line in _leftovers(page)}
        assert old == {
            "component_up",
            "agent_task_runs_total",
            "agent_task_runs_created",
            "receiver_storage_duration_seconds_bucket",
            "receiver_storage_duration_seconds_count",
            "receiver_storage_duration_seconds_sum",
            "receiver_storage_duration_seconds_created",
        }
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _leftovers(page: str) -> list[str]:
    pattern = re.compile(catalog.leftover_pattern())
    return [line for line in page.splitlines() if pattern.search(line)]


def test_an_upgraded_source_prints_no_leftover() -> None:
    """The check is empty for a page of this release's names, other software's
    bare names in the same namespaces included."""
    registry = CollectorRegistry()
    Gauge("riskwatch_component_up", "new", ["component"], registry=registry).labels("x").set(1)
    Counter("riskwatch_agent_task_runs", "new", registry=registry).inc()
    Gauge("component_uptime_seconds", "someone else's", registry=registry).set(5)
    assert _leftovers(generate_latest(registry).decode()) == []
