"""Dashboards, alert rules and the metrics catalog agree, both ways."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from riskwatch import catalog
from riskwatch.dashboards import build, check
from riskwatch.policy import POLICY_FILE, load_policy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return build.build_all(load_policy(ROOT / POLICY_FILE))


def test_every_metric_used_is_declared_and_every_declared_metric_is_used(
    boards: dict[str, dict[str, Any]],
) -> None:
    assert check.problems(boards, check.rule_files(ROOT)) == []


def test_a_panel_reading_an_undeclared_metric_is_reported(
    boards: dict[str, dict[str, Any]],
) -> None:
    broken = copy.deepcopy(boards)
    target = next(p for p in broken["risk"]["panels"] if p.get("targets"))["targets"][0]
    target["expr"] = 'sum(trading_portfolio_valeu_usd{portfolio=~"$portfolio"})'
    found = check.problems(broken, check.rule_files(ROOT))
    assert any("'trading_portfolio_valeu_usd' is not in riskwatch.catalog" in p for p in found)


def test_builtins_recordings_and_histogram_series_are_known(
    boards: dict[str, dict[str, Any]],
) -> None:
    used = check.dashboard_metrics(boards)
    assert "ALERTS" in used
    assert "up" in used
    assert "firm:trading_portfolio_value_usd:sum" in used  # a recording rule
    assert "riskwatch_receiver_storage_duration_seconds_bucket" in used  # a histogram's series
    assert any(name.startswith("alertmanager_") for name in used)


def test_a_metric_nobody_reads_must_be_marked_raw_only(
    boards: dict[str, dict[str, Any]],
) -> None:
    # Without the operations dashboard, the agents' runtime metrics are read by no panel.
    without_ops = {k: v for k, v in boards.items() if k != "operations"}
    found = check.problems(without_ops, check.rule_files(ROOT))
    assert any(
        p.startswith("riskwatch_agent_task_duration_seconds is read by no panel") for p in found
    )


def test_raw_only_metrics_are_read_by_nothing(boards: dict[str, dict[str, Any]]) -> None:
    used = set(check.dashboard_metrics(boards)) | set(check.rule_metrics(check.rule_files(ROOT))[0])
    raw = {m.name for m in catalog.METRICS if m.raw_only}
    assert raw, "the catalog marks some metrics raw_only (marketdata_price_usd at least)"
    assert not raw & used
