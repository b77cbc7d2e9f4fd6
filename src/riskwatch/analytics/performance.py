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

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        growth = 1.0 + x
        out["annual_return"] = np.prod(growth, axis=0) ** (1 / (cols.count / periods)) - 1

        mean = cols.mean()
        std = cols.std(mean)
        out["annual_volatility"] = std * periods ** (1.0 / 2.0)

        if risk_free == 0:
            excess, excess_mean, excess_std = cols, mean, std
        else:
            excess = _shifted(cols, risk_free)
            excess_mean = excess.mean()
            excess_std = excess.std(excess_mean)
        out["sharpe"] = excess_mean / excess_std * np.sqrt(periods)
        downside = np.minimum(excess.values, 0.0)
        downside_risk = np.sqrt(np.einsum("ij,ij->j", downside, downside) / cols.count)
        out["sortino"] = excess_mean * periods / (downside_risk * np.sqrt(periods))

        drawdown = _max_drawdown(growth)
        calmar = out["annual_return"] / drawdown
        out["calmar"] = np.where((drawdown > 0) & np.isfinite(calmar), calmar, np.nan)
        out["max_drawdown"] = drawdown

        var_q = tail_probability(_VAR_CONFIDENCE)
        es_q = tail_probability(_ES_CONFIDENCE)
        rows = max(quantile_rows(cols.count, var_q), quantile_rows(cols.count, es_q))
        head = sorted_head(data, rows)
        out["var_99"] = -lower_quantile(head, cols.count, var_q)
        out["es_975"] = -lower_tail_mean(head, cols.count, es_q)

        losses = downside if risk_free == 0 else np.minimum(x, 0.0)
        out.update(_gain_loss(x, losses))

        if bench is not None:
            out.update(_benchmark_block(cols, bench, periods, risk_free, min_observations))
    return out


def _shifted(cols: Columns, shift: float) -> Columns:
    """The same columns with ``shift`` subtracted from every present value."""
    return Columns(cols.mask(cols.values - shift), cols.present, cols.count, cols.complete)


_ROW_LOOP_MIN_COLUMNS: Final = 32


def _max_drawdown(growth: FloatArray) -> FloatArray:
    """Max drawdown of compounded ``growth = 1 + r``, anchored at 100 like empyrical.

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
        wealth -= peak
        wealth /= peak
        lowest = wealth.min(axis=0, initial=0.0)
    else:
        level = np.full(width, 100.0)
        peak = level.copy()
        lowest = np.zeros(width)
        step = np.empty(width)
        for row in growth:
            np.multiply(level, row, out=level)
            np.maximum(peak, level, out=peak)
            np.subtract(level, peak, out=step)
            np.divide(step, peak, out=step)
            np.minimum(lowest, step, out=lowest)
    result: FloatArray = 0.0 - lowest
    return result


def _gain_loss(x: FloatArray, losses: FloatArray) -> dict[str, FloatArray]:
    """Win rate, profit factor and win/loss ratio; ``losses`` is ``min(x, 0)``."""
    n_gain = count_true(x > 0)
    n_loss = count_true(x < 0)
    gain_sum = np.maximum(x, 0.0).sum(axis=0)
    loss_sum = 0.0 - losses.sum(axis=0)  # not -sum: -(0.0) is -0.0 and g / -0.0 is -inf
    # 0/0 -> NaN (no decided days), g/0 -> inf (gains, no losses), 0/l -> 0.
    return {
        "win_rate": n_gain / (n_gain + n_loss),
        "profit_factor": gain_sum / loss_sum,
        "win_loss_ratio": (gain_sum / np.maximum(n_gain, 1)) / (loss_sum / np.maximum(n_loss, 1)),
    }


def _benchmark_block(
    cols: Columns, bench: FloatArray, periods: float, risk_free: float, min_observations: int
) -> dict[str, FloatArray]:
    if bench.shape[1] == 1 and not np.isnan(bench).any():
        moments = _shared_benchmark_moments(cols, bench[:, 0])
        pairs = cols  # the portfolio's own gaps are the only gaps
    else:
        paired = cols.present & ~np.isnan(bench)
        pairs = Columns(np.where(paired, cols.values, 0.0), paired, count_true(paired), False)
        check_min_observations(pairs.count, min_observations, "benchmark-relative figures (paired)")
        moments = _paired_benchmark_moments(pairs, bench)
    covariance, variance, bench_sum, active = moments
    r, n = pairs.values, pairs.count
    beta = covariance / np.where(variance < _BETA_MIN_VARIANCE, np.nan, variance)
    # sum(r - rf - beta (b - rf)) from column sums, which avoids a (T, N) temporary.
    excess_sum = r.sum(axis=0) - n * risk_free
    alpha = ((excess_sum - beta * (bench_sum - n * risk_free)) / n + 1) ** periods - 1

    active_mean = active.mean()
    active_std = active.std(active_mean)
    root = np.sqrt(periods)
    return {
        "beta": beta,
        "alpha": alpha,
        "tracking_error": active_std * root,
        "information_ratio": active_mean / active_std * root,
    }


_Moments = tuple[FloatArray, FloatArray, FloatArray, Columns]
"""Per column: cov(r, b), var(b) (population, over pairs), sum of b over pairs, r - b."""


def _shared_benchmark_moments(cols: Columns, bench: FloatArray) -> _Moments:
    """Moments against one complete ``(T,)`` benchmark, by matrix-vector products.

    Covariance and variance do not change when ``b`` is shifted, so ``b`` is centred
    once on its full-sample mean; the per-column mean over present rows is then tiny
    and the one-pass ``sum(b^2) - n m^2`` loses no precision.
    """
    n = cols.count
    shift = bench.sum() / bench.size
    centred = bench - shift
    if cols.complete:
        centred_sum = np.full(n.shape, centred.sum())
        centred_squares = np.full(n.shape, centred @ centred)
    else:
        weights = cols.present.astype(np.float64)
        centred_sum = centred @ weights
        centred_squares = (centred * centred) @ weights
    mean = centred_sum / n
    covariance = (centred @ cols.values - mean * cols.values.sum(axis=0)) / n
    variance = centred_squares / n - mean * mean
    active = cols.mask(cols.values - bench[:, np.newaxis])
    return (
        covariance,
        variance,
        centred_sum + n * shift,
        Columns(active, cols.present, n, cols.complete),
    )


def _paired_benchmark_moments(pairs: Columns, bench: FloatArray) -> _Moments:
    """Moments against a benchmark with gaps or one per column, two-pass like empyrical."""
    b = np.where(pairs.present, bench, 0.0)
    bench_sum = b.sum(axis=0)
    active = Columns(pairs.values - b, pairs.present, pairs.count, False)
    # Beta as empyrical: only the benchmark is centred; population moments.
    residual = pairs.mask(np.subtract(b, bench_sum / pairs.count, out=b))
    covariance = np.einsum("ij,ij->j", residual, pairs.values) / pairs.count
    variance = np.einsum("ij,ij->j", residual, residual) / pairs.count
    return covariance, variance, bench_sum, active
