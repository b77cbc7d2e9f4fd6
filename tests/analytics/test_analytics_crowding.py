"""Factor crowding (HHI, Gini, level) and the absorption ratio."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from analytics_reference import property_settings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from riskwatch.analytics import (
    CrowdingLevel,
    CrowdingThresholds,
    absorption_ratio,
    factor_crowding,
    gini,
    herfindahl,
)


def _gini_by_pairs(x: np.ndarray) -> float:
    """Mean absolute difference over all ordered pairs, over twice the mean."""
    x = np.abs(x)
    total = sum(abs(a - b) for a, b in itertools.product(x, x))
    return float(total / (2 * len(x) ** 2 * x.mean()))


@pytest.mark.parametrize("seed", range(20))
def test_hhi_and_gini_match_plain_formulas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    exposures = rng.standard_t(2, int(rng.integers(1, 15)))
    w = np.abs(exposures) / np.abs(exposures).sum()
    result = factor_crowding(dict(zip(map(str, range(exposures.size)), exposures, strict=True)))
    assert result.hhi == pytest.approx(float((w**2).sum()), rel=1e-12)
    assert result.gini == pytest.approx(_gini_by_pairs(exposures), rel=1e-9, abs=1e-15)
    assert herfindahl(exposures) == result.hhi and gini(exposures) == result.gini


def test_known_values() -> None:
    assert factor_crowding([1, 1, 1, 1]).hhi == pytest.approx(0.25)
    assert factor_crowding([1, 1, 1, 1]).gini == pytest.approx(0.0)
    single = factor_crowding({"value": 0.0, "momentum": -2.0, "size": 0.0})
    assert single.hhi == 1.0
    assert single.gini == pytest.approx(2 / 3)
    assert single.level is CrowdingLevel.HIGH


@pytest.mark.parametrize(
    ("hhi", "gini_value", "level"),
    [
        (0.10, 0.30, CrowdingLevel.LOW),
        (0.15, 0.30, CrowdingLevel.MEDIUM),  # the medium threshold is inclusive
        (0.25, 0.30, CrowdingLevel.MEDIUM),  # the high threshold is strict
        (0.2501, 0.30, CrowdingLevel.HIGH),
        (0.10, 0.40, CrowdingLevel.MEDIUM),
        (0.10, 0.60, CrowdingLevel.MEDIUM),
        (0.10, 0.61, CrowdingLevel.HIGH),
        (0.20, 0.61, CrowdingLevel.HIGH),  # the higher of the two levels
        (0.30, 0.10, CrowdingLevel.HIGH),
    ],
)
def test_level_is_the_higher_of_the_two_grades(
    hhi: float, gini_value: float, level: CrowdingLevel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import riskwatch.analytics.crowding as crowding

    monkeypatch.setattr(crowding, "herfindahl", lambda _: hhi)
    monkeypatch.setattr(crowding, "gini", lambda _: gini_value)
    assert crowding.factor_crowding([1.0]).level is level


def test_thresholds_are_configurable() -> None:
    exposures = [3.0, 1.0, 1.0, 1.0]  # hhi 1/3, gini 0.25
    assert factor_crowding(exposures).level is CrowdingLevel.HIGH
    relaxed = CrowdingThresholds.from_mapping({"hhi_medium": 0.4, "hhi_high": 0.5})
    assert relaxed.gini_medium == 0.40
    result = factor_crowding(exposures, relaxed)
    assert (result.level, result.hhi_level, result.gini_level) == (CrowdingLevel.LOW,) * 3
    assert factor_crowding(exposures, CrowdingThresholds(0.1, 0.5, 0.2, 0.9)).level == "MEDIUM"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hhi_medium": 0.3, "hhi_high": 0.2}, "hhi thresholds"),
        ({"gini_high": 1.5}, "gini thresholds"),
        ({"hhi_medium": -0.1}, "hhi thresholds"),
    ],
)
def test_bad_thresholds_raise(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CrowdingThresholds(**kwargs)
    with pytest.raises(ValueError, match="unknown crowding threshold"):
        CrowdingThresholds.from_mapping({"hhi": 0.2})


@pytest.mark.parametrize(
    ("exposures", "message"),
    [
        ([], "non-empty"),
        ([0.0, 0.0], "all zero"),
        ([1.0, np.nan], "NaN"),
        ([1.0, np.inf], "infinite"),
        ([[1.0, 2.0]], "1-D"),
    ],
)
def test_bad_exposures_raise(exposures: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factor_crowding(exposures)


exposure_arrays = hnp.arrays(
    np.float64,
    st.integers(1, 25),
    elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
).filter(lambda x: np.abs(x).sum() > 0)


@property_settings
@given(exposure_arrays)
def test_hhi_and_gini_bounds(exposures: np.ndarray) -> None:
    n = exposures.size
    result = factor_crowding(exposures)
    assert 1 / n - 1e-12 <= result.hhi <= 1 + 1e-12
    assert -1e-12 <= result.gini <= (n - 1) / n + 1e-12


@property_settings
@given(exposure_arrays, st.floats(1e-3, 1e3))
def test_crowding_ignores_scale_and_sign(exposures: np.ndarray, k: float) -> None:
    base = factor_crowding(exposures)
    scaled = factor_crowding(-k * exposures)
    assert scaled.hhi == pytest.approx(base.hhi, rel=1e-9)
    assert scaled.gini == pytest.approx(base.gini, rel=1e-9, abs=1e-12)


def test_absorption_ratio_matches_eigendecomposition() -> None:
    rng = np.random.default_rng(5)
    market = rng.normal(0, 0.01, 500)
    returns = np.outer(market, rng.uniform(0.5, 1.5, 10)) + rng.normal(0, 0.004, (500, 10))
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(returns.T)))[::-1]
    assert absorption_ratio(returns) == pytest.approx(eigenvalues[:2].sum() / eigenvalues.sum())
    assert absorption_ratio(returns, 3) == pytest.approx(eigenvalues[:3].sum() / eigenvalues.sum())
    correlated = eigenvalues[0] / eigenvalues.sum()
    independent = absorption_ratio(rng.normal(0, 0.01, (500, 10)), 1)
    assert correlated > 0.6 > independent
    corr = np.linalg.eigvalsh(np.corrcoef(returns.T))[::-1]
    assert absorption_ratio(returns, 1, use_correlation=True) == pytest.approx(corr[0] / 10)
    assert absorption_ratio(returns, 10) == pytest.approx(1.0)


@pytest.mark.parametrize("use_correlation", [False, True])
def test_absorption_ratio_of_more_holdings_than_days(use_correlation: bool) -> None:
    # 40 days of 150 holdings: the covariance has rank 39; its ratio is taken from the
    # 40 x 40 matrix of the days, which must give the 150 x 150 one's.
    rng = np.random.default_rng(9)
    market = rng.normal(0, 0.01, 40)
    returns = np.outer(market, rng.uniform(0.5, 1.5, 150)) + rng.normal(0, 0.004, (40, 150))
    matrix = np.corrcoef(returns.T) if use_correlation else np.cov(returns.T)
    eigenvalues = np.sort(np.clip(np.linalg.eigvalsh(matrix), 0.0, None))[::-1]
    for k in (1, 30, 39, 40, 150):
        expected = eigenvalues[:k].sum() / eigenvalues.sum()
        got = absorption_ratio(returns, k, use_correlation=use_correlation)
        assert got == pytest.approx(expected, rel=1e-10), k


def test_absorption_ratio_drops_incomplete_rows() -> None:
    rng = np.random.default_rng(6)
    returns = rng.normal(0, 0.01, (50, 4))
    holes = returns.copy()
    holes[[3, 7], [0, 2]] = np.nan
    complete = np.delete(returns, [3, 7], axis=0)
    assert absorption_ratio(holes, 1) == pytest.approx(absorption_ratio(complete, 1), rel=1e-12)


@pytest.mark.parametrize(
    ("returns", "kwargs", "message"),
    [
        (np.zeros(10), {}, "2-D"),
        (np.ones((1, 3)), {}, "too few"),
        (np.full((5, 3), np.nan), {}, "too few"),
        (np.random.default_rng(0).normal(size=(10, 3)), {"n_factors": 4}, "n_factors"),
        (np.random.default_rng(0).normal(size=(10, 3)), {"n_factors": 0}, "n_factors"),
        (np.ones((10, 3)), {}, "zero variance"),
        (np.ones((10, 3)), {"use_correlation": True}, "zero variance"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), {}, "infinite"),
    ],
)
def test_absorption_ratio_bad_input(
    returns: np.ndarray, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        absorption_ratio(returns, **kwargs)  # type: ignore[arg-type]
