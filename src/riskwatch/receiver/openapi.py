"""The receiver's OpenAPI 3.0 description, generated from the code it describes.

The schemas come from the pydantic models: the responses (schema.py), which the API
validates its answers with, and the request bodies (models.py), which it validates
requests with. The list's query parameters come from query.PARAMETERS, the security
of each operation from auth.py's open endpoints and role table, and the webhook's
size caps from the ReceiverSettings defaults. Only the prose and the status codes
each route answers are written here; tests/receiver/test_ops.py keeps the operations
equal to the app's routes.

OpenAPI 3.0.3 rather than 3.1: schemathesis 3.x, which fuzzes the receiver against
this document (tests/receiver/test_fuzz.py), supports 3.1 only as an experiment. The
models' JSON Schema (2020-12) is translated to 3.0's dialect (`to_openapi_30`).

    python -m riskwatch.receiver.openapi    # print the document
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic.json_schema import JsonSchemaMode, models_json_schema

from riskwatch.receiver.auth import ALLOWED_ROLES, OPEN_ENDPOINTS
from riskwatch.receiver.models import AckRequest, WebhookPayload
from riskwatch.receiver.query import PARAMETERS, STATUSES
from riskwatch.receiver.schema import RESPONSE_MODELS
from riskwatch.settings import ReceiverSettings

__all__ = ["OPENAPI_VERSION", "OPERATIONS", "Operation", "openapi_document", "to_openapi_30"]

OPENAPI_VERSION: Final = "3.0.3"
SCHEMAS: Final = "#/components/schemas/"
JSON: Final = "application/json"

Schema = dict[str, Any]

_DESCRIPTION: Final = (
    "Receives Alertmanager webhook notifications, keeps every alert and its "
    "firing/resolved transitions as an audit trail in PostgreSQL, and serves them for "
    "dashboards, acknowledgement (optionally silencing the alert in Alertmanager) and "
    "compliance exports. Timestamps are RFC 3339 strings in UTC. Every error is "
    'answered as {"error": "..."}. Webhook payloads have input limits '
    "(docs/receiver.md): the maxLength, maxItems and maxProperties below are the "
    "defaults of the receiver settings (receiver.max_*), a deployment may lower them; "
    "timestamps must lie between 1970-01-01T00:00:00Z and the receiver's clock plus "
    "receiver.max_clock_skew_seconds (default one day). A payload beyond any limit gets "
    "400 naming the field, and nothing of it is stored. Every endpoint except /healthz "
    "and /metrics requires `Authorization: Bearer <token>` (the admin token, "
    "Alertmanager's webhook credential, or a user's API token); a role that may not use "
    "the endpoint gets 403. An acknowledgement records the authenticated user."
)


def _error(description: str, **extra: Any) -> Schema:
    return {
        "description": description,
        **extra,
        "content": {JSON: {"schema": {"$ref": f"{SCHEMAS}Error"}}},
    }


# The error answers, by status code; each operation lists the ones it can give.
_ERRORS: Final[dict[int, tuple[str, Schema]]] = {
    400: (
        "BadRequest",
        _error(
            "Invalid request; the message names the field or parameter and the problem. "
            "Nothing was stored."
        ),
    ),
    401: (
        "Unauthorized",
        _error(
            "Missing or wrong bearer token.",
            headers={
                "WWW-Authenticate": {
                    "schema": {"type": "string"},
                    "example": "Bearer realm=riskwatch-receiver",
                }
            },
        ),
    ),
    403: (
        "Forbidden",
        _error(
            "The credential's role may not do this (docs/receiver.md): e.g. a viewer "
            "acknowledging, Alertmanager's webhook credential reading, a user posting the "
            "webhook."
        ),
    ),
    404: ("NotFound", _error("No such alert or silence in the trail.")),
    409: ("Conflict", _error("The silence was expired already.")),
    413: (
        "TooLarge",
        _error(
            "Body larger than the receiver's max_payload_bytes (default 1 MiB). Nothing was stored."
        ),
    ),
    500: (
        "DatabaseError",
        _error(
            "The database is up but refused this request (a PostgreSQL limit, a "
            "constraint, a privilege). Nothing was stored; the error is logged, and the "
            "database is not reported down."
        ),
    ),
    502: (
        "AlertmanagerError",
        _error(
            "Alertmanager refused the silence or could not be reached "
            "(receiver.alertmanager_url). Nothing was recorded; retry."
        ),
    ),
    503: (
        "DatabaseUnavailable",
        _error(
            "The database cannot be reached (no connection within the timeout, refused, "
            "lost, or the server shutting down); the receiver reports it down. Nothing was "
            "stored; retry later (Alertmanager does).",
            headers={"Retry-After": {"schema": {"type": "integer"}}},
        ),
    ),
}
# What any authenticated route can answer, whatever it does.
_AUTHENTICATED: Final = (401, 403, 500, 503)

_INSTANT_HINT: Final = "RFC 3339 timestamp with an offset (write + as %2B, or use Z)"
_QUERY: Final[dict[str, tuple[Schema, str]]] = {
    "status": ({"type": "string", "enum": list(STATUSES)}, "Only alerts in this status."),
    "severity": ({"type": "string"}, "Exact match on the severity label."),
    "team": ({"type": "string"}, "Exact match on the team label."),
    "portfolio": ({"type": "string"}, "Exact match on the portfolio label."),
    "alertname": ({"type": "string"}, "Exact match on the alertname label."),
    "since": (
        {"type": "string", "format": "date-time"},
        f"{_INSTANT_HINT}. Keeps alerts whose starts_at is at or after it; later status "
        "changes of older alerts are not selected by it.",
    ),
    "until": (
        {"type": "string", "format": "date-time"},
        f"{_INSTANT_HINT}. Keeps alerts whose starts_at is before it.",
    ),
    "before": (
        {"type": "string"},
        "The `next` cursor of the previous page: the alerts after it in the list's order.",
    ),
    "limit": (
        {"type": "integer", "minimum": 1},
        "Most items returned: from 1 to the receiver's max_page_size (default {max}); "
        "when absent, default_page_size (default {default}).",
    ),
}
"""Every query parameter the API reads: the alert list's (query.PARAMETERS), the
export's period and the action log's limit."""


@dataclass(frozen=True)
class Operation:
    """One route of the API as the document describes it."""

    endpoint: str
    """The Flask endpoint, which auth.py's role table is keyed by."""
    method: str
    path: str
    operation_id: str
    summary: str
    description: str = ""
    answers: Schema = field(default_factory=dict)
    """The successful responses, by status code."""
    errors: tuple[int, ...] = _AUTHENTICATED
    query: tuple[str, ...] = ()
    required_query: tuple[str, ...] = ()
    path_parameters: tuple[str, ...] = ()
    body: str | None = None
    """The request body's schema name, if the operation takes one."""


def _json(description: str, model: str, **extra: Any) -> Schema:
    return {"description": description, "content": {JSON: {"schema": _ref(model), **extra}}}


def _ref(model: str) -> Schema:
    return {"$ref": f"{SCHEMAS}{model}"}


_UUID: Final = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_PATH_PARAMETERS: Final[dict[str, Schema]] = {
    "alert_id": {
        "name": "alert_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "format": "int64", "minimum": 1},
    },
    "silence_id": {
        "name": "silence_id",
        "in": "path",
        "required": True,
        "description": "Alertmanager's id (a UUID) of a silence an acknowledgement created.",
        # Alertmanager's silence ids are lowercase UUIDs; any other id is simply not
        # found (404). The pattern also gives the fuzzer invalid ids to send.
        "schema": {"type": "string", "format": "uuid", "pattern": _UUID},
    },
}

OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(
        "webhook.alertmanager",
        "post",
        "/webhook/alertmanager",
        "receiveAlertmanagerWebhook",
        "Store an Alertmanager webhook notification (payload version 4)",
        "All alerts of the payload are stored in one transaction, keyed by (fingerprint, "
        "startsAt). An alert counts as stored when it is new or reaches a status not seen "
        "before for it (a new history event); otherwise, e.g. an Alertmanager retry or a "
        "duplicate from an HA peer, it counts as a duplicate. A firing notification that "
        "arrives after the alert was stored as resolved adds its event but does not "
        "reopen the alert. On any error nothing is stored.",
        answers={"200": _json("Stored.", "StoreResult")},
        errors=(400, 401, 403, 413, 500, 503),
        body="WebhookPayload",
    ),
    Operation(
        "api.alerts_index",
        "get",
        "/api/alerts",
        "listAlerts",
        "List stored alerts, newest first, a page at a time",
        "Ordered by starts_at descending, then id descending. Unknown or empty query "
        "parameters are refused with 400 so that a misspelt filter cannot return "
        "unfiltered alerts.",
        answers={"200": _json("One page of the matching alerts.", "AlertPage")},
        errors=(400, *_AUTHENTICATED),
        query=PARAMETERS,
    ),
    Operation(
        "api.alert_detail",
        "get",
        "/api/alerts/{alert_id}",
        "getAlert",
        "One alert with its history",
        answers={
            "200": _json("The alert, its events, acknowledgements and silences.", "AlertDetail")
        },
        errors=(404, *_AUTHENTICATED),
        path_parameters=("alert_id",),
    ),
    Operation(
        "api.alert_ack",
        "post",
        "/api/alerts/{alert_id}/ack",
        "acknowledgeAlert",
        "Acknowledge an alert, optionally silencing it in Alertmanager",
        "Every acknowledgement is kept in the alert's history; the alert's acked_by and "
        "acked_at show the latest one. With silence_hours the silence is created in "
        "Alertmanager first: if that fails, nothing is recorded and the answer is 502.",
        answers={"200": _json("The acknowledged alert with its history.", "AckResponse")},
        errors=(400, 404, 413, 502, *_AUTHENTICATED),
        path_parameters=("alert_id",),
        body="AckRequest",
    ),
    Operation(
        "api.silence_expire",
        "post",
        "/api/silences/{silence_id}/expire",
        "expireSilence",
        "Expire a silence an acknowledgement created",
        "Alertmanager expires it first; the trail then records who expired it.",
        answers={"200": _json("The silence, expired.", "SilenceResponse")},
        errors=(404, 409, 502, *_AUTHENTICATED),
        path_parameters=("silence_id",),
    ),
    Operation(
        "api.export_csv",
        "get",
        "/api/export.csv",
        "exportCsv",
        "The audit trail of a period as CSV",
        "Events, acknowledgements and silence expiries of [since, until), in time order; "
        "a timestamp without an offset is read as UTC. A period holding more than "
        "receiver.max_export_rows rows is refused with 400. The export is recorded in the "
        "action log.",
        answers={
            "200": {
                "description": "The CSV file, as an attachment.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
        errors=(400, *_AUTHENTICATED),
        query=("since", "until"),
        required_query=("since", "until"),
    ),
    Operation(
        "api.actions_index",
        "get",
        "/api/actions",
        "listActions",
        "The newest actions people took, newest first",
        "Logins (failed ones too), logouts, acknowledgements, silence expiries and exports.",
        answers={"200": _json("The newest actions.", "ActionPage")},
        errors=(400, *_AUTHENTICATED),
        query=("limit",),
    ),
    Operation(
        "ops.healthz",
        "get",
        "/healthz",
        "health",
        "Liveness and database reachability",
        "The process keeps serving while the database is down; this endpoint then answers 503.",
        answers={
            "200": _json(
                "The database answers.", "Health", example={"status": "ok", "database": "up"}
            ),
            "503": _json(
                "The database does not answer.",
                "Health",
                example={"status": "degraded", "database": "down"},
            ),
        },
        errors=(500,),
    ),
    Operation(
        "ops.metrics",
        "get",
        "/metrics",
        "metrics",
        "Prometheus metrics of this receiver",
        "riskwatch_receiver_alerts_received_total, riskwatch_receiver_alerts_stored_total, "
        "riskwatch_receiver_alerts_duplicate_total, riskwatch_receiver_payloads_rejected_total, "
        "riskwatch_receiver_storage_duration_seconds, riskwatch_receiver_database_up "
        "(see riskwatch.catalog). "
        "Each scrape probes the database first.",
        answers={
            "200": {
                "description": "Prometheus text exposition format.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
        errors=(500,),
    ),
    Operation(
        "ops.openapi",
        "get",
        "/openapi.json",
        "openapi",
        "This document",
        answers={
            "200": {
                "description": "The OpenAPI description.",
                "content": {JSON: {"schema": {"type": "object"}}},
            }
        },
        errors=(401, 403),
    ),
)
"""Every route of the JSON API, the webhook and the operational endpoints; the
console's HTML pages are not part of the document."""


def openapi_document(limits: ReceiverSettings | None = None) -> dict[str, Any]:
    """The OpenAPI document of the receiver, with `limits`' caps (default: the defaults)."""
    limits = limits if limits is not None else ReceiverSettings()
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation, limits)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "riskwatch alert receiver",
            "version": "1.0.0",
            "description": _DESCRIPTION,
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token (receiver_token), Alertmanager's "
                    "webhook credential (receiver_webhook_token) or a user's API token "
                    "(`riskwatch users token`).",
                }
            },
            "responses": {name: response for name, response in _ERRORS.values()},
            "schemas": _schemas(limits),
        },
    }


def _operation(operation: Operation, limits: ReceiverSettings) -> dict[str, Any]:
    open_endpoint = operation.endpoint in OPEN_ENDPOINTS
    if open_endpoint:
        access = "Open without a token."
    else:
        roles = ALLOWED_ROLES.get(operation.endpoint, frozenset({"admin"}))
        access = f"Roles: {', '.join(sorted(roles))}."
    described: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "description": f"{operation.description} {access}".strip(),
    }
    if open_endpoint:
        described["security"] = []
    parameters = [_PATH_PARAMETERS[name] for name in operation.path_parameters]
    parameters += [
        _query_parameter(name, name in operation.required_query, limits) for name in operation.query
    ]
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(operation.body)}},
        }
    responses = dict(operation.answers)
    for code in operation.errors:
        responses.setdefault(str(code), {"$ref": f"#/components/responses/{_ERRORS[code][0]}"})
    described["responses"] = dict(sorted(responses.items()))
    return described


def _query_parameter(name: str, required: bool, limits: ReceiverSettings) -> Schema:
    schema, description = _QUERY[name]
    if name == "limit":
        schema = {**schema, "maximum": limits.max_page_size}
        description = description.format(max=limits.max_page_size, default=limits.default_page_size)
    parameter: Schema = {"name": name, "in": "query", "schema": schema, "description": description}
    if required:
        parameter["required"] = True
    if schema.get("format") == "date-time":
        parameter["example"] = "2024-05-01T09:30:00Z"
    return parameter


def _schemas(limits: ReceiverSettings) -> dict[str, Schema]:
    models: list[tuple[type[Any], JsonSchemaMode]] = [
        (model, "serialization") for model in RESPONSE_MODELS
    ]
    models += [(AckRequest, "validation"), (WebhookPayload, "validation")]
    # by_alias: the webhook's fields are spelt as Alertmanager sends them (groupKey).
    _, definitions = models_json_schema(models, by_alias=True, ref_template=SCHEMAS + "{model}")
    schemas: dict[str, Schema] = {
        name: to_openapi_30(schema) for name, schema in definitions["$defs"].items()
    }
    # `who` is a field only to refuse it with a clear message; additionalProperties:
    # false already says a client may not send it.
    del schemas["AckRequest"]["properties"]["who"]
    schemas.update(_input_limits(schemas, limits))
    return dict(sorted(schemas.items()))


def _input_limits(schemas: dict[str, Schema], limits: ReceiverSettings) -> dict[str, Schema]:
    """The webhook's size caps (limits.py), which are settings, not model constraints:
    the schemas they add, after changing the webhook's to refer to them."""
    name_note = (
        f"a name has at most receiver.max_label_name_length ({limits.max_label_name_length}) "
        "characters"
    )
    label_value = {
        "type": "string",
        "maxLength": limits.max_label_value_length,
        "description": "receiver.max_label_value_length (at most 669: alertname, severity "
        "and portfolio are indexed).",
    }
    labels = {
        "type": "object",
        "description": f"At most receiver.max_labels labels; {name_note}. alertname, "
        "severity, team and portfolio are copied into columns of their own.",
        "maxProperties": limits.max_labels,
        "additionalProperties": _ref("LabelValue"),
    }
    annotations = {
        "type": "object",
        "description": f"At most receiver.max_annotations annotations; {name_note}, a "
        "value receiver.max_annotation_length.",
        "maxProperties": limits.max_annotations,
        "additionalProperties": {"type": "string", "maxLength": limits.max_annotation_length},
    }
    url = {
        "type": "string",
        "maxLength": limits.max_url_length,
        "description": "receiver.max_url_length.",
    }
    time_range = (
        "from 1970-01-01T00:00:00Z to the receiver's clock plus receiver.max_clock_skew_seconds"
    )

    payload = schemas["WebhookPayload"]["properties"]
    payload["groupKey"]["maxLength"] = limits.max_group_key_length
    payload["receiver"]["maxLength"] = limits.max_label_value_length
    payload["alerts"]["maxItems"] = limits.max_alerts_per_payload
    payload["groupLabels"] = payload["commonLabels"] = _ref("Labels")
    payload["commonAnnotations"] = _ref("Annotations")
    payload["externalURL"] = _ref("Url")
    alert = schemas["WebhookAlert"]["properties"]
    alert["labels"] = _ref("Labels")
    alert["annotations"] = _ref("Annotations")
    alert["generatorURL"] = _ref("Url")
    alert["startsAt"]["description"] = f"RFC 3339 with an offset; {time_range}."
    alert["endsAt"]["description"] = (
        "Go's zero time 0001-01-01T00:00:00Z (exactly) means no end and is stored as "
        f"null; any other value is {time_range}."
    )
    return {"LabelValue": label_value, "Labels": labels, "Annotations": annotations, "Url": url}


def to_openapi_30(schema: Any) -> Any:
    """`schema` (pydantic's JSON Schema 2020-12) in OpenAPI 3.0's dialect of it.

    3.0 has no ``null`` type (a nullable schema says ``nullable: true``), no ``const``,
    boolean ``exclusiveMinimum``/``exclusiveMaximum`` beside the bound, and ``example``
    where 2020-12 has ``examples``. Titles are dropped: pydantic derives them from the
    names they would sit beside.
    """
    if isinstance(schema, list):
        return [to_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result: Schema = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in ("properties", "$defs"):
            result[key] = {name: to_openapi_30(sub) for name, sub in value.items()}
        elif key == "const":
            result["enum"] = [value]
        elif key == "examples":
            result["example"] = value[0]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            result["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            result[key] = True
        else:
            result[key] = to_openapi_30(value)
    return _nullable(result)


def _nullable(schema: Schema) -> Schema:
    choices = schema.get("anyOf")
    if not isinstance(choices, list) or {"type": "null"} not in choices:
        return schema
    rest = [choice for choice in choices if choice != {"type": "null"}]
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    if len(rest) == 1 and "$ref" not in rest[0]:
        return {**rest[0], **outer, "nullable": True}
    # 3.0 ignores the siblings of a $ref, so a nullable reference needs a wrapper.
    return {"anyOf": rest, **outer, "nullable": True}


def main() -> None:
    """Print the document, as /openapi.json serves it, for tools that want a file."""
    json.dump(openapi_document(), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
