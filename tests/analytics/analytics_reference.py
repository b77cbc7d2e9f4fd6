"""Reference figures for the analytics tests: empyrical-reloaded where it defines a
figure, otherwise the plain numpy formula the issue states, on one NaN-free column.

Also the generated return series the comparisons run on.
"""

from __future__ import annotations

import warnings

import empyrical as ep
import numpy as np
import numpy.typing as npt
from hypothesis import HealthCheck, settings

FloatArray = npt.NDArray[np.float64]

# Hypothesis settings for every property test here, applied per test rather than as a
# loaded profile so that other test directories keep their own. A bounded number of
# examples keeps the analytics suite well under a minute on two cores; deadlines are
# off because a first call warms numpy.
property_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

RTOL = 1e-9
# An absolute floor for figures that are zero up to rounding, where relative error is
# meaningless: a mean of exactly offsetting returns, a drawdown of a few ulps, or an
# annualized alpha (1 + m) ** 252 - 1, whose resolution is 252 ulps of 1 (~5.6e-14).
ATOL = 1e-12


def reference_metrics(
    r: FloatArray,
    b: FloatArray | None = None,
    periods: int = 252,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """Every performance_metrics key for one series, from empyrical or numpy.

    NaNs are dropped first (pairwise with the benchmark for the relative figures), which
    is what "NaN is skipped" means.
    """
    x = r[~np.isnan(r)]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        gains, losses = x[x > 0], x[x < 0]
        out = {
            "annual_return": ep.annual_return(x, annualization=periods),
            "annual_volatility": ep.annual_volatility(x, annualization=periods),
            "sharpe": ep.sharpe_ratio(x, risk_free=risk_free, annualization=periods),
            "sortino": ep.sortino_ratio(x, required_return=risk_free, annualization=periods),
            "calmar": ep.calmar_ratio(x, annualization=periods),
            "max_drawdown": -ep.max_drawdown(x),
            "var_99": -np.percentile(x, 1),
            "es_975": -ep.conditional_value_at_risk(x, 0.025),
            "win_rate": np.float64(gains.size) / (gains.size + losses.size),
            "profit_factor": np.float64(gains.sum()) / (0.0 - losses.sum()),
            "win_loss_ratio": (
                np.float64(gains.mean() if gains.size else 0.0)
                / np.float64(-losses.mean() if losses.size else 0.0)
            ),
        }
        if b is not None:
            paired = ~np.isnan(r) & ~np.isnan(b)
            rp, bp = r[paired], b[paired]
            out |= {
                "beta": ep.beta(rp, bp, risk_free=risk_free),
                "alpha": ep.alpha(rp, bp, risk_free=risk_free, annualization=periods),
                "tracking_error": np.std(rp - bp, ddof=1) * np.sqrt(periods),
                "information_ratio": ep.excess_sharpe(rp, bp) * np.sqrt(periods),
            }
    return {key: float(value) for key, value in out.items()}


def assert_close(actual: float, expected: float, what: str = "") -> None:
    """Equal to RTOL relative (ATOL absolute near zero); NaN equals NaN, inf equals inf."""
    if np.isnan(expected) or np.isinf(expected):
        assert actual == expected or (np.isnan(actual) and np.isnan(expected)), (
            f"{what}: got {actual!r}, expected {expected!r}"
        )
        return
    assert abs(actual - expected) <= ATOL + RTOL * abs(expected), (
        f"{what}: got {actual!r}, expected {expected!r}, "
        f"relative error {abs(actual - expected) / max(abs(expected), 1e-300):.3g}"
    )


def generated_series(seed: int) -> tuple[str, FloatArray, FloatArray]:
    """One (kind, returns, benchmark) case; the kind cycles with the seed.

    Kinds: normal, fat-tailed (Student t, 3 d.o.f.), short (5-10 observations), flat
    days (about a third exactly 0), missing (NaNs in both series), skewed crash, and
    a mostly-positive series.
    """
    rng = np.random.default_rng(seed)
    kinds = ("normal", "student_t", "short", "flat", "missing", "crash", "positive")
    kind = kinds[seed % len(kinds)]
    length = int(rng.integers(5, 11)) if kind == "short" else int(rng.integers(30, 800))
    bench = rng.normal(0.0003, 0.01, length)
    beta = rng.uniform(-0.5, 1.5)
    if kind == "student_t" or kind == "short":
        noise = rng.standard_t(3, length) * 0.01
    else:
        noise = rng.normal(0.0, rng.uniform(0.002, 0.03), length)
    r = beta * bench + noise + rng.normal(0.0, 0.001)
    if kind == "flat":
        r[rng.random(length) < 0.35] = 0.0
    if kind == "missing":
        r[rng.random(length) < 0.1] = np.nan
        bench[rng.random(length) < 0.05] = np.nan
    if kind == "crash":
        r[rng.integers(0, length, 3)] = -rng.uniform(0.1, 0.4, 3)
    if kind == "positive":
        r = np.abs(r) + 1e-4
        r[rng.integers(0, length)] = -0.001
    return kind, r, bench
