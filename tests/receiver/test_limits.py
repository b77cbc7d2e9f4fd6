"""Input limits and database errors: a payload beyond a cap is a 400 that names the
field and stores nothing; a database error that is not an outage is a 500 that leaves
the database reported up."""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from pydantic import ValidationError

from riskwatch.receiver.ops import OPENAPI_DOCUMENT
from riskwatch.settings import ReceiverSettings

from .conftest import AppFactory
from .payloads import alert, payload
from .support import WEBHOOK, count_rows, metric_value

DbConn = psycopg.Connection[Any]
Body = dict[str, Any]


def astral_text(length: int, seed: int = 0) -> str:
    """`length` random characters of four UTF-8 bytes each, which do not compress."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(length))


def assert_nothing_stored(db: DbConn) -> None:
    assert count_rows(db, "alerts") == 0
    assert count_rows(db, "alert_events") == 0


def assert_database_up(client: FlaskClient) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok", "database": "up"}
    assert metric_value(client, "riskwatch_receiver_database_up") == 1


def test_label_of_ten_thousand_characters_is_refused_and_database_stays_up(
    client: FlaskClient, db: DbConn
) -> None:
    long_label = secrets.token_hex(5000)  # 10,000 characters that barely compress
    body = payload(alert("Fine"), alert("Broken", portfolio=long_label))
    response = client.post(WEBHOOK, json=body)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "alerts[1].labels.portfolio: 10000 characters, at most 512"
    }
    assert_nothing_stored(db)
    assert_database_up(client)
    assert metric_value(client, "riskwatch_receiver_payloads_rejected_total", reason="invalid") == 1
    assert (
        metric_value(
            client, "riskwatch_receiver_payloads_rejected_total", reason="database_unavailable"
        )
        == 0
    )


def test_starts_at_in_year_one_is_refused(client: FlaskClient, db: DbConn) -> None:
    body = payload(alert("Fine"), alert("Broken", starts_at="0001-01-01T00:00:00+01:00"))
    response = client.post(WEBHOOK, json=body)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "alerts[1].startsAt: 0001-01-01T00:00:00+01:00 is before 1970-01-01T00:00:00Z"
    }
    assert_nothing_stored(db)
    assert client.get("/api/alerts").status_code == 200


def test_only_gos_zero_time_means_no_end(client: FlaskClient, db: DbConn) -> None:
    no_end = alert("NoEnd", ends_at="0001-01-01T00:00:00Z")
    assert client.post(WEBHOOK, json=payload(no_end)).status_code == 200
    assert db.execute("SELECT ends_at FROM alerts").fetchall() == [(None,)]
    # Year 1 at another offset is not the zero value: it is a time before 1970.
    other = alert("Other", ends_at="0001-01-01T00:00:00+01:00")
    response = client.post(WEBHOOK, json=payload(other))
    assert response.status_code == 400
    assert "alerts[0].endsAt: 0001-01-01T00:00:00+01:00 is before" in response.get_json()["error"]


# Small caps, so each case breaks exactly one by one character.
SMALL_CAPS = {
    "max_alerts_per_payload": 3,
    "max_labels": 5,
    "max_annotations": 2,
    "max_label_name_length": 20,
    "max_label_value_length": 30,
    "max_annotation_length": 40,
    "max_group_key_length": 50,
    "max_url_length": 60,
    "max_clock_skew_seconds": 3600,
}


def _change_alert(**changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["alerts"][1].update(changes)

    return change


def _change_body(**changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body.update(changes)

    return change


def _add_alerts(body: Body) -> None:
    body["alerts"].extend([alert("Third"), alert("Fourth")])


def _six_labels(prefix: str) -> dict[str, str]:
    return {f"{prefix}{i}": "x" for i in range(6)}


CAP_CASES: list[tuple[str, Callable[[Body], None], str]] = [
    ("alerts per payload", _add_alerts, "alerts: 4 alerts, at most 3"),
    (
        "label count",
        _change_alert(labels=_six_labels("l")),
        "alerts[1].labels: 6 labels, at most 5",
    ),
    (
        "label name",
        _change_alert(labels={"alertname": "X", "n" * 21: "v"}),
        f"alerts[1].labels.{'n' * 21}: name of 21 characters, at most 20",
    ),
    (
        "label value",
        _change_alert(labels={"alertname": "X", "portfolio": "p" * 31}),
        "alerts[1].labels.portfolio: 31 characters, at most 30",
    ),
    (
        "annotation count",
        _change_alert(annotations={"a": "1", "b": "2", "c": "3"}),
        "alerts[1].annotations: 3 annotations, at most 2",
    ),
    (
        "annotation name",
        _change_alert(annotations={"n" * 21: "v"}),
        f"alerts[1].annotations.{'n' * 21}: name of 21 characters, at most 20",
    ),
    (
        "annotation value",
        _change_alert(annotations={"summary": "s" * 41}),
        "alerts[1].annotations.summary: 41 characters, at most 40",
    ),
    (
        "generatorURL",
        _change_alert(generatorURL="http://p/" + "g" * 52),
        "alerts[1].generatorURL: 61 characters, at most 60",
    ),
    (
        "startsAt in the future",
        _change_alert(startsAt="2999-01-01T00:00:00Z"),
        "alerts[1].startsAt: 2999-01-01T00:00:00+00:00 is after",
    ),
    (
        "endsAt before 1970",
        _change_alert(status="resolved", endsAt="1969-12-31T23:59:59Z"),
        "alerts[1].endsAt: 1969-12-31T23:59:59+00:00 is before 1970-01-01T00:00:00Z",
    ),
    ("groupKey", _change_body(groupKey="k" * 51), "groupKey: 51 characters, at most 50"),
    (
        "externalURL",
        _change_body(externalURL="http://a/" + "e" * 52),
        "externalURL: 61 characters, at most 60",
    ),
    ("receiver", _change_body(receiver="r" * 31), "receiver: 31 characters, at most 30"),
    (
        "groupLabels count",
        _change_body(groupLabels=_six_labels("g")),
        "groupLabels: 6 labels, at most 5",
    ),
    (
        "commonLabels value",
        _change_body(commonLabels={"team": "t" * 31}),
        "commonLabels.team: 31 characters, at most 30",
    ),
    (
        "commonAnnotations value",
        _change_body(commonAnnotations={"summary": "s" * 41}),
        "commonAnnotations.summary: 41 characters, at most 40",
    ),
]


def _valid_body() -> Body:
    return payload(alert("First"), alert("Second"))


@pytest.mark.parametrize(
    ("change", "problem"),
    [(change, problem) for _, change, problem in CAP_CASES],
    ids=[case for case, _, _ in CAP_CASES],
)
def test_each_cap_is_a_400_naming_the_field(
    make_app: AppFactory, db: DbConn, change: Callable[[Body], None], problem: str
) -> None:
    client = make_app(**SMALL_CAPS).test_client()
    body = _valid_body()
    change(body)
    response = client.post(WEBHOOK, json=body)
    assert response.status_code == 400
    assert problem in response.get_json()["error"]
    assert_nothing_stored(db)


def test_a_payload_at_every_cap_is_stored(make_app: AppFactory, db: DbConn) -> None:
    client = make_app(**SMALL_CAPS).test_client()
    first = alert("First", portfolio="p" * 30, annotations={"summary": "s" * 40, "a" * 20: ""})
    first["labels"]["n" * 20] = "v"
    first["generatorURL"] = "http://p/" + "g" * 51
    body = payload(first, alert("Second"), alert("Third"))
    body.update(groupKey="k" * 50, externalURL="http://a/" + "e" * 51, receiver="r" * 30)
    response = client.post(WEBHOOK, json=body)
    assert response.status_code == 200, response.get_json()
    assert count_rows(db, "alerts") == 3


def test_the_largest_allowed_label_cap_fits_the_index(make_app: AppFactory, db: DbConn) -> None:
    limit = ReceiverSettings.indexed_label_limit()
    client = make_app(max_label_value_length=limit).test_client()
    widest = alert(
        astral_text(limit, 1), severity=astral_text(limit, 2), portfolio=astral_text(limit, 3)
    )
    body = payload(widest)
    response = client.post(WEBHOOK, json=body)
    assert response.status_code == 200, response.get_json()
    assert count_rows(db, "alerts") == 1
    # One character more would not fit: the limit is tight, not a guess.
    with pytest.raises(psycopg.errors.ProgramLimitExceeded):
        db.execute(
            "INSERT INTO alerts (fingerprint, starts_at, status, alertname, labels) "
            "VALUES ('f', now(), 'firing', %s, '{}')",
            (astral_text(limit + 1),),
        )


def test_settings_refuse_a_label_cap_the_index_cannot_hold() -> None:
    limit = ReceiverSettings.indexed_label_limit()
    assert ReceiverSettings(max_label_value_length=limit).max_label_value_length == limit
    with pytest.raises(ValidationError, match=f"at most {limit}: alertname, severity"):
        ReceiverSettings(max_label_value_length=limit + 1)


def test_database_error_is_500_logged_and_database_stays_up(
    client: FlaskClient, db: DbConn, caplog: pytest.LogCaptureFixture
) -> None:
    assert_database_up(client)  # the receiver has migrated its schema
    # An index of the test's own making that a long annotation cannot fit into: the
    # database refuses the row (ProgramLimitExceeded, an OperationalError) while the
    # connection is fine.
    db.execute("CREATE INDEX alerts_summary_idx ON alerts ((annotations->>'summary'))")
    fine = alert("Fine")
    refused = alert("Refused", annotations={"summary": astral_text(1000)})
    with caplog.at_level(logging.ERROR, logger="riskwatch.receiver.app"):
        response = client.post(WEBHOOK, json=payload(fine, refused))
    assert response.status_code == 500
    assert response.get_json() == {"error": "database error (SQLSTATE 54000); nothing was stored"}
    assert "Retry-After" not in response.headers
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "database error path=/webhook/alertmanager sqlstate=54000" in logged
    assert f"fingerprints={fine['fingerprint']},{refused['fingerprint']}" in logged
    assert_nothing_stored(db)
    assert_database_up(client)
    assert (
        metric_value(
            client, "riskwatch_receiver_payloads_rejected_total", reason="database_unavailable"
        )
        == 0
    )
    assert (
        metric_value(client, "riskwatch_receiver_payloads_rejected_total", reason="database_error")
        == 1
    )
    # The receiver goes on storing what the database takes.
    assert client.post(WEBHOOK, json=payload(fine)).get_json() == {"stored": 1, "duplicates": 0}


def test_openapi_documents_the_default_caps() -> None:
    defaults = ReceiverSettings()
    schemas = json.loads(OPENAPI_DOCUMENT)["components"]["schemas"]
    payload_fields = schemas["WebhookPayload"]["properties"]
    assert schemas["LabelValue"]["maxLength"] == defaults.max_label_value_length
    assert payload_fields["receiver"]["maxLength"] == defaults.max_label_value_length
    assert schemas["Labels"]["maxProperties"] == defaults.max_labels
    assert schemas["Annotations"]["maxProperties"] == defaults.max_annotations
    annotation = schemas["Annotations"]["additionalProperties"]
    assert annotation["maxLength"] == defaults.max_annotation_length
    assert schemas["Url"]["maxLength"] == defaults.max_url_length
    assert payload_fields["groupKey"]["maxLength"] == defaults.max_group_key_length
    assert payload_fields["alerts"]["maxItems"] == defaults.max_alerts_per_payload
