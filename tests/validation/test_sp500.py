"""`riskwatch validate --dataset sp500` end to end: the real S&P 500 and NASDAQ history
shipped with arch, the command as a user runs it, a real Pushgateway.

One run over 2008 (the 250 sessions ending 2008-12-31 and three before), shared by the
tests of this module, keeps the suite fast; its figures are checked against a count
made here from the raw prices with numpy alone.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.data import nasdaq, sp500
from click.testing import Result
from matplotlib import image

from riskwatch.settings import Settings, load_settings
from riskwatch.stack.runner import Stack
from tests.support.calendar import shipped_zone
from tests.support.stack import stack_env
from tests.validation.support import Sample, pushed, sample, validate

AS_OF = "2008-12-31"
# After the history: an offline dataset does not depend on when it runs.
AT = datetime(2026, 11, 18, 2, 0, tzinfo=shipped_zone())
# The Basel Committee's table at 99% over 250 days: 0-4 green, 5-9 yellow, 10+ red.
ZONE_INDEX = {"green": 0, "yellow": 1, "red": 2}


def basel_zone(exceptions: int) -> str:
    return "green" if exceptions <= 4 else "yellow" if exceptions <= 9 else "red"


@dataclass(frozen=True)
class Run:
    result: Result
    folder: Path
    samples: dict[Sample, float]
    started: float
    finished: float
    settings: Settings

    @property
    def data(self) -> dict[str, Any]:
        text = (self.folder / "validation.json").read_text()
        # Strict JSON: a NaN or Infinity would be a parse error, not a float.
        parsed: dict[str, Any] = json.loads(text, parse_constant=_refuse)
        return parsed


def _refuse(token: str) -> None:
    raise AssertionError(f"validation.json holds {token}, which is not JSON")


@pytest.fixture(scope="module")
def run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("validation")
    env = stack_env(stack, RISKWATCH_VALIDATION__OUT_DIR=str(out))
    started = time.time()
    result = validate(
        ["--dataset", "sp500", "--since", "2008-01-02", "--date", AS_OF], at=AT, env=env
    )
    finished = time.time()
    assert result.exit_code == 0, result.output + result.stderr
    samples = pushed(stack.settings, "sp500")
    return Run(result, out / "sp500" / AS_OF, samples, started, finished, load_settings())


def independent_exceptions(prices: pd.Series, end: str, window: int = 250) -> int:
    """Exceptions of the historical 99% VaR over the `window` days ending `end`, each
    day's VaR minus numpy's 1st percentile of the `window` returns before it."""
    returns = prices.pct_change().dropna()
    r = returns.to_numpy()
    last = list(returns.index).index(pd.Timestamp(end))
    count = 0
    for t in range(last - window + 1, last + 1):
        var = -np.percentile(r[t - window : t], 1)
        count += bool(r[t] < -var)
    return count


def entry(data: dict[str, Any], portfolio: str, method: str, confidence: str) -> dict[str, Any]:
    found: dict[str, Any]
    (found,) = [
        b
        for b in data["backtests"]
        if (b["portfolio"], b["method"], b["confidence_label"]) == (portfolio, method, confidence)
    ]
    return found


@pytest.mark.stack
def test_historical_var_exceptions_match_an_independent_count(run: Run) -> None:
    index = sp500.load()["Adj Close"]
    book = (index.pct_change() + nasdaq.load()["Adj Close"].pct_change()) / 2
    book_prices = (1 + book.fillna(0)).cumprod()  # a level whose returns are the book's
    data = run.data
    for portfolio, prices in (("sp500", index), ("sp500_nasdaq", book_prices)):
        expected = independent_exceptions(prices, AS_OF)
        window = entry(data, portfolio, "historical", "0.99")["window"]
        assert (window["start"], window["end"], window["n"]) == ("2008-01-07", AS_OF, 250)
        assert window["exceptions"] == expected
        assert window["zone"] == basel_zone(expected)
        labels = {
            "dataset": "sp500",
            "portfolio": portfolio,
            "method": "historical",
            "confidence": "0.99",
        }
        assert sample(run.samples, "riskwatch_validation_var_exceptions", **labels) == expected
        assert sample(run.samples, "riskwatch_validation_var_observations", **labels) == 250
        assert (
            sample(run.samples, "riskwatch_validation_var_zone", **labels)
            == ZONE_INDEX[basel_zone(expected)]
        )
        # The zone over time says the same of the day the window ends.
        (series,) = [
            s
            for s in data["rolling"]["series"]
            if (s["portfolio"], s["method"], s["confidence_label"])
            == (portfolio, "historical", "0.99")
        ]
        assert series["exceptions"][data["rolling"]["days"].index(AS_OF)] == expected
    # 2008 was a red year for a one-year historical VaR: the model's reason to exist.
    assert entry(data, "sp500", "historical", "0.99")["window"]["zone"] == "red"


@pytest.mark.stack
def test_every_method_and_confidence_is_backtested_and_pushed(run: Run) -> None:
    tail = run.settings.policy.tail_risk
    confidences = {tail.var_label, tail.expected_shortfall_label}
    data = run.data
    keys = {(b["portfolio"], b["method"], b["confidence_label"]) for b in data["backtests"]}
    assert keys == {
        (p, m, c) for p in ("sp500", "sp500_nasdaq") for m in tail.methods for c in confidences
    }
    for portfolio, method, confidence in keys:
        labels = {
            "dataset": "sp500",
            "portfolio": portfolio,
            "method": method,
            "confidence": confidence,
        }
        window = entry(data, portfolio, method, confidence)["window"]
        for name, key in (
            ("riskwatch_validation_var_kupiec_p_ratio", "kupiec_p"),
            ("riskwatch_validation_var_christoffersen_p_ratio", "christoffersen_p"),
            ("riskwatch_validation_var_conditional_coverage_p_ratio", "conditional_coverage_p"),
        ):
            assert sample(run.samples, name, **labels) == pytest.approx(window[key])
        assert sample(run.samples, "riskwatch_validation_es_z2", **labels) == pytest.approx(
            window["es"]["z2"]
        )
        assert (
            sample(run.samples, "riskwatch_validation_es_rejected", **labels)
            == window["es"]["rejected"]
        )


@pytest.mark.stack
def test_gates_completeness_and_timestamps_are_pushed(run: Run) -> None:
    policy = run.settings.policy.validation
    thresholds = {
        "complete_windows": policy.min_complete_windows,
        "data_completeness": policy.min_data_completeness,
        "max_abs_return": policy.max_abs_return,
        "windows": policy.min_windows,
    }
    s = run.samples
    for gate, threshold in thresholds.items():
        assert sample(s, "riskwatch_validation_gate_passed", dataset="sp500", gate=gate) == 1
        assert (
            sample(s, "riskwatch_validation_gate_threshold", dataset="sp500", gate=gate)
            == threshold
        )
    # 2008-10-13: the S&P 500's best day of the crisis, +11.6%; NASDAQ's was +11.8%.
    largest = sample(s, "riskwatch_validation_gate_value", dataset="sp500", gate="max_abs_return")
    assert largest == pytest.approx(0.1181, abs=1e-4)
    # The arch history has every NYSE session: nothing missing.
    for symbol in ("sp500", "nasdaq"):
        assert (
            sample(
                s, "riskwatch_validation_data_completeness_ratio", dataset="sp500", symbol=symbol
            )
            == 1
        )
    # 253 sessions in 2008: windows of 63 every 21 ending on the last, the first whole.
    assert sample(s, "riskwatch_validation_model_windows", dataset="sp500") == 10
    success = sample(s, "riskwatch_validation_last_success_timestamp_seconds", dataset="sp500")
    assert run.started <= success <= run.finished
    assert (
        0
        < sample(s, "riskwatch_validation_duration_seconds", dataset="sp500")
        < run.finished - run.started
    )
    # The close of 2008-12-31: 16:00 in New York, 21:00 UTC.
    close = datetime.fromisoformat("2008-12-31T21:00:00+00:00").timestamp()
    assert sample(s, "riskwatch_validation_as_of_timestamp_seconds", dataset="sp500") == close


@pytest.mark.stack
def test_the_artifacts_exist_and_parse(run: Run) -> None:
    data = run.data
    assert (data["dataset"], data["as_of"], data["since"]) == ("sp500", AS_OF, "2008-01-02")
    assert data["passed"] and data["failed_gates"] == []
    assert [g["gate"] for g in data["gates"]] == [
        "complete_windows",
        "data_completeness",
        "max_abs_return",
        "windows",
    ]
    markdown = (run.folder / "validation.md").read_text()
    assert markdown.startswith(f"# Model validation: sp500 as of {AS_OF}")
    assert "| portfolio | method | confidence | n | exceptions | zone |" in markdown
    charts = sorted(p.name for p in run.folder.glob("*.png"))
    assert charts == [
        "pnl_var_sp500.png",
        "pnl_var_sp500_nasdaq.png",
        "zone_sp500.png",
        "zone_sp500_nasdaq.png",
    ]
    for name in charts:
        assert f"]({name})" in markdown
        pixels = image.imread(io.BytesIO((run.folder / name).read_bytes()), format="png")
        assert pixels.shape[0] > 300 and pixels.shape[1] > 800
    assert "every gate passed" in run.result.output.lower() or "gate windows: pass" in (
        run.result.output
    )
