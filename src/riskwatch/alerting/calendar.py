"""The market calendar in alerts/alertmanager.yml, rendered from the limits config.

alertmanager.yml is edited by hand except for one block between two marker
comments: the `market-closed` time interval, which low-severity ops routes use in
`mute_time_intervals`. It is rendered from `market_calendar` in policy.yaml:
nights and weekends in the exchange's time zone, plus each holiday, so the muting
follows the exchange calendar without anyone editing Alertmanager's config.
"""

from __future__ import annotations

import re
from itertools import groupby

from riskwatch.policy import Market

ALERTMANAGER_CONFIG = "alerts/alertmanager.yml"
BEGIN = "# BEGIN market calendar, rendered by `riskwatch alerts render` from policy.yaml"
END = "# END market calendar"
INTERVAL_NAME = "market-closed"

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


def market_closed_lines(calendar: Market) -> list[str]:
    """The `market-closed` time interval as YAML lines, indented for `time_intervals:`."""
    tz = calendar.timezone
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
        f'          end_time: "{calendar.extended_open}"',
        f'        - start_time: "{calendar.extended_close}"',
        '          end_time: "24:00"',
        f"      location: {tz}",
    ]
    if calendar.holidays:
        lines.append("    # Exchange holidays, whole days; one entry per month.")
    days = sorted(calendar.holidays)
    for (year, month), group in groupby(days, key=lambda d: (d.year, d.month)):
        dom = ", ".join(f'"{d.day}"' for d in group)
        lines += [
            f'    - years: ["{year}"]',
            f'      months: ["{_MONTHS[month - 1]}"]',
            f"      days_of_month: [{dom}]",
            f"      location: {tz}",
        ]
    return lines


def splice(config_text: str, calendar: Market) -> str:
    """`config_text` with the block between the markers replaced by the rendered calendar."""
    match = _BLOCK.search(config_text)
    if match is None:
        raise CalendarError(
            f"{ALERTMANAGER_CONFIG} has no '{BEGIN}' ... '{END}' block under time_intervals"
        )
    indent = match.group("indent")
    body = "".join(f"{indent}{line}\n" for line in (BEGIN, *market_closed_lines(calendar), END))
    return config_text[: match.start()] + body + config_text[match.end() :]
