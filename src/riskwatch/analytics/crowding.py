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
    weights = _weights(exposures)
    return float(np.dot(weights, weights))


def gini(exposures: Any) -> float:
    """Gini coefficient of the absolute exposures: 0 when equal, (n-1)/n for one bet.

    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)`` with ``x`` sorted ascending and ``i``
    from 1, which equals the mean absolute difference over twice the mean.
    """
    weights = np.sort(_weights(exposures))
    n = weights.size
    ranks = np.arange(1, n + 1)
    return float(np.dot(2 * ranks - n - 1, weights) / n)


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
    limits = thresholds or CrowdingThresholds()
    hhi = herfindahl(exposures)
    gini_value = gini(exposures)
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
    matrix = np.atleast_2d(np.cov(complete, rowvar=False, ddof=1))
    if use_correlation:
        scale = np.sqrt(np.diag(matrix))
        if (scale == 0).any():
            raise ValueError("a holding has zero variance; its correlation is undefined")
        matrix = matrix / np.outer(scale, scale)
    eigenvalues = np.clip(np.linalg.eigvalsh(matrix), 0.0, None)[::-1]
    total = eigenvalues.sum()
    if total <= 0:
        raise ValueError("returns have zero variance; absorption ratio is undefined")
    return float(eigenvalues[:k].sum() / total)


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
