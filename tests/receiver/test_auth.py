"""Bearer-token authentication: everything but /healthz and /metrics is protected."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from riskwatch.settings import ConfigError

from .conftest import AppFactory
from .payloads import alert, payload
from .support import WEBHOOK, metric_value

TOKEN = "s3cret-töken"


@pytest.fixture
def secured(make_app: AppFactory) -> FlaskClient:
    return make_app(token=TOKEN).test_client()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "other scheme", "longer", "empty"],
)
def test_protected_endpoints_demand_the_token(
    secured: FlaskClient, headers: dict[str, str]
) -> None:
    responses = [
        secured.post(WEBHOOK, json=payload(alert()), headers=headers),
        secured.post("/api/alerts/1/ack", json={"who": "a", "why": "b"}, headers=headers),
        *(
            secured.get(path, headers=headers)
            for path in ("/api/alerts", "/api/alerts/1", "/openapi.json", "/no-such-page")
        ),
    ]
    for response in responses:
        assert response.status_code == 401, response.request.path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json() == {"error": "missing or invalid bearer token"}


def test_right_token_is_accepted(secured: FlaskClient) -> None:
    auth = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive
    assert secured.post(WEBHOOK, json=payload(alert()), headers=auth).status_code == 200
    listed = secured.get("/api/alerts", headers=auth)
    assert listed.status_code == 200
    assert len(listed.get_json()["alerts"]) == 1


def test_health_and_metrics_stay_open(secured: FlaskClient) -> None:
    assert secured.get("/healthz").status_code == 200
    assert secured.get("/metrics").status_code == 200


def test_unauthorized_webhook_payloads_are_counted(secured: FlaskClient) -> None:
    secured.post(WEBHOOK, json=payload(alert()))
    secured.get("/api/alerts")  # not a payload: not counted
    rejected = "receiver_payloads_rejected_total"
    assert metric_value(secured, rejected, reason="unauthorized") == 1
    assert metric_value(secured, "receiver_alerts_received_total", status="firing") == 0


def test_empty_token_is_a_configuration_error(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="receiver_token"):
        make_app(token=" ")
