"""Benchmark riskwatch.analytics.performance_metrics against a per-column empyrical loop.

Run: ``.venv/bin/python benchmarks/bench_analytics.py`` (about 10 s). It prints

1. the time of ``performance_metrics(returns, benchmark)`` on a 756 x 1000 book
   (three years of daily returns, 1000 portfolios), the time of a loop that computes
   the same figures column by column with empyrical-reloaded (and numpy where
   empyrical has no such figure) on numpy arrays, their ratio (target: >= 25x), and
   the largest relative difference between the two;
2. the time and peak memory of the same call on a 756 x 10,000 book, measured in a
   fresh subprocess: the process's peak resident set size (interpreter, libraries and
   the input included; target: < 1 GB) and the tracemalloc peak of the call alone.

Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from riskwatch.analytics import BENCHMARK_METRICS, RETURN_METRICS, performance_metrics

PERIODS = 252


def make_book(rows: int, columns: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fat-tailed daily returns with market exposure, some flat days and a few NaNs."""
    rng = np.random.default_rng(seed)
    benchmark = rng.normal(0.0003, 0.01, rows)
    betas = rng.uniform(0.0, 1.5, columns)
    returns = rng.standard_t(4, (rows, columns)) * 0.008
    returns += benchmark[:, np.newaxis] * betas
    returns[rng.random((rows, columns)) < 0.02] = 0.0
    returns[rng.random((rows, columns)) < 0.001] = np.nan
    return returns, benchmark


def empyrical_loop(returns: np.ndarray, benchmark: np.ndarray) -> dict[str, np.ndarray]:
    """The same figure set, one column at a time, as a caller would write it with empyrical."""
    import empyrical as ep

    names = [*RETURN_METRICS, *BENCHMARK_METRICS]
    out = {name: np.empty(returns.shape[1]) for name in names}
    root = np.sqrt(PERIODS)
    for j in range(returns.shape[1]):
        column = returns[:, j]
        x = column[~np.isnan(column)]
        paired = ~np.isnan(column) & ~np.isnan(benchmark)
        r, b = column[paired], benchmark[paired]
        gains, losses = x[x > 0], x[x < 0]
        alpha, beta = ep.alpha_beta(r, b)
        values = (  # in the order of RETURN_METRICS, then BENCHMARK_METRICS
            ep.annual_return(x),
            ep.annual_volatility(x),
            ep.sharpe_ratio(x),
            ep.sortino_ratio(x),
            ep.calmar_ratio(x),
            -ep.max_drawdown(x),
            -np.percentile(x, 1),
            -ep.conditional_value_at_risk(x, 0.025),
            gains.size / (gains.size + losses.size),
            gains.sum() / -losses.sum(),
            gains.mean() / -losses.mean(),
            beta,
            alpha,
            np.std(r - b, ddof=1) * root,
            ep.excess_sharpe(r, b) * root,
        )
        for name, value in zip(names, values, strict=True):
            out[name][j] = value
    return out


def best_time(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def largest_relative_difference(ours: dict[str, Any], theirs: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for name, expected in theirs.items():
        got = np.asarray(ours[name])
        finite = np.isfinite(expected)
        scale = np.maximum(np.abs(expected[finite]), 1e-12)
        worst = max(worst, float(np.max(np.abs(got[finite] - expected[finite]) / scale)))
    return worst


def memory_child(rows: int, columns: int) -> None:
    """Time and measure one call in this (fresh) process; print JSON."""
    returns, benchmark = make_book(rows, columns, seed=1)
    performance_metrics(returns[:, :10], benchmark)  # warm up imports and caches
    start = time.perf_counter()
    performance_metrics(returns, benchmark)
    cold = time.perf_counter() - start
    warm, _ = best_time(lambda: performance_metrics(returns, benchmark), 2)
    tracemalloc.start()
    performance_metrics(returns, benchmark)
    _, call_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ru_maxrss is in KiB on Linux.
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "cold_seconds": cold,
                "warm_seconds": warm,
                "peak_rss_bytes": peak_rss,
                "call_peak_bytes": call_peak,
                "input_bytes": returns.nbytes + benchmark.nbytes,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=756)
    parser.add_argument("--columns", type=int, default=1000)
    parser.add_argument("--memory-columns", type=int, default=10_000)
    # Best of many short runs: the machine may be shared, and a burst of someone
    # else's work during a 20 ms call would otherwise decide the figure.
    parser.add_argument("--repeat", type=int, default=20, help="runs of performance_metrics")
    parser.add_argument("--loop-repeat", type=int, default=3, help="runs of the empyrical loop")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.rows, args.memory_columns)
        return

    import empyrical

    try:
        import bottleneck  # noqa: F401  (empyrical uses it for its nan-reductions when present)

        fast_reductions = "with bottleneck"
    except ImportError:
        fast_reductions = "without bottleneck"
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"empyrical-reloaded {empyrical.__version__} ({fast_reductions})"
    )

    returns, benchmark = make_book(args.rows, args.columns)
    performance_metrics(returns[:, :10], benchmark)  # warm-up
    ours_seconds, ours = best_time(lambda: performance_metrics(returns, benchmark), args.repeat)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        loop_seconds, theirs = best_time(
            lambda: empyrical_loop(returns, benchmark), args.loop_repeat
        )
    shape = f"{args.rows}x{args.columns}"
    print(f"performance_metrics with benchmark, {shape}: {ours_seconds * 1e3:8.1f} ms (best)")
    print(f"empyrical per-column loop,          {shape}: {loop_seconds * 1e3:8.1f} ms (best)")
    print(f"speed-up: {loop_seconds / ours_seconds:.1f}x (target >= 25x)")
    print(f"largest relative difference: {largest_relative_difference(ours, theirs):.2e}")

    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--memory-child",
            "--rows",
            str(args.rows),
            "--memory-columns",
            str(args.memory_columns),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    memory = json.loads(child.stdout)
    mib = 1024 * 1024
    big = f"{args.rows}x{args.memory_columns}"
    print(
        f"performance_metrics with benchmark, {big}: {memory['warm_seconds'] * 1e3:8.1f} ms "
        f"(best of 2; first call in the process {memory['cold_seconds'] * 1e3:.1f} ms)"
    )
    print(
        f"peak memory, {big}: process RSS {memory['peak_rss_bytes'] / mib:.0f} MiB "
        f"(target < 1024 MiB; input {memory['input_bytes'] / mib:.0f} MiB), "
        f"call allocations {memory['call_peak_bytes'] / mib:.0f} MiB (tracemalloc)"
    )


if __name__ == "__main__":
    main()
