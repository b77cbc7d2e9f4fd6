"""The declarative compliance rules engine and its eight shipped rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskwatch import analytics
from riskwatch.analytics import (
    MEASURES,
    ComplianceLimits,
    ComplianceSnapshot,
    Measurement,
    Order,
    Rule,
    RuleResult,
    Severity,
    alert_severity,
    rules_from,
    violations,
)
from riskwatch.policy import load_policy
from tests.support.calendar import shipped_calendar
from tests.support.policy import SHIPPED

# The rules as the shipped policy configures them, and the market's sessions.
DEFAULT_RULES = rules_from(load_policy(SHIPPED).compliance_specs())
DEFAULT_LIMITS = {rule.rule_id: rule.default_limit for rule in DEFAULT_RULES}
CALENDAR = shipped_calendar()


def evaluate(
    snapshot: ComplianceSnapshot,
    limits: ComplianceLimits | None = None,
    *,
    rules: tuple[Rule, ...] = DEFAULT_RULES,
    is_session_open: Any = CALENDAR.is_regular_session,
) -> tuple[RuleResult, ...]:
    """The engine with the shipped rules and the exchange's sessions unless told."""
    return analytics.evaluate(snapshot, limits, rules=rules, is_session_open=is_session_open)


# Wednesday 2024-06-12, 11:00 New York (15:00 UTC).
NOW = datetime(2024, 6, 12, 15, 0, tzinfo=UTC)


def _order(symbol: str = "AAPL", quantity: float = 1_000, **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "symbol": symbol,
        "quantity": quantity,
        "price": 10.0,
        "timestamp": NOW - timedelta(minutes=5),
        "adv_20d": 100_000.0,
    }
    return Order(**(fields | changes))


def _snapshot(**changes: Any) -> ComplianceSnapshot:
    """A compliant portfolio; ``changes`` override fields."""
    fields: dict[str, Any] = {
        "portfolio_id": "alpha",
        "portfolio_value": 1_000_000.0,
        "now": NOW,
        "positions": {"AAPL": 40_000.0, "MSFT": -30_000.0, "XOM": 20_000.0},
        "sectors": {"AAPL": "Tech", "MSFT": "Tech", "XOM": "Energy"},
        "var_99": 0.012,
        "orders": [_order()],
        "market_data_updated": {"prices": NOW - timedelta(seconds=30)},
    }
    return ComplianceSnapshot(**(fields | changes))


def _by_id(results: tuple[RuleResult, ...]) -> dict[str, RuleResult]:
    return {result.rule_id: result for result in results}


def test_the_shipped_policy_configures_every_measure_with_the_issues_defaults() -> None:
    assert [r.rule_id for r in DEFAULT_RULES] == list(MEASURES)
    assert [(r.rule_id, r.severity.value, r.default_limit) for r in DEFAULT_RULES] == [
        ("RISK_001", "HIGH", 50_000.0),
        ("RISK_002", "HIGH", 0.02),
        ("POS_001", "MEDIUM", 30.0),
        ("CON_001", "HIGH", 0.25),
        ("CON_002", "MEDIUM", 0.40),
        ("EXE_001", "MEDIUM", 0.10),
        ("OPS_001", "MEDIUM", 0.0),
        ("DAT_001", "LOW", 300.0),
    ]
    with pytest.raises(ValueError, match=r"LEV_001.*no measure"):
        rules_from([("LEV_001", "leverage", "HIGH", 2.0)])
    with pytest.raises(ValueError, match="unknown severity 'URGENT'"):
        rules_from([("POS_001", "positions", "URGENT", 30.0)])


def test_compliant_snapshot_reports_every_rule_unviolated() -> None:
    results = evaluate(_snapshot())
    assert [r.rule_id for r in results] == [r.rule_id for r in DEFAULT_RULES]
    assert violations(results) == ()
    observed = {r.rule_id: r.observed for r in results}
    assert observed == pytest.approx(
        {
            "RISK_001": 40_000.0,
            "RISK_002": 0.012,
            "POS_001": 3.0,
            "CON_001": 0.04,
            "CON_002": 0.07,
            "EXE_001": 0.01,
            "OPS_001": 0.0,
            "DAT_001": 30.0,
        }
    )
    assert all(r.evidence == {} for r in results)


@pytest.mark.parametrize(
    ("rule_id", "changes", "observed", "evidence"),
    [
        ("RISK_001", {"positions": {"AAPL": 60_000.0, "XOM": -55_000.0, "GLD": 1.0}},
         60_000.0, {"AAPL": 60_000.0, "XOM": 55_000.0}),
        ("RISK_002", {"var_99": 0.025}, 0.025, {"var_99": 0.025}),
        ("POS_001", {"positions": {f"S{i}": 100.0 for i in range(31)} | {"Z": 0.0}}, 31.0, {}),
        ("CON_001", {"portfolio_value": 100_000.0}, 0.40, {"AAPL": 0.40, "MSFT": 0.30}),
        ("CON_002", {"portfolio_value": 150_000.0}, 70_000 / 150_000,
         {"Tech": 70_000 / 150_000}),
        ("EXE_001", {"orders": [_order(quantity=-12_000), _order("MSFT", 5_000)]}, 0.12,
         {_order(quantity=-12_000).label: 0.12}),
        ("DAT_001", {"market_data_updated": {"prices": NOW - timedelta(seconds=301),
                                             "fx": NOW - timedelta(seconds=10)}},
         301.0, {"prices": 301.0}),
        # Freshness is per symbol: a feed that answered just now can hold a stale price.
        ("DAT_001", {"price_ages": {"AAPL": 12.0, "MSFT": 420.0, "XOM": 301.0}},
         420.0, {"MSFT": 420.0, "XOM": 301.0}),
    ],
)  # fmt: skip
def test_each_rule_detects_its_violation(
    rule_id: str, changes: dict[str, Any], observed: float, evidence: dict[str, float]
) -> None:
    results = _by_id(evaluate(_snapshot(**changes)))
    result = results[rule_id]
    assert result.violated
    assert result.observed == pytest.approx(observed)
    assert dict(result.evidence) == pytest.approx(evidence)
    assert result.limit == DEFAULT_LIMITS[rule_id]
    assert len(results) == len(DEFAULT_RULES)


def test_unknown_sector_counts_together() -> None:
    snapshot = _snapshot(
        portfolio_value=100_000.0,
        positions={"A": 25_000.0, "B": 20_000.0, "XOM": 1_000.0},
        sectors={"XOM": "Energy"},
    )
    result = _by_id(evaluate(snapshot))["CON_002"]
    assert result.violated and dict(result.evidence) == pytest.approx({"UNKNOWN": 0.45})


def test_limits_at_the_boundary_are_not_violated() -> None:
    snapshot = _snapshot(positions={"AAPL": 50_000.0}, var_99=0.02, portfolio_value=200_000.0)
    results = _by_id(evaluate(snapshot))
    assert not results["RISK_001"].violated and results["RISK_001"].observed == 50_000.0
    assert not results["RISK_002"].violated
    assert not results["CON_001"].violated and results["CON_001"].observed == 0.25


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        (datetime(2024, 6, 12, 9, 29, 59), False),
        (datetime(2024, 6, 12, 9, 30), True),
        (datetime(2024, 6, 12, 15, 59, 59), True),
        (datetime(2024, 6, 12, 16, 0), False),
        (datetime(2024, 6, 15, 11, 0), False),  # Saturday
        (datetime(2024, 1, 10, 9, 45), True),  # winter time (UTC-5)
    ],
)
def test_regular_session(local: datetime, is_open: bool) -> None:
    moment = local.replace(tzinfo=CALENDAR.zone).astimezone(UTC)
    assert CALENDAR.is_regular_session(moment) is is_open


def test_off_hours_orders_violate_ops_001() -> None:
    night = _order("MSFT", 100, timestamp=datetime(2024, 6, 12, 2, 0, tzinfo=UTC))
    results = _by_id(evaluate(_snapshot(orders=[_order(), night])))
    assert results["OPS_001"].violated
    assert results["OPS_001"].observed == 1.0
    assert dict(results["OPS_001"].evidence) == {night.label: 1_000.0}


def test_injected_session_calendar_is_used() -> None:
    holiday = datetime(2024, 7, 4, 15, 0, tzinfo=UTC)  # Independence Day, 11:00 New York
    snapshot = _snapshot(orders=[_order(timestamp=holiday)])
    assert _by_id(evaluate(snapshot))["OPS_001"].violated  # the exchange is closed
    weekdays = _by_id(evaluate(snapshot, is_session_open=lambda ts: ts.weekday() < 5))
    assert not weekdays["OPS_001"].violated


def test_limits_from_settings_with_portfolio_overrides() -> None:
    limits = ComplianceLimits.from_mapping(
        {"RISK_001": 100_000, "POS_001": 2},
        {"alpha": {"POS_001": 5, "DAT_001": 10}},
        rules=DEFAULT_RULES,
    )
    snapshot = _snapshot(positions={"AAPL": 80_000.0, "B": 1.0, "C": 1.0})
    alpha = _by_id(evaluate(snapshot, limits))
    assert alpha["RISK_001"].limit == 100_000 and not alpha["RISK_001"].violated
    assert alpha["POS_001"].limit == 5 and not alpha["POS_001"].violated
    assert alpha["DAT_001"].limit == 10 and alpha["DAT_001"].violated
    beta = _by_id(evaluate(replace(snapshot, portfolio_id="beta"), limits))
    assert beta["POS_001"].limit == 2 and beta["POS_001"].violated
    assert beta["DAT_001"].limit == 300.0


@pytest.mark.parametrize(
    ("defaults", "overrides", "message"),
    [
        ({"RISK_999": 1.0}, None, "unknown rule id"),
        (None, {"alpha": {"NOPE": 1.0}}, "unknown rule id"),
        ({"RISK_001": float("nan")}, None, "finite"),
        ({"RISK_001": "lots"}, None, "finite numbers"),
    ],
)
def test_bad_limits_raise(
    defaults: dict[str, Any] | None, overrides: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ComplianceLimits.from_mapping(defaults, overrides, rules=DEFAULT_RULES)


def test_a_new_rule_is_a_small_declarative_addition() -> None:
    leverage = Rule(
        "LEV_001",
        "gross exposure <= limit (multiple of value)",
        Severity.HIGH,
        0.05,
        lambda snap, ctx: Measurement(
            sum(abs(v) for v in snap.positions.values()) / snap.portfolio_value
        ),
    )
    rules = (*DEFAULT_RULES, leverage)
    results = _by_id(evaluate(_snapshot(), rules=rules))
    assert results["LEV_001"].violated and results["LEV_001"].observed == pytest.approx(0.09)
    limits = ComplianceLimits.from_mapping({"LEV_001": 0.1}, rules=rules)
    assert not _by_id(evaluate(_snapshot(), limits, rules=rules))["LEV_001"].violated


def test_severity_maps_to_alerting() -> None:
    assert [alert_severity(s) for s in Severity] == ["critical", "warning", "info"]
    assert alert_severity("LOW") == "info"
    result = _by_id(evaluate(_snapshot()))["CON_002"]
    assert result.alert_severity == "warning"
    with pytest.raises(ValueError, match="unknown severity"):
        alert_severity("SEVERE")


def test_snapshot_is_read_only() -> None:
    positions = {"AAPL": 1.0}
    snapshot = _snapshot(positions=positions)
    positions["MSFT"] = 2.0
    assert "MSFT" not in snapshot.positions
    with pytest.raises(TypeError):
        snapshot.positions["X"] = 1.0  # type: ignore[index]


def test_zero_volume_order_is_infinitely_large() -> None:
    results = _by_id(evaluate(_snapshot(orders=[_order(adv_20d=0.0)])))
    assert results["EXE_001"].violated and results["EXE_001"].observed == float("inf")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"portfolio_value": 0.0}, "portfolio_value"),
        ({"portfolio_value": float("nan")}, "portfolio_value"),
        ({"now": datetime(2024, 6, 12, 15, 0)}, "timezone-aware"),
        ({"positions": {"AAPL": float("inf")}}, "finite"),
        ({"var_99": float("nan")}, "var_99"),
        ({"market_data_updated": {"prices": datetime(2024, 6, 12)}}, "timezone-aware"),
        ({"price_ages": {"AAPL": float("nan")}}, "price ages"),
        ({"price_ages": {"AAPL": -1.0}}, "price ages"),
    ],
)
def test_bad_snapshot_raises(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _snapshot(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timestamp": datetime(2024, 6, 12, 15, 0)}, "timezone-aware"),
        ({"price": -1.0}, "non-negative"),
        ({"adv_20d": float("nan")}, "finite"),
    ],
)
def test_bad_order_raises(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _order(**changes)
