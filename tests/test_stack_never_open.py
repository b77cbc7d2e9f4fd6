"""`riskwatch stack up` with no token configured never runs the receiver open: it
generates an admin token and Alertmanager's webhook credential into the state's
secrets, and `stack status --json` says where the admin token is."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from riskwatch.settings import (
    RECEIVER_SESSION_KEY_FILE,
    RECEIVER_TOKEN_FILE,
    RECEIVER_WEBHOOK_TOKEN_FILE,
    load_settings,
)
from riskwatch.stack.runner import Stack
from tests.support.stack import free_ports, run_cli, running_stack, stack_env

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def tokenless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("tokenless") / "state"
    settings = load_settings(state_dir=state, stack=free_ports())
    assert settings.receiver_token is None and settings.receiver_webhook_token is None
    with running_stack(settings) as stack:
        yield stack


def test_without_credentials_the_trail_answers_401(tokenless: Stack) -> None:
    receiver = tokenless.settings.url.receiver
    assert requests.get(f"{receiver}/api/alerts", timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.get(f"{receiver}/api/alerts", headers=wrong, timeout=10).status_code == 401


def test_status_names_the_generated_admin_token_and_it_opens_the_trail(tokenless: Stack) -> None:
    status = run_cli("stack", "status", "--json", env=stack_env(tokenless))
    assert status.returncode == 0, status.stderr[-2000:]
    path = Path(json.loads(status.stdout)["receiver_token_file"])
    assert path.parent == tokenless.settings.secrets_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert len(token) >= 32
    answer = requests.get(
        f"{tokenless.settings.url.receiver}/api/alerts",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200 and "alerts" in answer.json()


def test_a_restart_keeps_the_generated_tokens(tokenless: Stack) -> None:
    secrets = tokenless.settings.secrets_dir
    names = (RECEIVER_TOKEN_FILE, RECEIVER_WEBHOOK_TOKEN_FILE)
    assert {p.name for p in secrets.glob("receiver_*token")} == set(names)
    before = {name: (secrets / name).read_text() for name in names}
    assert before[RECEIVER_TOKEN_FILE] != before[RECEIVER_WEBHOOK_TOKEN_FILE]
    tokenless.up()
    assert {name: (secrets / name).read_text() for name in names} == before


def test_the_console_asks_for_a_login_and_takes_the_admin_token(tokenless: Stack) -> None:
    status = run_cli("stack", "status", "--json", env=stack_env(tokenless))
    console = json.loads(status.stdout)["console"]
    assert console == f"{tokenless.settings.url.receiver}/console/"
    browser = requests.Session()
    first = browser.get(console, timeout=10, allow_redirects=False)
    assert first.status_code == 302 and "/console/login" in first.headers["Location"]
    # The cookie key is generated with the tokens, owner-only, and kept by a restart.
    key = tokenless.settings.secrets_dir / RECEIVER_SESSION_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) >= 32
    # requests keeps a Secure cookie off plain http (browsers allow it on loopback):
    # the session cookie is handed over explicitly at each step.
    form = browser.get(f"{console}login", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf
    token = (tokenless.settings.secrets_dir / RECEIVER_TOKEN_FILE).read_text().strip()
    done = requests.post(
        f"{console}login",
        data={"name": "admin", "password": token, "csrf_token": csrf.group(1)},
        cookies={"riskwatch_session": form.cookies["riskwatch_session"]},
        timeout=10,
        allow_redirects=False,
    )
    assert done.status_code == 302
    cookie = done.cookies.get("riskwatch_session")
    assert cookie
    page = requests.get(console, cookies={"riskwatch_session": cookie}, timeout=10)
    assert page.status_code == 200 and "admin" in page.text


def test_alertmanager_posts_with_the_webhook_only_credential(tokenless: Stack) -> None:
    config = yaml.safe_load((tokenless.layout.rendered / "alertmanager.yml").read_text())
    hooks = [
        hook
        for receiver in config["receivers"]
        for hook in receiver.get("webhook_configs", [])
        if hook["url"].startswith(tokenless.settings.url.receiver)
    ]
    assert hooks, "no receiver webhook in the rendered config"
    credential = tokenless.settings.secrets_dir / RECEIVER_WEBHOOK_TOKEN_FILE
    for hook in hooks:
        authorization = hook["http_config"]["authorization"]
        assert authorization == {"type": "Bearer", "credentials_file": str(credential)}
    # That credential may post alerts and nothing else: the trail stays closed to it.
    bearer = {"Authorization": f"Bearer {credential.read_text().strip()}"}
    receiver = tokenless.settings.url.receiver
    assert requests.get(f"{receiver}/api/alerts", headers=bearer, timeout=10).status_code == 403
    assert (
        requests.get(
            f"{receiver}/console/", headers=bearer, timeout=10, allow_redirects=False
        ).status_code
        == 302
    )
