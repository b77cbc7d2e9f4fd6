"""Value at Risk and Expected Shortfall by historical, Gaussian, Cornish-Fisher or
filtered historical (GARCH) method.

Both figures are reported as positive loss fractions: a VaR of 0.02 means a loss of 2%
of value. Returns are periodic simple returns, 1-D ``(T,)`` or 2-D ``(T, N)`` with one
portfolio per column; NaN marks a missing observation and is skipped.

`value_at_risk` and `expected_shortfall` give one figure; `tail_figures` gives both at
several confidences from one estimate (one GARCH fit per column for the filtered
method, where the fit is nearly all the cost).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import numpy as np
from scipy import stats

from riskwatch.analytics import filtered
from riskwatch.analytics._columns import (
    Columns,
    IntArray,
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
"""Fewest non-NaN observations a column needs; fewer raise ``ValueError``. The filtered
historical method needs more (`minimum_observations`)."""


class VaRMethod(StrEnum):
    """How VaR and ES are estimated. The value is the label the agents publish."""

    HISTORICAL = "historical"
    """Empirical quantile of the observed returns (numpy's linear interpolation)."""
    GAUSSIAN = "gaussian"
    """Normal distribution with the sample mean and standard deviation (ddof=1)."""
    CORNISH_FISHER = "cornish_fisher"
    """Normal quantile corrected for sample skewness and excess kurtosis."""
    FILTERED_HISTORICAL = "filtered_historical"
    """Historical quantile of GARCH(1,1)-standardized residuals, scaled by the next
    day's forecast volatility (`riskwatch.analytics.filtered`)."""


def minimum_observations(method: VaRMethod | str) -> int:
    """Fewest non-NaN returns per column ``method`` accepts (2; 100 for a GARCH fit)."""
    if parse_method(method) is VaRMethod.FILTERED_HISTORICAL:
        return filtered.MIN_OBSERVATIONS
    return DEFAULT_MIN_OBSERVATIONS


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
    - ``filtered_historical``: ``-(mu + sigma_next q)`` from a constant-mean GARCH(1,1)
      fit, ``q`` the historical quantile of its standardized residuals and
      ``sigma_next`` its one-day-ahead volatility (`riskwatch.analytics.filtered`, which
      also says what happens when the fit does not converge).

    A negative result means even the tail quantile is a gain.

    Args:
        returns: periodic simple returns, ``(T,)`` or ``(T, N)``; NaN is skipped.
        confidence: in (0, 1), e.g. 0.99.
        method: a ``VaRMethod`` or its string value.
        min_observations: fewest non-NaN values per column (default 2); the filtered
            method needs at least 100 whatever this says (`minimum_observations`).

    Returns:
        A float for 1-D input, an array of N for 2-D input.

    Raises:
        ValueError: on ±inf, a bad shape or method, or too few observations.
    """
    p = tail_probability(confidence)
    model, one_d = _tail_model(returns, method, [p], min_observations)
    return _shaped(model.var(p), one_d)


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
    - ``filtered_historical``: ``-(mu + sigma_next m)`` with ``m`` the historical ES
      cut-off mean of the GARCH-standardized residuals (see :func:`value_at_risk`).

    Arguments, return value and errors are as for :func:`value_at_risk`.
    """
    p = tail_probability(confidence)
    model, one_d = _tail_model(returns, method, [p], min_observations)
    return _shaped(model.es(p), one_d)


_Figure = TypeVar("_Figure")  # float, or an array of one per column


class VaRES(NamedTuple, Generic[_Figure]):
    """VaR and ES at one confidence, positive loss fractions."""

    var: _Figure
    es: _Figure


def tail_figures(
    returns: Any,
    confidences: Sequence[float] = (0.99, 0.975),
    method: VaRMethod | str = VaRMethod.HISTORICAL,
    *,
    min_observations: int = DEFAULT_MIN_OBSERVATIONS,
) -> dict[float, VaRES[float] | VaRES[FloatArray]]:
    """VaR and ES at each of ``confidences`` from one estimate per column.

    ``tail_figures(r, cs, m)[c]`` is ``(value_at_risk(r, c, m), expected_shortfall(r,
    c, m))`` exactly; the filtered method fits its GARCH once per column for all of
    them instead of once per figure.

    Args:
        returns: periodic simple returns, ``(T,)`` or ``(T, N)``; NaN is skipped.
        confidences: one or more, each in (0, 1).
        method: a ``VaRMethod`` or its string value.
        min_observations: as for :func:`value_at_risk`.

    Returns:
        ``{confidence: VaRES(var, es)}``, floats for 1-D input, arrays of N for 2-D.

    Raises:
        ValueError: as :func:`value_at_risk`, or when ``confidences`` is empty.
    """
    probabilities = tail_probabilities(confidences)
    model, one_d = _tail_model(returns, method, list(probabilities.values()), min_observations)
    figures: dict[float, VaRES[float] | VaRES[FloatArray]] = {}
    for confidence, p in probabilities.items():
        var, es = model.var(p), model.es(p)
        figures[confidence] = VaRES(float(var[0]), float(es[0])) if one_d else VaRES(var, es)
    return figures


class _TailModel(Protocol):
    """One method's estimate for a block of columns, read at any tail probability.

    The estimate is the expensive part (a sort, moments, or a GARCH fit per column);
    reading VaR and ES off it is cheap. It must not be read at a tail probability
    larger than the ones it was made for, which set how much of each sorted column
    is kept.
    """

    def var(self, p: float) -> FloatArray: ...

    def es(self, p: float) -> FloatArray: ...


def _tail_model(
    returns: Any, method: VaRMethod | str, probabilities: Sequence[float], min_observations: int
) -> tuple[_TailModel, bool]:
    """The estimate of ``method`` on every column, and whether ``returns`` was 1-D."""
    chosen = parse_method(method)
    data, one_d = as_returns_matrix(returns, "returns")
    columns = Columns.of(data)
    check_min_observations(columns.count, min_observations, "VaR/ES")
    model: _TailModel
    if chosen is VaRMethod.HISTORICAL:
        model = _Historical.of(data, columns.count, probabilities)
    elif chosen is VaRMethod.FILTERED_HISTORICAL:
        fit = filtered.filter_columns(columns)
        model = _Filtered(fit, _Historical.of(fit.residuals, columns.count, probabilities))
    else:
        model = _Parametric(columns, chosen)
    return model, one_d


@dataclass(frozen=True)
class _Historical:
    head: FloatArray
    count: IntArray

    @classmethod
    def of(cls, data: FloatArray, count: IntArray, probabilities: Sequence[float]) -> _Historical:
        """Keep the lowest values of each column that the figures at ``probabilities``
        read; NaNs sort last, past the ``count`` present values the helpers read."""
        return cls(sorted_head(data, quantile_rows(count, max(probabilities))), count)

    def var(self, p: float) -> FloatArray:
        return -lower_quantile(self.head, self.count, p)

    def es(self, p: float) -> FloatArray:
        return -lower_tail_mean(self.head, self.count, p)


@dataclass(frozen=True)
class _Filtered:
    """Historical simulation of the standardized residuals, mapped back to returns:
    ``-(mu + sigma_next q)`` is ``sigma_next (-q) - mu``."""

    fit: filtered.FilteredColumns
    residuals: _Historical

    def var(self, p: float) -> FloatArray:
        result: FloatArray = self.fit.sigma_next * self.residuals.var(p) - self.fit.mu
        return result

    def es(self, p: float) -> FloatArray:
        result: FloatArray = self.fit.sigma_next * self.residuals.es(p) - self.fit.mu
        return result


@dataclass(frozen=True)
class _Parametric:
    columns: Columns
    method: VaRMethod

    def var(self, p: float) -> FloatArray:
        return parametric_tail(self.columns, p, self.method, expected_shortfall=False)

    def es(self, p: float) -> FloatArray:
        return parametric_tail(self.columns, p, self.method, expected_shortfall=True)


def tail_probabilities(confidences: Sequence[float]) -> dict[float, float]:
    """Each confidence's tail probability ``1 - c``; ``ValueError`` if none or one is
    not in (0, 1)."""
    if not len(confidences):
        raise ValueError("confidences must name at least one confidence")
    return {c: tail_probability(c) for c in confidences}


def _shaped(result: FloatArray, one_d: bool) -> float | FloatArray:
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
