"""The forecast log on the real PostgreSQL: what goes in comes out, joined and sorted;
recording again changes nothing; what is not a number is refused, not stored."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from riskwatch.forecast_log import HISTORY_COLUMNS, REALISED_COLUMNS, Forecast, ForecastLog
from riskwatch.stack.runner import Stack

pytestmark = pytest.mark.stack

MADE = datetime(2026, 11, 17, 21, 0, tzinfo=UTC)  # a close, 16:00 in New York
DAY = date(2026, 11, 18)


@pytest.fixture
def log(stack: Stack) -> ForecastLog:
    return ForecastLog(stack.database_dsn())


def unique(name: str) -> str:
    """A portfolio name no other test (or earlier run on the same database) uses."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


def forecast(portfolio: str, method: str, confidence: float, day: date, var: float) -> Forecast:
    made = datetime.combine(day - timedelta(days=1), MADE.timetz())
    return Forecast(portfolio, method, confidence, day, var, var * 1.25, made)


def test_round_trip_joins_realised_returns_and_sorts(log: ForecastLog) -> None:
    # Names whose byte order differs from a locale's ("B" < "a" < "b"): the frame is
    # sorted as Python sorts.
    tag = uuid.uuid4().hex[:10]
    upper, lower = f"B-{tag}", f"a-{tag}"
    days = [DAY, DAY + timedelta(days=1)]
    written = [
        forecast(p, m, c, d, 0.01 + 0.001 * k)
        for k, (p, m, c, d) in enumerate(
            (p, m, c, d)
            for d in reversed(days)
            for c in (0.99, 0.975)
            for m in ("historical", "gaussian")
            for p in (lower, upper)
        )
    ]
    assert log.record_forecasts(written) == len(written)
    log.record_realised(lower, DAY, -0.0123)

    history = log.history(portfolios=[lower, upper])
    assert tuple(history.columns) == HISTORY_COLUMNS
    expected = sorted(written, key=lambda f: f.key)
    for row, f in zip(history.itertuples(index=False), expected, strict=True):
        assert (row.portfolio, row.method, row.confidence, row.day) == f.key
        assert (row.var, row.es) == (f.var, f.es)
        assert row.made_at == pd.Timestamp(f.made_at)
        if (row.portfolio, row.day) == (lower, DAY):
            assert row.realised_return == -0.0123
        else:
            assert pd.isna(row.realised_return), "no return recorded for that day yet"
    assert list(history.index) == list(range(len(written)))

    realised = log.realised(portfolios=[lower, upper])
    assert tuple(realised.columns) == REALISED_COLUMNS
    assert list(realised.itertuples(index=False, name=None)) == [(lower, DAY, -0.0123)]


def test_filters_by_portfolio_and_inclusive_days(log: ForecastLog) -> None:
    p, other = unique("filter"), unique("filter-other")
    days = [DAY + timedelta(days=k) for k in range(4)]
    log.record_forecasts(
        [forecast(q, "historical", 0.99, d, 0.02) for q in (p, other) for d in days]
    )
    for d in days:
        log.record_realised(p, d, 0.001)

    picked = log.history(portfolios=[p], since=days[1], until=days[2])
    assert list(picked["day"]) == days[1:3]
    assert set(picked["portfolio"]) == {p}
    assert list(log.realised(portfolios=[p], since=days[2])["day"]) == days[2:]
    assert log.history(portfolios=[]).empty


def test_recording_again_is_idempotent_and_a_new_figure_replaces_the_old(
    log: ForecastLog,
) -> None:
    p = unique("upsert")
    batch = [
        forecast(p, m, c, DAY, 0.02) for m in ("historical", "gaussian") for c in (0.99, 0.975)
    ]
    assert log.record_forecasts(batch) == 4
    first = log.history(portfolios=[p])

    assert log.record_forecasts(batch) == 0, "the same figures again are no write"
    pd.testing.assert_frame_equal(log.history(portfolios=[p]), first)

    recomputed = Forecast(p, "gaussian", 0.99, DAY, 0.03, 0.04, MADE + timedelta(hours=1))
    assert log.record_forecasts([recomputed]) == 1
    again = {(r.method, r.confidence): r for r in log.history(portfolios=[p]).itertuples()}
    changed = again[("gaussian", 0.99)]
    assert (changed.var, changed.es) == (0.03, 0.04)
    assert changed.made_at == pd.Timestamp(recomputed.made_at)
    assert again[("historical", 0.99)].var == 0.02, "the others are untouched"

    log.record_realised(p, DAY, 0.004)
    log.record_realised(p, DAY, 0.005)  # a corrected equity close
    assert log.realised(portfolios=[p])["realised_return"].tolist() == [0.005]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("var", math.nan, "var must be a finite number"),
        ("es", math.inf, "es must be a finite number"),
        ("confidence", 1.0, "confidence must be in"),
        ("made_at", datetime(2026, 11, 17, 16, 0), "timezone-aware"),
        ("day", datetime(2026, 11, 18, 0, 0), "must be a datetime.date"),
    ],
)
def test_a_forecast_that_is_not_a_number_is_refused_and_nothing_is_written(
    log: ForecastLog, field: str, value: Any, message: str
) -> None:
    p = unique("refused")
    good = forecast(p, "historical", 0.99, DAY, 0.02)
    bad = replace(good, method="gaussian", **{field: value})
    with pytest.raises(ValueError, match=message):
        log.record_forecasts([good, bad])
    assert log.history(portfolios=[p]).empty, "the good one waits for the batch to be right"


def test_two_forecasts_for_one_key_in_a_batch_are_refused(log: ForecastLog) -> None:
    p = unique("twice")
    one = forecast(p, "historical", 0.99, DAY, 0.02)
    with pytest.raises(ValueError, match="two forecasts"):
        log.record_forecasts([one, replace(one, var=0.03)])
    assert log.history(portfolios=[p]).empty


@pytest.mark.parametrize("value", [math.nan, -math.inf, -1.0, -1.5])
def test_a_realised_return_must_be_finite_and_above_minus_one(
    log: ForecastLog, value: float
) -> None:
    p = unique("realised")
    with pytest.raises(ValueError, match="finite number above -1"):
        log.record_realised(p, DAY, value)
    assert log.realised(portfolios=[p]).empty


def test_a_backfill_sized_batch_is_one_call(log: ForecastLog) -> None:
    """A year of days x 2 portfolios x 4 methods x 2 confidences through one call."""
    names = [unique("bulk"), unique("bulk")]
    methods = ("historical", "gaussian", "cornish_fisher", "filtered_historical")
    days = [DAY + timedelta(days=k) for k in range(252)]
    batch = [
        forecast(p, m, c, d, 0.01 + k * 1e-5)
        for p in names
        for m in methods
        for c in (0.99, 0.975)
        for k, d in enumerate(days)
    ]
    assert log.record_forecasts(batch) == len(batch)
    history = log.history(portfolios=names)
    assert len(history) == len(batch)
    assert history["var"].sum() == pytest.approx(sum(f.var for f in batch))


def test_realised_returns_in_one_batch_all_or_nothing(log: ForecastLog) -> None:
    p = unique("realised-batch")
    rows = [(p, DAY + timedelta(days=k), 0.001 * k) for k in range(300)]
    assert log.record_realised_many(rows) == len(rows)
    assert log.record_realised_many(rows) == 0  # the same figures again: no write
    held = log.realised(portfolios=[p])
    assert held["realised_return"].tolist() == [r for _, _, r in rows]
    corrected = [*rows[:-1], (p, rows[-1][1], 0.5)]
    assert log.record_realised_many(corrected) == 1
    q = unique("realised-batch")
    with pytest.raises(ValueError, match="two realised returns"):
        log.record_realised_many([(q, DAY, 0.01), (q, DAY, 0.02)])
    with pytest.raises(ValueError, match="finite number above -1"):
        log.record_realised_many([(q, DAY, 0.01), (q, DAY + timedelta(days=1), math.nan)])
    assert log.realised(portfolios=[q]).empty  # the good row went nowhere either
