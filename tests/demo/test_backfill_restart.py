"""Loading backfilled blocks: the state folder's own Prometheus is restarted to read
them at once, and keeps what it had scraped (its WAL); not while an alert with a `for`
is pending, whose `for` a restart would start over.

Each test runs a Prometheus of its own, recorded in its state folder's run/ as
`riskwatch stack up` records the stack's, so `backfill` treats it as the stack's (the
benchmark's `recorded_prometheus`, which measures the same path).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import requests

from benchmarks.bench_backfill import recorded_prometheus
from riskwatch.clock import FixedClock
from riskwatch.demo.backfill import backfill, load_blocks
from riskwatch.demo.backfill.prometheus import Api
from riskwatch.settings import Settings
from riskwatch.stack.processes import ProcessRecord
from riskwatch.stack.runner import Stack
from tests.support.calendar import SITUATIONS
from tests.support.stack import wait_for

SITUATION = next(s for s in SITUATIONS if s.name == "monday-after-thanksgiving")
RELOAD_SECONDS = 60
"""Prometheus 2.42's periodic block reload: what loading took before a restart."""
PENDING_RULE = {"alert": "AlwaysPending", "expr": "vector(1)", "for": "1h"}


def query(url: str, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
    """The result of an instant query at `at` (default now), as (labels, value)."""
    params: dict[str, str | float] = {"query": expr, "time": time.time() if at is None else at}
    resp = requests.get(f"{url}/api/v1/query", params=params, timeout=10)
    resp.raise_for_status()
    return [(r["metric"], float(r["value"][1])) for r in resp.json()["data"]["result"]]


def pid(settings: Settings) -> int:
    record = ProcessRecord.load(Stack(settings).layout.run, "prometheus")
    assert record is not None
    return record.pid


def test_the_stacks_prometheus_is_restarted_and_keeps_what_it_scraped(tmp_path: Path) -> None:
    with recorded_prometheus(tmp_path, scrape_interval="1s") as settings:
        url = settings.url.prometheus
        # A scrape that only the WAL holds after the restart (nothing is persisted in
        # a block before two hours).
        scraped = wait_for(lambda: query(url, 'timestamp(up{job="prometheus"})'), "a first scrape")[
            0
        ][1]
        before = pid(settings)
        clock = FixedClock(SITUATION.at)
        result = backfill(
            settings,
            1,
            resolution_seconds=60,
            end=clock() - timedelta(hours=1),
            agent_id="restart-test",
            clock=clock,
        )
        assert result.restarted
        assert pid(settings) != before
        assert result.load_seconds < RELOAD_SECONDS / 2
        assert [value for _, value in query(url, 'up{job="prometheus"}', scraped)] == [1.0]
        middle = (result.start + (result.end - result.start) / 2).timestamp()
        assert query(url, 'count({agent="restart-test"})', middle)[0][1] > 100
        # It scrapes again.
        wait_for(
            lambda: query(url, f'timestamp(up{{job="prometheus"}}) > {scraped + 2}'),
            "a scrape after the restart",
        )


def test_not_while_an_alert_with_a_for_is_pending(tmp_path: Path) -> None:
    """The probe stands for blocks that arrive on their own a few seconds in (as the
    periodic reload brings them): with an alert pending all along, they are waited
    for, and Prometheus is never restarted."""
    arrives = time.time() + 4
    rules = [PENDING_RULE, {"record": "arrived", "expr": f"vector(time()) > {arrives}"}]
    with recorded_prometheus(tmp_path, scrape_interval="1s", rules=rules) as settings:
        api = Api(settings.url.prometheus)
        wait_for(api.held_alerts, "the rule's alert pending")
        assert api.held_alerts() == ["AlwaysPending"]
        before = pid(settings)
        # Asked about a minute ahead, the probe sees the recording as soon as it has a
        # sample (the 5-minute lookback reaches back to it).
        loaded = load_blocks(settings, api, [(int(arrives) + 60, "arrived")], lambda _: None)
        assert not loaded.restarted
        assert pid(settings) == before
        assert time.time() >= arrives
