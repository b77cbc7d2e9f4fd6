"""VaR and ES by historical, Gaussian and Cornish-Fisher methods, and what every method
shares (filtered historical simulation has its own tests in test_analytics_filtered.py)."""

from __future__ import annotations

import empyrical as ep
import numpy as np
import pytest
from analytics_reference import assert_close, generated_series, property_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import integrate, stats

from riskwatch.analytics import (
    VaRMethod,
    expected_shortfall,
    minimum_observations,
    tail_figures,
    value_at_risk,
)

CONFIDENCES = (0.9, 0.95, 0.975, 0.99, 0.995)
SEEDS = range(0, 70, 3)
# The methods with a closed form per window; the GARCH fit needs 100 returns, more
# than the property tests generate, and is scale-equivariant only to its optimiser's
# tolerance (tested on its own).
CLOSED_FORM = [m for m in VaRMethod if m is not VaRMethod.FILTERED_HISTORICAL]


def _clean(seed: int) -> np.ndarray:
    _, r, _ = generated_series(seed)
    return r[~np.isnan(r)]


def _cornish_fisher_z(z: float, s: float, k: float) -> float:
    """The expansion with population skewness ``s`` and excess kurtosis ``k``."""
    return float(z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("confidence", CONFIDENCES)
def test_historical_matches_numpy_and_empyrical(seed: int, confidence: float) -> None:
    _, r, _ = generated_series(seed)
    x = r[~np.isnan(r)]
    tail = round(1 - confidence, 12)
    assert_close(value_at_risk(r, confidence), -np.percentile(x, 100 * tail), "VaR")  # type: ignore[arg-type]
    assert_close(
        expected_shortfall(r, confidence),  # type: ignore[arg-type]
        -ep.conditional_value_at_risk(x, tail),
        "ES",
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("confidence", (0.95, 0.99))
def test_gaussian_matches_scipy(seed: int, confidence: float) -> None:
    x = _clean(seed)
    mean, std = x.mean(), x.std(ddof=1)
    p = 1 - confidence
    expected_var = -stats.norm.ppf(p, loc=mean, scale=std)
    expected_es = -mean + std * stats.norm.pdf(stats.norm.ppf(p)) / p
    assert_close(value_at_risk(x, confidence, "gaussian"), expected_var, "VaR")  # type: ignore[arg-type]
    assert_close(expected_shortfall(x, confidence, "gaussian"), expected_es, "ES")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("confidence", (0.95, 0.99))
def test_cornish_fisher_matches_formula_and_integral(seed: int, confidence: float) -> None:
    x = _clean(seed)
    mean, std = x.mean(), x.std(ddof=1)
    p = 1 - confidence
    s, k = float(stats.skew(x)), float(stats.kurtosis(x))
    z_cf = _cornish_fisher_z(float(stats.norm.ppf(p)), s, k)
    assert_close(
        value_at_risk(x, confidence, VaRMethod.CORNISH_FISHER),  # type: ignore[arg-type]
        -(mean + z_cf * std),
        "VaR",
    )

    def quantile(u: float) -> float:
        return float(mean + std * _cornish_fisher_z(float(stats.norm.ppf(u)), s, k))

    integral, _ = integrate.quad(quantile, 0, p, epsabs=1e-13, epsrel=1e-11, limit=200)
    got = expected_shortfall(x, confidence, "cornish_fisher")
    assert got == pytest.approx(-integral / p, rel=1e-7)


@pytest.mark.parametrize("method", list(VaRMethod))
def test_2d_equals_columnwise(method: VaRMethod) -> None:
    rng = np.random.default_rng(3)
    book = rng.standard_t(3, (120, 9)) * 0.01
    book[rng.random(book.shape) < 0.05] = np.nan
    for figure in (value_at_risk, expected_shortfall):
        together = figure(book, 0.975, method)
        assert isinstance(together, np.ndarray) and together.shape == (9,)
        for j in range(9):
            alone = figure(book[~np.isnan(book[:, j]), j], 0.975, method)
            assert_close(float(together[j]), alone, f"{figure.__name__} column {j}")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", list(VaRMethod))
def test_constant_series_loses_minus_its_value(method: VaRMethod) -> None:
    n = minimum_observations(method)
    assert value_at_risk(np.full(n, -0.01), 0.99, method) == pytest.approx(0.01, rel=1e-12)
    assert expected_shortfall(np.full(n, 0.02), 0.99, method) == pytest.approx(-0.02, rel=1e-12)


def test_method_labels_are_the_published_values() -> None:
    assert [m.value for m in VaRMethod] == [
        "historical",
        "gaussian",
        "cornish_fisher",
        "filtered_historical",
    ]


@pytest.mark.parametrize("method", list(VaRMethod))
def test_tail_figures_are_value_at_risk_and_expected_shortfall(method: VaRMethod) -> None:
    rng = np.random.default_rng(5)
    book = rng.standard_t(4, (150, 3)) * 0.01
    book[rng.random(book.shape) < 0.05] = np.nan
    confidences = (0.99, 0.975, 0.9)
    figures = tail_figures(book, confidences, method)
    assert list(figures) == list(confidences)
    for confidence, (var, es) in figures.items():
        np.testing.assert_array_equal(var, value_at_risk(book, confidence, method))
        np.testing.assert_array_equal(es, expected_shortfall(book, confidence, method))
    column = book[:, 0]
    one = tail_figures(column, confidences, method)[0.975]
    assert one == (value_at_risk(column, 0.975, method), expected_shortfall(column, 0.975, method))
    assert isinstance(one.var, float)


def test_tail_figures_needs_a_confidence() -> None:
    with pytest.raises(ValueError, match="at least one confidence"):
        tail_figures(np.zeros(10), ())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"returns": [0.01, 0.02], "method": "monte_carlo"}, "unknown VaR method"),
        ({"returns": [0.01, 0.02], "confidence": 1.0}, "confidence"),
        ({"returns": [0.01, 0.02], "confidence": 0.0}, "confidence"),
        ({"returns": [0.01, 0.02], "confidence": 99}, "confidence"),
        ({"returns": [0.01, np.inf]}, "infinite"),
        ({"returns": [0.01]}, "too few observations"),
        ({"returns": [[0.01, np.nan], [0.02, 0.03]]}, "too few observations"),
        ({"returns": np.zeros((2, 2, 2))}, "1-D"),
    ],
)
@pytest.mark.parametrize("figure", [value_at_risk, expected_shortfall])
def test_bad_input_raises(figure: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        figure(**kwargs)  # type: ignore[operator]


returns_1d = hnp.arrays(
    np.float64,
    st.integers(2, 80),
    elements=st.floats(-0.5, 0.5, allow_nan=False, allow_subnormal=False),
)


@property_settings
@given(returns_1d, st.floats(0.01, 100.0), st.sampled_from(CLOSED_FORM))
def test_scaling_returns_scales_var_and_es(r: np.ndarray, k: float, method: VaRMethod) -> None:
    for figure in (value_at_risk, expected_shortfall):
        base = figure(r, 0.99, method)
        assert figure(r * k, 0.99, method) == pytest.approx(k * base, rel=1e-9, abs=1e-12)  # type: ignore[operator]


@property_settings
@given(returns_1d, st.floats(-0.1, 0.1), st.sampled_from(CLOSED_FORM))
def test_shifting_returns_shifts_var(r: np.ndarray, shift: float, method: VaRMethod) -> None:
    base = value_at_risk(r, 0.95, method)
    assert value_at_risk(r + shift, 0.95, method) == pytest.approx(base - shift, abs=1e-12)  # type: ignore[operator]
