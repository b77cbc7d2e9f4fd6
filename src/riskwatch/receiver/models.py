"""Request bodies the receiver accepts, validated with pydantic.

The webhook models follow Alertmanager's webhook payload version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). They
ignore unknown fields, since newer Alertmanagers add some, but are strict about the
ones they know: a timestamp must be an RFC 3339 string with an offset, never a
number, and label values must be strings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

AlertStatus = Literal["firing", "resolved"]

# Go's zero time.Time, 0001-01-01T00:00:00Z, which Alertmanager sends as endsAt when
# an alert has no end. Only that instant means "no end": any other time before 1970 is
# refused by the input limits (limits.py).
_GO_ZERO_TIME = datetime(1, 1, 1)
_MAX_ERRORS_SHOWN = 5
_MAX_INPUT_SHOWN = 60


def _without_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold U+0000. Refusing it here makes such a
    # payload a 400, which Alertmanager drops, instead of a 500 it retries forever.
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000) characters")
    return value


Text = Annotated[str, AfterValidator(_without_nul)]
"""A string PostgreSQL can store."""

StringMap = dict[Text, Text]


class _Incoming(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class WebhookAlert(_Incoming):
    """One alert of a webhook payload."""

    status: AlertStatus
    labels: StringMap
    annotations: StringMap = Field(default_factory=dict)
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(None, alias="endsAt")
    generator_url: Text = Field("", alias="generatorURL")
    fingerprint: Text = Field(min_length=1, max_length=128)

    @field_validator("ends_at")
    @classmethod
    def _zero_is_unset(cls, value: datetime | None) -> datetime | None:
        if value is not None and _is_go_zero_time(value):
            return None
        return value


def _is_go_zero_time(value: datetime) -> bool:
    # Compared as wall clock and offset: year 1 at another offset has no UTC datetime.
    return value.replace(tzinfo=None) == _GO_ZERO_TIME and value.utcoffset() == timedelta(0)


class WebhookPayload(_Incoming):
    """An Alertmanager webhook body (version 4): one notification for one alert group."""

    version: Literal["4"]
    group_key: Text = Field(alias="groupKey")
    truncated_alerts: int = Field(0, ge=0, alias="truncatedAlerts")
    status: AlertStatus
    receiver: Text = Field(min_length=1)
    group_labels: StringMap = Field(default_factory=dict, alias="groupLabels")
    common_labels: StringMap = Field(default_factory=dict, alias="commonLabels")
    common_annotations: StringMap = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field("", alias="externalURL")
    alerts: list[WebhookAlert]


NOTE_MAX_LENGTH: Final = 2000
"""The longest acknowledgement note, in characters (the API and the console's form)."""


class AckRequest(BaseModel):
    """Body of ``POST /api/alerts/<id>/ack``: a note on why (``why`` is accepted as an
    alias), and optionally `silence_hours`, to silence the alert in Alertmanager for
    that long. Who acknowledges is the authenticated identity, never a field: a body
    that names ``who`` is refused, so no client believes it set it."""

    # Our own API: an unknown field is a client mistake worth reporting.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    note: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=NOTE_MAX_LENGTH),
        AfterValidator(_without_nul),
    ] = Field(validation_alias=AliasChoices("note", "why"))
    silence_hours: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Silence the alert for this many hours (at most receiver.max_silence_hours).",
    )
    who: None = None

    @field_validator("who", mode="before")
    @classmethod
    def _who_is_not_the_clients(cls, _value: object) -> None:
        raise ValueError("is not accepted: the acknowledgement records the authenticated user")


def describe(error: ValidationError) -> str:
    """The problems in `error` as one line, each naming its field, e.g. ``alerts[0].startsAt``."""
    problems = error.errors(include_url=False)
    parts = [_describe_one(problem) for problem in problems[:_MAX_ERRORS_SHOWN]]
    if len(problems) > _MAX_ERRORS_SHOWN:
        parts.append(f"and {len(problems) - _MAX_ERRORS_SHOWN} more problems")
    return "; ".join(parts)


def _describe_one(problem: ErrorDetails) -> str:
    where = _location(problem["loc"])
    message = str(problem["msg"])
    if problem["type"] == "json_invalid":
        return f"body is not valid JSON: {problem.get('ctx', {}).get('error', message)}"
    given = problem.get("input")
    if problem["type"] != "missing" and isinstance(given, str | int | float | bool):
        shown = repr(given)
        if len(shown) > _MAX_INPUT_SHOWN:
            shown = shown[: _MAX_INPUT_SHOWN - 3] + "..."
        message += f" (got {shown})"
    return f"{where}: {message}"


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"
