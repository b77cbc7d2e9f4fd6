"""The receiver under waitress, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from riskwatch.receiver.serve import serving_in_thread

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
