"""The dead man's switch: the always-firing Watchdog pings a heartbeat URL at the
configured interval, the local sinks record each ping, `stack status` shows the last
one's age, and the pings stop when Prometheus or Alertmanager stops.

The stack test runs its own stack with short intervals (seconds, from settings), so
"the pings stop" is proven within tens of seconds: every wait is derived from those
intervals and the evaluation interval in prometheus.yml.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
import yaml

from riskwatch.settings import ConfigError, Settings, load_settings
from riskwatch.sinks import HEARTBEAT_PATH, Outbox, Sinks
from riskwatch.stack import heartbeat
from riskwatch.stack.render import HEARTBEAT_RECEIVER, render_alertmanager
from riskwatch.stack.runner import Stack
from tests.support.alertmanager import tool
from tests.support.stack import free_port, free_ports, running_stack, wait_for


# ------------------------------------------------------------------ settings
def test_the_heartbeat_url_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "heartbeat_url"
    secret.write_text("https://hc-ping.example/0f2c-token\n")
    settings = load_settings(heartbeat={"url_file": str(secret)})
    assert settings.heartbeat.url is not None
    assert settings.heartbeat.url.get_secret_value() == "https://hc-ping.example/0f2c-token"
    assert "0f2c-token" not in repr(settings.heartbeat)


def test_a_group_interval_longer_than_the_repeat_is_refused() -> None:
    with pytest.raises(ConfigError, match="group_interval_seconds"):
        load_settings(heartbeat={"repeat_interval_seconds": 30, "group_interval_seconds": 60})


# ------------------------------------------------------------------ the sink
@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[tuple[Outbox, str]]:
    running = Sinks(tmp_path / "outbox", "127.0.0.1", free_port(), http_port := free_port())
    running.start()
    try:
        yield running.outbox, f"http://127.0.0.1:{http_port}"
    finally:
        running.stop()


def test_the_sink_records_each_ping_as_a_file(sinks: tuple[Outbox, str]) -> None:
    outbox, url = sinks
    before = time.time()
    alertmanager_like = {"receiver": "heartbeat", "status": "firing", "alerts": []}
    assert requests.post(f"{url}{HEARTBEAT_PATH}", json=alertmanager_like, timeout=5).ok
    assert requests.get(f"{url}{HEARTBEAT_PATH}/check-uuid?rid=1", timeout=5).ok
    assert requests.post(f"{url}/services/riskwatch", json={"text": "x"}, timeout=5).ok

    beats = outbox.heartbeats()
    assert len(beats) == 2 and all(t >= before for t in beats)
    assert outbox.last_heartbeat() == beats[-1]
    records = [json.loads(p.read_text()) for p in outbox.files("heartbeat")]
    assert [r["method"] for r in records] == ["POST", "GET"]
    assert json.loads(records[0]["body"]) == alertmanager_like
    assert records[1]["path"] == f"{HEARTBEAT_PATH}/check-uuid?rid=1"
    assert len(outbox.slack_posts()) == 1, "a heartbeat is not a Slack post, nor the reverse"


# ------------------------------------------------------------------ the status
def _settings(tmp_path: Path, **heartbeat_settings: object) -> Settings:
    return load_settings(state_dir=tmp_path / "state", heartbeat=heartbeat_settings)


def test_status_says_none_ok_or_stale(tmp_path: Path) -> None:
    settings = _settings(tmp_path, repeat_interval_seconds=300, group_interval_seconds=60)
    folder = tmp_path / "outbox"
    assert heartbeat.status(settings, folder)["state"] == "none"
    assert not folder.exists(), "reading the status creates nothing"

    Outbox(folder).write("heartbeat", ".json", b"{}")
    last = Outbox(folder, create=False).last_heartbeat()
    assert last is not None
    fresh = heartbeat.status(settings, folder, now=last + 300)
    assert (fresh["state"], fresh["age_seconds"]) == ("ok", 300)
    assert fresh["expected_every_seconds"] == 360  # repeat, plus at most one group tick
    assert fresh["stale_after_seconds"] == 420  # ... plus one tick missed
    assert heartbeat.status(settings, folder, now=last + 421)["state"] == "stale"


def test_stack_status_prints_the_heartbeat_line() -> None:
    from riskwatch.cli import _heartbeat_line

    common = {
        "expected_every_seconds": 360.0,
        "stale_after_seconds": 420.0,
        "first_within_seconds": 65.0,
    }
    none = _heartbeat_line({**common, "state": "none", "age_seconds": None})
    ok = _heartbeat_line({**common, "state": "ok", "age_seconds": 75.2})
    stale = _heartbeat_line({**common, "state": "stale", "age_seconds": 900.0})
    assert none.startswith("NONE") and "no Watchdog ping has arrived yet" in none
    assert "normal for 1m5s after Prometheus starts" in none
    assert ok.startswith("ok") and "1m15s ago" in ok and "every 6m" in ok
    assert stale.startswith("STALE") and "15m ago" in stale and "older than 7m" in stale


# ------------------------------------------------------------------ the render
def test_the_rendered_heartbeat_pings_the_sink_and_the_external_url(tmp_path: Path) -> None:
    external = "https://hc-ping.example/5a1e-token"
    settings = _settings(
        tmp_path, url=external, repeat_interval_seconds=90, group_interval_seconds=15
    )
    out = render_alertmanager(
        settings, tmp_path / "alertmanager.yml", tmp_path / "secrets", tmp_path / "credential"
    )
    assert out.stat().st_mode & 0o077 == 0, "it holds the external URL: owner only"
    config = yaml.safe_load(out.read_text())
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == HEARTBEAT_RECEIVER]
    assert (route["group_interval"], route["repeat_interval"]) == ("15s", "1m30s")
    (receiver,) = [r for r in config["receivers"] if r["name"] == HEARTBEAT_RECEIVER]
    hooks = receiver["webhook_configs"]
    assert [h["url"] for h in hooks] == [f"{settings.url.slack_sink}{HEARTBEAT_PATH}", external]
    assert all(h["send_resolved"] is False and "http_config" not in h for h in hooks)
    done = subprocess.run(
        [tool("amtool"), "check-config", str(out)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr

    local_only = render_alertmanager(
        _settings(tmp_path), tmp_path / "local.yml", tmp_path / "secrets", tmp_path / "credential"
    )
    (receiver,) = [
        r for r in yaml.safe_load(local_only.read_text())["receivers"] if r["name"] == "heartbeat"
    ]
    assert [h["url"] for h in receiver["webhook_configs"]] == [
        f"{settings.url.slack_sink}{HEARTBEAT_PATH}"
    ]


# ------------------------------------------------------------------ the real stack
@pytest.fixture
def quick_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own (the test stops parts of it) whose Watchdog repeats every few
    seconds and whose Prometheus resends every evaluation."""
    settings = load_settings(
        state_dir=tmp_path / "state",
        stack=free_ports(),
        heartbeat={
            "repeat_interval_seconds": 4,
            "group_interval_seconds": 1,
            "alert_resend_delay_seconds": 1,
        },
    )
    with running_stack(settings) as runner:
        yield runner


def _pings(stack: Stack, since: float = 0.0) -> list[float]:
    return Outbox(stack.layout.outbox, create=False).heartbeats(since)


def _assert_quiet(stack: Stack, after: float, until: float) -> None:
    """No ping arrives after `after`, watched until `until` (epoch seconds). Bounded by
    the caller's intervals; fails as soon as a late ping shows up."""
    poll = stack.settings.heartbeat.group_interval_seconds / 4
    while True:
        late = _pings(stack, since=after)
        assert not late, f"a ping {late[0] - after:.1f}s after it should have stopped"
        if time.time() >= until:
            return
        time.sleep(poll)


@pytest.mark.stack
def test_heartbeats_arrive_and_stop_with_prometheus_or_alertmanager(
    quick_stack: Stack,
) -> None:
    stack, hb = quick_stack, quick_stack.settings.heartbeat
    stale_after = heartbeat.stale_after_seconds(stack.settings)
    hold = heartbeat.alert_hold_seconds(stack.settings)
    # A ping Alertmanager started before the Watchdog ended may still be in flight.
    in_flight = hb.group_interval_seconds
    ready = stack.settings.stack.ready_timeout_seconds

    # Everything runs: pings arrive at the configured interval.
    pings = wait_for(
        lambda: p if len(p := _pings(stack)) >= 3 else None,
        "three heartbeats",
        timeout=heartbeat.first_ping_within_seconds(stack.settings) + 3 * stale_after,
    )
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert all(hb.repeat_interval_seconds <= g <= stale_after for g in gaps), gaps
    assert stack.status()["heartbeat"]["state"] == "ok"

    # Prometheus stops: Alertmanager keeps the Watchdog until its endsAt, then stops.
    stack.stop("prometheus")
    stopped = time.time()
    last_allowed = stopped + hold + in_flight
    _assert_quiet(stack, after=last_allowed, until=last_allowed + stale_after)
    last = max(_pings(stack))
    print(f"\nprometheus stopped: last heartbeat {last - stopped:+.1f}s after (hold {hold:.0f}s)")
    assert stack.status()["heartbeat"]["state"] == "stale"

    stack.up()
    restarted = time.time()
    wait_for(lambda: _pings(stack, since=restarted), "pings after Prometheus restarts", ready)

    # Alertmanager stops: it is the one sending, so the pings stop at once.
    stack.stop("alertmanager")
    stopped = time.time()
    _assert_quiet(stack, after=stopped, until=stopped + stale_after + in_flight)
    last = max(_pings(stack))
    print(f"alertmanager stopped: last heartbeat {last - stopped:+.1f}s after")
    status = stack.status()
    assert status["heartbeat"]["state"] == "stale" and not status["health"]["alertmanager"]

    stack.up()
    restarted = time.time()
    wait_for(lambda: _pings(stack, since=restarted), "pings after Alertmanager restarts", ready)
    assert stack.status()["heartbeat"]["state"] == "ok"


def test_the_rendered_calendar_is_rendered_from_the_day_the_stack_starts(tmp_path: Path) -> None:
    """The committed market calendar lasts its horizon; a stack started years later
    mutes that year's holidays, because the local config renders it afresh."""
    later = date(2031, 6, 2)
    out = render_alertmanager(
        _settings(tmp_path),
        tmp_path / "alertmanager.yml",
        tmp_path / "secrets",
        tmp_path / "credential",
        today=later,
    )
    text = out.read_text()
    (closed,) = [t for t in yaml.safe_load(text)["time_intervals"] if t["name"] == "market-closed"]
    years = {y for interval in closed["time_intervals"] for y in interval.get("years", [])}
    assert "2031" in years and "2026" not in years
    done = subprocess.run(
        [tool("amtool"), "check-config", str(out)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
