"""Value at Risk and Expected Shortfall by historical, Gaussian or Cornish-Fisher method.

Both figures are reported as positive loss fractions: a VaR of 0.02 means a loss of 2%
of value. Returns are periodic simple returns, 1-D ``(T,)`` or 2-D ``(T, N)`` with one
portfolio per column; NaN marks a missing observation and is skipped.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import numpy as np
from scipy import stats

from riskwatch.analytics._columns import (
    Columns,
    lower_quantile,
    lower_tail_mean,
    quantile_rows,
    sorted_head,
)
from riskwatch.analytics._validation import (
    FloatArray,
    as_returns_matrix,
    check_min_observations,
    tail_probability,
)

DEFAULT_MIN_OBSERVATIONS = 2
"""Fewest non-NaN observations a column needs; fewer raise ``ValueError``."""


class VaRMethod(StrEnum):
    """How VaR and ES are estimated. The value is the label the agents publish."""

    HISTORICAL = "historical"
    """Empirical quantile of the observed returns (numpy's linear interpolation)."""
    GAUSSIAN = "gaussian"
    """Normal distribution with the sample mean and standard deviation (ddof=1)."""
    CORNISH_FISHER = "cornish_fisher"
    """Normal quantile corrected for sample skewness and excess kurtosis."""


def value_at_risk(
    returns: Any,
    confidence: float = 0.99,
    method: VaRMethod | str = VaRMethod.HISTORICAL,
    *,
    min_observations: int = DEFAULT_MIN_OBSERVATIONS,
) -> float | FloatArray:
    """Value at Risk at ``confidence``, as a positive loss fraction.

    - ``historical``: ``-percentile(r, 100 (1 - confidence))`` with numpy's linear
      interpolation, e.g. 99% VaR is minus the 1st percentile.
    - ``gaussian``: ``-(mean + z std)`` where ``z`` is the standard normal
      ``1 - confidence`` quantile and ``std`` uses ddof=1.
    - ``cornish_fisher``: as gaussian with ``z`` replaced by its Cornish-Fisher expansion
      in the sample skewness and excess kurtosis (population moments, like
      ``scipy.stats.skew`` and ``scipy.stats.kurtosis`` defaults).

    A negative result means even the tail quantile is a gain.

    Args:
        returns: periodic simple returns, ``(T,)`` or ``(T, N)``; NaN is skipped.
        confidence: in (0, 1), e.g. 0.99.
        method: a ``VaRMethod`` or its string value.
        min_observations: fewest non-NaN values per column (default 2).

    Returns:
        A float for 1-D input, an array of N for 2-D input.

    Raises:
        ValueError: on ±inf, a bad shape or method, or too few observations.
    """
    return _tail_figure(returns, confidence, method, min_observations, expected_shortfall=False)


def expected_shortfall(
    returns: Any,
    confidence: float = 0.975,
    method: VaRMethod | str = VaRMethod.HISTORICAL,
    *,
    min_observations: int = DEFAULT_MIN_OBSERVATIONS,
) -> float | FloatArray:
    """Expected Shortfall (CVaR) at ``confidence``, as a positive loss fraction.

    - ``historical``: minus the mean of the lowest ``int((n - 1) (1 - confidence)) + 1``
      returns, i.e. ``-empyrical.conditional_value_at_risk(r, 1 - confidence)``.
    - ``gaussian``: ``-mean + std phi(z) / (1 - confidence)``.
    - ``cornish_fisher``: the mean of the Cornish-Fisher quantile function over the
      tail, which has the closed form
      ``-mean + std phi(z) / p * (1 + z S/6 + (z^2 - 1) K/24 + (1 - 2 z^2) S^2/36)``
      with ``p = 1 - confidence``, ``S`` the skewness and ``K`` the excess kurtosis.
      It is coherent with the Cornish-Fisher VaR while the expansion is monotone
      (moderate skewness and kurtosis).

    Arguments, return value and errors are as for :func:`value_at_risk`.
    """
    return _tail_figure(returns, confidence, method, min_observations, expected_shortfall=True)


def _tail_figure(
    returns: Any,
    confidence: float,
    method: VaRMethod | str,
    min_observations: int,
    *,
    expected_shortfall: bool,
) -> float | FloatArray:
    chosen = parse_method(method)
    p = tail_probability(confidence)
    data, one_d = as_returns_matrix(returns, "returns")
    columns = Columns.of(data)
    check_min_observations(columns.count, min_observations, "VaR/ES")
    if chosen is VaRMethod.HISTORICAL:
        head = sorted_head(data, quantile_rows(columns.count, p))
        tail = lower_tail_mean if expected_shortfall else lower_quantile
        result = -tail(head, columns.count, p)
    else:
        result = parametric_tail(columns, p, chosen, expected_shortfall=expected_shortfall)
    return float(result[0]) if one_d else result


def parse_method(method: VaRMethod | str) -> VaRMethod:
    """Return ``method`` as a ``VaRMethod``, raising ``ValueError`` for unknown names."""
    try:
        return VaRMethod(method)
    except ValueError:
        known = ", ".join(m.value for m in VaRMethod)
        raise ValueError(f"unknown VaR method {method!r}; expected one of {known}") from None


def parametric_tail(
    columns: Columns, p: float, method: VaRMethod, *, expected_shortfall: bool
) -> FloatArray:
    """Gaussian or Cornish-Fisher VaR (or ES) of each column at tail probability ``p``."""
    mean = columns.mean()
    std = columns.std(mean)
    z = float(stats.norm.ppf(p))
    if method is VaRMethod.GAUSSIAN:
        if expected_shortfall:
            return -mean + std * float(stats.norm.pdf(z)) / p
        return -(mean + z * std)
    skew, kurt = _skew_kurtosis(columns, mean)
    if expected_shortfall:
        bracket = 1 + z * skew / 6 + (z**2 - 1) * kurt / 24 + (1 - 2 * z**2) * skew**2 / 36
        result: FloatArray = -mean + std * float(stats.norm.pdf(z)) / p * bracket
        return result
    z_cf = (
        z + (z**2 - 1) * skew / 6 + (z**3 - 3 * z) * kurt / 24 - (2 * z**3 - 5 * z) * skew**2 / 36
    )
    cornish_fisher: FloatArray = -(mean + z_cf * std)
    return cornish_fisher


def _skew_kurtosis(columns: Columns, mean: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Population skewness and excess kurtosis; 0 for a constant column (no dispersion).

    The deviations are standardized before the third and fourth powers, so that tiny
    or huge returns neither underflow nor overflow (``m2 ** 2`` of 1e-114 is 0).
    """
    centred = columns.mask(columns.values - mean)
    m2 = np.einsum("ij,ij->j", centred, centred) / columns.count
    constant = columns.constant() | (m2 == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        centred /= np.sqrt(m2)
    columns.mask(centred)
    squared = centred * centred
    m3 = np.einsum("ij,ij->j", squared, centred) / columns.count
    m4 = np.einsum("ij,ij->j", squared, squared) / columns.count
    skew = np.where(constant, 0.0, m3)
    kurt = np.where(constant, 0.0, m4 - 3.0)
    return skew, kurt
