"""The catalog holds the contract metrics and prints as a table or JSON."""

from __future__ import annotations

import json

import pytest

from riskwatch import catalog
from riskwatch.catalog import MetricSpec
from tests.support.stack import run_cli

CONTRACT = {
    "trading_portfolio_value_usd": ("portfolio",),
    "trading_cash_balance_usd": ("portfolio",),
    "trading_daily_pnl_usd": ("portfolio",),
    "trading_drawdown_ratio": ("portfolio",),
    "trading_position_quantity": ("portfolio", "symbol"),
    "riskwatch_model_confidence_ratio": ("portfolio", "model"),
    # The method label (historical, gaussian, cornish_fisher) comes on top of the contract's.
    "risk_var_ratio": ("portfolio", "confidence", "method"),
    "risk_expected_shortfall_ratio": ("portfolio", "confidence", "method"),
    "crowding_hhi": ("portfolio",),
    "crowding_gini": ("portfolio",),
    "crowding_level": ("portfolio",),
    "compliance_violation_active": ("portfolio", "rule", "severity"),
    "riskwatch_agent_last_success_timestamp_seconds": ("agent", "task"),
}


@pytest.mark.parametrize(("name", "labels"), sorted(CONTRACT.items()))
def test_contract_metric_declared_with_its_labels(name: str, labels: tuple[str, ...]) -> None:
    spec = catalog.spec(name)
    assert spec.labels == labels
    assert spec.help


def test_metrics_json_lists_every_declaration() -> None:
    result = run_cli("metrics", "--json")
    assert result.returncode == 0, result.stderr
    printed = {m["name"]: m for m in json.loads(result.stdout)}
    assert set(printed) == set(catalog.BY_NAME)
    assert printed["trading_drawdown_ratio"]["unit"] == "ratio"
    assert printed["trading_drawdown_ratio"]["type"] == "gauge"


def test_metrics_table_names_every_metric() -> None:
    result = run_cli("metrics")
    assert result.returncode == 0
    for name in CONTRACT:
        assert name in result.stdout


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"name": "orders", "type": "counter", "unit": "count"}, "_total"),
        ({"name": "fills_total", "type": "gauge", "unit": "count"}, "_total"),
        ({"name": "pnl_usd", "type": "gauge", "unit": "ratio"}, "suffix says unit 'usd'"),
        ({"name": "pnl", "type": "gauge", "unit": "usd"}, "needs its suffix"),
        ({"name": "AAPL_price_usd", "type": "gauge", "unit": "usd"}, "snake_case"),
    ],
)
def test_naming_rules_are_enforced(kwargs: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        MetricSpec(labels=(), help="h", **kwargs)  # type: ignore[arg-type]


def test_unknown_metric_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"not declared in riskwatch\.catalog"):
        catalog.spec("trading_aapl_price")


def test_disk_free_space_is_a_ratio_per_configured_path() -> None:
    # The health agent's disk check, as DiskSpaceLow reads it against the policy's
    # ops.disk_min_free_ratio.
    spec = catalog.spec("riskwatch_disk_free_ratio")
    assert (spec.type, spec.unit, spec.labels) == ("gauge", "ratio", ("path",))
    assert not spec.raw_only
