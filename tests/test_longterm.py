"""Long-term storage on a real engine: `stack.longterm` runs VictoriaMetrics beside
Prometheus, which remote-writes every sample to it.

One stack of this module's own, with the long-term store on, fed as the dashboards
test feeds the session's (tests/dashboards/support.py `fed_desk`). A pushed gauge reads
back from VictoriaMetrics; every dashboard panel query, and the daily report's
collected figures, come back from VictoriaMetrics as from Prometheus at the same
instant; `stack status` names it and `stack down` stops it. The sharding example
(deploy/examples/prometheus-shard.yml) passes `promtool check config`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from riskwatch.dashboards import build
from riskwatch.prometheus_api import Prometheus
from riskwatch.report.collect import collect
from riskwatch.report.model import STEP_SECONDS, ReportData
from riskwatch.settings import Settings, StackSettings, load_settings
from riskwatch.stack.processes import ProcessRecord, is_alive
from riskwatch.stack.render import longterm_write_url, render_prometheus
from riskwatch.stack.runner import Stack
from riskwatch.stack.secrets import ensure_pushgateway_auth
from tests.dashboards.support import engine_differences, fed_desk
from tests.support.stack import (
    TEST_TOKEN,
    free_port,
    free_ports,
    push_gauges,
    run_cli,
    running_stack,
    stack_env,
    wait_for,
)

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
SHARD_EXAMPLE = ROOT / "deploy" / "examples" / "prometheus-shard.yml"
PROMTOOL = shutil.which(StackSettings().promtool_bin) or StackSettings().promtool_bin
"""promtool as the stack finds it (stack.promtool_bin on PATH; Debian's prometheus)."""
SLOWEST_INTERVAL_SECONDS = 15
"""The stack's slowest scrape (receiver, Alertmanager) and rule interval: a sample of
each series at or after an instant exists once this much more has passed."""


def longterm_ports() -> dict[str, int]:
    """free_ports() and one for VictoriaMetrics, all distinct."""
    while True:
        ports = {**free_ports(), "victoriametrics_port": free_port()}
        if len(set(ports.values())) == len(ports):
            return ports


@pytest.fixture(scope="module")
def longterm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own with stack.longterm on."""
    settings = load_settings(
        state_dir=tmp_path_factory.mktemp("longterm-state"),
        stack={**longterm_ports(), "longterm": True},
        receiver_token=TEST_TOKEN,
    )
    with running_stack(settings) as runner:
        yield runner


@pytest.fixture(scope="module")
def fed(longterm: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """The long-term stack's Prometheus once the desk has published (`fed_desk`)."""
    with fed_desk(longterm, tmp_path_factory.mktemp("longterm-desk")) as prometheus:
        yield prometheus


@pytest.fixture(scope="module")
def victoriametrics(longterm: Stack) -> Prometheus:
    """VictoriaMetrics' PromQL API (it answers Prometheus' HTTP API)."""
    return Prometheus(longterm.settings.url.victoriametrics)


@pytest.fixture(scope="module")
def compared_at(fed: Prometheus, victoriametrics: Prometheus) -> float:
    """An instant after the desk published, on a report step (so that the report's
    range queries fall on the same steps on both engines), once VictoriaMetrics answers
    for it as Prometheus does.

    VictoriaMetrics evaluates a query for an instant less than -search.latencyOffset
    (30 s) old at now minus that offset instead, so that late writers' samples are
    there; its own `time()` is that horizon. Once the horizon is a scrape interval past
    the instant, every series has had a sample after it written."""
    at = float(math.ceil(time.time() / STEP_SECONDS) * STEP_SECONDS)

    def horizon() -> float:
        return float(victoriametrics.instant("time()")[0]["value"][1])

    wait_for(
        lambda: horizon() > at + SLOWEST_INTERVAL_SECONDS,
        "VictoriaMetrics' query horizon to pass the compared instant",
        timeout=STEP_SECONDS + 3 * SLOWEST_INTERVAL_SECONDS + 30,
        interval=1,
    )
    return at


def external_labels(stack: Stack) -> set[str]:
    """The labels Prometheus adds to what it sends away (its config's external_labels);
    the long-term store keeps them on every series, Prometheus' own answers lack them."""
    config = yaml.safe_load((stack.layout.rendered / "prometheus.yml").read_text())
    return set((config.get("global") or {}).get("external_labels") or {})


# ------------------------------------------------------------------------- the stack
def test_up_renders_remote_write_and_status_names_victoriametrics(longterm: Stack) -> None:
    rendered = yaml.safe_load((longterm.layout.rendered / "prometheus.yml").read_text())
    assert rendered["remote_write"] == [{"url": longterm_write_url(longterm.settings)}]
    vm_url = longterm.settings.url.victoriametrics
    env = stack_env(
        longterm,
        RISKWATCH_STACK__LONGTERM="true",
        RISKWATCH_STACK__VICTORIAMETRICS_PORT=str(longterm.settings.stack.victoriametrics_port),
    )
    done = run_cli("stack", "status", "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    status = json.loads(done.stdout)
    assert status["victoriametrics"] == vm_url
    assert status["health"]["victoriametrics"] is True
    # Its data lives in the state folder, with the retention from the settings.
    record = ProcessRecord.load(longterm.layout.run, "victoriametrics")
    assert record is not None and is_alive(record)
    assert f"-storageDataPath={longterm.layout.root / 'victoriametrics'}" in record.argv
    assert f"-retentionPeriod={longterm.settings.stack.longterm_retention}" in record.argv
    assert (longterm.layout.root / "victoriametrics").is_dir()


def test_without_longterm_there_is_no_victoriametrics_nor_remote_write(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        stack=free_ports(),
        database_url="postgresql://riskwatch@127.0.0.1:1/riskwatch",
    )
    assert "victoriametrics" not in Stack(settings).urls()
    out = render_prometheus(
        settings, tmp_path / "prometheus.yml", ensure_pushgateway_auth(settings), tmp_path
    )
    assert "remote_write" not in yaml.safe_load(out.read_text())


def test_a_pushed_gauge_reads_back_from_victoriametrics(
    longterm: Stack, victoriametrics: Prometheus
) -> None:
    agent, value = "longterm-probe", 4321.5
    name = "longterm_probe_" + os.urandom(4).hex()
    push_gauges(longterm.settings, agent, [(name, {"portfolio": "alpha"}, value)])
    found = wait_for(
        lambda: victoriametrics.instant(f'{name}{{agent="{agent}"}}'),
        "the pushed gauge in VictoriaMetrics",
    )
    assert [float(s["value"][1]) for s in found] == [value]
    assert found[0]["metric"]["portfolio"] == "alpha"
    assert found[0]["metric"]["job"] == "riskwatch"


# ------------------------------------------------ the same answers from both engines
def test_every_panel_query_answers_alike_on_victoriametrics(
    longterm: Stack, fed: Prometheus, victoriametrics: Prometheus, compared_at: float
) -> None:
    boards = build.load_committed(ROOT)
    ignored = external_labels(longterm)
    problems = engine_differences(boards, fed, victoriametrics, compared_at, ignored)
    assert problems == [], "VictoriaMetrics answers otherwise:\n" + "\n".join(problems)


def _report_differences(ours: Any, theirs: Any, path: str = "report") -> list[str]:
    """Where two collected reports differ; floats within 1e-6 (VictoriaMetrics does not
    keep every float64 to the last bit: docs/scaling.md)."""
    if dataclasses.is_dataclass(ours) and not isinstance(ours, type):
        return [
            line
            for f in dataclasses.fields(ours)
            for line in _report_differences(
                getattr(ours, f.name), getattr(theirs, f.name), f"{path}.{f.name}"
            )
        ]
    if isinstance(ours, dict):
        if ours.keys() != theirs.keys():
            return [f"{path}: keys {sorted(ours)} vs {sorted(theirs)}"]
        return [
            line for k in ours for line in _report_differences(ours[k], theirs[k], f"{path}[{k!r}]")
        ]
    if isinstance(ours, list | tuple):
        if len(ours) != len(theirs):
            return [f"{path}: {len(ours)} items vs {len(theirs)}"]
        return [
            line
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for line in _report_differences(a, b, f"{path}[{i}]")
        ]
    if isinstance(ours, float) and isinstance(theirs, float):
        if math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-6):
            return []
    elif isinstance(ours, datetime) and isinstance(theirs, datetime):
        # A timestamp is a float of ~1.8e9 s: VictoriaMetrics' precision is a few µs.
        if abs((ours - theirs).total_seconds()) <= 1e-3:
            return []
    elif ours == theirs:
        return []
    return [f"{path}: {ours!r} vs {theirs!r}"]


def _figures(data: ReportData) -> ReportData:
    # What the report shows, not where it read it from.
    return dataclasses.replace(data, prometheus_url="", notes=[])


def test_the_report_collects_the_same_figures_from_victoriametrics(
    longterm: Stack, fed: Prometheus, compared_at: float
) -> None:
    settings: Settings = longterm.settings
    now = datetime.fromtimestamp(compared_at, UTC)
    day = now.astimezone(settings.policy.market.zone).date()
    ours = collect(settings, day, now=now)
    theirs = collect(settings, day, now=now, prometheus_url=settings.url.victoriametrics)
    # The comparison must be about figures: the desk's books, KPIs, charts and trades.
    assert {p.name for p in ours.portfolios} >= {"alpha", "beta"}
    assert ours.series["value"] and ours.trading.positions and ours.compliance
    problems = _report_differences(_figures(ours), _figures(theirs))
    assert problems == [], "the report from VictoriaMetrics differs:\n" + "\n".join(problems)


# ------------------------------------------------------------------- stop and down
def test_stop_and_up_restart_victoriametrics_on_its_data(
    longterm: Stack, victoriametrics: Prometheus
) -> None:
    before = ProcessRecord.load(longterm.layout.run, "victoriametrics")
    assert before is not None
    longterm.stop("victoriametrics")
    assert not is_alive(before)
    status = longterm.up()
    assert status["health"]["victoriametrics"] is True
    after = ProcessRecord.load(longterm.layout.run, "victoriametrics")
    assert after is not None and after.pid != before.pid
    # What it stored before the restart is still there.
    assert victoriametrics.instant("count(up)")


def test_down_stops_victoriametrics(longterm: Stack) -> None:
    record = ProcessRecord.load(longterm.layout.run, "victoriametrics")
    assert record is not None and is_alive(record)
    env = stack_env(longterm, RISKWATCH_STACK__LONGTERM="true")
    try:
        done = run_cli("stack", "down", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "victoriametrics: stopped" in done.stderr
        assert not is_alive(record)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{longterm.settings.url.victoriametrics}/health", timeout=5)
    finally:
        # Up again for the fixtures' own teardown (the desk's pushes are deleted).
        longterm.up()


# --------------------------------------------------------------------- sharding
def _shard(config: dict[str, Any], ordinal: int) -> dict[str, Any]:
    """The example's config for another shard: its keep ordinal and shard label."""
    shard: dict[str, Any] = copy.deepcopy(config)
    shard["global"]["external_labels"]["shard"] = str(ordinal)
    for job in shard["scrape_configs"]:
        for rule in job.get("relabel_configs", []):
            if rule.get("action") == "keep" and rule.get("source_labels") == ["__tmp_shard"]:
                rule["regex"] = str(ordinal)
    return shard


def test_the_sharding_example_passes_promtool_for_both_shards(tmp_path: Path) -> None:
    config = yaml.safe_load(SHARD_EXAMPLE.read_text())
    assert config["global"]["external_labels"]["shard"] == "0"
    assert config["remote_write"], "each shard writes to the long-term store"
    for job in config["scrape_configs"]:
        rules = job["relabel_configs"]
        hashmod = [r for r in rules if r.get("action") == "hashmod"]
        keep = [r for r in rules if r.get("action") == "keep"]
        assert hashmod == [
            {
                "source_labels": ["__address__"],
                "modulus": 2,
                "target_label": "__tmp_shard",
                "action": "hashmod",
            }
        ], job["job_name"]
        assert [(r["source_labels"], str(r["regex"])) for r in keep] == [(["__tmp_shard"], "0")]
    second = tmp_path / "prometheus-shard-1.yml"
    second.write_text(yaml.safe_dump(_shard(config, 1)))
    for path in (SHARD_EXAMPLE, second):
        done = subprocess.run(
            [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
