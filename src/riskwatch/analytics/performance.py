"""Vectorized performance and risk figures of one or many return series.

``performance_metrics`` computes every figure the agents publish for a portfolio, for
a whole book at once: a ``(T, N)`` array holds one portfolio per column and every
figure comes back as an array of N. Where empyrical-reloaded defines a figure, the
result equals empyrical's on the column with its missing observations removed.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd

from riskwatch.analytics._columns import (
    Columns,
    IntArray,
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
    reject_inf,
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
    # Each block looks for ±inf in its own column sums, which costs nothing.
    data, one_d = as_returns_matrix(returns, "returns", check_inf=False)
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


class _Workspace(threading.local):
    """Two buffers the size of a block, kept by each thread from one call to the next.

    A fresh array of a few megabytes is page-faulted in anew on every call (the
    allocator hands large freed blocks back to the system), which costs as much as a
    few passes of arithmetic over it. A thread keeps at most ``2 * _BLOCK_ELEMENTS``
    floats (16 MB); no result is a view of them.
    """

    def __init__(self) -> None:
        self.kept = [np.empty(0), np.empty(0)]

    def buffers(self, shape: tuple[int, int]) -> tuple[FloatArray, FloatArray]:
        size = shape[0] * shape[1]
        if size > _BLOCK_ELEMENTS:  # one very long column: not worth keeping
            return np.empty(shape), np.empty(shape)
        for i, kept in enumerate(self.kept):
            if kept.size < size:  # grown to the largest block seen, which fits them all
                self.kept[i] = np.empty(size)
        first, second = (kept[:size].reshape(shape) for kept in self.kept)
        return first, second


_WORKSPACE: Final = _Workspace()


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
    values_buffer, buffer = _WORKSPACE.buffers(data.shape)
    cols = Columns.of(data, out=values_buffer)
    x, n = cols.values, cols.count
    total = x.sum(axis=0)
    if not np.isfinite(total).all():  # an inf, or finite values whose sum overflows
        reject_inf(data, "returns")
    check_min_observations(n, min_observations, "performance_metrics")
    out: dict[str, FloatArray] = {}

    # Every figure comes from a few column sums and one buffer the size of the block
    # that holds growth, then losses, then the transpose for the tail: each pass over
    # the block costs about as much as the arithmetic of a figure.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.add(x, 1.0, out=buffer)
        wealth, drawdown = _compounded(buffer)
        out["annual_return"] = wealth ** (1 / (n / periods)) - 1

        squares = np.einsum("ij,ij->j", x, x)
        mean = total / n
        std = cols.std_from_squares(mean, squares)
        out["annual_volatility"] = std * periods ** (1.0 / 2.0)
        excess_mean = mean - risk_free
        out["sharpe"] = excess_mean / std * np.sqrt(periods)

        losses = np.minimum(x, 0.0, out=buffer)  # growth is no longer needed
        downside = losses if risk_free == 0 else cols.mask(np.minimum(x - risk_free, 0.0))
        downside_risk = np.sqrt(np.einsum("ij,ij->j", downside, downside) / n)
        out["sortino"] = excess_mean * periods / (downside_risk * np.sqrt(periods))

        gain_loss = _gain_loss(x, total, losses.sum(axis=0))

        calmar = out["annual_return"] / drawdown
        out["calmar"] = np.where((drawdown > 0) & np.isfinite(calmar), calmar, np.nan)
        out["max_drawdown"] = drawdown

        var_q = tail_probability(_VAR_CONFIDENCE)
        es_q = tail_probability(_ES_CONFIDENCE)
        rows = max(quantile_rows(n, var_q), quantile_rows(n, es_q))
        head = sorted_head(data, rows, scratch=buffer)  # losses are no longer needed
        out["var_99"] = -lower_quantile(head, n, var_q)
        out["es_975"] = -lower_tail_mean(head, n, es_q)
        out.update(gain_loss)

        if bench is not None:
            out.update(
                _benchmark_block(cols, bench, total, squares, periods, risk_free, min_observations)
            )
    return out


_ROW_LOOP_MIN_COLUMNS: Final = 32


def _compounded(growth: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Compounded ``growth = 1 + r`` per column and its max drawdown.

    The drawdown is ``1 - min(wealth / running peak)``, the peak starting at the
    initial wealth. Empyrical starts its wealth at 100, this at 1 so that the final
    wealth is the product itself; both carry the rounding of the compounded wealth,
    about ``T`` ulps, so neither resolves a drawdown finer than that.

    Wide blocks walk the rows with in-place ufuncs: numpy's accumulate along axis 0 of
    a C-ordered array is several times slower than a loop of whole-row operations, and
    the loop needs no ``(T, N)`` temporaries. Narrow blocks, where the per-row call
    overhead dominates, use ``cumprod``/``maximum.accumulate``.
    """
    width = growth.shape[1]
    if width < _ROW_LOOP_MIN_COLUMNS:
        wealth = np.cumprod(growth, axis=0)
        level = wealth[-1].copy()
        peak = np.maximum.accumulate(wealth, axis=0)
        np.maximum(peak, 1.0, out=peak)
        wealth /= peak
        lowest = wealth.min(axis=0, initial=1.0)
    else:
        level = np.ones(width)
        peak = level.copy()
        lowest = np.ones(width)
        ratio = np.empty(width)
        for row in growth:
            np.multiply(level, row, out=level)
            np.maximum(peak, level, out=peak)
            np.divide(level, peak, out=ratio)
            np.minimum(lowest, ratio, out=lowest)
    drawdown: FloatArray = 1.0 - lowest
    return level, drawdown


_GAIN_DIGITS_BOUND: Final = 8.0
"""Gains are the total less the losses while losses are at most this many times them."""


def _gain_loss(x: FloatArray, total: FloatArray, loss_sum: FloatArray) -> dict[str, FloatArray]:
    """Win rate, profit factor and win/loss ratio from the column sums of ``x`` and of
    ``min(x, 0)``."""
    n_gain = count_true(x > 0)
    n_loss = count_true(x < 0)
    loss = 0.0 - loss_sum  # not -sum: -(0.0) is -0.0 and g / -0.0 is -inf
    gain = total + loss
    # The difference keeps its digits while the gains are not small next to the losses;
    # elsewhere (and where the gains should be exactly 0) they are summed.
    redo = np.flatnonzero(~(loss <= _GAIN_DIGITS_BOUND * gain))
    if redo.size:
        gain[redo] = np.maximum(x[:, redo], 0.0).sum(axis=0)
    # 0/0 -> NaN (no decided days), g/0 -> inf (gains, no losses), 0/l -> 0.
    return {
        "win_rate": n_gain / (n_gain + n_loss),
        "profit_factor": gain / loss,
        "win_loss_ratio": (gain / np.maximum(n_gain, 1)) / (loss / np.maximum(n_loss, 1)),
    }


class _Paired(NamedTuple):
    """Per column, over the observations where the portfolio and the benchmark are both
    present: their count and sums, population cov(r, b) and var(b), and the mean and
    sample standard deviation of the active return r - b."""

    pairs: IntArray
    returns_sum: FloatArray
    bench_sum: FloatArray
    covariance: FloatArray
    variance: FloatArray
    active_mean: FloatArray
    active_std: FloatArray


def _benchmark_block(
    cols: Columns,
    bench: FloatArray,
    total: FloatArray,
    squares: FloatArray,
    periods: float,
    risk_free: float,
    min_observations: int,
) -> dict[str, FloatArray]:
    """Beta, alpha, tracking error and information ratio.

    ``total`` and ``squares`` are the column sums of the returns and of their squares.
    """
    shared = bench.shape[1] == 1 and not np.isnan(bench).any()
    if shared and cols.few_holes:
        paired = _shared_benchmark_moments(cols, bench[:, 0], total, squares)
    else:
        paired = _paired_moments(cols, bench, min_observations)
    n = paired.pairs
    beta = paired.covariance / np.where(
        paired.variance < _BETA_MIN_VARIANCE, np.nan, paired.variance
    )
    # mean(r - rf - beta (b - rf)) from the sums: its rounding, a few ulps of the mean
    # return, is far below the ulp of 1 that (1 + mean) ** periods keeps.
    residual_mean = (
        (paired.returns_sum - n * risk_free) - beta * (paired.bench_sum - n * risk_free)
    ) / n
    root = np.sqrt(periods)
    return {
        "beta": beta,
        "alpha": (residual_mean + 1) ** periods - 1,
        "tracking_error": paired.active_std * root,
        "information_ratio": paired.active_mean / paired.active_std * root,
    }


_SPREAD_DIGITS_BOUND: Final = 16.0
"""One-pass second moments are kept while they cancel at most by this factor."""


def _shared_benchmark_moments(
    cols: Columns, bench: FloatArray, total: FloatArray, squares: FloatArray
) -> _Paired:
    """Moments against one complete benchmark ``(T,)``, from column sums.

    The benchmark is centred once on its full-sample mean; a column's gaps are taken
    out of its sums one by one (they are few, or there are none). One-pass moments such
    as ``sum(b^2) - n m^2`` keep full precision only while they do not cancel much: a
    column with a benchmark mean far from the full-sample one over its rows, whose gaps
    hold most of the benchmark's variance, or that tracks the benchmark closely, is
    redone two-pass.
    """
    n = cols.count
    centred = bench - bench.sum() / bench.shape[0]
    # einsum, not a BLAS product: BLAS would start threads, which cost far more than
    # they save on a busy machine.
    cross = np.einsum("i,ij->j", centred, cols.values)  # the values are 0 in the gaps
    centred_squared = centred * centred
    c_sum = centred.sum() - cols.missing_sums(centred)
    cc_full = centred_squared.sum()
    cc_sum = cc_full - cols.missing_sums(centred_squared)
    b_sum = bench.sum() - cols.missing_sums(bench)

    c_mean = c_sum / n
    covariance = (cross - c_mean * total) / n
    variance = cc_sum / n - c_mean * c_mean
    # n var(r - b) = n var(r) + n var(b) - 2 n cov(r, b)
    active_spread = (squares - total * total / n) + (cc_sum - c_sum * c_mean) - 2 * (n * covariance)
    active_mean = (total - b_sum) / n
    active_std = np.sqrt(active_spread / (n - 1))
    exact = (
        (c_mean * c_mean <= variance)
        & (cc_full <= 2 * cc_sum)
        & (squares + cc_sum <= _SPREAD_DIGITS_BOUND * active_spread)
    )
    redo = np.flatnonzero(~exact)
    if redo.size:
        again = _paired_moments(cols.subset(redo), bench[:, np.newaxis], 1)
        covariance[redo], variance[redo] = again.covariance, again.variance
        active_mean[redo], active_std[redo] = again.active_mean, again.active_std
    return _Paired(n, total, b_sum, covariance, variance, active_mean, active_std)


def _paired_moments(cols: Columns, bench: FloatArray, min_observations: int) -> _Paired:
    """Moments over the present pairs, two-pass like empyrical, for any benchmark: one
    ``(T, 1)`` or one a column ``(T, N)``, with NaNs or not.

    A one-pass ``sum(b^2) - n m^2`` would be cheaper but loses digits in a column with
    many gaps, whose mean over its present rows can be far from the full-sample mean.
    """
    paired = cols.present & ~np.isnan(bench)
    n = count_true(paired)
    check_min_observations(n, min_observations, "benchmark-relative figures (paired)")
    returns = np.where(paired, cols.values, 0.0)
    b = np.where(paired, bench, 0.0)
    returns_sum = returns.sum(axis=0)
    bench_sum = b.sum(axis=0)
    active = Columns(returns - b, paired, n, False)  # 0 where unpaired
    active_mean = active.mean()
    # Beta as empyrical: only the benchmark is centred; population moments.
    residual = active.mask(np.subtract(b, bench_sum / n, out=b))
    covariance = np.einsum("ij,ij->j", residual, returns) / n
    variance = np.einsum("ij,ij->j", residual, residual) / n
    return _Paired(
        n,
        returns_sum,
        bench_sum,
        covariance,
        variance,
        active_mean,
        active.std(active_mean),
    )
