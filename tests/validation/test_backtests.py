"""The validation's backtest bookkeeping: the Basel zone from the policy's
probabilities, and the rolling exception counts, against the textbook table and a
direct count."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from riskwatch.policy import Validation
from riskwatch.settings import load_settings
from riskwatch.validation.backtests import backtest_all, zone_bounds, zone_levels, zone_of


@pytest.fixture(scope="module")
def policy() -> Validation:
    return load_settings().policy.validation


def test_the_basel_table_at_99_percent_over_250_days(policy: Validation) -> None:
    # The Basel Committee's traffic light (1996): 0-4 green, 5-9 yellow, 10+ red.
    levels = zone_levels(np.arange(15), np.full(15, 250), 0.99, policy)
    assert levels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert zone_bounds(250, 0.99, policy) == (5, 10)
    assert zone_of(4, 250, 0.99, policy) == "green"
    assert zone_of(10, 250, 0.99, policy) == "red"


def test_the_zone_follows_the_policy_probabilities(policy: Validation) -> None:
    strict = policy.model_copy(update={"zone_yellow_probability": 0.5})
    assert zone_of(3, 250, 0.99, strict) == "yellow"  # F(3) = 0.76 > 0.5


def test_rolling_counts_match_a_direct_count(policy: Validation) -> None:
    days = [date(2020, 1, 1) + timedelta(days=k) for k in range(600)]
    rng = np.random.default_rng(11)
    realised = rng.normal(0, 0.01, len(days))
    var = np.full(len(days), 0.02)
    var[100] = np.nan  # a day without a forecast is no observation
    frame = pd.DataFrame(
        {
            "portfolio": "p",
            "method": "historical",
            "confidence": 0.99,
            "day": days,
            "var": var,
            "es": 0.03,
            "realised_return": realised,
        }
    )
    (group,) = backtest_all(frame, days, policy)
    window = policy.backtest_days
    hits = (realised < -var) & ~np.isnan(var)
    for end in (window - 1, 300, len(days) - 1):
        assert group.rolling_exceptions[end] == hits[end - window + 1 : end + 1].sum()
    assert np.isnan(group.rolling_exceptions[: window - 1]).all()
    assert group.window is not None and group.history is not None
    assert group.window.var.n == window and group.window.var.exceptions == hits[-window:].sum()
    assert group.history.var.n == len(days) - 1
    assert group.window.es is not None and group.window.es.n == window
