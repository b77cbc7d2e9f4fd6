"""Reading the alert list's filters from a query string, for the API and the console.

A misspelt filter silently ignored would return the wrong alerts, so unknown
parameters are refused, as are empty values (the API) and values PostgreSQL cannot
compare (NUL). The console's forms send empty fields for "any", and times without an
offset from ``datetime-local`` inputs, which it reads as UTC: `lenient` allows both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest

from riskwatch.receiver.models import AlertStatus
from riskwatch.receiver.store import AlertFilter, Cursor
from riskwatch.settings import ReceiverSettings

FILTERS: Final = (
    "status",
    "severity",
    "team",
    "portfolio",
    "alertname",
    "since",
    "until",
)
"""The alert list's filters, in the order the console shows them."""
PARAMETERS: Final = (*FILTERS, "before", "limit")
STATUSES: Final[dict[str, AlertStatus]] = {"firing": "firing", "resolved": "resolved"}


def parse_filter(
    args: MultiDict[str, str], settings: ReceiverSettings, *, lenient: bool = False
) -> tuple[AlertFilter, int]:
    """The filter and page size `args` ask for; BadRequest naming the parameter."""
    refuse_unknown(args, PARAMETERS)
    for name, value in args.items(multi=True):
        # PostgreSQL text cannot hold U+0000: a filter with one would be a 500.
        if "\x00" in value:
            raise BadRequest(f"query parameter {name} must not contain NUL (U+0000) characters")
        if not value and not lenient:
            raise BadRequest(f"query parameter {name} is empty")

    def given(name: str) -> str | None:
        value = args.get(name)
        if value is not None and lenient:
            return value.strip() or None  # an empty form field: any value
        return value

    status = given("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"query parameter status must be firing or resolved (got {status!r})")
    since, until, before = given("since"), given("until"), given("before")
    where = AlertFilter(
        status=None if status is None else STATUSES[status],
        alertname=given("alertname"),
        severity=given("severity"),
        team=given("team"),
        portfolio=given("portfolio"),
        since=None if since is None else parse_instant("since", since, lenient=lenient),
        until=None if until is None else parse_instant("until", until, lenient=lenient),
        before=None if before is None else _parse_cursor(before),
    )
    return where, parse_limit(given("limit"), settings)


def refuse_unknown(args: MultiDict[str, str], allowed: tuple[str, ...]) -> None:
    """BadRequest naming any parameter not in `allowed`: a misspelt one silently
    ignored would answer something other than what was asked."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise BadRequest(
            f"unknown query parameter {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )


def parse_instant(name: str, text: str, *, lenient: bool = False) -> datetime:
    """An RFC 3339 timestamp with an offset (lenient: without one, read as UTC)."""
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        instant = None
    if instant is not None and instant.tzinfo is None and lenient:
        instant = instant.replace(tzinfo=UTC)
    if instant is None or instant.tzinfo is None:
        hint = " (a '+' in a URL reads as a space: write %2B or Z)" if " " in text else ""
        raise BadRequest(
            f"query parameter {name} must be an RFC 3339 timestamp with an offset, "
            f"e.g. 2024-05-01T09:30:00Z (got {text!r}){hint}"
        )
    return instant


def _parse_cursor(text: str) -> Cursor:
    try:
        return Cursor.decode(text)
    except ValueError as exc:
        raise BadRequest(f"query parameter before: {exc}") from None


def parse_limit(text: str | None, settings: ReceiverSettings) -> int:
    """The page size: `text`, else the default; 1 to ``max_page_size``."""
    maximum = settings.max_page_size
    if text is None:
        return min(settings.default_page_size, maximum)
    # int() alone would also take " 5", "+5" and "1_0".
    limit = int(text) if text.isascii() and text.isdigit() else 0
    if not 1 <= limit <= maximum:
        raise BadRequest(f"query parameter limit must be an integer from 1 to {maximum}")
    return limit
