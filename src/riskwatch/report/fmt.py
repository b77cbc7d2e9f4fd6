"""Numbers as a CRO reads them: dollars with separators, percentages, a dash for no data.

Shared by the HTML, the plain text and the chart axes, so a figure reads the same in
all three. Negative amounts use a real minus sign (U+2212) in HTML and charts, where
a hyphen is easy to miss next to a dollar sign; plain text keeps the ASCII hyphen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

NO_DATA = "—"
MINUS = "\u2212"


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def usd(value: float | None, *, signed: bool = False, ascii_minus: bool = False) -> str:
    """$1,234,567 (whole dollars); with `signed`, +$1,234 for gains."""
    if value is None or _missing(value):
        return NO_DATA
    whole = round(value)  # -$0.40 is $0: no sign on what prints as zero
    minus = "-" if ascii_minus else MINUS
    sign = minus if whole < 0 else ("+" if signed and whole > 0 else "")
    return f"{sign}${abs(whole):,}"


def usd_short(value: float | None, *, ascii_minus: bool = False) -> str:
    """$1.50M, $250k, $900: for axes and tight table cells."""
    if value is None or _missing(value):
        return NO_DATA
    sign = ("-" if ascii_minus else MINUS) if value <= -0.5 else ""
    v = abs(value)
    if v >= 1e9:
        return f"{sign}${v / 1e9:.2f}B"
    if v >= 1e6:
        return f"{sign}${v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{sign}${v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{sign}${v / 1e3:.1f}k"
    return f"{sign}${v:,.0f}"


def pct(
    value: float | None, digits: int = 2, *, signed: bool = False, ascii_minus: bool = False
) -> str:
    """A fraction as a percentage: 0.0123 -> 1.23%."""
    if value is None or _missing(value):
        return NO_DATA
    shown = f"{abs(value) * 100:.{digits}f}"
    nonzero = float(shown) != 0  # -0.001% at two decimals prints as 0.00%, unsigned
    minus = "-" if ascii_minus else MINUS
    sign = minus if value < 0 and nonzero else ("+" if signed and value > 0 and nonzero else "")
    return f"{sign}{shown}%"


def limit_pct(value: float | None) -> str:
    """A limit as a percentage without needless zeros: 10%, 2.5%, 0.25%."""
    if value is None or _missing(value):
        return NO_DATA
    return f"{value * 100:.4g}%"


def number(value: float | None, digits: int = 0) -> str:
    """A plain number with thousands separators."""
    if value is None or _missing(value):
        return NO_DATA
    return f"{value:,.{digits}f}"


def seconds(value: float | None) -> str:
    """An age: 45 s, 12 min, 3.5 h."""
    if value is None or _missing(value):
        return NO_DATA
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def in_unit(
    value: float | None, unit: str, *, limit: bool = False, ascii_minus: bool = False
) -> str:
    """A compliance value or limit in its rule's unit (see collect.RULE_INFO); a
    `limit` percentage drops needless zeros (10%, not 10.00%)."""
    if unit == "usd":
        return usd(value, ascii_minus=ascii_minus)
    if unit == "percent":
        return limit_pct(value) if limit else pct(value, ascii_minus=ascii_minus)
    if unit == "seconds":
        return seconds(value)
    if unit == "crowding":
        return crowding(value)
    return number(value, 0 if value is None or float(value).is_integer() else 2)


CROWDING_LEVELS = {0: "Low", 1: "Medium", 2: "High"}


def crowding(level: float | None) -> str:
    """crowding_level 0/1/2 as Low/Medium/High."""
    if level is None or _missing(level):
        return NO_DATA
    return CROWDING_LEVELS.get(round(level), f"level {level:g}")


def clock(when: datetime | None) -> str:
    """A time of day, 09:41 (the report's times are all in the market's zone)."""
    return NO_DATA if when is None else when.strftime("%H:%M")


def stamp(when: datetime | None, day: object = None) -> str:
    """09:41, or 'Nov 24 09:41' when `when` is not on the report's `day`."""
    if when is None:
        return NO_DATA
    if day is not None and when.date() != day:
        return when.strftime("%b %d %H:%M")
    return when.strftime("%H:%M")


ELLIPSIS = "\u2026"


def clip(text: object, limit: int = 160) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut: free text (an
    acknowledgement note, a label) is whatever someone typed, and must not stretch a
    table or bury the figures under it."""
    value = "" if text is None else str(text)
    if len(value) <= limit:
        return value
    return value[: max(1, limit - 1)].rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Cell:
    """A formatted figure, its state against its limit, and a small note under it."""

    text: str
    state: str = ""  # "", "ok", "warn" or "bad"
    note: str = ""
    pill: bool = False
    """Shown as a coloured label (a zone, a verdict) rather than a figure."""
