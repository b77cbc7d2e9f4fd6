"""Historical mode's forecast log: what the trading agent would have logged at each
close, recomputed here from the market's daily bars with the agents' own
`value_at_risk` and `expected_shortfall`, one window at a time; then written through
`ForecastLog` into a database of its own on the session's PostgreSQL, and validated.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pytest
from prometheus_client import delete_from_gateway

from riskwatch import analytics
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock
from riskwatch.demo.backfill import backfill_forecasts, validate_desk
from riskwatch.demo.backfill.desk import Book, book_of, desk_brokers
from riskwatch.demo.backfill.forecasts import close_records
from riskwatch.demo.nightly import own_database
from riskwatch.forecast_log import ForecastLog
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.synthetic import HISTORY_DAYS, SyntheticMarket
from riskwatch.stack.runner import Stack
from tests.support.calendar import SITUATIONS, shipped_calendar
from tests.support.stack import gateway_access, pushgateway_get

# The Tuesday after Labor Day: the market's bars end on the holiday (a business day
# without a session), the last close was Friday's, and today is the next session.
AT = next(s for s in SITUATIONS if s.name == "after-a-holiday").at
FRIDAY, TODAY = date(2026, 9, 4), date(2026, 9, 8)
DAYS = 4


def small_desk(pushgateway_auth: str | None = None, **validation: str) -> Settings:
    """Shipped policy, two small books of names no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return load_settings(
        trading={"portfolios": [{"name": f"fc-{tag}-{k}", "positions": 5} for k in (1, 2)]},
        validation=validation,
        pushgateway_auth=pushgateway_auth,
    )


def books_at(settings: Settings, market: SyntheticMarket) -> list[Book]:
    brokers = desk_brokers(settings, market)
    return [book_of(p, brokers[p.name]) for p in settings.trading.portfolios]


def session_equity(book: Book, market: SyntheticMarket, calendar: MarketCalendar) -> list[float]:
    """The book's value at every session close the market's bars hold, oldest first,
    written out position by position."""
    bars = market.daily_bars(book.symbols, 600)["close"]
    values = []
    for when, row in bars.iterrows():
        if calendar.session_times(when.date()) is not None:
            held = sum(q * row[s] for s, q in zip(book.symbols, book.quantity, strict=True))
            values.append(float(held + book.cash))
    return values


def test_each_forecast_is_the_agents_figure_from_the_window_before_its_day() -> None:
    settings = small_desk()
    calendar = shipped_calendar()
    market = SyntheticMarket(settings.trading.seed, clock=FixedClock(AT), calendar=calendar)
    books = books_at(settings, market)
    window = settings.policy.validation.var_window_days
    records = close_records(books, market, calendar, settings.policy, days=DAYS)

    assert records.days[-2:] == (FRIDAY, TODAY)
    assert len(records.days) == DAYS
    forecasts = {f.key: f for f in records.forecasts}
    realised = {(p, d): r for p, d, r in records.realised}
    methods = settings.policy.tail_risk.methods
    assert len(forecasts) == len(books) * len(methods) * 2 * DAYS
    assert set(realised) == {(b.settings.name, d) for b in books for d in records.days[:-1]}
    for book in books:
        equity = np.array(session_equity(book, market, calendar))
        returns = equity[1:] / equity[:-1] - 1
        for k, day in enumerate(records.days):
            # The day's return would be row len(returns) - DAYS + 1 + k: the window is
            # the `window` rows before it.
            end = len(returns) - DAYS + 1 + k
            history = returns[end - window : end]
            if day != TODAY:
                assert realised[book.settings.name, day] == pytest.approx(returns[end], rel=1e-12)
            previous = records.days[k - 1] if k else None
            for method in methods:
                for confidence in (0.99, 0.975):
                    f = forecasts[book.settings.name, method, confidence, day]
                    expected_var = analytics.value_at_risk(history, confidence, method)
                    expected_es = analytics.expected_shortfall(history, confidence, method)
                    assert f.var == pytest.approx(expected_var, rel=1e-9), (method, day)
                    assert f.es == pytest.approx(expected_es, rel=1e-9), (method, day)
                    if previous is not None:
                        close = calendar.session_times(previous)
                        assert close is not None and f.made_at == close[1]


def test_a_span_longer_than_the_markets_history_is_refused() -> None:
    settings = small_desk()
    calendar = shipped_calendar()
    market = SyntheticMarket(settings.trading.seed, clock=FixedClock(AT), calendar=calendar)
    with pytest.raises(ValueError, match=f"synthetic market holds {HISTORY_DAYS}"):
        close_records(books_at(settings, market), market, calendar, settings.policy, days=2000)


# ------------------------------------------------------------------ on the stack
@pytest.fixture
def forecast_db(stack: Stack) -> Iterator[str]:
    """A database of its own: other tests log forecasts too."""
    dsn, drop = own_database(stack.database_dsn(), f"forecasts_test_{uuid.uuid4().hex[:12]}")
    yield dsn
    drop()


@pytest.mark.stack
def test_the_log_is_written_once_a_day(forecast_db: str) -> None:
    """Until the next close every run logs the same figures: a rerun writes nothing."""
    settings = small_desk()
    log = ForecastLog(forecast_db)
    first = backfill_forecasts(settings, log, clock=FixedClock(AT), days=DAYS)
    later = backfill_forecasts(settings, log, clock=FixedClock(AT + timedelta(hours=3)), days=DAYS)

    methods = len(settings.policy.tail_risk.methods)
    assert (first.forecasts, first.realised, first.days) == (2 * methods * 2 * DAYS, 2 * 3, DAYS)
    assert (later.forecasts, later.realised) == (0, 0)
    held = log.history()
    assert len(held) == first.forecasts
    assert sorted(set(held["day"]))[-2:] == [FRIDAY, TODAY]
    assert held["realised_return"].isna().groupby(held["day"]).all().to_dict()[TODAY]


@pytest.mark.stack
def test_the_validation_of_the_log_is_pushed(stack: Stack, forecast_db: str) -> None:
    job = f"riskwatch_validate_test_{uuid.uuid4().hex[:8]}"
    settings = small_desk(
        stack.settings.pushgateway_credentials(),
        job=job,
        pushgateway_url=stack.settings.url.pushgateway,
    )
    log = ForecastLog(forecast_db)
    clock = FixedClock(AT)
    backfill_forecasts(settings, log, clock=clock)
    market = SyntheticMarket(
        settings.trading.seed, clock=clock, calendar=MarketCalendar(settings.policy.market)
    )
    try:
        outcome = validate_desk(settings, log, market, now=clock(), out_dir=stack.layout.root)
        assert outcome.pushed and outcome.findings.passed
        pushed = pushed_figures(stack, job, "riskwatch_validation_var_observations")
        names = [p.name for p in settings.trading.portfolios]
        expected = {
            (p, m, c): float(settings.policy.validation.backtest_days)
            for p in names
            for m in settings.policy.tail_risk.methods
            for c in ("0.99", "0.975")
        }
        assert pushed == expected
    finally:
        delete_from_gateway(
            stack.settings.url.pushgateway,
            job=job,
            grouping_key={"dataset": "desk"},
            handler=gateway_access(stack.settings).handler(),
        )


def pushed_figures(stack: Stack, job: str, metric: str) -> dict[tuple[str, str, str], float]:
    """`metric` per (portfolio, method, confidence) in the Pushgateway group of `job`."""
    groups = pushgateway_get(stack.settings, "/api/v1/metrics").json()
    (group,) = [g for g in groups["data"] if g["labels"].get("job") == job]
    return {
        (m["labels"]["portfolio"], m["labels"]["method"], m["labels"]["confidence"]): float(
            m["value"]
        )
        for m in group[metric]["metrics"]
    }
