"""Alertmanager's `market-closed` interval, rendered from the exchange calendar.

Every test renders from a fixed day (or the day the committed block records), never
from the day it runs: the holidays and half days are exchange-calendars', over the
policy's rolling horizon, and nobody keeps a list of them by hand.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import exchange_calendars as xc
import pandas as pd
import pytest
import yaml

from riskwatch.alerting import calendar, check
from riskwatch.clock import FixedClock
from riskwatch.policy import POLICY_FILE, Market, Policy
from tests.alerting.test_market_closed_mute import _alertmanager_mutes
from tests.support.alertmanager import tool
from tests.support.calendar import shipped_zone

TODAY = date(2026, 11, 2)  # a Monday, before Thanksgiving


def _interval(market: Market, today: date) -> dict[str, Any]:
    (rendered,) = yaml.safe_load("\n".join(calendar.market_closed_lines(market, today)))
    data: dict[str, Any] = rendered
    return data


def _mutes(market: Market, today: date, local: str) -> bool:
    when = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=market.zone)
    return _alertmanager_mutes({"time_intervals": [_interval(market, today)]}, when)


@pytest.mark.parametrize(
    ("local", "muted"),
    [
        # Thanksgiving: a holiday, muted all day.
        ("2026-11-26 04:00", True),
        ("2026-11-26 12:00", True),
        ("2026-11-26 19:59", True),
        # The Friday after: NYSE closes at 13:00, the desk's after hours end at 17:00
        # (market.half_day_extended_close); muted from then, as on any weekday night.
        ("2026-11-27 12:00", False),
        ("2026-11-27 16:59", False),
        ("2026-11-27 17:00", True),
        ("2026-11-27 19:30", True),
        # Christmas Eve, a half day; Christmas, a holiday.
        ("2026-12-24 16:59", False),
        ("2026-12-24 17:00", True),
        ("2026-12-25 12:00", True),
        # New Year's Day 2027, in the next year of the horizon.
        ("2027-01-01 12:00", True),
        # A full day around them: muted only outside 04:00-20:00.
        ("2026-11-25 12:00", False),
        ("2026-11-25 20:00", True),
        ("2026-12-28 19:59", False),
    ],
)
def test_known_days(limits: Policy, local: str, muted: bool) -> None:
    assert _mutes(limits.market, TODAY, local) is muted


def test_the_closures_are_the_exchange_calendar_s(limits: Policy) -> None:
    market = limits.market
    closed, half_days = calendar.closures(market, TODAY)
    last = TODAY + timedelta(days=market.mute_horizon_days - 1)
    nyse = xc.get_calendar(market.exchange, start=pd.Timestamp(TODAY), end=pd.Timestamp(last))
    sessions = {ts.date() for ts in nyse.sessions}
    weekdays = {
        TODAY + timedelta(days=k)
        for k in range(market.mute_horizon_days)
        if (TODAY + timedelta(days=k)).weekday() < 5
    }
    assert set(closed) == weekdays - sessions
    early = {ts.date() for ts in nyse.early_closes}
    assert set(half_days) == early
    # The days the brief names, and the early close's hour, are exchange-calendars'.
    assert {date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1)} <= set(closed)
    assert {date(2026, 11, 27), date(2026, 12, 24)} <= set(half_days)
    close = nyse.session_close(pd.Timestamp("2026-11-27")).tz_convert(market.timezone)
    assert close.time() == time(13, 0)


def test_the_horizon_rolls_with_today(limits: Policy) -> None:
    """No year is written into the code: a render in 2031 lists 2031's and 2032's days."""
    later = date(2031, 6, 2)
    closed, half_days = calendar.closures(limits.market, later)
    assert closed and half_days
    assert min(closed) >= later
    assert max(closed) < later + timedelta(days=limits.market.mute_horizon_days)
    assert date(2031, 7, 4) in closed
    assert date(2031, 11, 28) in half_days  # the Friday after Thanksgiving


def test_desk_closures_are_muted_all_day(limits: Policy) -> None:
    offsite = date(2026, 11, 18)  # an ordinary Wednesday on the exchange
    market = limits.market.model_copy(update={"desk_closures": (offsite,)})
    assert _mutes(market, TODAY, "2026-11-18 12:00")
    assert not _mutes(limits.market, TODAY, "2026-11-18 12:00")


def test_the_block_is_compact(limits: Policy) -> None:
    """One entry per month of holidays and one per month of half days."""
    entries = _interval(limits.market, TODAY)["time_intervals"]
    closed, half_days = calendar.closures(limits.market, TODAY)
    months = {(d.year, d.month) for d in closed}
    half_months = {(d.year, d.month) for d in half_days}
    assert len(entries) == 2 + len(months) + len(half_months)


def test_the_committed_block_is_the_policy_s_from_the_day_it_records(
    project_dir: Path, limits: Policy
) -> None:
    text = (project_dir / calendar.ALERTMANAGER_CONFIG).read_text()
    since = calendar.rendered_since(text)
    assert since is not None
    assert calendar.splice(text, limits.market, since) == text


def test_render_starts_from_the_injected_clock_s_day_and_amtool_accepts_it(
    scratch: Path,
) -> None:
    am = scratch / calendar.ALERTMANAGER_CONFIG
    clock = FixedClock(datetime.combine(TODAY, time(12), shipped_zone()))
    changed = check.render(scratch, clock)
    assert "wrote alerts/alertmanager.yml" in changed
    text = am.read_text()
    assert calendar.rendered_since(text) == TODAY
    assert 'days_of_month: ["26"]' in text
    assert "# Operations: #trading-ops." in text  # the hand-written rest is untouched
    step = check.amtool_check_config(scratch, tool("amtool"))
    assert step.ok, step.detail
    # A day later the block is kept as it is, a month later it starts from that day.
    clock.advance(timedelta(days=1))
    assert "wrote alerts/alertmanager.yml" not in check.render(scratch, clock)
    clock.advance(timedelta(days=calendar.RENEW_AFTER_DAYS))
    assert "wrote alerts/alertmanager.yml" in check.render(scratch, clock)
    assert calendar.rendered_since(am.read_text()) == TODAY + timedelta(
        days=1 + calendar.RENEW_AFTER_DAYS
    )


def test_a_policy_with_the_old_holiday_list_is_refused(project_dir: Path) -> None:
    data = yaml.safe_load((project_dir / POLICY_FILE).read_text())
    data["market"]["holidays"] = ["2026-11-26"]
    with pytest.raises(Exception, match=r"market\.holidays has been removed"):
        Market.model_validate(data["market"])
