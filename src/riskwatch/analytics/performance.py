"""Vectorized performance and risk figures of one or many return series.

``performance_metrics`` computes every figure the agents publish for a portfolio, for
a whole book at once: a ``(T, N)`` array holds one portfolio per column and every
figure comes back as an array of N. Where empyrical-reloaded defines a figure, the
result equals empyrical's on the column with its missing observations removed.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

from riskwatch.analytics._columns import (
    Columns,
    count_true,
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
from riskwatch.analytics.tail_risk import DEFAULT_MIN_OBSERVATIONS

MetricValue = float | FloatArray
"""A figure: a float for a 1-D input, an array of N for a ``(T, N)`` input."""

RETURN_METRICS: Final = (
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "var_99",
    "es_975",
    "win_rate",
    "profit_factor",
    "win_loss_ratio",
)
"""Keys ``performance_metrics`` always returns."""

BENCHMARK_METRICS: Final = ("beta", "alpha", "tracking_error", "information_ratio")
"""Keys ``performance_metrics`` adds when a benchmark is given."""

_VAR_CONFIDENCE: Final = 0.99
_ES_CONFIDENCE: Final = 0.975
_BETA_MIN_VARIANCE: Final = 1.0e-30  # empyrical's cut-off below which beta is undefined
_BLOCK_ELEMENTS: Final = 1 << 20  # ~8 MB per temporary: bounds memory, stays cache friendly


def performance_metrics(
    returns: Any,
    benchmark: Any = None,
    periods_per_year: float = 252,
    risk_free: float = 0.0,
    *,
    min_observations: int = DEFAULT_MIN_OBSERVATIONS,
) -> dict[str, MetricValue]:
    """Performance and risk figures of periodic simple returns.

    Args:
        returns: simple returns, ``(T,)`` or ``(T, N)`` with one portfolio per column
            (numpy array, list, ``pd.Series`` or ``pd.DataFrame``). NaN marks a missing
            observation and is skipped.
        benchmark: optional benchmark returns, ``(T,)`` shared by every column or the
            same shape as ``returns``. A pandas benchmark is aligned on the index of
            pandas ``returns`` (dates missing from it become NaN).
        periods_per_year: periods in a year, e.g. 252 for daily returns.
        risk_free: risk-free return per period (not annual), as in empyrical.
        min_observations: fewest non-NaN observations each column needs (default 2);
            with a benchmark, also the fewest paired observations.

    Returns:
        A dict from figure name to value (float for 1-D input, array of N for 2-D):

        - ``annual_return``: geometric, ``prod(1 + r) ** (periods / n) - 1``.
        - ``annual_volatility``: ``std(r, ddof=1) * sqrt(periods)``.
        - ``sharpe``: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods)``.
        - ``sortino``: ``mean(r - rf) * periods`` over empyrical's downside risk with
          ``rf`` as the required return.
        - ``calmar``: ``annual_return / max_drawdown``; NaN without a drawdown.
        - ``max_drawdown``: largest fall from a running peak of the compounded
          wealth, as a positive fraction (0 when there is none).
        - ``var_99``: ``-percentile(r, 1)``, numpy's linear interpolation.
        - ``es_975``: ``-empyrical.conditional_value_at_risk(r, 0.025)``.
        - ``win_rate``: ``count(r > 0) / count(r != 0)``; NaN if every return is 0.
        - ``profit_factor``: sum of gains over ``|sum of losses|``; ``inf`` with gains
          and no losses, 0 with losses and no gains, NaN with neither.
        - ``win_loss_ratio``: mean gain over ``|mean loss|``, same edge cases.

        With a benchmark ``b``, on the observations where both are present:

        - ``beta``: ``cov(r, b) / var(b)`` (population moments, as empyrical); NaN
          when ``var(b) < 1e-30``.
        - ``alpha``: ``(1 + mean(r - rf - beta (b - rf))) ** periods - 1``.
        - ``tracking_error``: ``std(r - b, ddof=1) * sqrt(periods)``.
        - ``information_ratio``: ``mean(r - b) / std(r - b, ddof=1) * sqrt(periods)``.

        Ratios over a zero dispersion (a constant series) are ``±inf``, or NaN when the
        numerator is 0 too. Figures that do not involve the benchmark use every
        present observation of the portfolio, so adding a benchmark never changes them.

    Raises:
        ValueError: if an input contains ±inf, the shapes do not match, or a column has
            fewer than ``min_observations`` (paired) observations.
    """
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number; got {periods_per_year!r}")
    if not math.isfinite(risk_free):
        raise ValueError(f"risk_free must be finite; got {risk_free!r}")
    if isinstance(returns, pd.Series | pd.DataFrame) and isinstance(
        benchmark, pd.Series | pd.DataFrame
    ):
        benchmark = benchmark.reindex(returns.index)
    data, one_d = as_returns_matrix(returns, "returns")
    bench = None if benchmark is None else _benchmark_matrix(benchmark, data.shape, one_d)

    width = max(1, _BLOCK_ELEMENTS // max(1, data.shape[0]))
    blocks = []
    for start in range(0, data.shape[1], width):
        block = slice(start, start + width)
        block_bench = bench if bench is None or bench.shape[1] == 1 else bench[:, block]
        blocks.append(
            _block_metrics(
                data[:, block],
                block_bench,
                float(periods_per_year),
                float(risk_free),
                min_observations,
            )
        )
    if not blocks:
        raise ValueError("too few observations: returns have no columns")
    names = blocks[0].keys()
    if one_d:
        return {name: float(blocks[0][name][0]) for name in names}
    return {name: np.concatenate([block[name] for block in blocks]) for name in names}


def _benchmark_matrix(benchmark: Any, shape: tuple[int, ...], one_d: bool) -> FloatArray:
    bench, bench_one_d = as_returns_matrix(benchmark, "benchmark")
    rows, columns = shape
    fits = bench.shape[0] == rows and bench.shape[1] in (1, columns)
    if not fits or (one_d and not bench_one_d):
        wanted = f"({rows},)" if one_d else f"({rows},) or ({rows}, {columns})"
        given = bench.shape[:1] if bench_one_d else bench.shape
        raise ValueError(f"shape mismatch: benchmark has shape {given}, expected {wanted}")
    return bench


def _block_metrics(
    data: FloatArray,
    bench: FloatArray | None,
    periods: float,
    risk_free: float,
    min_observations: int,
) -> dict[str, FloatArray]:
    cols = Columns.of(data)
    check_min_observations(cols.count, min_observations, "performance_metrics")
    x = cols.values
    out: dict[str, FloatArray] = {}

    # Two (T, N) buffers serve every temporary in turn: fresh large allocations are
    # page-faulted in anew on every call, which costs as much as the arithmetic.
    # ``scratch`` holds short-lived values; ``spare`` holds growth, then downside
    # returns, then the active returns.
    scratch = np.empty_like(x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        growth = np.add(x, 1.0)
        out["annual_return"] = np.prod(growth, axis=0) ** (1 / (cols.count / periods)) - 1
        drawdown = _max_drawdown(growth)

        mean = cols.mean()
        std = cols.std(mean, scratch=scratch)
        out["annual_volatility"] = std * periods ** (1.0 / 2.0)

        if risk_free == 0:
            excess, excess_mean, excess_std = cols, mean, std
        else:
            excess = _shifted(cols, risk_free)
            excess_mean = excess.mean()
            excess_std = excess.std(excess_mean, scratch=scratch)
        out["sharpe"] = excess_mean / excess_std * np.sqrt(periods)
        downside = np.minimum(excess.values, 0.0, out=growth)
        downside_risk = np.sqrt(np.einsum("ij,ij->j", downside, downside) / cols.count)
        out["sortino"] = excess_mean * periods / (downside_risk * np.sqrt(periods))

        calmar = out["annual_return"] / drawdown
        out["calmar"] = np.where((drawdown > 0) & np.isfinite(calmar), calmar, np.nan)
        out["max_drawdown"] = drawdown

        var_q = tail_probability(_VAR_CONFIDENCE)
        es_q = tail_probability(_ES_CONFIDENCE)
        rows = max(quantile_rows(cols.count, var_q), quantile_rows(cols.count, es_q))
        head = sorted_head(data, rows, scratch)
        out["var_99"] = -lower_quantile(head, cols.count, var_q)
        out["es_975"] = -lower_tail_mean(head, cols.count, es_q)

        losses = downside if risk_free == 0 else np.minimum(x, 0.0)
        out.update(_gain_loss(x, losses, scratch))

        if bench is not None:
            spare = growth  # downside returns are no longer needed
            out.update(
                _benchmark_block(cols, bench, periods, risk_free, min_observations, scratch, spare)
            )
    return out


def _shifted(cols: Columns, shift: float) -> Columns:
    """The same columns with ``shift`` subtracted from every present value."""
    return Columns(cols.mask(cols.values - shift), cols.present, cols.count, cols.complete)


_ROW_LOOP_MIN_COLUMNS: Final = 32


def _max_drawdown(growth: FloatArray) -> FloatArray:
    """Max drawdown ``1 - min(wealth / running peak)`` of compounded ``growth = 1 + r``.

    Wealth starts at 100 like empyrical's. ``1 - w / p`` instead of empyrical's
    ``(p - w) / p`` saves a pass; both carry the rounding of the compounded wealth,
    about ``T`` ulps, so neither resolves a drawdown finer than that.

    Wide blocks walk the rows with in-place ufuncs: numpy's accumulate along axis 0 of
    a C-ordered array is several times slower than a loop of whole-row operations, and
    the loop needs no ``(T, N)`` temporaries. Narrow blocks, where the per-row call
    overhead dominates, use ``cumprod``/``maximum.accumulate``.
    """
    width = growth.shape[1]
    if width < _ROW_LOOP_MIN_COLUMNS:
        wealth = np.cumprod(growth, axis=0)
        wealth *= 100.0
        peak = np.maximum.accumulate(wealth, axis=0)
        np.maximum(peak, 100.0, out=peak)
        wealth /= peak
        lowest = wealth.min(axis=0, initial=1.0)
    else:
        level = np.full(width, 100.0)
        peak = level.copy()
        lowest = np.ones(width)
        ratio = np.empty(width)
        for row in growth:
            np.multiply(level, row, out=level)
            np.maximum(peak, level, out=peak)
            np.divide(level, peak, out=ratio)
            np.minimum(lowest, ratio, out=lowest)
    result: FloatArray = 1.0 - lowest
    return result


def _gain_loss(x: FloatArray, losses: FloatArray, scratch: FloatArray) -> dict[str, FloatArray]:
    """Win rate, profit factor and win/loss ratio; ``losses`` is ``min(x, 0)``."""
    n_gain = count_true(x > 0)
    n_loss = count_true(x < 0)
    gain_sum = np.maximum(x, 0.0, out=scratch).sum(axis=0)
    loss_sum = 0.0 - losses.sum(axis=0)  # not -sum: -(0.0) is -0.0 and g / -0.0 is -inf
    # 0/0 -> NaN (no decided days), g/0 -> inf (gains, no losses), 0/l -> 0.
    return {
        "win_rate": n_gain / (n_gain + n_loss),
        "profit_factor": gain_sum / loss_sum,
        "win_loss_ratio": (gain_sum / np.maximum(n_gain, 1)) / (loss_sum / np.maximum(n_loss, 1)),
    }


def _benchmark_block(
    cols: Columns,
    bench: FloatArray,
    periods: float,
    risk_free: float,
    min_observations: int,
    scratch: FloatArray,
    spare: FloatArray,
) -> dict[str, FloatArray]:
    """Beta, alpha, tracking error and information ratio.

    ``scratch`` and ``spare`` are ``(T, N)`` buffers that are overwritten.
    """
    if bench.shape[1] == 1 and not np.isnan(bench).any():
        pairs = cols  # the portfolio's own gaps are the only gaps
        moments = _shared_benchmark_moments(cols, bench, scratch, spare)
    else:
        paired = cols.present & ~np.isnan(bench)
        pairs = Columns(np.where(paired, cols.values, 0.0), paired, count_true(paired), False)
        check_min_observations(pairs.count, min_observations, "benchmark-relative figures (paired)")
        moments = _paired_benchmark_moments(pairs, bench, scratch, spare)
    covariance, variance, active = moments
    beta = covariance / np.where(variance < _BETA_MIN_VARIANCE, np.nan, variance)
    # Residuals element by element, as empyrical: for a portfolio that tracks beta * b
    # closely, sum(r) - beta * sum(b) would cancel and lose alpha's leading digits.
    residual = np.multiply(bench if risk_free == 0 else bench - risk_free, beta, out=scratch)
    np.subtract(
        pairs.values if risk_free == 0 else pairs.values - risk_free, residual, out=residual
    )
    residual_mean = pairs.mask(residual).sum(axis=0) / pairs.count
    alpha = (residual_mean + 1) ** periods - 1

    active_mean = active.mean()
    active_std = active.std(active_mean, scratch=scratch)
    root = np.sqrt(periods)
    return {
        "beta": beta,
        "alpha": alpha,
        "tracking_error": active_std * root,
        "information_ratio": active_mean / active_std * root,
    }


_Moments = tuple[FloatArray, FloatArray, Columns]
"""Per column: cov(r, b) and var(b) (population, over pairs), and r - b."""


def _shared_benchmark_moments(
    cols: Columns, bench: FloatArray, scratch: FloatArray, spare: FloatArray
) -> _Moments:
    """Moments against one complete ``(T, 1)`` benchmark, by matrix-vector products.

    The benchmark is centred once on its full-sample mean. A column with gaps needs its
    own mean ``m`` of the centred benchmark over its present rows, and the one-pass
    ``sum(b^2) / n - m^2`` keeps full precision only while ``m^2`` is small next to the
    variance, which holds for a few gaps; the other columns are redone two-pass.
    """
    n = cols.count
    residual = bench[:, 0] - bench[:, 0].sum() / bench.shape[0]
    if cols.complete:
        covariance = residual @ cols.values / n
        variance = np.full(n.shape, residual @ residual) / n
    else:
        weights = scratch
        np.copyto(weights, cols.present)
        mean = residual @ weights / n
        covariance = (residual @ cols.values - mean * cols.values.sum(axis=0)) / n
        variance = (residual * residual) @ weights / n - mean * mean
        redo = np.flatnonzero(~(mean * mean <= variance))
        if redo.size:
            subset = Columns(cols.values[:, redo], cols.present[:, redo], n[redo], False)
            covariance[redo], variance[redo], _ = _paired_benchmark_moments(
                subset, bench, np.empty_like(subset.values), np.empty_like(subset.values)
            )
    active_values = cols.mask(np.subtract(cols.values, bench, out=spare))
    active = Columns(active_values, cols.present, n, cols.complete)
    return covariance, variance, active


def _paired_benchmark_moments(
    pairs: Columns, bench: FloatArray, scratch: FloatArray, spare: FloatArray
) -> _Moments:
    """Moments over the present pairs, two-pass like empyrical.

    A one-pass ``sum(b^2) - n m^2`` would be cheaper but loses digits in a column with
    many gaps, whose mean over its present rows can be far from the full-sample mean.
    """
    b = scratch
    np.copyto(b, bench)
    pairs.mask(b)
    active = Columns(np.subtract(pairs.values, b, out=spare), pairs.present, pairs.count, False)
    # Beta as empyrical: only the benchmark is centred; population moments.
    residual = pairs.mask(np.subtract(b, b.sum(axis=0) / pairs.count, out=b))
    covariance = np.einsum("ij,ij->j", residual, pairs.values) / pairs.count
    variance = np.einsum("ij,ij->j", residual, residual) / pairs.count
    return covariance, variance, active
