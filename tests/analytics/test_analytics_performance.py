"""performance_metrics against empyrical-reloaded and plain numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from analytics_reference import assert_close, generated_series, property_settings, reference_metrics
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from riskwatch.analytics import (
    BENCHMARK_METRICS,
    RETURN_METRICS,
    performance_metrics,
)
from riskwatch.analytics._columns import Columns, count_true

SEEDS = range(70)  # ten of each generated kind


@pytest.mark.parametrize("seed", SEEDS)
def test_every_key_matches_reference(seed: int) -> None:
    kind, r, b = generated_series(seed)
    got = performance_metrics(r, b)
    expected = reference_metrics(r, b)
    assert list(got) == [*RETURN_METRICS, *BENCHMARK_METRICS]
    for key, value in expected.items():
        assert isinstance(got[key], float)
        assert_close(got[key], value, f"{kind} seed {seed} {key}")


@pytest.mark.parametrize("seed", range(0, 70, 5))
def test_risk_free_and_monthly_periods_match_reference(seed: int) -> None:
    kind, r, b = generated_series(seed)
    got = performance_metrics(r, b, periods_per_year=12, risk_free=0.0004)
    expected = reference_metrics(r, b, periods=12, risk_free=0.0004)
    for key, value in expected.items():
        assert_close(float(got[key]), value, f"{kind} seed {seed} {key}")


def _book(seed: int, columns: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A (T, N) book mixing every generated kind, with NaNs in some columns."""
    rng = np.random.default_rng(seed)
    length = 250
    bench = rng.normal(0.0003, 0.01, length)
    betas = rng.uniform(0, 1.5, columns)
    book = rng.standard_t(4, (length, columns)) * 0.01 + np.outer(bench, betas)
    book[:, 1] = 0.0  # flat
    book[:, 2] = 0.001  # constant gain
    book[rng.random((length, columns)) < 0.03] = np.nan
    book[:, 3] = np.where(np.arange(length) % 2, 0.01, -0.01)  # no NaN, alternating
    return book, bench


@pytest.mark.parametrize("seed", range(3))
def test_2d_equals_columnwise_1d_and_reference(seed: int) -> None:
    book, bench = _book(seed, columns=60)
    got = performance_metrics(book, bench)
    for j in range(book.shape[1]):
        single = performance_metrics(book[:, j], bench)
        expected = reference_metrics(book[:, j], bench)
        for key in got:
            value = got[key]
            assert isinstance(value, np.ndarray) and value.shape == (book.shape[1],)
            assert_close(float(value[j]), single[key], f"column {j} {key} 2-D vs 1-D")
            assert_close(float(value[j]), expected[key], f"column {j} {key} vs reference")


def test_wide_book_uses_several_blocks_consistently() -> None:
    rng = np.random.default_rng(7)
    book = rng.normal(0, 0.01, (20, 60_000))  # more columns than one block holds
    book[rng.random(book.shape) < 0.01] = np.nan
    bench = rng.normal(0, 0.01, 20)
    got = performance_metrics(book, bench)
    for j in (0, 52_427, 52_428, 59_999):
        single = performance_metrics(book[:, j], bench)
        for key in got:
            assert_close(float(got[key][j]), single[key], f"column {j} {key}")


def test_per_column_benchmark() -> None:
    book, bench = _book(4, columns=8)
    benchmarks = np.column_stack([bench * (1 + k / 10) for k in range(8)])
    got = performance_metrics(book, benchmarks)
    for j in range(8):
        expected = reference_metrics(book[:, j], benchmarks[:, j])
        for key in BENCHMARK_METRICS:
            assert_close(float(got[key][j]), expected[key], f"column {j} {key}")


@pytest.mark.parametrize("shape", [(30,), (30, 1), (30, 40), (5, 3)])
def test_inputs_are_not_modified(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, shape)
    r[3] = np.nan
    b = rng.normal(0, 0.01, shape[0])
    r0, b0 = r.copy(), b.copy()
    performance_metrics(r, b)
    np.testing.assert_array_equal(r, r0)
    np.testing.assert_array_equal(b, b0)


def test_benchmark_figures_do_not_change_the_others() -> None:
    _, r, b = generated_series(4)  # "missing": NaNs in both series
    alone = performance_metrics(r)
    with_benchmark = performance_metrics(r, b)
    assert set(alone) == set(RETURN_METRICS)
    for key in RETURN_METRICS:
        assert_close(with_benchmark[key], alone[key], key)  # type: ignore[arg-type]


def test_pandas_inputs_align_on_the_index() -> None:
    _, r, b = generated_series(0)
    dates = pd.bdate_range("2024-01-01", periods=r.size)
    returns = pd.Series(r, index=dates)
    benchmark = pd.Series(b, index=dates).iloc[::-1]  # same dates, other order
    got = performance_metrics(returns, benchmark)
    expected = reference_metrics(r, b)
    for key, value in expected.items():
        assert_close(got[key], value, key)  # type: ignore[arg-type]
    frame = performance_metrics(pd.DataFrame({"a": r, "b": r * 2}, index=dates), benchmark)
    assert_close(float(frame["beta"][1]), 2 * expected["beta"], "beta of 2r")


def test_edge_case_conventions() -> None:
    flat = performance_metrics(np.zeros(10))
    assert flat["max_drawdown"] == 0.0
    assert math.isnan(flat["calmar"])  # type: ignore[arg-type]
    assert math.isnan(flat["sharpe"])  # type: ignore[arg-type]
    assert math.isnan(flat["win_rate"])  # type: ignore[arg-type]
    assert math.isnan(flat["profit_factor"])  # type: ignore[arg-type]
    assert flat["annual_volatility"] == 0.0

    gains_only = performance_metrics(np.array([0.01, 0.0, 0.02, 0.01]))
    assert gains_only["max_drawdown"] == 0.0
    assert gains_only["profit_factor"] == math.inf
    assert gains_only["win_loss_ratio"] == math.inf
    assert gains_only["win_rate"] == 1.0
    assert gains_only["sortino"] == math.inf

    constant = performance_metrics(np.full(50, 0.001))
    assert constant["annual_volatility"] == 0.0
    assert constant["sharpe"] == math.inf

    losses_only = performance_metrics(np.array([-0.01, -0.02]))
    assert losses_only["profit_factor"] == 0.0
    assert losses_only["win_loss_ratio"] == 0.0
    assert_close(losses_only["max_drawdown"], 1 - 0.99 * 0.98)  # type: ignore[arg-type]


def test_constant_benchmark_gives_nan_beta() -> None:
    r = np.array([0.01, -0.02, 0.03, 0.0])
    got = performance_metrics(r, np.full(4, 0.001))
    assert math.isnan(got["beta"]) and math.isnan(got["alpha"])  # type: ignore[arg-type]
    same = performance_metrics(r, r)
    assert same["tracking_error"] == 0.0
    assert math.isnan(same["information_ratio"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("returns", "benchmark", "message"),
    [
        (np.array([0.01, np.inf, 0.02]), None, "infinite"),
        (np.array([0.01, -np.inf, 0.02]), None, "infinite"),
        (np.array([0.01, 0.02, 0.03]), np.array([0.01, np.inf, 0.0]), "infinite"),
        (np.array([0.01, 0.02, 0.03]), np.array([0.01, 0.02]), "shape mismatch"),
        (np.zeros((5, 3)), np.zeros((5, 2)), "shape mismatch"),
        (np.zeros(5), np.zeros((5, 2)), "shape mismatch"),
        (np.zeros((5, 2, 2)), None, "1-D"),
        (np.array([0.01]), None, "too few observations"),
        (np.array([]), None, "too few observations"),
        (np.array([0.01, np.nan, np.nan]), None, "too few observations"),
        (np.array([[0.01, 0.02], [np.nan, 0.01]]), None, "column"),
        (np.array([0.01, 0.02, 0.03]), np.array([np.nan, np.nan, 0.01]), "paired"),
        (np.zeros((5, 0)), None, "no columns"),
        (["a", "b"], None, "numeric"),
    ],
)
def test_bad_input_raises(returns: object, benchmark: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        performance_metrics(returns, benchmark)


@pytest.mark.parametrize(("periods", "risk_free"), [(0, 0.0), (-12, 0.0), (252, math.nan)])
def test_bad_parameters_raise(periods: float, risk_free: float) -> None:
    with pytest.raises(ValueError, match=r"periods_per_year|risk_free"):
        performance_metrics(np.zeros(5), periods_per_year=periods, risk_free=risk_free)


def test_min_observations_is_configurable() -> None:
    r = np.array([0.01, -0.02, 0.03])
    with pytest.raises(ValueError, match="at least 5"):
        performance_metrics(r, min_observations=5)
    assert performance_metrics(r, min_observations=3)["win_rate"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="min_observations"):
        performance_metrics(r, min_observations=0)


# --- properties -----------------------------------------------------------------

returns_1d = hnp.arrays(
    np.float64,
    st.integers(2, 60),
    elements=st.floats(-0.99, 1.0, allow_nan=False, allow_subnormal=False),
)


@property_settings
@given(returns_1d)
def test_drawdown_is_a_fraction(r: np.ndarray) -> None:
    drawdown = performance_metrics(r)["max_drawdown"]
    assert 0.0 <= drawdown <= 1.0  # type: ignore[operator]


@property_settings
@given(st.floats(0.0, 0.5, allow_subnormal=False), st.integers(2, 100))
def test_constant_non_negative_series_has_no_drawdown(value: float, length: int) -> None:
    assert performance_metrics(np.full(length, value))["max_drawdown"] == 0.0


@property_settings
@given(returns_1d, st.floats(0.01, 100.0))
def test_var_and_es_scale_with_returns(r: np.ndarray, k: float) -> None:
    base = performance_metrics(r)
    scaled = performance_metrics(r * k)
    for key in ("var_99", "es_975", "annual_volatility"):
        assert scaled[key] == pytest.approx(k * base[key], rel=1e-9, abs=1e-12)  # type: ignore[operator]


@property_settings
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(3, 30), st.integers(1, 5)),
        elements=st.floats(-0.5, 0.5, allow_nan=False, allow_subnormal=False),
    ),
    st.data(),
)
def test_nan_is_skipped_like_a_removed_observation(book: np.ndarray, data: st.DataObject) -> None:
    holes = data.draw(hnp.arrays(np.bool_, book.shape))
    holes[:2] = False  # keep at least two observations per column
    with_nan = np.where(holes, np.nan, book)
    got = performance_metrics(with_nan)
    for j in range(book.shape[1]):
        single = performance_metrics(book[~holes[:, j], j])
        for key in got:
            assert_close(float(got[key][j]), single[key], f"column {j} {key}")  # type: ignore[index]


@property_settings
@given(returns_1d)
def test_es_is_at_least_var_at_the_same_confidence(r: np.ndarray) -> None:
    from riskwatch.analytics import expected_shortfall, value_at_risk

    for confidence in (0.9, 0.975, 0.99):
        assert expected_shortfall(r, confidence) >= value_at_risk(r, confidence) - 1e-15  # type: ignore[operator]


basis_points = st.integers(-3000, 3000).map(lambda k: k / 10_000)


@property_settings
@given(
    st.integers(2, 60).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=basis_points),
            hnp.arrays(np.float64, n, elements=basis_points),
        )
    )
)
def test_matches_reference_on_arbitrary_series(pair: tuple[np.ndarray, np.ndarray]) -> None:
    r, b = pair
    got = performance_metrics(r, b)
    for key, value in reference_metrics(r, b).items():
        assert_close(got[key], value, key)  # type: ignore[arg-type]


def test_sparse_column_against_a_shared_benchmark_keeps_full_precision() -> None:
    # Found by hypothesis: a column with two observations among many, against a
    # benchmark whose mean over those two rows is far from its full-sample mean.
    rng = np.random.default_rng(11)
    bench = np.where(rng.random(45) < 0.3, rng.uniform(0, 0.17, 45), 0.0)
    bench[:2] = [0.0, 0.001]
    book = rng.normal(0, 0.01, (45, 40))
    book[2:, 0] = np.nan
    book[:2, 0] = [0.0, 0.0183]  # a perfect fit: alpha is exactly 0
    got = performance_metrics(book, bench)
    for j in (0, 1):
        expected = reference_metrics(book[:, j], bench)
        for key in BENCHMARK_METRICS:
            assert_close(float(got[key][j]), expected[key], f"column {j} {key}")
    assert abs(got["alpha"][0]) < 1e-13  # type: ignore[index]


def _sparse_book() -> tuple[np.ndarray, np.ndarray]:
    """A (T, N) book with few NaNs, and columns on which one-pass moments would cancel."""
    rng = np.random.default_rng(21)
    length, columns = 300, 64
    bench = rng.normal(0.0003, 0.01, length)
    bench[:3] = [0.2, -0.25, 0.3]  # a few days that hold most of the benchmark's variance
    book = rng.standard_t(4, (length, columns)) * 0.01 + np.outer(
        bench, rng.uniform(0, 1.5, columns)
    )
    book[rng.random((length, columns)) < 0.002] = np.nan
    book[:, 0] = bench + rng.normal(0, 1e-7, length)  # tracks the benchmark closely
    book[:, 1] = 0.01 + rng.normal(0, 1e-7, length)  # mean far above its dispersion
    book[:, 2] = np.where(np.arange(length) < 3, np.nan, book[:, 2])  # misses those days
    book[:, 3] = -0.01  # losses ...
    book[7, 3] = 1e-9  # ... and one tiny gain
    book[:, 4] = 0.002  # constant
    return book, bench


def test_few_gaps_and_cancelling_columns_match_reference() -> None:
    book, bench = _sparse_book()
    assert Columns.of(book).holes is not None  # the few-NaN path is the one tested
    got = performance_metrics(book, bench)
    for j in range(book.shape[1]):
        expected = reference_metrics(book[:, j], bench)
        for key, value in expected.items():
            assert_close(float(got[key][j]), value, f"column {j} {key}")
    assert got["annual_volatility"][4] == 0.0
    # The tiny gain is below assert_close's absolute floor: hold it to its own digits.
    gain, loss = book[7, 3], -np.nansum(np.minimum(book[:, 3], 0.0))
    assert got["profit_factor"][3] == pytest.approx(gain / loss, rel=1e-12, abs=0)


def test_few_gaps_give_the_figures_of_many_gaps() -> None:
    book, bench = _sparse_book()
    few = performance_metrics(book, bench)
    holed = book.copy()
    holed[::10, 5:] = np.nan
    both = np.column_stack([book, holed[:, 5:]])
    assert Columns.of(both).holes is None  # more than one value in 64 missing: masked
    many = performance_metrics(both, bench)
    for key in few:
        np.testing.assert_allclose(many[key][:64], few[key], rtol=1e-9, atol=1e-12)


def test_columns_of_few_and_many_gaps_agree() -> None:
    book, _ = _sparse_book()
    few = Columns.of(book)
    many = Columns.of(book, ~np.isnan(book))  # a given mask takes the masked path
    assert few.holes is not None and many.holes is None
    np.testing.assert_array_equal(few.values, many.values)
    np.testing.assert_array_equal(few.count, many.count)
    np.testing.assert_array_equal(few.present, many.present)
    ones = np.ones_like(book)
    np.testing.assert_array_equal(few.mask(ones.copy()), many.mask(ones.copy()))
    np.testing.assert_array_equal(
        few.missing_sums(np.arange(300.0)),
        np.nansum(np.where(np.isnan(book), np.arange(300.0)[:, np.newaxis], 0.0), axis=0),
    )


def test_infinity_in_a_wide_book_raises() -> None:
    book, bench = _sparse_book()
    book[5, 9] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        performance_metrics(book, bench)


def test_gaps_on_the_benchmark_s_largest_days_keep_beta_precise() -> None:
    # The column misses the three days that hold nearly all of the benchmark's
    # variance: taking them out of the full-sample sums would cancel most digits.
    rng = np.random.default_rng(5)
    bench = rng.normal(0.0, 1e-6, 200)
    bench[:3] = [0.2, -0.25, 0.05]  # summing to 0: the other days sit at the mean
    book = rng.normal(0.0, 0.01, (200, 70))
    book[:, 0] = 0.5 * bench + rng.normal(0.0, 1e-7, 200)
    book[:3, 0] = np.nan
    assert Columns.of(book).holes is not None
    got = performance_metrics(book, bench)
    expected = reference_metrics(book[:, 0], bench)
    for key in BENCHMARK_METRICS:
        assert_close(float(got[key][0]), expected[key], f"column 0 {key}")


def test_calls_share_no_memory_with_their_results() -> None:
    # The block buffers are kept from call to call: no figure may be a view of them.
    book, bench = _sparse_book()
    first = performance_metrics(book, bench)
    kept = {key: np.array(value, copy=True) for key, value in first.items()}
    performance_metrics(book[:100, :7] * 3.0, bench[:100])  # a smaller block reuses them
    for key, value in first.items():
        np.testing.assert_array_equal(value, kept[key])
    again = performance_metrics(book, bench)
    for key, value in again.items():
        np.testing.assert_array_equal(value, kept[key])


def test_count_true_is_exact_on_either_side_of_16_bits() -> None:
    flags = np.ones((70_000, 2), dtype=bool)
    flags[0, 1] = False
    np.testing.assert_array_equal(count_true(flags), [70_000, 69_999])
    np.testing.assert_array_equal(count_true(flags[:65_535]), [65_535, 65_534])
