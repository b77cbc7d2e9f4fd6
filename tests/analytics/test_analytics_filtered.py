"""Filtered historical simulation (GARCH(1,1) FHS) VaR and ES.

The reference is arch's own API, step by step in the test: the fit, its standardized
residuals, its one-day-ahead variance forecast, and numpy's percentile and sort for
the tail. Parameter recovery runs on data simulated from a known GARCH(1,1).
"""

from __future__ import annotations

import typing

import numpy as np
import pytest
from arch import arch_model

from riskwatch.analytics import (
    VaRMethod,
    expected_shortfall,
    fit_garch,
    tail_figures,
    value_at_risk,
)
from riskwatch.analytics._columns import Columns
from riskwatch.analytics.filtered import MIN_OBSERVATIONS, filter_columns
from riskwatch.policy import TailRisk

FHS = VaRMethod.FILTERED_HISTORICAL


def simulated_garch(
    n: int, seed: int, omega: float = 2e-6, alpha: float = 0.1, beta: float = 0.85
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` returns of a constant-mean GARCH(1,1) with normal shocks, after a burn-in,
    and their true conditional volatilities."""
    mu, burn_in = 3e-4, 500
    shocks = np.random.default_rng(seed).standard_normal(n + burn_in)
    variance = omega / (1 - alpha - beta)
    returns, volatility = np.empty(n + burn_in), np.empty(n + burn_in)
    for t, shock in enumerate(shocks):
        volatility[t] = np.sqrt(variance)
        returns[t] = mu + volatility[t] * shock
        variance = omega + alpha * (returns[t] - mu) ** 2 + beta * variance
    return returns[burn_in:], volatility[burn_in:]


def arch_step_by_step(window: np.ndarray, confidence: float, scale: float) -> tuple[float, float]:
    """FHS VaR and ES of `window` from arch's API, fitted to ``window * scale``."""
    result = arch_model(
        window * scale, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False
    ).fit(disp="off", show_warning=False)
    mu = result.params["mu"]
    sigma_next = np.sqrt(result.forecast(horizon=1).variance.iloc[-1, 0])
    z = np.asarray(result.std_resid)
    p = round(1 - confidence, 12)
    quantile = np.percentile(z, 100 * p)
    tail = np.sort(z)[: int((z.size - 1) * p) + 1].mean()
    return -(mu + sigma_next * quantile) / scale, -(mu + sigma_next * tail) / scale


@pytest.mark.parametrize("confidence", [0.99, 0.975])
def test_figures_are_archs_fit_forecast_and_residual_quantile(confidence: float) -> None:
    window, _ = simulated_garch(500, seed=1)
    # Ours fits the returns standardized by their mean and standard deviation; arch's
    # fit of exactly that series must give the same figures to rounding. (With beta
    # ~0.85 over 500 days the recursion's start is forgotten, so arch's forecast(),
    # which restarts it from its own backcast, is the continuation of the fit's path.)
    mean, std = window.mean(), window.std(ddof=1)
    var, es = arch_step_by_step((window - mean) / std, confidence, scale=1.0)
    # Back to returns: -(mean + std (mu + sigma q)) = std VaR - mean.
    expected = std * var - mean, std * es - mean
    got = tail_figures(window, (confidence,), FHS)[confidence]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert value_at_risk(window, confidence, FHS) == got.var
    assert expected_shortfall(window, confidence, FHS) == got.es
    # arch's recommended scaling (percent returns) reaches the same optimum, to the
    # optimiser's tolerance: the standardization is a numerical choice, not a model one.
    np.testing.assert_allclose(got, arch_step_by_step(window, confidence, 100.0), rtol=1e-4)


def test_recovers_the_parameters_of_a_simulated_garch() -> None:
    returns, _ = simulated_garch(4000, seed=3, omega=2e-6, alpha=0.08, beta=0.9)
    fit = fit_garch(returns)
    assert fit.converged
    # Standard errors at 4,000 days are ~0.01 for alpha and beta.
    assert fit.alpha == pytest.approx(0.08, abs=0.03)
    assert fit.beta == pytest.approx(0.9, abs=0.03)
    assert fit.alpha + fit.beta == pytest.approx(0.98, abs=0.015)
    assert 1e-6 < fit.omega < 4e-6
    assert fit.mu == pytest.approx(3e-4, abs=2e-4)
    assert fit.residuals.shape == (4000,)
    assert np.std(fit.residuals) == pytest.approx(1.0, abs=0.05)


def test_sigma_next_is_the_fitted_recursion_one_step_on() -> None:
    returns, _ = simulated_garch(300, seed=5)
    fit = fit_garch(returns)
    shock = returns - fit.mu
    volatility = shock / fit.residuals
    expected = np.sqrt(fit.omega + fit.alpha * shock[-1] ** 2 + fit.beta * volatility[-1] ** 2)
    assert fit.sigma_next == pytest.approx(expected, rel=1e-12)
    # The same recursion explains the residuals: each variance from the day before.
    previous = fit.omega + fit.alpha * shock[:-1] ** 2 + fit.beta * volatility[:-1] ** 2
    np.testing.assert_allclose(volatility[1:] ** 2, previous, rtol=1e-9)


def test_var_follows_the_conditional_volatility() -> None:
    """Over the same window's history, FHS forecasts more risk than historical
    simulation when the window ends volatile, and less when it ends calm."""
    returns, volatility = simulated_garch(3000, seed=11, alpha=0.12, beta=0.85)
    window = 250
    ends = np.arange(window, returns.size)
    # The day after each window's end: its true volatility, relative to the window's.
    relative = np.array([volatility[t] / volatility[t - window : t].mean() for t in ends])
    for end, larger in ((ends[np.argmax(relative)], True), (ends[np.argmin(relative)], False)):
        history = returns[end - window : end]
        filtered = value_at_risk(history, 0.99, FHS)
        historical = value_at_risk(history, 0.99)
        assert (filtered > 1.3 * historical) if larger else (filtered < 0.8 * historical)


def test_nan_is_skipped_and_columns_are_fitted_alone() -> None:
    a, _ = simulated_garch(260, seed=21)
    b, _ = simulated_garch(260, seed=22)
    gappy = a.copy()
    gappy[[0, 40, 41, 200]] = np.nan
    book = np.column_stack([gappy, b])
    together = tail_figures(book, (0.99, 0.975), FHS)
    for confidence, (var, es) in together.items():
        assert var[0] == value_at_risk(gappy[~np.isnan(gappy)], confidence, FHS)
        assert es[0] == expected_shortfall(gappy[~np.isnan(gappy)], confidence, FHS)
        assert var[1] == value_at_risk(b, confidence, FHS)
        assert es[1] == expected_shortfall(b, confidence, FHS)


def test_fewer_than_the_minimum_observations_is_a_clear_error() -> None:
    returns, _ = simulated_garch(MIN_OBSERVATIONS, seed=2)
    assert np.isfinite(value_at_risk(returns, 0.99, FHS))
    message = "GARCH.* needs at least 100 non-NaN values"
    with pytest.raises(ValueError, match=message):
        value_at_risk(returns[1:], 0.99, FHS)
    with pytest.raises(ValueError, match=message):
        fit_garch(returns[1:])
    gappy = returns.copy()
    gappy[5] = np.nan
    with pytest.raises(ValueError, match=message + r", column\(s\) 1 have 99"):
        expected_shortfall(np.column_stack([returns, gappy]), 0.975, FHS)
    # A caller's higher minimum still applies.
    with pytest.raises(ValueError, match="needs at least 150"):
        value_at_risk(returns, 0.99, FHS, min_observations=150)


@pytest.mark.parametrize("level", [0.0, -0.01, 0.02])
@pytest.mark.parametrize("n", [100, 120])
def test_a_constant_window_loses_minus_its_return(level: float, n: int) -> None:
    # 100 copies of -0.01 have a std of ~1e-18 from rounding, not 0.
    returns = np.full(n, level)
    figures = tail_figures(returns, (0.99, 0.975), FHS)
    assert all(f == (-level, -level) for f in figures.values())
    fit = fit_garch(returns)
    assert (fit.mu, fit.sigma_next, fit.converged) == (level, 0.0, True)


def test_a_fit_that_does_not_converge_falls_back_to_historical_simulation() -> None:
    a, _ = simulated_garch(250, seed=31)
    b, _ = simulated_garch(250, seed=32)
    book = np.column_stack([a, b])
    # One SLSQP iteration is not enough for arch to converge on these.
    with pytest.warns(RuntimeWarning, match="did not converge for 2 of 2 column"):
        fallback = filter_columns(Columns.of(book), max_iterations=1)
    assert not fallback.converged.any()
    # The constant-volatility filter: mu + sigma z gives back the returns themselves...
    np.testing.assert_allclose(fallback.mu + fallback.sigma_next * fallback.residuals, book)
    # ...so the figures read off it are historical simulation's.
    for confidence in (0.99, 0.975):
        q = np.percentile(fallback.residuals, 100 * round(1 - confidence, 12), axis=0)
        np.testing.assert_allclose(
            -(fallback.mu + fallback.sigma_next * q), value_at_risk(book, confidence), rtol=1e-12
        )
    with pytest.warns(RuntimeWarning, match="did not converge for 1 of 1"):
        fit = fit_garch(a, max_iterations=1)
    assert not fit.converged
    assert (fit.alpha, fit.beta, fit.sigma_next) == (0.0, 0.0, pytest.approx(a.std(ddof=1)))
    # The default budget converges on the same data, and then the filter is a GARCH.
    converged = filter_columns(Columns.of(book))
    assert converged.converged.all()
    assert not np.allclose(converged.mu + converged.sigma_next * converged.residuals, book)


@pytest.mark.parametrize(("scale", "shift"), [(3.0, 0.0), (1e-3, 0.0), (1.0, 0.01), (250, -0.2)])
def test_figures_scale_and_shift_with_the_returns(scale: float, shift: float) -> None:
    """The fit sees the standardized returns either way, so only the optimiser's
    rounding-level path differences remain."""
    returns, _ = simulated_garch(300, seed=41)
    base = tail_figures(returns, (0.99,), FHS)[0.99]
    moved = tail_figures(returns * scale + shift, (0.99,), FHS)[0.99]
    np.testing.assert_allclose(moved, np.array(base) * scale - shift, rtol=1e-6)


def test_the_policys_methods_are_the_analytics_methods() -> None:
    """policy.py may not import the analytics (both are core), so its Literal repeats
    the method names; they must not drift apart."""
    (literal, _ellipsis) = typing.get_args(TailRisk.model_fields["methods"].annotation)
    assert set(typing.get_args(literal)) == {m.value for m in VaRMethod}
