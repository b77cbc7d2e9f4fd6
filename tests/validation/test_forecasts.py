"""Rolling forecasts cut into chunks over processes are the forecasts of one pass."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskwatch import analytics
from riskwatch.validation.forecasts import MIN_CHUNK_DAYS, forecast_history

WINDOW = 250


def _returns(days: int) -> pd.DataFrame:
    rng = np.random.default_rng(13)
    index = pd.bdate_range("2001-01-02", periods=days)
    data = rng.standard_t(4, size=(days, 2)) * 0.01
    return pd.DataFrame(data, index=index, columns=["a", "b"])


def test_chunked_forecasts_equal_one_pass_and_value_at_risk() -> None:
    days = WINDOW + 2 * MIN_CHUNK_DAYS + 37  # two chunks with an uneven cut
    returns = _returns(days)
    methods, confidences = ("historical", "cornish_fisher"), (0.99, 0.975)
    one = forecast_history(returns, WINDOW, WINDOW, methods, confidences, workers=1)
    two = forecast_history(returns, WINDOW, WINDOW, methods, confidences, workers=2)
    pd.testing.assert_frame_equal(one, two)
    assert len(one) == 2 * 2 * 2 * (days - WINDOW)
    # Spot-check the chunk boundary against the agents' own function.
    boundary = WINDOW + (days - WINDOW) // 2
    day = returns.index[boundary].date()
    row = two[(two.portfolio == "b") & (two.method == "cornish_fisher") & (two.confidence == 0.99)]
    got = float(row[row.day == day]["var"].iloc[0])
    window = returns["b"].to_numpy()[boundary - WINDOW : boundary]
    assert got == analytics.value_at_risk(window, 0.99, "cornish_fisher")
