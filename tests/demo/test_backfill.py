"""Historical mode: two days of the demo desk backfilled into the session's Prometheus.

The history is read back with query_range and recomputed independently: values from
the published holdings and SyntheticMarket.price_at, held at the last run of the
agent outside trading hours; daily P&L from the last value before New York
midnight. Its series carry exactly the labels the live trading agent publishes, the
recording rules are there too, and the live data of the same agent is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from riskwatch.alerting.rules import RECORDING_RULES
from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock
from riskwatch.demo.backfill import BackfillResult, backfill, max_days
from riskwatch.demo.backfill.prometheus import Api
from riskwatch.demo.backfill.writer import near
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.stack.processes import ProcessRecord
from riskwatch.stack.runner import Stack
from tests.support.agents import synthetic_desk
from tests.support.calendar import SITUATIONS, last_run
from tests.support.stack import delete_group, prom_query, push_gauges, wait_for

AGENT = "backfill-test"
LIVE_VALUE = 4242.0
RESOLUTION = 60
# Operational series the backfill does not invent (see the module docstring).
NOT_BACKFILLED = ("riskwatch_agent_", "marketdata_", "riskwatch_broker_")
SITUATION = next(s for s in SITUATIONS if s.name == "monday-after-thanksgiving")


# ---------------------------------------------------------------- no stack
def test_days_resolution_and_end_are_checked_before_anything_runs() -> None:
    settings = load_settings()
    for days in (0, 36):
        with pytest.raises(ValueError, match=r"between 1 and 35.*35d"):
            backfill(settings, days, prometheus_url="http://127.0.0.1:9")
    for resolution in (0, 61):
        with pytest.raises(ValueError, match="resolution_seconds must be between 1 and 60"):
            backfill(settings, 1, resolution_seconds=resolution)
    with pytest.raises(ValueError, match="timezone-aware"):
        backfill(settings, 1, end=datetime(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="future"):
        clock = FixedClock(SITUATIONS[0].at)
        backfill(settings, 1, end=clock() + timedelta(minutes=1), clock=clock)


def test_the_longest_history_is_the_retention() -> None:
    assert max_days(load_settings()) == 35
    assert max_days(load_settings(stack={"prometheus_retention": "2w"})) == 14
    assert max_days(load_settings(stack={"prometheus_retention": "1d12h"})) == 1
    with pytest.raises(ValueError, match="between 1 and 14"):
        backfill(load_settings(stack={"prometheus_retention": "2w"}), 15)


def test_a_prometheus_not_started_from_the_state_folder_is_not_restarted(
    tmp_path: Path,
) -> None:
    """Only the Prometheus `stack up` recorded in this state folder is restarted: with
    none recorded, nothing is touched and the caller waits for the periodic reload."""
    assert Stack(load_settings(state_dir=tmp_path)).restart_prometheus() is None


def test_nothing_is_written_near_existing_samples() -> None:
    """Data seen at t lies in (t - 5 min, t]; writes keep 5 minutes more away."""
    times = np.arange(0, 3600, 60, dtype=np.int64)
    present = np.array([1800], dtype=np.int64)
    kept_clear = near(times, present)
    assert times[kept_clear].min() == 1260 and times[kept_clear].max() == 2340
    assert not near(times, np.empty(0, dtype=np.int64)).any()


# ------------------------------------------------------------- on the stack
def range_query(url: str, expr: str, start: float, end: float, step: float) -> list[Any]:
    params = {"query": expr, "start": start, "end": end, "step": step}
    resp = requests.get(f"{url}/api/v1/query_range", params=params, timeout=30)
    resp.raise_for_status()
    result: list[Any] = resp.json()["data"]["result"]
    return result


def series_labels(url: str, selector: str, start: float, end: float) -> list[dict[str, str]]:
    params = {"match[]": selector, "start": start, "end": end}
    resp = requests.get(f"{url}/api/v1/series", params=params, timeout=30)
    resp.raise_for_status()
    found: list[dict[str, str]] = resp.json()["data"]
    return found


def one_value(url: str, expr: str, at: float) -> float:
    result = prom_query_at(url, expr, at)
    assert len(result) == 1, (expr, at, result)
    return float(result[0]["value"][1])


def prom_query_at(url: str, expr: str, at: float) -> list[Any]:
    resp = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": at}, timeout=30)
    resp.raise_for_status()
    result: list[Any] = resp.json()["data"]["result"]
    return result


def live_agent_series(settings: Settings) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """(name, labels) of what the real trading agent publishes after one cycle."""
    desk = synthetic_desk(settings, "live-labels")
    desk.cycle()
    publisher = desk.publisher
    return {
        (sample.name, frozenset(sample.labels.items()))
        for family in publisher.registry.collect()
        for sample in family.samples
        if not sample.name.startswith(NOT_BACKFILLED) and not sample.name.endswith("_created")
    }


@pytest.fixture(scope="module")
def backfilled(stack: Stack) -> Iterator[BackfillResult]:
    """Two days ending an hour before the run that found issue #19 (Monday after
    Thanksgiving: the span starts on a Saturday after a half day after a holiday), with
    the same agent pushing live meanwhile. The instant is fixed, so the outcome does
    not depend on when the suite runs; Prometheus keeps blocks by their distance to the
    newest block, not to the wall clock, so a past span stays loaded. No alert rule,
    which looks back five minutes, ever sees it."""
    settings, url = stack.settings, stack.settings.url.prometheus
    push_gauges(
        settings,
        AGENT,
        [("trading_portfolio_value_usd", {"portfolio": "alpha"}, LIVE_VALUE)],
    )
    try:
        live = f'trading_portfolio_value_usd{{agent="{AGENT}"}}'
        wait_for(lambda: prom_query(url, f"{live} == {LIVE_VALUE}"), "the live push scraped")
        scraped_before = time.time()
        before = ProcessRecord.load(stack.layout.run, "prometheus")
        began = time.monotonic()
        clock = FixedClock(SITUATION.at)
        result = backfill(
            settings,
            2,
            resolution_seconds=RESOLUTION,
            end=clock() - timedelta(hours=1),
            agent_id=AGENT,
            clock=clock,
        )
        print(f"backfill: {result} in {time.monotonic() - began:.1f} s")
        # The stack's Prometheus was restarted to load the blocks (unless an alert of
        # other tests' held it: test_backfill_restart.py), and the run record names
        # the process now running (`stack down` stops it).
        after = ProcessRecord.load(stack.layout.run, "prometheus")
        assert before is not None and after is not None and after.argv == before.argv
        assert (after.pid != before.pid) == result.restarted
        # What it had scraped before is still there (after a restart, from its WAL),
        # and it scrapes again.
        seen = prom_query_at(url, live, scraped_before)
        assert [float(r["value"][1]) for r in seen] == [LIVE_VALUE]
        loaded = time.time()
        wait_for(lambda: prom_query(url, f"timestamp({live}) > {loaded}"), "a scrape after")
        # The live series still holds its value and only its value, from the push on.
        now = time.time()
        recent = range_query(url, live, now - 120, now, 5)
        assert [s["metric"]["portfolio"] for s in recent] == ["alpha"]
        assert {float(v) for _, v in recent[0]["values"]} == {LIVE_VALUE}
        yield result
    finally:
        delete_group(settings, AGENT)


def test_span_and_counts(backfilled: BackfillResult) -> None:
    r = backfilled
    assert r.end - r.start == timedelta(days=2)
    assert r.blocks >= 1 and r.series > 250
    # Two days at a minute, thinned where values repeat outside trading hours.
    assert r.series * 2 * 24 * 60 / 8 < r.samples <= r.series * 2 * 24 * 60
    assert r.seconds >= r.load_seconds


def test_values_recomputed_from_the_market(stack: Stack, backfilled: BackfillResult) -> None:
    settings, url = stack.settings, stack.settings.url.prometheus
    calendar = MarketCalendar(settings.policy.market)
    market = SyntheticMarket(settings.trading.seed, calendar=calendar)
    mine = f'agent="{AGENT}",job="riskwatch"'
    start = backfilled.start.timestamp()
    head = requests.get(f"{url}/api/v1/status/tsdb", timeout=10).json()["data"]["headStats"]
    head_min = head["minTime"]
    checks = [
        datetime.fromtimestamp((start // 60 + k * 97) * 60, UTC) for k in range(1, 2 * 1440 // 97)
    ]
    for p in settings.trading.portfolios:
        sel = f'{mine},portfolio="{p.name}"'
        at = checks[0].timestamp()
        cash = one_value(url, f"trading_cash_balance_usd{{{sel}}}", at)
        held = {
            s["metric"]["symbol"]: float(s["value"][1])
            for s in prom_query_at(url, f"trading_position_quantity{{{sel}}}", at)
        }
        assert len(held) == p.positions
        values = range_query(
            url,
            f"trading_portfolio_value_usd{{{sel}}}",
            checks[0].timestamp(),
            checks[-1].timestamp(),
            97 * 60,
        )
        got = {float(t): float(v) for t, v in values[0]["values"]}
        assert len(got) == len(checks)
        for when in checks:
            run = last_run(calendar, when)  # outside trading hours the last run's value
            expected = cash + sum(q * market.price_at(s, run) for s, q in held.items())
            assert got[when.timestamp()] == pytest.approx(expected, rel=1e-12), when
            # Daily P&L from the last value recorded before New York midnight.
            zone = calendar.market.zone
            midnight = datetime.combine(run.astimezone(zone).date(), datetime.min.time(), zone)
            before = last_run(calendar, midnight - timedelta(minutes=1))
            base = cash + sum(q * market.price_at(s, before) for s, q in held.items())
            pnl = one_value(url, f"trading_daily_pnl_usd{{{sel}}}", when.timestamp())
            assert pnl == pytest.approx(expected - base, rel=1e-9, abs=1e-6), when
            peak = one_value(url, f"trading_peak_value_usd{{{sel}}}", when.timestamp())
            drawdown = one_value(url, f"trading_drawdown_ratio{{{sel}}}", when.timestamp())
            assert peak >= expected * (1 - 1e-12)
            assert drawdown == pytest.approx(max(0.0, 1 - expected / peak), abs=1e-12)
            if when.timestamp() * 1000 >= head_min:
                continue  # other tests' agents publish these portfolios live from then on
            rule = one_value(
                url,
                f'portfolio:trading_portfolio_value_usd:sum{{portfolio="{p.name}"}}',
                when.timestamp(),
            )
            assert rule == pytest.approx(expected, rel=1e-12)


def test_labels_are_the_live_agents(stack: Stack, backfilled: BackfillResult) -> None:
    url = stack.settings.url.prometheus
    span = backfilled.start.timestamp(), backfilled.end.timestamp()
    stored = series_labels(url, f'{{job="riskwatch",agent="{AGENT}"}}', *span)
    written = {
        (
            s["__name__"],
            frozenset((k, v) for k, v in s.items() if k not in ("__name__", "job", "agent")),
        )
        for s in stored
    }
    live = live_agent_series(stack.settings)
    assert {name for name, _ in live} <= {name for name, _ in written}
    for name in {name for name, _ in live}:
        assert {labels for n, labels in written if n == name} == {
            labels for n, labels in live if n == name
        }, name
    # Every recording rule has its history too.
    rules = series_labels(url, '{__name__=~"(portfolio|firm):.+"}', *span)
    assert {r.record for r in RECORDING_RULES} <= {s["__name__"] for s in rules}


def test_nothing_after_the_end(stack: Stack, backfilled: BackfillResult) -> None:
    """Blocks cover the past only: after the span the agent has only its live series,
    and the end is never later than the oldest sample Prometheus holds in memory."""
    url = stack.settings.url.prometheus
    mine = f'{{agent="{AGENT}",job="riskwatch"}}'
    after = series_labels(url, mine, backfilled.end.timestamp(), time.time())
    live = {"trading_portfolio_value_usd", "push_time_seconds", "push_failure_time_seconds"}
    assert {s["__name__"] for s in after} <= live
    head = requests.get(f"{url}/api/v1/status/tsdb", timeout=10).json()["data"]["headStats"]
    capped = Api(url).safe_end(datetime.now(UTC))
    assert capped.timestamp() * 1000 == pytest.approx(head["minTime"], abs=1)
