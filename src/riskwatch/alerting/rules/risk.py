"""The risk team's alerts, rendered into `alerts/rules/risk.rules.yml`.

Portfolio drawdown and daily loss, tail risk (VaR and Expected Shortfall), factor
crowding and the trading models' confidence and accuracy. Most are a per-portfolio
fractional limit with overrides (`_portfolio_limit`): the description quotes the limit
in force for the alert's portfolio, so a CRO reads "beyond its critical drawdown limit
of 15%" for fund-b.
"""

from __future__ import annotations

from collections.abc import Iterator

from riskwatch.alerting.rules.common import (
    BY_PORTFOLIO,
    PORTFOLIO,
    VALUE_PERCENT,
    AlertRule,
    Build,
    Builder,
    Severity,
    fill,
    for_text,
    limit_text,
    query_value,
    threshold,
)
from riskwatch.policy import Policy, PortfolioLimitName
from riskwatch.promql import percent, selector


def _portfolio_limit(
    limits: Policy,
    limit_name: PortfolioLimitName,
    op: str,
    build: Build,
    *,
    name: str,
    group: str,
    severity: Severity,
    summary: str,
    description: str,
    alertgroup: str | None = None,
    **placeholders: str,
) -> AlertRule:
    """A risk alert on a per-portfolio fractional limit, overrides included.

    The expression gets one clause per override, `value` and `limit` are percentages,
    and `[limit]` in the description becomes the limit in force for the portfolio.
    """
    limit = limit_text(limits, limit_name, percent)
    return AlertRule(
        name=name,
        file="risk",
        group=group,
        expr=threshold(limits, limit_name, op, build),
        severity=severity,
        team="risk",
        alertgroup=alertgroup,
        from_agent=True,
        summary=summary,
        description=fill(description, limit=limit, **placeholders),
        value=VALUE_PERCENT,
        limit=limit,
    )


def _drawdown(limits: Policy) -> Iterator[AlertRule]:
    def build(extra: str) -> str:
        return f"max by ({BY_PORTFOLIO}) ({selector('trading_drawdown_ratio', extra)})"

    levels: tuple[Severity, ...] = ("warning", "critical")
    for level in levels:
        yield _portfolio_limit(
            limits,
            f"drawdown_{level}",
            ">",
            build,
            name=f"PortfolioDrawdown{level.capitalize()}",
            group="riskwatch-portfolio",
            severity=level,
            alertgroup="PortfolioDrawdown",
            summary=f"Portfolio drawdown is beyond its {level} limit.",
            description=f"Portfolio {PORTFOLIO} is {VALUE_PERCENT} below its peak value, "
            f"beyond its {level} drawdown limit of [limit].",
        )


def _daily_loss(limits: Policy) -> Iterator[AlertRule]:
    def build(extra: str) -> str:
        pnl = selector("trading_daily_pnl_usd", extra)
        value = selector("trading_portfolio_value_usd", extra)
        return f"max by ({BY_PORTFOLIO}) (-{pnl} / {value})"

    yield _portfolio_limit(
        limits,
        "daily_loss",
        ">",
        build,
        name="DailyLossLimitBreached",
        group="riskwatch-portfolio",
        severity="critical",
        summary="A portfolio's loss today is beyond its daily loss limit.",
        description=f"Portfolio {PORTFOLIO} has lost {VALUE_PERCENT} of its value today "
        "(P&L [pnl] USD), beyond its daily loss limit of [limit].",
        pnl=query_value(
            "trading_daily_pnl_usd{agent=%q,portfolio=%q}",
            "$labels.agent",
            "$labels.portfolio",
            fmt="humanize",
            missing="unknown",
        ),
    )


def _tail_risk(limits: Policy) -> Iterator[AlertRule]:
    tail = limits.tail_risk
    # No allowlist of methods: a desk's own estimate (a method label the rules have
    # never seen, or none at all) is alerted like the agents' own. An allowlist is
    # silent for everything it does not list.
    estimates = "the highest of its estimates, whatever their method"
    measures: tuple[tuple[str, PortfolioLimitName, str, str, str], ...] = (
        ("VaRLimitBreached", "var", "risk_var_ratio", tail.var_label, "Value at Risk"),
        (
            "ExpectedShortfallLimitBreached",
            "expected_shortfall",
            "risk_expected_shortfall_ratio",
            tail.expected_shortfall_label,
            "Expected Shortfall",
        ),
    )
    for alert, limit_name, metric, confidence, measure in measures:

        def build(extra: str, metric: str = metric, confidence: str = confidence) -> str:
            series = selector(metric, f'confidence="{confidence}"', extra)
            return f"max by ({BY_PORTFOLIO}) ({series})"

        yield _portfolio_limit(
            limits,
            limit_name,
            ">",
            build,
            name=alert,
            group="riskwatch-tail-risk",
            severity="critical",
            summary=f"A portfolio's {measure} is beyond its limit.",
            description=f"Portfolio {PORTFOLIO} has a 1-day {percent(float(confidence))} "
            f"{measure} of {VALUE_PERCENT} of its value ([estimates]), beyond its "
            f"{measure} limit of [limit].",
            estimates=estimates,
        )


_CROWDING_LEVELS = {0: "low", 1: "medium", 2: "high"}


def _crowding(limits: Policy) -> Iterator[AlertRule]:
    crowding = limits.crowding
    high_for = for_text(limits, "FactorCrowdingHigh")
    rising_for = for_text(limits, "FactorCrowdingRising")
    expr = f"max by ({BY_PORTFOLIO}) (crowding_level) >= {{level}}"
    yield AlertRule(
        name="FactorCrowdingHigh",
        file="risk",
        group="riskwatch-crowding",
        expr=expr.format(level=crowding.high_level),
        severity="critical",
        team="risk",
        alertgroup="FactorCrowding",
        from_agent=True,
        summary="Factor crowding in a portfolio has been high for a sustained period.",
        description=(
            f"Portfolio {PORTFOLIO} has had {_CROWDING_LEVELS[crowding.high_level]} factor "
            f"crowding (level {{{{ $value }}}} of 2) for at least {high_for}: its exposures "
            "lean on the same factors as many other holders, so a crowded unwind would hit "
            "it at once."
        ),
        value="level {{ $value }}",
        limit=f"level {crowding.high_level} for {high_for}",
    )
    yield AlertRule(
        name="FactorCrowdingRising",
        file="risk",
        group="riskwatch-crowding",
        expr=expr.format(level=crowding.rising_level),
        severity="warning",
        team="risk",
        alertgroup="FactorCrowding",
        from_agent=True,
        summary="Factor crowding in a portfolio is building up.",
        description=(
            f"Portfolio {PORTFOLIO} has had factor crowding at level {{{{ $value }}}} "
            f"(1 medium, 2 high) for at least {rising_for}; it pages as FactorCrowdingHigh "
            f"once level {crowding.high_level} lasts {high_for}."
        ),
        value="level {{ $value }}",
        limit=f"level {crowding.rising_level} for {rising_for}",
    )


def _model(limits: Policy) -> Iterator[AlertRule]:
    def lowest(metric: str) -> Build:
        return lambda extra: f"min by (agent, portfolio, model) ({selector(metric, extra)})"

    model = "Model {{ $labels.model }} on portfolio " + PORTFOLIO
    yield _portfolio_limit(
        limits,
        "model_confidence",
        "<",
        lowest("riskwatch_model_confidence_ratio"),
        name="ModelConfidenceLow",
        group="riskwatch-model",
        severity="warning",
        summary="A trading model's confidence in its signal is low.",
        description=f"{model} has had a confidence below [limit] for at least "
        f"{for_text(limits, 'ModelConfidenceLow')}; it is now {VALUE_PERCENT}. Its "
        "signals are close to guesses.",
    )
    yield _portfolio_limit(
        limits,
        "model_accuracy",
        "<",
        lowest("riskwatch_model_accuracy_ratio"),
        name="ModelAccuracyDegraded",
        group="riskwatch-model",
        severity="warning",
        summary="A trading model's predictions come true less often than they should.",
        description=f"{model} was right on {VALUE_PERCENT} of its predictions over the "
        f"last hour, below its accuracy limit of [limit], for at least "
        f"{for_text(limits, 'ModelAccuracyDegraded')}.",
    )


BUILDERS: tuple[Builder, ...] = (_drawdown, _daily_loss, _tail_risk, _crowding, _model)
"""The risk alerts, in the order risk.rules.yml lists their groups."""
