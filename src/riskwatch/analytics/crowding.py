"""Crowding: how concentrated a portfolio's factor exposures and holdings are.

``factor_crowding`` grades the concentration of factor exposures by two indicators,
the Herfindahl-Hirschman index and the Gini coefficient. ``absorption_ratio``
measures correlation crowding of the holdings: how much of their return variance a
few common eigen-factors explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from riskwatch.analytics._validation import FloatArray, as_float_array


class CrowdingLevel(StrEnum):
    """Crowding grade; the value is the label the agents publish."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@dataclass(frozen=True)
class CrowdingThresholds:
    """Where crowding becomes MEDIUM and HIGH.

    Defaults: HHI 0.15 / 0.25, Gini 0.40 / 0.60. An indicator is HIGH above its high
    threshold (strictly) and MEDIUM at or above its medium threshold.
    """

    hhi_medium: float = 0.15
    hhi_high: float = 0.25
    gini_medium: float = 0.40
    gini_high: float = 0.60

    def __post_init__(self) -> None:
        for indicator in ("hhi", "gini"):
            medium = getattr(self, f"{indicator}_medium")
            high = getattr(self, f"{indicator}_high")
            if not 0.0 <= medium <= high <= 1.0:
                raise ValueError(
                    f"{indicator} thresholds must satisfy 0 <= medium <= high <= 1; "
                    f"got {medium} and {high}"
                )

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | None = None) -> CrowdingThresholds:
        """Build from a settings mapping; missing keys keep their defaults."""
        given = dict(values or {})
        unknown = set(given) - {"hhi_medium", "hhi_high", "gini_medium", "gini_high"}
        if unknown:
            raise ValueError(f"unknown crowding threshold(s): {sorted(unknown)}")
        return cls(**{key: float(value) for key, value in given.items()})


@dataclass(frozen=True)
class CrowdingResult:
    """Concentration of factor exposures and its grade."""

    hhi: float
    """Herfindahl-Hirschman index of the weights ``|e| / sum |e|``, in [1/n, 1]."""
    gini: float
    """Gini coefficient of the absolute exposures, in [0, (n - 1) / n]."""
    level: CrowdingLevel
    """The higher of ``hhi_level`` and ``gini_level``."""
    hhi_level: CrowdingLevel
    gini_level: CrowdingLevel


def herfindahl(exposures: Any) -> float:
    """HHI ``sum w^2`` with ``w = |e| / sum |e|``: 1/n when equal, 1 for a single bet."""
    return float(herfindahl_rows(_weights(exposures)[np.newaxis])[0])


def gini(exposures: Any) -> float:
    """Gini coefficient of the absolute exposures: 0 when equal, (n-1)/n for one bet.

    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)`` with ``x`` sorted ascending and ``i``
    from 1, which equals the mean absolute difference over twice the mean.
    """
    return float(gini_rows(_weights(exposures)[np.newaxis])[0])


def herfindahl_rows(weights: FloatArray) -> FloatArray:
    """HHI of each row of ``(N, F)`` concentration weights (rows summing to 1)."""
    hhi: FloatArray = np.einsum("ij,ij->i", weights, weights)
    return hhi


def gini_rows(weights: FloatArray) -> FloatArray:
    """Gini coefficient of each row of ``(N, F)`` concentration weights."""
    ordered = np.sort(weights, axis=1)
    n = ordered.shape[1]
    ranks = np.arange(1, n + 1)
    result: FloatArray = ordered @ (2 * ranks - n - 1).astype(np.float64) / n
    return result


LEVEL_CODES: dict[CrowdingLevel, int] = {
    CrowdingLevel.LOW: 0,
    CrowdingLevel.MEDIUM: 1,
    CrowdingLevel.HIGH: 2,
}
"""The number a crowding level is published as (``crowding_level``)."""


@dataclass(frozen=True)
class CrowdingRows:
    """HHI, Gini and published level code per row (see :func:`crowding_rows`)."""

    hhi: FloatArray
    gini: FloatArray
    level: FloatArray
    """``LEVEL_CODES`` of the graded level, the higher of the HHI's and the Gini's."""


def crowding_rows(exposures: Any, thresholds: CrowdingThresholds | None = None) -> CrowdingRows:
    """:func:`factor_crowding` of each row of ``(N, F)`` factor exposures at once."""
    limits = thresholds or CrowdingThresholds()
    weights = np.stack([_weights(row) for row in np.atleast_2d(exposures)])
    hhi, gini_value = herfindahl_rows(weights), gini_rows(weights)
    codes = [
        LEVEL_CODES[factor_crowding_graded(h, g, limits).level]
        for h, g in zip(hhi.tolist(), gini_value.tolist(), strict=True)
    ]
    return CrowdingRows(hhi, gini_value, np.asarray(codes, dtype=np.float64))


def factor_crowding(
    exposures: Mapping[str, float] | Any,
    thresholds: CrowdingThresholds | None = None,
) -> CrowdingResult:
    """HHI, Gini and crowding level of a portfolio's factor exposures.

    Args:
        exposures: factor name to exposure (or a 1-D array); signs are ignored.
        thresholds: grading thresholds (default ``CrowdingThresholds()``).

    Raises:
        ValueError: if exposures are empty, NaN, infinite or all zero.
    """
    return factor_crowding_graded(herfindahl(exposures), gini(exposures), thresholds)


def factor_crowding_graded(
    hhi: float, gini_value: float, thresholds: CrowdingThresholds | None = None
) -> CrowdingResult:
    """The crowding result of an HHI and a Gini already computed: both graded."""
    limits = thresholds or CrowdingThresholds()
    hhi_level = grade(hhi, limits.hhi_medium, limits.hhi_high)
    gini_level = grade(gini_value, limits.gini_medium, limits.gini_high)
    order = list(CrowdingLevel)
    level = max(hhi_level, gini_level, key=order.index)
    return CrowdingResult(hhi, gini_value, level, hhi_level, gini_level)


def grade(value: float, medium: float, high: float) -> CrowdingLevel:
    """HIGH if ``value > high``, MEDIUM if ``value >= medium``, else LOW."""
    if value > high:
        return CrowdingLevel.HIGH
    if value >= medium:
        return CrowdingLevel.MEDIUM
    return CrowdingLevel.LOW


def absorption_ratio(
    returns: Any, n_factors: int | None = None, *, use_correlation: bool = False
) -> float:
    """Share of the holdings' return variance explained by the top eigenvectors.

    ``AR = sum of the k largest eigenvalues / sum of all eigenvalues`` of the sample
    covariance (ddof=1) of the holdings' returns (Kritzman et al., 2011). High values
    mean the holdings move together, so they are crowded into few common factors.

    Args:
        returns: ``(T, N)`` returns, one column per holding; rows with a NaN are dropped.
        n_factors: ``k``; default one fifth of the holdings, at least 1.
        use_correlation: use the correlation matrix, so that volatile holdings do not
            dominate (constant columns are then rejected).

    Raises:
        ValueError: on ±inf, a non-2-D input, fewer than 2 complete rows, a bad ``k``, or
            a zero total variance.
    """
    data = as_float_array(returns, "returns")
    if data.ndim != 2 or data.shape[1] == 0:
        raise ValueError(f"returns must be 2-D (T, N) with N >= 1; got shape {data.shape}")
    complete = data[~np.isnan(data).any(axis=1)]
    if complete.shape[0] < 2:
        raise ValueError("too few observations: absorption ratio needs 2 complete rows")
    holdings = complete.shape[1]
    k = max(1, round(holdings / 5)) if n_factors is None else n_factors
    if not 1 <= k <= holdings:
        raise ValueError(f"n_factors must be between 1 and {holdings}; got {n_factors}")
    return float(absorption_ratios(complete[np.newaxis], k, use_correlation=use_correlation)[0])


def absorption_ratios(returns: Any, k: int, *, use_correlation: bool = False) -> FloatArray:
    """:func:`absorption_ratio` of each of N complete ``(T, S)`` blocks, ``(N, T, S)``
    in, N ratios out: the covariances and their eigenvalues are computed as a stack.

    With more holdings than observations (S > T), the covariance ``X'X / (T - 1)`` of
    the centred returns ``X`` has rank below T, and its nonzero eigenvalues are those of
    the ``T x T`` matrix ``X X' / (T - 1)``: that one is decomposed instead, which
    costs ``O(S T^2)`` rather than ``O(S^3)`` (minutes, at 10,000 holdings).
    """
    data = as_float_array(returns, "returns")
    rows = data.shape[1]
    centred = data - data.mean(axis=1, keepdims=True)
    if use_correlation:
        scale = np.sqrt(np.einsum("nts,nts->ns", centred, centred) / (rows - 1))
        if (scale == 0).any():
            raise ValueError("a holding has zero variance; its correlation is undefined")
        centred = centred / scale[:, np.newaxis, :]
    transposed = np.swapaxes(centred, 1, 2)
    gram = centred @ transposed if rows < data.shape[2] else transposed @ centred
    eigenvalues = np.clip(np.linalg.eigvalsh(gram / (rows - 1)), 0.0, None)[:, ::-1]
    total = eigenvalues.sum(axis=1)
    if (total <= 0).any():
        raise ValueError("returns have zero variance; absorption ratio is undefined")
    ratio: FloatArray = eigenvalues[:, :k].sum(axis=1) / total
    return ratio


def factor_loadings(proxies: Any, held: Any) -> FloatArray:
    """Loadings of every holding on every factor, for N windows at once.

    Each window regresses the holdings' returns on an intercept and the factor
    proxies' returns (least squares): ``(N, T, F)`` proxies and ``(N, T, S)`` holdings
    give ``(N, F, S)`` loadings (the intercepts are dropped).
    """
    x = as_float_array(proxies, "proxies")
    design = np.concatenate([np.ones((*x.shape[:2], 1)), x], axis=2)
    # The pseudo-inverse is the least-squares solution and, unlike lstsq, takes a stack.
    coef: FloatArray = np.linalg.pinv(design) @ as_float_array(held, "held")
    return coef[:, 1:]


def factor_exposures(loadings: Any, weights: Any) -> FloatArray:
    """The book's exposure to each factor: ``(N, F, S)`` loadings times ``(N, S)``
    holding weights give ``(N, F)`` exposures."""
    exposures: FloatArray = np.einsum("nfs,ns->nf", loadings, weights)
    return exposures


def _weights(exposures: Any) -> FloatArray:
    values = list(exposures.values()) if isinstance(exposures, Mapping) else exposures
    array = np.abs(as_float_array(values, "exposures"))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"exposures must be a non-empty 1-D collection; got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError("exposures contain NaN values")
    total = array.sum()
    if total == 0:
        raise ValueError("exposures are all zero; concentration is undefined")
    weights: FloatArray = array / total
    return weights
