"""The JSON shapes the receiver answers with, as pydantic models.

The API (api.py) and the operational endpoints (ops.py) pass what they return through
these models, and the OpenAPI document (openapi.py) is generated from them, so the
description and the answers cannot drift apart. Every model forbids extra fields: a
key added to a response but not here fails loudly in the tests, not silently in the
document.

Timestamps are RFC 3339 strings in UTC (``...Z``), as the API writes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from riskwatch.receiver.audit import Action as ActionName
from riskwatch.receiver.models import AlertStatus

__all__ = [
    "RESPONSE_MODELS",
    "Ack",
    "AckResponse",
    "Action",
    "ActionPage",
    "Alert",
    "AlertDetail",
    "AlertPage",
    "Error",
    "Event",
    "Health",
    "Silence",
    "SilenceResponse",
    "StoreResult",
]


def _utc_rfc3339(value: str) -> str:
    # The API's timestamps are already strings (api.rfc3339): checking, not
    # reformatting, keeps the answers byte for byte what they were.
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp") from None
    if not value.endswith("Z") or instant.utcoffset() != timedelta(0):
        raise ValueError("must be in UTC, written with Z")
    return value


Instant = Annotated[
    str,
    AfterValidator(_utc_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An RFC 3339 timestamp in UTC, e.g. ``2024-05-01T09:30:00Z``."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Alert(_Response):
    """One alert: the (fingerprint, startsAt) Alertmanager sent, with its latest state."""

    id: int = Field(ge=1)
    fingerprint: str
    status: AlertStatus
    alertname: str | None = Field(description="The alertname label; null when absent.")
    severity: str | None = Field(description="The severity label; null when absent.")
    team: str | None = Field(description="The team label; null when absent.")
    portfolio: str | None = Field(description="The portfolio label; null when absent.")
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: Instant
    ends_at: Instant | None = Field(description="Null while the alert has no end.")
    generator_url: str
    first_received_at: Instant
    last_received_at: Instant
    acked: bool = Field(description="Whether anyone acknowledged the alert.")
    acked_by: str | None = Field(description="Who acknowledged it last.")
    acked_at: Instant | None = Field(description="When it was acknowledged last.")


class AlertPage(_Response):
    """One page of the alert list, newest first."""

    alerts: list[Alert]
    next: str | None = Field(
        description="The cursor of the next page, to pass as `before`; null on the last page."
    )


class Event(_Response):
    """The first time the alert was received with this status."""

    status: AlertStatus
    received_at: Instant
    ends_at: Instant | None
    receiver: str
    group_key: str


class Ack(_Response):
    """One acknowledgement: who (the authenticated user), why and when."""

    who: str
    why: str
    at: Instant
    silence_id: str | None = Field(description="The silence this ack created, if any.")


class Silence(_Response):
    """A silence an acknowledgement created in Alertmanager, and who expired it."""

    silence_id: str
    alert_id: int
    created_by: str
    created_at: Instant
    ends_at: Instant
    expired_at: Instant | None
    expired_by: str | None


class AlertDetail(Alert):
    """One alert with its history, each list oldest first."""

    events: list[Event]
    acks: list[Ack]
    silences: list[Silence]


class AckResponse(AlertDetail):
    """The acknowledged alert with its history, the new `ack` and the silence it made."""

    ack: Ack
    silence_id: str | None = Field(description="The silence created, null without silence_hours.")


class SilenceResponse(_Response):
    """The silence just expired."""

    silence: Silence


class Action(_Response):
    """Something a person did: a login (failed ones too), logout, ack, silence expiry
    or export, with who, when and from where."""

    at: Instant
    who: str
    action: ActionName
    alert_id: int | None
    remote_addr: str | None
    detail: dict[str, Any] = Field(description="What the action was about, e.g. the period.")


class ActionPage(_Response):
    """The newest actions, newest first."""

    actions: list[Action]


class StoreResult(_Response):
    """What one webhook payload changed."""

    stored: int = Field(
        ge=0, description="Alerts that were new or changed status (a new history event)."
    )
    duplicates: int = Field(ge=0, description="Alerts already stored with the same status.")


class Health(_Response):
    """Whether the receiver's database answers."""

    status: Literal["ok", "degraded"]
    database: Literal["up", "down"]


class Error(_Response):
    """Every error: the message names the field or parameter and the problem."""

    error: str


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Alert,
    AlertPage,
    AlertDetail,
    Event,
    Ack,
    Silence,
    AckResponse,
    SilenceResponse,
    Action,
    ActionPage,
    StoreResult,
    Health,
    Error,
)
"""Every response shape, in the order the OpenAPI document lists them."""
