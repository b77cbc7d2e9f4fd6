"""The generated OpenAPI document is valid OpenAPI 3.0, and its schemas describe what a
real receiver on real PostgreSQL answers, silences in a real Alertmanager included."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR
from werkzeug.test import TestResponse

from riskwatch.receiver.openapi import openapi_document, to_openapi_30
from riskwatch.receiver.ops import OPENAPI_DOCUMENT
from riskwatch.receiver.query import PARAMETERS

from .conftest import AppFactory
from .payloads import alert, payload, resolved
from .support import WEBHOOK

TOKEN = "openapi-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOCUMENT: dict[str, Any] = json.loads(OPENAPI_DOCUMENT)


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema draft 4: ``nullable`` as a null choice.

    (Draft 4 already reads 3.0's boolean exclusiveMinimum.)
    """
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The document's JSON schema of one response, its references resolvable."""
    answer = DOCUMENT["paths"][path][method]["responses"][str(status)]
    if "$ref" in answer:
        answer = DOCUMENT["components"]["responses"][answer["$ref"].rpartition("/")[2]]
    schema = answer["content"]["application/json"]["schema"]
    # The $refs point into the document: carry its components along.
    return {"allOf": [json_schema(schema)], "components": json_schema(DOCUMENT["components"])}


def assert_described(response: TestResponse, path: str, method: str = "get") -> Any:
    """`response` is JSON the document describes for its status; its body."""
    assert response.mimetype == "application/json"
    body = response.get_json()
    schema = response_schema(path, method, response.status_code)
    jsonschema.Draft4Validator(schema).validate(body)
    return body


@pytest.fixture
def receiver(make_app: AppFactory, alertmanager: str) -> FlaskClient:
    """A receiver with two alerts: A firing, B resolved."""
    client = make_app(token=TOKEN, alertmanager_url=alertmanager).test_client()
    a, b = alert("A"), alert("B", starts_at="2024-05-01T10:00:00Z", portfolio=None)
    for body in (payload(a, b), payload(resolved(b))):
        stored = client.post(WEBHOOK, json=body, headers=AUTH)
        assert_described(stored, "/webhook/alertmanager", "post")
    return client


def test_the_document_is_valid_openapi_3_0() -> None:
    OPENAPI_30_VALIDATOR.validate(DOCUMENT)
    assert openapi_document() == DOCUMENT  # what ops.py serves is what openapi.py builds
    listed = [p["name"] for p in DOCUMENT["paths"]["/api/alerts"]["get"]["parameters"]]
    assert listed == list(PARAMETERS)


def test_json_schema_becomes_openapi_3_0() -> None:
    assert to_openapi_30(
        {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}],
            "title": "Hours",
            "examples": [1.5],
        }
    ) == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "example": 1.5,
        "nullable": True,
    }
    assert to_openapi_30({"anyOf": [{"$ref": "#/x"}, {"type": "null"}]}) == {
        "anyOf": [{"$ref": "#/x"}],
        "nullable": True,
    }
    assert to_openapi_30({"const": "4", "type": "string"}) == {"enum": ["4"], "type": "string"}


def test_real_answers_match_the_document(receiver: FlaskClient) -> None:
    page = assert_described(receiver.get("/api/alerts?limit=1", headers=AUTH), "/api/alerts")
    assert page["next"] is not None and len(page["alerts"]) == 1
    listed = receiver.get(f"/api/alerts?before={page['next']}", headers=AUTH)
    (first,) = assert_described(listed, "/api/alerts")["alerts"]
    alert_path = "/api/alerts/{alert_id}"

    detail = assert_described(receiver.get(f"/api/alerts/{first['id']}", headers=AUTH), alert_path)
    assert [event["status"] for event in detail["events"]] == ["firing"]

    ack = receiver.post(
        f"/api/alerts/{first['id']}/ack",
        json={"note": "looking", "silence_hours": 1},
        headers=AUTH,
    )
    acked = assert_described(ack, f"{alert_path}/ack", "post")
    assert acked["silence_id"] is not None and acked["ack"]["silence_id"] == acked["silence_id"]
    plain = receiver.post(f"/api/alerts/{first['id']}/ack", json={"note": "again"}, headers=AUTH)
    assert assert_described(plain, f"{alert_path}/ack", "post")["silence_id"] is None

    expire_path = "/api/silences/{silence_id}/expire"
    expired = receiver.post(f"/api/silences/{acked['silence_id']}/expire", headers=AUTH)
    assert assert_described(expired, expire_path, "post")["silence"]["expired_by"] == "admin"
    again = receiver.post(f"/api/silences/{acked['silence_id']}/expire", headers=AUTH)
    assert again.status_code == 409
    assert_described(again, expire_path, "post")

    detail = assert_described(receiver.get(f"/api/alerts/{first['id']}", headers=AUTH), alert_path)
    assert len(detail["acks"]) == 2 and detail["silences"][0]["expired_at"] is not None
    actions = assert_described(receiver.get("/api/actions", headers=AUTH), "/api/actions")
    assert {action["action"] for action in actions["actions"]} == {"ack", "expire_silence"}
    assert_described(receiver.get("/healthz"), "/healthz")


def test_error_answers_match_the_document(receiver: FlaskClient) -> None:
    missing = receiver.get("/api/alerts/999", headers=AUTH)
    assert missing.status_code == 404
    assert_described(missing, "/api/alerts/{alert_id}")
    refused = receiver.get("/api/alerts?colour=red", headers=AUTH)
    assert refused.status_code == 400
    assert_described(refused, "/api/alerts")
    anonymous = receiver.get("/api/alerts")
    assert anonymous.status_code == 401
    assert_described(anonymous, "/api/alerts")
    nul = receiver.post("/api/silences/a%00b/expire", headers=AUTH)
    assert nul.status_code == 404
    assert_described(nul, "/api/silences/{silence_id}/expire", "post")
    too_early = receiver.get(
        "/api/export.csv?since=0001-01-01T00:00:00%2B01:00&until=2024-01-01T00:00:00Z",
        headers=AUTH,
    )
    assert too_early.status_code == 400
    assert_described(too_early, "/api/export.csv")
