"""A deployment that gives the Pushgateway a certificate gets HTTPS end to end: the
Pushgateway serves TLS (its web config), agents verify it against the configured CA,
and Prometheus scrapes it over TLS with the agents' login."""

from __future__ import annotations

import subprocess
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from riskwatch.publish import Publisher
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import Settings, load_settings
from riskwatch.stack.runner import Stack
from tests.support.stack import TEST_TOKEN, free_ports, prom_query, running_stack, wait_for

pytestmark = pytest.mark.stack


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made by openssl; it is its own CA."""
    cert, key = folder / "pushgateway.crt", folder / "pushgateway.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(folder)
    settings = load_settings(
        state_dir=folder / "state",
        stack={
            **free_ports(),
            "pushgateway_tls_cert_file": cert,
            "pushgateway_tls_key_file": key,
        },
        pushgateway_ca_file=cert,
        receiver_token=TEST_TOKEN,
    )
    with running_stack(settings) as stack:
        yield stack


def test_the_pushgateway_speaks_https_only(tls_stack: Stack) -> None:
    s: Settings = tls_stack.settings
    assert s.url.pushgateway.startswith("https://")
    plain = s.url.pushgateway.replace("https://", "http://")
    with pytest.raises(requests.RequestException):
        requests.get(f"{plain}/-/ready", timeout=5).raise_for_status()
    with pytest.raises(urllib.error.URLError):  # an agent that does not know the CA
        PushgatewayAccess.parse(s.pushgateway_credentials() or "").open(f"{s.url.pushgateway}/")


def test_an_agent_pushes_over_tls_and_prometheus_scrapes_it(tls_stack: Stack) -> None:
    s = tls_stack.settings
    pub = Publisher("tls-agent", s.url.pushgateway, access=PushgatewayAccess.from_settings(s))
    pub.gauge("trading_drawdown_ratio").labels("tls").set(0.02)
    try:
        pub.push_now()
        wait_for(
            lambda: prom_query(s.url.prometheus, 'trading_drawdown_ratio{agent="tls-agent"}'),
            "Prometheus to scrape the push over TLS",
            timeout=30,
        )
        up = prom_query(s.url.prometheus, 'up{job="pushgateway"}')
        assert [r["value"][1] for r in up] == ["1"]
        assert tls_stack.status()["health"]["pushgateway"]
    finally:
        pub.delete()
