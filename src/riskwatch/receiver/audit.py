"""The log of what people do with the trail (``audit_actions``): every login (failed
ones too), logout, ack, silence, expiry and export, with who, when and from where.

Alerts and their events are what Alertmanager said; this is what people did about
them, which is what a compliance review asks for. Rows are only ever inserted.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Action = Literal["login", "login_failed", "logout", "ack", "expire_silence", "export"]


def record(
    executor: Any,
    who: str,
    action: Action,
    *,
    alert_id: int | None = None,
    remote_addr: str | None = None,
    **detail: Any,
) -> None:
    """Insert one action through `executor` (a connection or cursor), inside the
    caller's transaction so the action and its effect are stored together or not at all.

    `detail` keys with a None value are left out.
    """
    executor.execute(
        "INSERT INTO audit_actions (who, action, alert_id, remote_addr, detail) "
        "VALUES (%s, %s, %s, %s, %s)",
        (
            who,
            action,
            alert_id,
            remote_addr,
            Jsonb({k: v for k, v in detail.items() if v is not None}),
        ),
    )


def recent(conn: Any, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` actions, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows: list[dict[str, Any]] = cur.execute(
            "SELECT at, who, action, alert_id, remote_addr, detail FROM audit_actions "
            "ORDER BY at DESC, id DESC LIMIT %s",
            (limit,),
        ).fetchall()
    return rows
