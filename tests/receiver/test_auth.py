"""Authentication: everything but /healthz and /metrics is protected; the configured
admin token and Alertmanager's webhook credential (user tokens: test_users.py)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from riskwatch.settings import ConfigError

from .conftest import AppFactory
from .payloads import alert, payload
from .support import WEBHOOK, metric_value

TOKEN = "s3cret-töken"
HOOK = "hook-s3cret"


@pytest.fixture
def secured(make_app: AppFactory) -> FlaskClient:
    return make_app(token=TOKEN, webhook_token=HOOK).test_client()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer rwt_0123456789abcdef_" + "A" * 43},
        {"X-Forwarded-User": "admin"},
    ],
    ids=["missing", "wrong", "other scheme", "longer", "empty", "unknown user token", "header"],
)
def test_protected_endpoints_demand_the_token(
    secured: FlaskClient, headers: dict[str, str]
) -> None:
    responses = [
        secured.post(WEBHOOK, json=payload(alert()), headers=headers),
        secured.post("/api/alerts/1/ack", json={"note": "b"}, headers=headers),
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
    rejected = "riskwatch_receiver_payloads_rejected_total"
    assert metric_value(secured, rejected, reason="unauthorized") == 1
    assert metric_value(secured, "riskwatch_receiver_alerts_received_total", status="firing") == 0


def test_empty_token_is_a_configuration_error(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="receiver_token"):
        make_app(token=" ")


def test_webhook_credential_may_only_post_the_webhook(secured: FlaskClient) -> None:
    hook = {"Authorization": f"Bearer {HOOK}"}
    assert secured.post(WEBHOOK, json=payload(alert()), headers=hook).status_code == 200
    for response in (
        secured.get("/api/alerts", headers=hook),
        secured.get("/api/alerts/1", headers=hook),
        secured.get("/openapi.json", headers=hook),
        secured.post("/api/alerts/1/ack", json={"note": "x"}, headers=hook),
    ):
        assert response.status_code == 403, response.request.path
        assert "role webhook may not" in response.get_json()["error"]
    # The admin token also acks; its identity is "admin".
    admin = {"Authorization": f"Bearer {TOKEN}"}
    alert_id = secured.get("/api/alerts", headers=admin).get_json()["alerts"][0]["id"]
    acked = secured.post(f"/api/alerts/{alert_id}/ack", json={"note": "x"}, headers=admin)
    assert acked.get_json()["acked_by"] == "admin"


def test_webhook_credential_alone_is_enough_to_start(make_app: AppFactory) -> None:
    client = make_app(webhook_token=HOOK).test_client()
    hook = {"Authorization": f"Bearer {HOOK}"}
    assert client.post(WEBHOOK, json=payload(alert()), headers=hook).status_code == 200
    assert client.get("/api/alerts").status_code == 401


def test_no_credential_is_refused_without_the_flag(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match=r"no credential.*--insecure-no-auth"):
        make_app(insecure_no_auth=False)


def test_webhook_credential_must_differ_from_the_admin_token(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="must differ"):
        make_app(token=TOKEN, webhook_token=TOKEN)


def test_empty_webhook_credential_is_a_configuration_error(make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="receiver_webhook_token"):
        make_app(token=TOKEN, webhook_token=" ")
