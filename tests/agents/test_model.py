"""The reference trading model's figures, and the record they need before they count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskwatch.agents.model import MomentumModel
from riskwatch.publish import Publisher

T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
SYMBOLS = ("S0001", "S0002")


def zigzag(model: MomentumModel, minutes: int) -> None:
    """Prices that reverse every minute: every momentum call is wrong."""
    for k in range(minutes):
        price = 100.0 + (k % 2)
        model.observe(dict.fromkeys(SYMBOLS, price), T0 + timedelta(minutes=k))


def trend(model: MomentumModel, minutes: int) -> None:
    """Prices that rise every minute: every momentum call comes true."""
    for k in range(minutes):
        model.observe(dict.fromkeys(SYMBOLS, 100.0 + k), T0 + timedelta(minutes=k))


def test_no_accuracy_and_an_undecided_confidence_until_the_record_is_long_enough() -> None:
    # Observations a minute apart, a one-minute horizon: a call per symbol from the
    # second observation on, each scored at the next, so 11 observations score 18.
    exactly = MomentumModel(horizon=timedelta(minutes=1), min_scored=18)
    zigzag(exactly, 11)
    assert exactly.accuracy() == 0.0
    model = MomentumModel(horizon=timedelta(minutes=1), min_scored=20)
    zigzag(model, 11)  # the same 18 calls, all wrong: two short of the record
    assert model.accuracy() is None
    assert model.confidence() == 0.5
    zigzag_more = MomentumModel(horizon=timedelta(minutes=1), min_scored=20)
    zigzag(zigzag_more, 12)  # 20 scored: the record counts
    assert zigzag_more.accuracy() == 0.0
    assert zigzag_more.confidence() == pytest.approx(1 / 22)


def test_a_model_that_is_right_reads_high_once_it_has_a_record() -> None:
    model = MomentumModel(horizon=timedelta(minutes=1), min_scored=20)
    trend(model, 12)
    assert model.accuracy() == 1.0
    assert model.confidence() == pytest.approx(21 / 22)


def test_the_record_is_the_window_s_so_an_old_one_stops_counting() -> None:
    model = MomentumModel(horizon=timedelta(minutes=1), window=timedelta(minutes=10), min_scored=20)
    zigzag(model, 12)
    assert model.accuracy() == 0.0
    # An hour without moves (a halt): the scored calls leave the window, none come in.
    model.observe(dict.fromkeys(SYMBOLS, 100.0), T0 + timedelta(hours=1))
    assert model.accuracy() is None
    assert model.confidence() == 0.5


def test_a_record_requirement_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="min_scored"):
        MomentumModel(min_scored=0)


def test_an_accuracy_that_goes_away_withdraws_its_series() -> None:
    pub = Publisher("quant-1")
    pub.model("alpha", "momentum", confidence=0.7, accuracy=0.6, reward=12.0)
    labels = {"portfolio": "alpha", "model": "momentum"}
    assert pub.registry.get_sample_value("riskwatch_model_accuracy_ratio", labels) == 0.6
    pub.model("alpha", "momentum", confidence=0.5, accuracy=None, reward=None)
    assert pub.registry.get_sample_value("riskwatch_model_accuracy_ratio", labels) is None
    assert pub.registry.get_sample_value("riskwatch_model_episode_reward", labels) is None
    assert pub.registry.get_sample_value("riskwatch_model_confidence_ratio", labels) == 0.5
