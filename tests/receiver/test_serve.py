"""The receiver under waitress, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from riskwatch.receiver.serve import serving_in_thread
from riskwatch.receiver_client import ReceiverClient, ReceiverError
from riskwatch.settings import ConfigError

from .clitools import isolate, riskwatch
from .conftest import make_settings
from .payloads import alert, payload
from .support import WEBHOOK

LIMIT = 4096


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    settings = make_settings(database_url, token="t0ken", max_payload_bytes=LIMIT, threads=2)
    with serving_in_thread(settings) as url:
        yield url


def test_webhook_over_http(base_url: str) -> None:
    auth = {"Authorization": "Bearer t0ken"}
    stored = requests.post(base_url + WEBHOOK, json=payload(alert()), headers=auth, timeout=10)
    assert stored.status_code == 200
    assert stored.json() == {"stored": 1, "duplicates": 0}
    assert requests.get(base_url + "/healthz", timeout=10).json()["database"] == "up"


def test_oversized_bodies_over_http(base_url: str) -> None:
    auth = {"Authorization": "Bearer t0ken", "Content-Type": "application/json"}
    slightly = json.dumps(payload(*(alert(f"A{i}") for i in range(12)))).encode()
    assert LIMIT < len(slightly) < 2 * LIMIT
    response = requests.post(base_url + WEBHOOK, data=slightly, headers=auth, timeout=10)
    assert response.status_code == 413
    assert "exceeds" in response.json()["error"]  # the app's answer, counted in metrics

    # Far past the limit, waitress refuses the body before buffering it.
    absurd = b" " * (4 * LIMIT)
    response = requests.post(base_url + WEBHOOK, data=absurd, headers=auth, timeout=10)
    assert response.status_code == 413


def test_open_receiver_serves_on_loopback(database_url: str) -> None:
    settings = make_settings(database_url, insecure_no_auth=True)
    with serving_in_thread(settings, "127.0.0.1") as url:
        assert requests.get(url + "/api/alerts", timeout=10).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_open_receiver_is_refused_off_loopback(database_url: str, host: str) -> None:
    settings = make_settings(database_url, insecure_no_auth=True)
    with (
        pytest.raises(ConfigError, match="only on a loopback address"),
        serving_in_thread(settings, host),
    ):
        pass


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "127.0.0.1:9"], "no credential"),
        (["--listen", "0.0.0.0:9", "--insecure-no-auth"], "only on a loopback address"),
    ],
)
def test_receiver_command_refuses_to_run_open(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    isolate(monkeypatch, tmp_path)
    result = riskwatch("receiver", *args, database_url=database_url)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_client_acks_as_the_token_owner(database_url: str) -> None:
    settings = make_settings(database_url, token="t0ken")
    with serving_in_thread(settings) as url:
        auth = {"Authorization": "Bearer t0ken"}
        requests.post(url + WEBHOOK, json=payload(alert()), headers=auth, timeout=10)
        client = ReceiverClient(url, "t0ken")
        alert_id = client.alerts()[0]["id"]
        acked = client.ack(alert_id, "on it")
        assert (acked["acked_by"], acked["acks"][0]["why"]) == ("admin", "on it")
        with pytest.raises(ReceiverError, match="HTTP 401"):
            ReceiverClient(url, "wrong").ack(alert_id, "x")
