"""VaR and ES backtests against independent references: the Basel table, the textbook
likelihood ratios written out with `math` on constructed exception sequences, and
Acerbi and Székely's Z2 on a forecast that is right by construction."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from riskwatch.analytics import VaRMethod, tail_figures, value_at_risk
from riskwatch.analytics.backtest import es_backtest, rolling_tail, rolling_var, var_backtest

VAR = 0.01


def days_with_exceptions(n: int, at: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """n days of a flat 1% VaR forecast; the days in `at` lose 2%, the rest nothing."""
    returns = np.zeros(n)
    returns[at] = -2 * VAR
    return returns, np.full(n, VAR)


@pytest.mark.parametrize(
    ("exceptions", "zone"),
    [(x, "green") for x in range(5)]
    + [(x, "yellow") for x in range(5, 10)]
    + [(x, "red") for x in range(10, 14)],
)
def test_zone_is_the_basel_table_at_99_over_250_days(exceptions: int, zone: str) -> None:
    returns, var = days_with_exceptions(250, list(range(0, 17 * exceptions, 17)))
    result = var_backtest(returns, var, 0.99)
    assert (result.n, result.exceptions, result.zone) == (250, exceptions, zone)


def kupiec_reference(n: int, x: int, p: float) -> float:
    """Kupiec (1995), written out: -2 ln[(1-p)^(n-x) p^x / ((1-x/n)^(n-x) (x/n)^x)]."""
    null = (n - x) * math.log(1 - p) + (x * math.log(p) if x else 0.0)
    rate = x / n
    alternative = (n - x) * math.log(1 - rate) if x < n else 0.0
    alternative += x * math.log(rate) if x else 0.0
    return -2 * (null - alternative)


@pytest.mark.parametrize("x", [0, 1, 2, 5, 9, 17])
def test_kupiec_is_the_proportion_of_failures_ratio(x: int) -> None:
    returns, var = days_with_exceptions(250, list(range(3, 3 + 13 * x, 13)))
    result = var_backtest(returns, var, 0.99)
    assert result.kupiec_lr == pytest.approx(kupiec_reference(250, x, 0.01), rel=1e-12)
    # chi-squared(1)'s survival function is erfc(sqrt(lr / 2)).
    assert result.kupiec_p == pytest.approx(math.erfc(math.sqrt(result.kupiec_lr / 2)))


def test_no_exception_in_250_days_is_the_textbook_figure() -> None:
    returns, var = days_with_exceptions(250, [])
    assert var_backtest(returns, var, 0.99).kupiec_lr == pytest.approx(-500 * math.log(0.99))


def christoffersen_reference(hits: list[bool]) -> float:
    """Christoffersen (1998) independence ratio, from transition counts counted by hand."""
    n = {(a, b): 0 for a in (0, 1) for b in (0, 1)}
    for a, b in itertools.pairwise(hits):
        n[(int(a), int(b))] += 1

    def ll(count: int, prob: float) -> float:
        return count * math.log(prob) if count else 0.0

    pi0 = n[0, 1] / (n[0, 0] + n[0, 1])
    pi1 = n[1, 1] / (n[1, 0] + n[1, 1])
    pi = (n[0, 1] + n[1, 1]) / sum(n.values())
    null = ll(n[0, 0] + n[1, 0], 1 - pi) + ll(n[0, 1] + n[1, 1], pi)
    alternative = ll(n[0, 0], 1 - pi0) + ll(n[0, 1], pi0) + ll(n[1, 0], 1 - pi1) + ll(n[1, 1], pi1)
    return -2 * (null - alternative)


def test_clustered_exceptions_fail_independence_and_spread_ones_pass() -> None:
    clustered_at = [100, 101, 102, 103, 200, 201]
    returns, var = days_with_exceptions(250, clustered_at)
    clustered = var_backtest(returns, var, 0.99)
    hits = [i in clustered_at for i in range(250)]
    assert clustered.christoffersen_lr == pytest.approx(christoffersen_reference(hits))
    assert clustered.christoffersen_p < 0.01
    assert clustered.conditional_coverage_lr == pytest.approx(
        clustered.kupiec_lr + clustered.christoffersen_lr
    )
    # chi-squared(2)'s survival function is exp(-lr / 2).
    assert clustered.conditional_coverage_p == pytest.approx(
        math.exp(-clustered.conditional_coverage_lr / 2)
    )

    spread_at = [20, 70, 120, 170, 220, 240]
    returns, var = days_with_exceptions(250, spread_at)
    spread = var_backtest(returns, var, 0.99)
    hits = [i in spread_at for i in range(250)]
    assert spread.christoffersen_lr == pytest.approx(christoffersen_reference(hits))
    assert spread.christoffersen_p > 0.05
    # Same count, same Kupiec: only the clustering differs.
    assert spread.kupiec_lr == pytest.approx(clustered.kupiec_lr)


def test_pairs_with_a_nan_are_skipped() -> None:
    returns, var = days_with_exceptions(260, [5, 50])
    returns[[0, 1, 2]] = np.nan
    var[[7, 8, 9, 10, 11, 12, 13]] = np.nan
    result = var_backtest(returns, var, 0.99)
    assert (result.n, result.exceptions) == (250, 2)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="one length"):
        var_backtest(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match="no day has"):
        var_backtest(np.full(3, np.nan), np.zeros(3))


def test_rolling_var_is_value_at_risk_of_the_window_before_each_day() -> None:
    rng = np.random.default_rng(7)
    returns = rng.standard_t(4, size=(400, 2)) * 0.01
    returns[300, 1] = np.nan
    for method in ("historical", "gaussian", "cornish_fisher"):
        forecast = rolling_var(returns, window=250, confidence=0.99, method=method)
        assert forecast.shape == returns.shape
        assert np.isnan(forecast[:250]).all()
        for t in (250, 301, 399):
            expected = value_at_risk(returns[t - 250 : t], 0.99, method)
            np.testing.assert_allclose(forecast[t], expected, rtol=1e-12)
    one = rolling_var(returns[:, 0], window=250)
    assert one.shape == (400,)
    np.testing.assert_allclose(one, rolling_var(returns, window=250)[:, 0])


@pytest.mark.parametrize("method", list(VaRMethod))
def test_rolling_tail_is_var_and_es_of_the_window_before_each_day(method: VaRMethod) -> None:
    """Every confidence and both figures, exactly the agents' functions on each window
    (the filtered method included: each window's GARCH fit starts afresh). The
    reference per window is `tail_figures`, which test_analytics_tail_risk.py holds
    equal to `value_at_risk` and `expected_shortfall`, so that one GARCH fit serves
    all four figures."""
    rng = np.random.default_rng(8)
    window, days = 100, 104  # the GARCH fit's minimum; few windows keep the test fast
    returns = rng.standard_t(4, size=(days, 2)) * 0.01
    returns[101, 1] = np.nan
    confidences = (0.99, 0.975)
    forecasts = rolling_tail(returns, window, confidences, method)
    assert list(forecasts) == list(confidences)
    for figures in forecasts.values():
        for figure in figures:
            assert figure.shape == returns.shape
            assert np.isnan(figure[:window]).all()
    for t in range(window, days):
        for j in range(2):
            history = returns[t - window : t, j]
            if np.isnan(history).any() and method is VaRMethod.FILTERED_HISTORICAL:
                # 99 returns: below the GARCH fit's minimum, so no forecast.
                assert all(np.isnan(f[t, j]) for figures in forecasts.values() for f in figures)
                continue
            for confidence, expected in tail_figures(history, confidences, method).items():
                var, es = forecasts[confidence]
                assert (var[t, j], es[t, j]) == expected
    np.testing.assert_array_equal(rolling_var(returns, window, 0.975, method), forecasts[0.975].var)
    one = rolling_tail(returns[:, 0], window, confidences, method)
    np.testing.assert_array_equal(one[0.99].es, forecasts[0.99].es[:, 0])


def test_rolling_tail_rejects_a_window_the_method_cannot_fit() -> None:
    returns = np.zeros(300)
    assert np.isfinite(rolling_tail(returns, 2, (0.99,))[0.99].var[2:]).all()
    with pytest.raises(ValueError, match="window must be at least 100 for filtered_historical"):
        rolling_tail(returns, 99, (0.99,), "filtered_historical")
    with pytest.raises(ValueError, match="window must be at least 2"):
        rolling_var(returns, 1)
    # Confidences are checked even when the history is shorter than one window.
    with pytest.raises(ValueError, match="confidence"):
        rolling_tail(returns[:10], 250, (0.99, 1.5))


def test_es_z2_is_zero_when_the_forecast_is_right_and_rejects_a_small_one() -> None:
    # 250 days at 97.5%: the expected 6.25 exceptions, here 6, each losing exactly the
    # ES forecast: Z2 = 1 - 6 / 6.25.
    returns, var = days_with_exceptions(250, [10, 50, 90, 130, 170, 210])
    es = np.full(250, 2 * VAR)
    right = es_backtest(returns, var, es, 0.975)
    assert (right.n, right.exceptions) == (250, 6)
    assert right.z2 == pytest.approx(1 - 6 / 6.25)
    assert not right.rejected
    # The same losses against an ES forecast half their size: Z2 = 1 - 2 * 6 / 6.25.
    small = es_backtest(returns, var, es / 2, 0.975)
    assert small.z2 == pytest.approx(1 - 12 / 6.25)
    assert small.rejected
