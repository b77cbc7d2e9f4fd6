"""The trading agent with a daily history too short for some VaR method.

A GARCH fit needs 100 returns; a short `trading.history_days` (or a new listing) has
fewer. The other methods must still be published, the short one must not be, and
with no method left the risk task must fail rather than leave VaR unwatched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskwatch.clock import FixedClock
from riskwatch.settings import Settings
from tests.support.agents import synthetic_desk
from tests.support.calendar import SITUATIONS
from tests.support.policy import policy_copy

SHORT_HISTORY_DAYS = 60  # under the 100 returns filtered_historical needs, over 2


def _short_history(settings: Settings) -> Settings:
    trading = settings.trading.model_copy(update={"history_days": SHORT_HISTORY_DAYS})
    return settings.model_copy(update={"trading": trading})


def _var(settings: Settings, method: str) -> float | None:
    desk = synthetic_desk(settings, "short-history", FixedClock(SITUATIONS[0].at))
    desk.cycle()
    label = settings.policy.tail_risk.var_label
    return desk.value("risk_var_ratio", portfolio="alpha", confidence=label, method=method)


def test_a_method_short_of_history_is_skipped_and_the_others_published() -> None:
    settings = _short_history(Settings())
    methods = settings.policy.tail_risk.methods
    assert "filtered_historical" in methods
    assert _var(settings, "filtered_historical") is None
    for method in methods:
        if method != "filtered_historical":
            value = _var(settings, method)
            assert value is not None and value > 0, method


def test_with_the_full_history_every_method_is_published() -> None:
    settings = Settings()
    for method in settings.policy.tail_risk.methods:
        value = _var(settings, method)
        assert value is not None and value > 0, method


def test_no_estimable_method_fails_the_risk_task(tmp_path: Path) -> None:
    def only_filtered(data: dict[str, Any]) -> None:
        data["tail_risk"]["methods"] = ["filtered_historical"]

    settings = _short_history(Settings(policy_file=policy_copy(tmp_path, only_filtered)))
    desk = synthetic_desk(settings, "short-history", FixedClock(SITUATIONS[0].at))
    _, failed = desk.runtime.cycle(force=True)
    assert failed > 0
    label = settings.policy.tail_risk.var_label
    assert (
        desk.value(
            "risk_var_ratio", portfolio="alpha", confidence=label, method="filtered_historical"
        )
        is None
    )


def test_compliance_reads_the_highest_estimate() -> None:
    """RISK_002's observed VaR is the highest of the methods, whichever they are."""
    settings = Settings()
    desk = synthetic_desk(settings, "var-max", FixedClock(SITUATIONS[0].at))
    desk.cycle()
    label = settings.policy.tail_risk.var_label
    estimates = [
        desk.value("risk_var_ratio", portfolio="alpha", confidence=label, method=m)
        for m in settings.policy.tail_risk.methods
    ]
    observed = desk.value("compliance_rule_value", portfolio="alpha", rule="RISK_002")
    assert None not in estimates and len(set(estimates)) > 1  # the methods disagree
    assert observed == max(e for e in estimates if e is not None)
