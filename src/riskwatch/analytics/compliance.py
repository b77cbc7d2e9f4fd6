"""Declarative compliance rules evaluated on a portfolio snapshot.

A rule is data: an id, a description, a severity, a default limit and a measure that
reads the snapshot and returns the observed value with its evidence. Every rule has
the form "observed <= limit"; a rule is violated when the observed value exceeds its
limit. This module holds the measures (``MEASURES``); the rules' descriptions,
severities, limits and per-portfolio overrides are policy (riskwatch.policy), turned
into rules by ``rules_from`` and into ``ComplianceLimits``.

Adding a rule is one ``Rule(...)`` entry: for instance, a cap on gross leverage::

    Rule("LEV_001", "gross exposure <= 2x value", Severity.HIGH, 2.0,
         lambda snap, ctx: Measurement(
             sum(abs(v) for v in snap.positions.values()) / snap.portfolio_value))

``evaluate`` returns one ``RuleResult`` per rule, violated or not, so that the agents
can publish ``compliance_violation_active{portfolio,rule,severity}`` as 0 or 1 for
every rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


class Severity(StrEnum):
    """Rule severity; the value is the label the agents publish."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


_ALERT_SEVERITY: Mapping[Severity, str] = MappingProxyType(
    {Severity.HIGH: "critical", Severity.MEDIUM: "warning", Severity.LOW: "info"}
)


def alert_severity(severity: Severity | str) -> str:
    """Alerting severity of a rule severity: HIGH→critical, MEDIUM→warning, LOW→info."""
    try:
        return _ALERT_SEVERITY[Severity(severity)]
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; expected HIGH, MEDIUM or LOW") from None


@dataclass(frozen=True)
class Order:
    """An order as the execution and operations rules see it."""

    symbol: str
    quantity: float
    """Signed quantity in shares (negative to sell)."""
    price: float
    timestamp: datetime
    """When the order was sent; timezone-aware."""
    adv_20d: float
    """20-day average daily volume of the symbol, in shares."""

    def __post_init__(self) -> None:
        _require_aware(self.timestamp, f"order {self.symbol} timestamp")
        for name in ("quantity", "price", "adv_20d"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"order {self.symbol} {name} must be finite")
        if self.price < 0 or self.adv_20d < 0:
            raise ValueError(f"order {self.symbol} price and adv_20d must be non-negative")

    @property
    def notional(self) -> float:
        """``|quantity| * price``."""
        return abs(self.quantity) * self.price

    @property
    def adv_fraction(self) -> float:
        """``|quantity| / adv_20d``; infinite for a non-zero order on zero volume."""
        if self.adv_20d == 0:
            return math.inf if self.quantity else 0.0
        return abs(self.quantity) / self.adv_20d

    @property
    def label(self) -> str:
        """``SYMBOL@ISO-timestamp``, the order's key in evidence."""
        return f"{self.symbol}@{self.timestamp.isoformat()}"


@dataclass(frozen=True, kw_only=True)
class ComplianceSnapshot:
    """Everything the rules read about one portfolio at one instant (keyword-only)."""

    portfolio_id: str
    portfolio_value: float
    """Portfolio value (equity) in USD; positive."""
    now: datetime
    """The evaluation instant; timezone-aware."""
    positions: Mapping[str, float] = field(default_factory=dict)
    """Symbol to signed market value in USD."""
    sectors: Mapping[str, str] = field(default_factory=dict)
    """Symbol to sector; symbols missing from it count as ``UNKNOWN``."""
    var_99: float = 0.0
    """1-day 99% VaR as a fraction of portfolio value."""
    orders: Sequence[Order] = ()
    market_data_updated: Mapping[str, datetime] = field(default_factory=dict)
    """Market-data source to the time it last answered with a usable price
    (timezone-aware)."""
    price_ages: Mapping[str, float] = field(default_factory=dict)
    """Held symbol to the age in seconds of the price it is valued at. Freshness is per
    symbol: a feed that answers for some symbols can leave others old."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.portfolio_value) and self.portfolio_value > 0):
            raise ValueError(f"portfolio_value must be positive; got {self.portfolio_value!r}")
        if not math.isfinite(self.var_99):
            raise ValueError("var_99 must be finite")
        _require_aware(self.now, "now")
        bad = [symbol for symbol, value in self.positions.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"position market values must be finite; bad for {sorted(bad)}")
        for source, updated in self.market_data_updated.items():
            _require_aware(updated, f"market data {source} update time")
        bad = [s for s, age in self.price_ages.items() if not (math.isfinite(age) and age >= 0)]
        if bad:
            raise ValueError(f"price ages must be finite and non-negative; bad for {sorted(bad)}")
        # Read-only copies: the snapshot is a value and rules must not mutate it.
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))
        object.__setattr__(self, "sectors", MappingProxyType(dict(self.sectors)))
        object.__setattr__(self, "orders", tuple(self.orders))
        object.__setattr__(
            self, "market_data_updated", MappingProxyType(dict(self.market_data_updated))
        )
        object.__setattr__(self, "price_ages", MappingProxyType(dict(self.price_ages)))


@dataclass(frozen=True)
class Measurement:
    """What a rule observed: the value compared with the limit, and its evidence."""

    observed: float
    evidence: Mapping[str, float] = field(default_factory=dict)
    """Offending items (symbols, sectors, orders, sources) to their values."""


@dataclass(frozen=True)
class RuleContext:
    """What a measure may need besides the snapshot."""

    limit: float
    is_session_open: Callable[[datetime], bool]


Measure = Callable[[ComplianceSnapshot, RuleContext], Measurement]


@dataclass(frozen=True)
class Rule:
    """A declarative rule: violated when ``measure(...).observed > limit``."""

    rule_id: str
    description: str
    severity: Severity
    default_limit: float
    measure: Measure


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule on one snapshot."""

    rule_id: str
    description: str
    severity: Severity
    observed: float
    limit: float
    violated: bool
    evidence: Mapping[str, float]

    @property
    def alert_severity(self) -> str:
        """critical, warning or info (see :func:`alert_severity`)."""
        return alert_severity(self.severity)


def over_limit(values: Mapping[str, float], limit: float) -> Measurement:
    """The largest of ``values`` (0 if none), with the items above ``limit`` as evidence.

    The building block of "every item must stay within the limit" rules.
    """
    observed = max(values.values(), default=0.0)
    return Measurement(observed, {key: value for key, value in values.items() if value > limit})


def _position_value(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    return over_limit({s: abs(v) for s, v in snapshot.positions.items()}, context.limit)


def _var_ratio(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    return over_limit({"var_99": snapshot.var_99}, context.limit)


def _position_count(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    return Measurement(float(sum(1 for value in snapshot.positions.values() if value != 0)))


def _position_weight(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    value = snapshot.portfolio_value
    return over_limit({s: abs(v) / value for s, v in snapshot.positions.items()}, context.limit)


def _sector_weight(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    totals: dict[str, float] = {}
    for symbol, market_value in snapshot.positions.items():
        sector = snapshot.sectors.get(symbol, "UNKNOWN")
        totals[sector] = totals.get(sector, 0.0) + abs(market_value)
    value = snapshot.portfolio_value
    return over_limit({sector: total / value for sector, total in totals.items()}, context.limit)


def _order_adv(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    return over_limit({order.label: order.adv_fraction for order in snapshot.orders}, context.limit)


def _off_hours_orders(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    outside = {
        order.label: order.notional
        for order in snapshot.orders
        if not context.is_session_open(order.timestamp)
    }
    return Measurement(float(len(outside)), outside)


def _data_age(snapshot: ComplianceSnapshot, context: RuleContext) -> Measurement:
    """The oldest of the feeds' last usable answers and the held symbols' prices: the
    evidence names each feed and symbol past the limit."""
    ages = {
        source: (snapshot.now - updated).total_seconds()
        for source, updated in snapshot.market_data_updated.items()
    }
    return over_limit({**ages, **snapshot.price_ages}, context.limit)


MEASURES: Mapping[str, Measure] = MappingProxyType(
    {
        "RISK_001": _position_value,
        "RISK_002": _var_ratio,
        "POS_001": _position_count,
        "CON_001": _position_weight,
        "CON_002": _sector_weight,
        "EXE_001": _order_adv,
        "OPS_001": _off_hours_orders,
        "DAT_001": _data_age,
    }
)
"""What each shipped rule measures. Descriptions, severities and limits are policy:
they come from the policy file (riskwatch.policy), through `rules_from`."""


def rules_from(specs: Iterable[tuple[str, str, str, float]]) -> tuple[Rule, ...]:
    """Rules from `(rule id, description, severity, limit)` specs, in their order,
    each measured by its entry in `MEASURES`.

    Raises:
        ValueError: an id with no measure, an unknown severity or a non-finite limit.
    """
    rules = []
    for rule_id, description, severity, limit in specs:
        if rule_id not in MEASURES:
            raise ValueError(
                f"compliance rule {rule_id!r} has no measure; known: {', '.join(MEASURES)}"
            )
        try:
            level = Severity(severity)
        except ValueError:
            raise ValueError(
                f"{rule_id}: unknown severity {severity!r}; expected HIGH, MEDIUM or LOW"
            ) from None
        if not math.isfinite(limit):
            raise ValueError(f"{rule_id}: limit must be a finite number, got {limit!r}")
        rules.append(Rule(rule_id, description, level, float(limit), MEASURES[rule_id]))
    return tuple(rules)


@dataclass(frozen=True)
class ComplianceLimits:
    """Limits per rule id, with per-portfolio overrides.

    A rule without a configured limit uses its ``default_limit``.
    """

    defaults: Mapping[str, float] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Portfolio id to {rule id: limit}."""

    @classmethod
    def from_mapping(
        cls,
        defaults: Mapping[str, float] | None = None,
        overrides: Mapping[str, Mapping[str, float]] | None = None,
        *,
        rules: Iterable[Rule],
    ) -> ComplianceLimits:
        """Build from policy mappings, rejecting unknown rule ids and bad limits.

        Args:
            defaults: rule id to limit for every portfolio (missing: the rule's default).
            overrides: portfolio id to {rule id: limit}.
            rules: the rules the ids must belong to.
        """
        known = {rule.rule_id for rule in rules}

        def checked(limits: Mapping[str, float], where: str) -> dict[str, float]:
            unknown = set(limits) - known
            if unknown:
                raise ValueError(f"unknown rule id(s) in {where}: {sorted(unknown)}")
            result: dict[str, float] = {}
            for rule_id, limit in limits.items():
                try:
                    result[rule_id] = float(limit)
                except (TypeError, ValueError):
                    result[rule_id] = math.nan
            bad = [rule_id for rule_id, limit in result.items() if not math.isfinite(limit)]
            if bad:
                raise ValueError(f"limits must be finite numbers in {where}: {sorted(bad)}")
            return result

        return cls(
            MappingProxyType(checked(defaults or {}, "defaults")),
            MappingProxyType(
                {
                    portfolio: MappingProxyType(checked(limits, f"overrides[{portfolio!r}]"))
                    for portfolio, limits in (overrides or {}).items()
                }
            ),
        )

    def limit(self, rule: Rule, portfolio_id: str) -> float:
        """The limit of ``rule`` for ``portfolio_id``: override, default, or the rule's."""
        override = self.overrides.get(portfolio_id, {})
        if rule.rule_id in override:
            return override[rule.rule_id]
        return self.defaults.get(rule.rule_id, rule.default_limit)


def evaluate(
    snapshot: ComplianceSnapshot,
    limits: ComplianceLimits | None = None,
    *,
    rules: Sequence[Rule],
    is_session_open: Callable[[datetime], bool],
) -> tuple[RuleResult, ...]:
    """Evaluate every rule on ``snapshot``; one result per rule, in rule order.

    Args:
        snapshot: the portfolio state.
        limits: per-portfolio limits (default: each rule's own limit).
        rules: the rule set (`rules_from` the policy's rules).
        is_session_open: whether an order timestamp is inside an exchange session, for
            OPS_001: the market calendar's (holidays and half days included).
    """
    configured = limits or ComplianceLimits()
    results = []
    for rule in rules:
        limit = configured.limit(rule, snapshot.portfolio_id)
        measurement = rule.measure(snapshot, RuleContext(limit, is_session_open))
        results.append(
            RuleResult(
                rule_id=rule.rule_id,
                description=rule.description,
                severity=rule.severity,
                observed=measurement.observed,
                limit=limit,
                violated=measurement.observed > limit,
                evidence=MappingProxyType(dict(measurement.evidence)),
            )
        )
    return tuple(results)


def violations(results: Iterable[RuleResult]) -> tuple[RuleResult, ...]:
    """The violated results, in order."""
    return tuple(result for result in results if result.violated)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware; got naive {moment!r}")
