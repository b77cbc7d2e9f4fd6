"""Input limits of a webhook payload, from the receiver settings (docs/receiver.md).

The pydantic models check shapes and types; these limits bound sizes and times, which
are deployment values. A payload that breaks one is refused whole with 400, each
problem naming its field the way the payload spells it, e.g.
``alerts[3].labels.portfolio: 10000 characters, at most 512``.

Timestamps must lie between the Unix epoch and the receiver's clock plus
`max_clock_skew_seconds`. Go's zero time, which Alertmanager sends as the endsAt of an
alert with no end, reaches here as None (see models.py) and is not a timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

from riskwatch.receiver.models import WebhookAlert, WebhookPayload
from riskwatch.settings import ReceiverSettings

EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest startsAt or endsAt accepted."""
_MAX_PROBLEMS_SHOWN: Final = 5
_MAX_KEY_SHOWN: Final = 60


def payload_problems(payload: WebhookPayload, limits: ReceiverSettings, now: datetime) -> list[str]:
    """Every limit `payload` breaks, one line each; empty when it keeps them all."""
    return list(_problems(payload, limits, now + timedelta(seconds=limits.max_clock_skew_seconds)))


def describe_problems(problems: list[str]) -> str:
    """`problems` as one line, the first few in full."""
    shown = problems[:_MAX_PROBLEMS_SHOWN]
    if len(problems) > _MAX_PROBLEMS_SHOWN:
        shown.append(f"and {len(problems) - _MAX_PROBLEMS_SHOWN} more problems")
    return "; ".join(shown)


def _problems(payload: WebhookPayload, limits: ReceiverSettings, latest: datetime) -> Iterator[str]:
    yield from _length("groupKey", payload.group_key, limits.max_group_key_length)
    yield from _length("receiver", payload.receiver, limits.max_label_value_length)
    yield from _length("externalURL", payload.external_url, limits.max_url_length)
    yield from _labels("groupLabels", payload.group_labels, limits)
    yield from _labels("commonLabels", payload.common_labels, limits)
    yield from _annotations("commonAnnotations", payload.common_annotations, limits)
    count = len(payload.alerts)
    if count > limits.max_alerts_per_payload:
        yield f"alerts: {count} alerts, at most {limits.max_alerts_per_payload}"
    for index, alert in enumerate(payload.alerts):
        yield from _alert(f"alerts[{index}]", alert, limits, latest)


def _alert(
    where: str, alert: WebhookAlert, limits: ReceiverSettings, latest: datetime
) -> Iterator[str]:
    yield from _labels(f"{where}.labels", alert.labels, limits)
    yield from _annotations(f"{where}.annotations", alert.annotations, limits)
    yield from _length(f"{where}.generatorURL", alert.generator_url, limits.max_url_length)
    yield from _time(f"{where}.startsAt", alert.starts_at, latest)
    if alert.ends_at is not None:
        yield from _time(f"{where}.endsAt", alert.ends_at, latest)


def _labels(where: str, labels: Mapping[str, str], limits: ReceiverSettings) -> Iterator[str]:
    if len(labels) > limits.max_labels:
        yield f"{where}: {len(labels)} labels, at most {limits.max_labels}"
    for name, value in labels.items():
        yield from _name(where, name, limits)
        yield from _length(f"{where}.{_shown(name)}", value, limits.max_label_value_length)


def _annotations(
    where: str, annotations: Mapping[str, str], limits: ReceiverSettings
) -> Iterator[str]:
    if len(annotations) > limits.max_annotations:
        yield f"{where}: {len(annotations)} annotations, at most {limits.max_annotations}"
    for name, value in annotations.items():
        yield from _name(where, name, limits)
        yield from _length(f"{where}.{_shown(name)}", value, limits.max_annotation_length)


def _name(where: str, name: str, limits: ReceiverSettings) -> Iterator[str]:
    maximum = limits.max_label_name_length
    if len(name) > maximum:
        yield f"{where}.{_shown(name)}: name of {len(name)} characters, at most {maximum}"


def _length(where: str, value: str, maximum: int) -> Iterator[str]:
    if len(value) > maximum:
        yield f"{where}: {len(value)} characters, at most {maximum}"


def _time(where: str, value: datetime, latest: datetime) -> Iterator[str]:
    # Compare in UTC without converting `value`: year 1 at +01:00 has no UTC datetime.
    if value < EARLIEST:
        yield f"{where}: {value.isoformat()} is before {_rfc3339(EARLIEST)}"
    elif value > latest:
        yield (
            f"{where}: {value.isoformat()} is after {_rfc3339(latest)}, the receiver's clock "
            "plus max_clock_skew_seconds"
        )


def _shown(name: str) -> str:
    return name if len(name) <= _MAX_KEY_SHOWN else name[: _MAX_KEY_SHOWN - 3] + "..."


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
