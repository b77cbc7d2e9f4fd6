"""The trail of a period as CSV, for the compliance file: one row per thing that
happened, in time order.

Rows are what Alertmanager reported (``firing``, ``resolved``, by the time the
receiver received them) and what people did (``ack``, with the silence it created,
and ``expire_silence``). The period is half-open, [since, until). A cell that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or
CR) is prefixed with ``'``: labels and notes come from outside, and a compliance
officer opens this in Excel.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from riskwatch.receiver.db import Connection

COLUMNS: Final = (
    "at",
    "action",
    "who",
    "alert_id",
    "alertname",
    "severity",
    "team",
    "portfolio",
    "fingerprint",
    "note",
    "silence_id",
    "silence_ends_at",
)

_ALERT = "a.id, a.alertname, a.severity, a.team, a.portfolio, a.fingerprint"
_PERIOD_QUERY: Final = f"""
SELECT e.received_at AS at, e.status AS action, NULL AS who, {_ALERT},
       NULL AS note, NULL AS silence_id, NULL::timestamptz AS silence_ends_at
FROM alert_events e JOIN alerts a ON a.id = e.alert_id
WHERE e.received_at >= %(since)s AND e.received_at < %(until)s
UNION ALL
SELECT k.at, 'ack', k.who, {_ALERT}, k.why, k.silence_id, s.ends_at
FROM alert_acks k JOIN alerts a ON a.id = k.alert_id
LEFT JOIN alert_silences s ON s.silence_id = k.silence_id
WHERE k.at >= %(since)s AND k.at < %(until)s
UNION ALL
SELECT s.expired_at, 'expire_silence', s.expired_by, {_ALERT}, NULL, s.silence_id, s.ends_at
FROM alert_silences s JOIN alerts a ON a.id = s.alert_id
WHERE s.expired_at >= %(since)s AND s.expired_at < %(until)s
"""  # nosec B608: no value is formatted in, only the fixed column list
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def count_rows(conn: Connection, since: datetime, until: datetime) -> int:
    """Rows the export of [since, until) holds."""
    row = conn.execute(
        f"SELECT count(*) FROM ({_PERIOD_QUERY}) AS trail",  # nosec B608: fixed text
        {"since": since, "until": until},
    ).fetchone()
    assert row is not None
    return int(row[0])


def stream_csv(conn: Connection, since: datetime, until: datetime) -> Iterator[str]:
    """The CSV text of [since, until): the header, then rows in time order, produced as
    the database sends them, so a long period never sits in memory whole."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    query = f"{_PERIOD_QUERY} ORDER BY at, id"  # nosec B608: fixed text
    for record in conn.cursor().stream(query, {"since": since, "until": until}):
        # The query's columns are COLUMNS, in that order.
        writer.writerow([_cell(value) for value in record])
        if buffer.tell() > 64 * 1024:
            yield _drain(buffer)
    yield _drain(buffer)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
