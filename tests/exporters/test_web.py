"""The exporters' web conventions, on a real exporter process over real HTTP(S).

The market-data exporter on the synthetic market needs no database or gateway, so it
stands for all three: they share the command and the server (exporters/web.py).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import pytest
import requests

from riskwatch.exporters.web import BasicAuth
from tests.support.stack import free_port, wait_for
from tests.test_pushgateway_tls import self_signed  # a certificate for 127.0.0.1

USER, PASSWORD = "prometheus", "scrape-" + os.urandom(6).hex()
# The synthetic market's first collection builds its history, which on a loaded test
# machine can pass the default five-second collection timeout.
ENV = {**os.environ, "RISKWATCH_EXPORTERS__TIMEOUT_SECONDS": "60"}


def hashed(password: str) -> str:
    # Cost 4 keeps the test quick; the format is the one a cost-12 hash has.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def exporter_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "riskwatch", "exporter", "marketdata", *args]


@contextmanager
def running_exporter(
    folder: Path,
    args: Sequence[str],
    base: str,
    verify: str | bool = True,
    cert: tuple[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """The exporter with `args`, once `base` answers HTTP at all (a 401 is an answer);
    SIGTERM on exit. An exporter that exits while we wait fails with its log."""
    log_path = folder / "exporter.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            exporter_argv(*args),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env={**ENV, **(env or {})},
        )

    def answers() -> bool:
        assert process.poll() is None, log_path.read_text()[-2000:]
        try:
            requests.get(f"{base}/healthz", timeout=1, verify=verify, cert=cert)
        except requests.ConnectionError:
            return False
        return True

    try:
        wait_for(answers, "the exporter to answer", timeout=30)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_answers_on_the_listen_address_with_a_landing_page(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_exporter(tmp_path, ["--web.listen-address", f"127.0.0.1:{port}"], base):
        metrics = requests.get(f"{base}/metrics", timeout=70)
        assert metrics.status_code == 200
        assert "marketdata_scrape_success 1.0" in metrics.text
        assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        landing = requests.get(f"{base}/", timeout=5)
        assert landing.status_code == 200
        assert landing.headers["Content-Type"].startswith("text/html")
        assert "riskwatch marketdata exporter" in landing.text
        assert '<a href="metrics">' in landing.text
        assert requests.get(f"{base}/healthz", timeout=5).text == "ok\n"
        assert requests.get(f"{base}/nothing-here", timeout=5).status_code == 404


def test_a_custom_telemetry_path(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["--web.listen-address", f"127.0.0.1:{port}", "--web.telemetry-path", "/custom/m"]
    with running_exporter(tmp_path, args, base):
        assert "marketdata_scrape_success" in requests.get(f"{base}/custom/m", timeout=70).text
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 404
        assert '<a href="custom/m">' in requests.get(f"{base}/", timeout=5).text


def test_basic_auth_and_tls_from_a_web_config(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    # Relative paths are read from the web config's folder, as in the exporter toolkit.
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n"
        f"  cert_file: {cert.name}\n"
        f"  key_file: {key.name}\n"
        "  min_version: TLS12\n"
        "basic_auth_users:\n"
        f"  {USER}: '{hashed(PASSWORD)}'\n"
    )
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    args = [
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--web.config.file",
        str(tmp_path / "web.yml"),
    ]
    verify = str(cert)
    with running_exporter(tmp_path, args, base, verify):
        for path in ("/metrics", "/", "/healthz"):
            anonymous = requests.get(f"{base}{path}", timeout=5, verify=verify)
            assert anonymous.status_code == 401, path
            assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
            assert "marketdata_" not in anonymous.text
        wrong = requests.get(f"{base}/metrics", auth=(USER, "nope"), timeout=5, verify=verify)
        assert wrong.status_code == 401
        stranger = requests.get(
            f"{base}/metrics", auth=("someone", PASSWORD), timeout=5, verify=verify
        )
        assert stranger.status_code == 401
        for _ in range(2):  # the second scrape is served from the verified-pair cache
            right = requests.get(
                f"{base}/metrics", auth=(USER, PASSWORD), timeout=70, verify=verify
            )
            assert right.status_code == 200
            assert "marketdata_scrape_success 1.0" in right.text
        landing = requests.get(f"{base}/", auth=(USER, PASSWORD), timeout=5, verify=verify)
        assert '<a href="metrics">' in landing.text
        # Plain HTTP on the TLS port gets no metrics.
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/metrics", auth=(USER, PASSWORD), timeout=5)


def test_the_web_config_from_settings_as_a_service_unit_gives_it(tmp_path: Path) -> None:
    """No flag: exporters.web_config_file (the environment file of the systemd units and
    compose) protects every exporter; the flag, when given, names another file."""
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  {USER}: '{hashed(PASSWORD)}'\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"RISKWATCH_EXPORTERS__WEB_CONFIG_FILE": str(tmp_path / "web.yml")}
    args = ["--web.listen-address", f"127.0.0.1:{port}"]
    with running_exporter(tmp_path, args, base, env=env):
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 401
        right = requests.get(f"{base}/metrics", auth=(USER, PASSWORD), timeout=70)
        assert right.status_code == 200
        assert "marketdata_scrape_success 1.0" in right.text


def test_client_certificates_from_a_web_config(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    (tmp_path / "client").mkdir()
    cert, key = self_signed(tmp_path / "server")
    client_cert, client_key = self_signed(tmp_path / "client")
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n"
        f"  cert_file: {cert}\n"
        f"  key_file: {key}\n"
        f"  client_ca_file: {client_cert}\n"
        "  client_auth_type: RequireAndVerifyClientCert\n"
    )
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    args = ["--web.listen-address", f"127.0.0.1:{port}", "--web.config.file", "web.yml"]
    with running_exporter(tmp_path, args, base, str(cert), (str(client_cert), str(client_key))):
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{base}/metrics", timeout=5, verify=str(cert))
        ok = requests.get(
            f"{base}/metrics",
            timeout=70,
            verify=str(cert),
            cert=(str(client_cert), str(client_key)),
        )
        assert ok.status_code == 200 and "marketdata_scrape_success" in ok.text


def test_basic_auth_without_tls(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  {USER}: '{hashed(PASSWORD)}'\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["--web.listen-address", f"127.0.0.1:{port}", "--web.config.file", "web.yml"]
    with running_exporter(tmp_path, args, base):
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 401
        ok = requests.get(f"{base}/metrics", auth=(USER, PASSWORD), timeout=70)
        assert ok.status_code == 200 and "marketdata_scrape_success" in ok.text


def run_exporter(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        exporter_argv("--web.listen-address", f"127.0.0.1:{free_port()}", *args),
        capture_output=True,
        text=True,
        cwd=folder,
        env=ENV,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("basic_auth_user:\n  a: b\n", "unknown key basic_auth_user"),
        ("tls_server_config:\n  certfile: x\n", "unknown key tls_server_config.certfile"),
        ("http_server_config:\n  http2: false\n", "http_server_config is not supported"),
        ("basic_auth_users:\n  prometheus: plain-password\n", "is not a bcrypt hash"),
        ("basic_auth_users: [\n", "is not valid YAML"),
        ("- a list\n", "must be a mapping"),
        (
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
            "  client_auth_type: RequireAnyClientCert\n",
            "client_auth_type RequireAnyClientCert is not supported",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n",
            "cannot load the certificate",
        ),
        (
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS9\n",
            "min_version TLS9 is not one of",
        ),
    ],
)
def test_a_bad_web_config_is_one_clear_line_and_exit_2(
    tmp_path: Path, content: str, says: str
) -> None:
    (tmp_path / "web.yml").write_text(content)
    result = run_exporter(tmp_path, "--web.config.file", "web.yml")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("riskwatch: error: web config ")
    assert says in lines[0]


def test_a_missing_web_config_file(tmp_path: Path) -> None:
    result = run_exporter(tmp_path, "--web.config.file", "nowhere.yml")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "riskwatch: error: cannot read web config nowhere.yml: No such file or directory"
    )


def test_listen_is_a_deprecated_alias(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_exporter(tmp_path, ["--listen", f"127.0.0.1:{port}"], base):
        assert requests.get(f"{base}/metrics", timeout=70).status_code == 200
    log = (tmp_path / "exporter.log").read_text()
    assert "riskwatch: warning: --listen is deprecated, use --web.listen-address" in log


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_checks_and_remembers_only_verified_pairs() -> None:
    auth = BasicAuth({USER: hashed(PASSWORD)}, cache_size=1)
    assert auth.allows(basic(USER, PASSWORD))
    assert auth.allows(basic(USER, PASSWORD))  # from the cache
    assert len(auth._verified) == 1
    assert not auth.allows(basic(USER, PASSWORD + "x"))
    assert not auth.allows(basic("other", PASSWORD))
    assert not auth.allows(None)
    assert not auth.allows("Bearer abc")
    assert not auth.allows("Basic not-base64!")
    assert not auth.allows("Basic " + base64.b64encode(b"no-colon").decode())
    assert len(auth._verified) == 1, "refused pairs are never remembered"
