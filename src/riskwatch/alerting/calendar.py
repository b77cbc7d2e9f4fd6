"""The market calendar in alerts/alertmanager.yml, rendered from the exchange calendar.

alertmanager.yml is edited by hand except for one block between two marker
comments: the `market-closed` time interval, which low-severity ops routes use in
`mute_time_intervals`. It is in force whenever the desk's market phase is CLOSED
(`riskwatch.calendar.MarketCalendar`): weekends and weekday nights outside the
extended hours of policy.yaml's `market`, in its time zone; the exchange's holidays,
whole days; its half days from `half_day_extended_close`; and the policy's
`desk_closures`. Holidays and half days come from exchange-calendars (the policy's
`market.exchange`) for `market.mute_horizon_days` from the day it is rendered, which
the block records, so nobody keeps a holiday list by hand: `riskwatch alerts render`
renews it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import groupby

from riskwatch.calendar import MarketCalendar, regular_hours
from riskwatch.policy import Market

ALERTMANAGER_CONFIG = "alerts/alertmanager.yml"
BEGIN = "# BEGIN market calendar, rendered by `riskwatch alerts render` from policy.yaml"
END = "# END market calendar"
INTERVAL_NAME = "market-closed"
RENEW_AFTER_DAYS = 30
"""`riskwatch alerts render` keeps a block rendered fewer days ago than this as it is
(re-rendered from the same day, so a policy change still shows), so that renders on
consecutive days do not each rewrite alertmanager.yml; an older one starts from today."""

_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_BLOCK = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}\n.*?^[ \t]*{re.escape(END)}\n", re.M | re.S
)


class CalendarError(Exception):
    """alertmanager.yml lacks the markers the calendar is rendered between."""


_SINCE = re.compile(
    r"^[ \t]*# Exchange holidays and half days from (?P<since>\d{4}-\d{2}-\d{2}) ", re.M
)


def closures(market: Market, today: date) -> tuple[list[date], list[date]]:
    """The whole weekdays the market is closed on and the exchange's half days: the
    exchange's from `today` for `market.mute_horizon_days`, and every desk closure
    listed (few, and explicit, so none is dropped for its date)."""
    cal = MarketCalendar(market)
    end = today + timedelta(days=market.mute_horizon_days - 1)
    sessions = set(cal.sessions(today, end))
    days = (today + timedelta(days=k) for k in range(market.mute_horizon_days))
    closed = {d for d in days if d.weekday() < 5 and d not in sessions}
    closed |= set(market.desk_closures)
    half_days = []
    for day in sorted(sessions - closed):
        times = cal.session_times(day)
        if times is not None and times[1] < regular_hours(market.exchange, day)[1]:
            half_days.append(day)
    return sorted(closed), half_days


def _per_month(days: Iterable[date], tz: str, extra: list[str]) -> list[str]:
    """`days` as time-interval entries, one per month, each with the `extra` lines."""
    lines = []
    for (year, month), group in groupby(sorted(days), key=lambda d: (d.year, d.month)):
        dom = ", ".join(f'"{d.day}"' for d in group)
        lines += [
            f'    - years: ["{year}"]',
            f'      months: ["{_MONTHS[month - 1]}"]',
            f"      days_of_month: [{dom}]",
            *extra,
            f"      location: {tz}",
        ]
    return lines


def market_closed_lines(market: Market, today: date) -> list[str]:
    """The `market-closed` time interval as YAML lines, indented for `time_intervals:`,
    with the exchange's holidays and half days from `today`."""
    tz = market.timezone
    closed, half_days = closures(market, today)
    last = today + timedelta(days=market.mute_horizon_days - 1)
    lines = [
        f"- name: {INTERVAL_NAME}",
        "  time_intervals:",
        "    # Weekends.",
        '    - weekdays: ["saturday", "sunday"]',
        f"      location: {tz}",
        "    # Weekday nights, outside the desk's trading hours.",
        '    - weekdays: ["monday:friday"]',
        "      times:",
        '        - start_time: "00:00"',
        f'          end_time: "{market.extended_open}"',
        f'        - start_time: "{market.extended_close}"',
        '          end_time: "24:00"',
        f"      location: {tz}",
        f"    # Exchange holidays and half days from {today.isoformat()} to"
        f" {last.isoformat()} ({market.exchange}, exchange-calendars).",
    ]
    if closed:
        lines.append("    # Holidays and desk closures, whole days; one entry per month.")
        lines += _per_month(closed, tz, [])
    if half_days and market.half_day_extended_close < market.extended_close:
        lines.append(
            f"    # Half days, after the early close's extended hours"
            f" ({market.half_day_extended_close}); one entry per month."
        )
        times = [
            "      times:",
            f'        - start_time: "{market.half_day_extended_close}"',
            f'          end_time: "{market.extended_close}"',
        ]
        lines += _per_month(half_days, tz, times)
    return lines


def rendered_since(config_text: str) -> date | None:
    """The day the calendar block in `config_text` was rendered from, if it says."""
    match = _SINCE.search(config_text)
    return None if match is None else date.fromisoformat(match.group("since"))


def render_day(config_text: str, today: date) -> date:
    """The day to render the calendar block of `config_text` from on `today`: the day it
    records if that is under `RENEW_AFTER_DAYS` old, else `today`."""
    since = rendered_since(config_text)
    if since is not None and 0 <= (today - since).days < RENEW_AFTER_DAYS:
        return since
    return today


def splice(config_text: str, market: Market, today: date) -> str:
    """`config_text` with the block between the markers replaced by the calendar
    rendered from `today`."""
    match = _BLOCK.search(config_text)
    if match is None:
        raise CalendarError(
            f"{ALERTMANAGER_CONFIG} has no '{BEGIN}' ... '{END}' block under time_intervals"
        )
    indent = match.group("indent")
    lines = (BEGIN, *market_closed_lines(market, today), END)
    body = "".join(f"{indent}{line}\n" for line in lines)
    return config_text[: match.start()] + body + config_text[match.end() :]
