"""The `market-closed` mute: the demo's view of it agrees with alertmanager.yml at fixed
instants, and a real Alertmanager keeps muted ops warnings off Slack, not out of the
audit trail (issue #19: no test here inherits the hour it runs at)."""

from __future__ import annotations

import calendar as months_calendar
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from riskwatch.alerting import calendar
from riskwatch.demo.runner import market_closed_at, mute_states
from riskwatch.policy import POLICY_FILE, Market, load_policy
from tests.alerting.conftest import PROJECT
from tests.support.alertmanager import running_alertmanager
from tests.support.calendar import SITUATIONS, Situation, situations
from tests.support.stack import wait_for

# ---------------------------------------------- Alertmanager's time intervals, re-read
# An evaluator of Alertmanager's `time_intervals` written from its documentation, not
# from the calendar in alerts/limits.yaml: the demo's `market_closed_at` is computed
# from that calendar, and the two must say the same thing at every instant.
_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = tuple(m.lower() for m in months_calendar.month_name[1:])


def _in_ranges(value: int, items: list[str], parse: Any) -> bool:
    """Whether `value` is in one of `items`, each `x` or an inclusive range `x:y`."""
    for item in items:
        low, _, high = str(item).partition(":")
        if parse(low) <= value <= parse(high or low):
            return True
    return False


def _weekday(name: str) -> int:
    return _WEEKDAYS.index(name.strip().lower())


def _month(name: str) -> int:
    name = name.strip().lower()
    return int(name) if name.isdigit() else 1 + _MONTHS.index(name)


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _interval_matches(spec: dict[str, Any], when: datetime) -> bool:
    """One entry of a time interval: every field it names must hold (fields it leaves
    out match any time); times are [start, end) minutes of the day in `location`."""
    local = when.astimezone(ZoneInfo(spec.get("location", "UTC")))
    # Alertmanager counts weekdays from Sunday = 0, Python from Monday = 0.
    weekday = (local.weekday() + 1) % 7
    if "weekdays" in spec and not _in_ranges(weekday, spec["weekdays"], _weekday):
        return False
    if "times" in spec:
        minute = local.hour * 60 + local.minute
        if not any(
            _minutes(t["start_time"]) <= minute < _minutes(t["end_time"]) for t in spec["times"]
        ):
            return False
    if "days_of_month" in spec:
        days = months_calendar.monthrange(local.year, local.month)[1]

        def day(text: str) -> int:  # negative days count back from the month's end
            n = int(text)
            return n if n > 0 else days + 1 + n

        if not _in_ranges(local.day, spec["days_of_month"], day):
            return False
    if "months" in spec and not _in_ranges(local.month, spec["months"], _month):
        return False
    return not ("years" in spec and not _in_ranges(local.year, spec["years"], int))


def _alertmanager_mutes(config: dict[str, Any], when: datetime) -> bool:
    (interval,) = [t for t in config["time_intervals"] if t["name"] == calendar.INTERVAL_NAME]
    return any(_interval_matches(spec, when) for spec in interval["time_intervals"])


# The instants below run from March 2026 to December 2027: the mute is rendered from a
# fixed day over a horizon that holds them all, not from the day the test runs.
RENDERED_FROM = date(2026, 1, 1)


@pytest.fixture(scope="module")
def market() -> Market:
    """The market policy.yaml describes, which alertmanager.yml's mute is rendered from,
    with a horizon through 2027."""
    shipped = load_policy(PROJECT / POLICY_FILE).market
    return shipped.model_copy(update={"mute_horizon_days": 730})


@pytest.fixture(scope="module")
def am_config(market: Market) -> dict[str, Any]:
    """alertmanager.yml with its `market-closed` block rendered from `RENDERED_FROM`."""
    text = (PROJECT / calendar.ALERTMANAGER_CONFIG).read_text()
    data: dict[str, Any] = yaml.safe_load(calendar.splice(text, market, RENDERED_FROM))
    return data


# The mute at each fixed instant, by name: a half day's extended hours end at 17:00
# (market.half_day_extended_close), so the mute is in force from then.
CLOSED_AT = {
    "weekday-regular-hours": False,
    "weekday-overnight": True,
    "saturday": True,
    "after-a-holiday": False,
    "half-day": True,
    "monday-after-thanksgiving": False,
    "dst-spring-forward": True,
    "dst-fall-back": True,
}


def test_every_situation_has_an_expected_mute() -> None:
    assert set(CLOSED_AT) == {s.name for s in SITUATIONS}


@pytest.mark.parametrize("situation", situations())
def test_market_closed_at_agrees_with_alertmanager_yml(
    situation: Situation, am_config: dict[str, Any], market: Market
) -> None:
    when = situation.at
    closed = market_closed_at(market, when)
    assert closed == _alertmanager_mutes(am_config, when), situation.why
    assert closed is CLOSED_AT[situation.name], situation.why


EDGES = {
    # The mute's edges on a weekday: its start is inside it, its end is not.
    "2026-11-18 03:59": True,
    "2026-11-18 04:00": False,
    "2026-11-18 19:59": False,
    "2026-11-18 20:00": True,
    # Holidays are whole days; the Friday after Thanksgiving is a half day (13:00
    # close): open through its after hours, muted from 17:00.
    "2026-11-26 12:00": True,
    "2026-11-27 12:00": False,
    "2026-11-27 16:59": False,
    "2026-11-27 17:00": True,
    "2026-12-24 17:00": True,
    "2027-01-01 12:00": True,
    "2026-09-07 12:00": True,
    # The first weekday mornings after each daylight-saving change, in New York time.
    "2026-03-09 03:59": True,
    "2026-03-09 04:00": False,
    "2026-11-02 03:59": True,
    "2026-11-02 04:00": False,
    # Friday night into the weekend, and the weekend into Monday morning.
    "2026-11-13 19:59": False,
    "2026-11-14 00:00": True,
    "2026-11-16 00:00": True,
}


@pytest.mark.parametrize("local", list(EDGES))
def test_market_closed_at_edges(local: str, am_config: dict[str, Any], market: Market) -> None:
    when = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=market.zone)
    assert market_closed_at(market, when) is EDGES[local]
    assert _alertmanager_mutes(am_config, when) is EDGES[local]


@pytest.mark.parametrize(
    "first_day",
    ["2026-03-06", "2026-10-30", "2026-11-24", "2027-12-22"],
    ids=["spring-forward", "fall-back", "thanksgiving", "christmas-observed"],
)
def test_market_closed_at_agrees_every_quarter_hour_of_a_week(
    first_day: str, am_config: dict[str, Any], market: Market
) -> None:
    # Stepping in UTC, so the daylight-saving hours are neither skipped nor doubled.
    start = datetime.fromisoformat(first_day).replace(tzinfo=UTC)
    disagree = [
        when.astimezone(market.zone).isoformat()
        for when in (start + timedelta(minutes=15 * k) for k in range(7 * 24 * 4))
        if market_closed_at(market, when) != _alertmanager_mutes(am_config, when)
    ]
    assert disagree == []


def test_mute_states_see_an_edge_inside_the_window(market: Market) -> None:
    cal = market
    at = datetime(2026, 11, 18, 19, 58, 30, tzinfo=market.zone)
    assert mute_states(cal, at, at + timedelta(seconds=30)) == {False}
    assert mute_states(cal, at, at + timedelta(minutes=3)) == {False, True}
    assert mute_states(cal, at + timedelta(minutes=2), at + timedelta(minutes=3)) == {True}


def test_market_closed_at_refuses_a_naive_instant(market: Market) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        market_closed_at(market, datetime(2026, 11, 18, 12, 0))


# ------------------------------------------------- the mute, in a real Alertmanager
# Alertmanager reads its own clock, which a test cannot set: instead the test loads it
# with alertmanager.yml whose `market-closed` interval is in force at every instant, or
# at none, so what reaches Slack is the same whenever the test runs.
ALWAYS = [{"weekdays": ["sunday:saturday"]}]
NEVER = [{"years": ["1999"]}]


class Capture(BaseHTTPRequestHandler):
    """Records every POST (Slack's and the audit webhook's) as (path, JSON body)."""

    posts: list[tuple[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts.append((self.path, json.loads(body or b"null")))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    posts: list[tuple[str, Any]] = []
    handler = type("Handler", (Capture,), {"posts": posts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posts
    finally:
        server.shutdown()
        server.server_close()


def _config_for_test(base_url: str, mute: list[dict[str, Any]]) -> dict[str, Any]:
    """alertmanager.yml with Slack, the ops chats and the webhooks pointed at the capture
    server and the `market-closed` interval replaced by `mute`; routes and receivers
    unchanged."""
    config: dict[str, Any] = yaml.safe_load((PROJECT / calendar.ALERTMANAGER_CONFIG).read_text())
    glob = config["global"]
    for secret in ("slack_api_url_file", "smtp_auth_password_file", "smtp_auth_username"):
        glob.pop(secret, None)
    glob["slack_api_url"] = f"{base_url}/slack"
    config["templates"] = [
        str(PROJECT / "alerts" / pattern) for pattern in config.get("templates", [])
    ]
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{base_url}/webhook"
            hook.pop("http_config", None)
        for chat in receiver.get("discord_configs", []):
            chat["webhook_url"] = f"{base_url}/discord/api/webhooks/1/test"
        for chat in receiver.get("telegram_configs", []):
            chat["api_url"] = f"{base_url}/telegram"
    (interval,) = [t for t in config["time_intervals"] if t["name"] == calendar.INTERVAL_NAME]
    interval["time_intervals"] = mute
    return config


def _mentions(posts: list[tuple[str, Any]], path: str, agent: str) -> list[Any]:
    return [body for where, body in posts if where.startswith(path) and agent in json.dumps(body)]


@pytest.mark.parametrize("muted", [True, False], ids=["mute-in-force", "mute-not-in-force"])
def test_ops_warning_reaches_slack_only_outside_the_mute(
    muted: bool, capture: tuple[str, list[tuple[str, Any]]], tmp_path: Path
) -> None:
    base_url, posts = capture
    config = tmp_path / "alertmanager.yml"
    mute = ALWAYS if muted else NEVER
    config.write_text(yaml.safe_dump(_config_for_test(base_url, mute), sort_keys=False))
    # The mute stage says so at debug level: the proof a muted post is not late.
    with running_alertmanager(config, tmp_path, "--log.level=debug") as url:
        agent = f"mute-test-{'on' if muted else 'off'}"
        labels = {
            "alertname": "AgentTaskFailing",
            "severity": "warning",
            "team": "ops",
            "agent": agent,
            "task": "risk",
            "source": "agent",
        }
        payload = [{"labels": labels, "annotations": {}, "startsAt": datetime.now(UTC).isoformat()}]
        requests.post(f"{url}/api/v2/alerts", json=payload, timeout=5).raise_for_status()
        # The audit trail records the warning at any hour.
        wait_for(lambda: _mentions(posts, "/webhook", agent), "the audit copy", timeout=30)
        if muted:
            log = tmp_path / "log"
            # Once per muted route that flushed: ops-slack's and ops-chat's.
            wait_for(
                lambda: log.read_text().count("route is within mute time") >= 2,
                "Alertmanager's mute stage to hold the Slack post and the chats back",
                timeout=30,
            )
            assert _mentions(posts, "/slack", agent) == []
            # The ops chats (Discord, Telegram) are muted alike.
            assert _mentions(posts, "/discord", agent) == []
            assert _mentions(posts, "/telegram", agent) == []
        else:
            slack = wait_for(lambda: _mentions(posts, "/slack", agent), "the Slack post", 30)
            assert [post["channel"] for post in slack] == ["#trading-ops"]
            wait_for(lambda: _mentions(posts, "/discord", agent), "the Discord post", 30)
            wait_for(lambda: _mentions(posts, "/telegram", agent), "the Telegram message", 30)
