"""The audit console in Debian's Chromium (Playwright, on the system browser), against
the real pieces: the receiver over HTTP on PostgreSQL, a real Alertmanager that
re-sends every two seconds to the local Slack sink and to the receiver's webhook.

A responder logs in, filters, opens an alert and acks it with a note and a silence:
the silence is then in Alertmanager with the responder as its creator, and the Slack
sink gets no more repeats of that alert, while a control alert that nobody silenced
keeps repeating (so the quiet is the silence's doing, not a pause). A viewer is
refused the ack; a POST without its CSRF token is refused and stores nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml
from playwright.sync_api import Browser, Page, sync_playwright

from riskwatch.receiver import users
from riskwatch.receiver.serve import serving_in_thread
from riskwatch.sinks import Outbox, Sinks
from tests.support.alertmanager import running_alertmanager
from tests.support.stack import free_port, wait_for

from .conftest import make_settings

ADMIN_TOKEN = "console-test-admin-token"  # throwaway test credentials
HOOK_TOKEN = "console-test-webhook-token"
PASSWORD = "correct horse battery"
TARGET, CONTROL = "DeskDrawdownBreach", "DeskVarBreach"
REPEAT_SECONDS = 2
# Where the docs' screenshots come from: `RISKWATCH_CONSOLE_SCREENSHOTS=docs/images
# pytest tests/receiver/test_console_browser.py` refreshes them.
SCREENSHOTS_ENV = "RISKWATCH_CONSOLE_SCREENSHOTS"


@dataclass
class World:
    receiver: str
    alertmanager: str
    outbox: Path
    database_url: str

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(
            self.receiver + path,
            params=params,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def slack_posts(self, alertname: str) -> int:
        """Slack messages about `alertname` so far (the default title names it)."""
        posts = Outbox(self.outbox, create=False).slack_posts()
        return sum(alertname in json.dumps(post["message"]) for post in posts)

    def silences(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.alertmanager}/api/v2/silences", timeout=10)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found


def _alertmanager_config(receiver: str, slack: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "desk",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": f"{REPEAT_SECONDS}s",
        },
        "receivers": [
            {
                "name": "desk",
                "slack_configs": [
                    {"api_url": f"{slack}/services/console-test", "channel": "#risk"}
                ],
                "webhook_configs": [
                    {
                        "url": f"{receiver}/webhook/alertmanager",
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials": HOOK_TOKEN}
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    smtp_port, slack_port, am_port = free_port(), free_port(), free_port()
    sinks = Sinks(tmp_path / "outbox", "127.0.0.1", smtp_port, slack_port)
    sinks.start()
    settings = make_settings(
        database_url,
        token=ADMIN_TOKEN,
        webhook_token=HOOK_TOKEN,
        alertmanager_url=f"http://127.0.0.1:{am_port}",
        threads=4,
    )
    try:
        with serving_in_thread(settings) as receiver:
            config = tmp_path / "alertmanager.yml"
            config.write_text(
                yaml.safe_dump(_alertmanager_config(receiver, f"http://127.0.0.1:{slack_port}"))
            )
            state = tmp_path / "alertmanager"
            state.mkdir()
            with running_alertmanager(config, state, port=am_port) as alertmanager:
                yield World(receiver, alertmanager, tmp_path / "outbox", database_url)
    finally:
        sinks.stop()


def _fire(world: World, alertname: str, portfolio: str) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": {
            "alertname": alertname,
            "severity": "critical",
            "team": "risk",
            "portfolio": portfolio,
        },
        "annotations": {
            "summary": f"{alertname} on {portfolio}",
            "description": "Drawdown is past the policy limit.",
            "runbook_url": f"http://runbooks.example.test/{alertname}",
            "dashboard_url": "http://grafana.example.test/d/risk",
        },
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }
    response = requests.post(f"{world.alertmanager}/api/v2/alerts", json=[alert], timeout=10)
    assert response.status_code == 200, response.text


def _add_user(world: World, name: str, role: str) -> None:
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        users.migrate(conn)
        users.add_user(conn, name, role)
        users.set_password(conn, name, PASSWORD)


def _log_in(browser: Browser, world: World, name: str) -> Page:
    page = browser.new_context().new_page()
    page.goto(f"{world.receiver}/console/")
    assert "/console/login" in page.url  # not logged in: the login page first
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.receiver}/console/")
    return page


def _shoot(page: Page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder:
        shutil.copy(tmp_path / f"{name}.png", Path(folder) / f"console-{name}.png")


def _csrf(page: Page) -> str:
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    return token


def test_responder_acks_and_silences_from_the_browser(world: World, tmp_path: Path) -> None:
    _add_user(world, "rita", "responder")
    _add_user(world, "vera", "viewer")
    _fire(world, TARGET, "alpha")
    _fire(world, CONTROL, "beta")
    wait_for(lambda: len(world.api("/api/alerts")["alerts"]) == 2, "both alerts in the trail")
    # Alertmanager really repeats them: the silence has something to stop.
    wait_for(lambda: world.slack_posts(TARGET) >= 2, "a repeat of the target in Slack", 30)

    with sync_playwright() as playwright:
        chromium = shutil.which("chromium")
        assert chromium, "Debian's chromium is not installed (make setup installs it)"
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = _log_in(browser, world, "rita")
            cookie = next(c for c in page.context.cookies() if c["name"] == "riskwatch_session")
            assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (
                True,
                "Lax",
                True,
            )
            assert page.locator("table.alerts tbody tr").count() == 2

            page.fill("input[name=alertname]", TARGET)
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**alertname=*")
            rows = page.locator("table.alerts tbody tr")
            assert rows.count() == 1
            assert TARGET in rows.first.inner_text()
            _shoot(page, "list", tmp_path)

            rows.first.locator("a").click()
            page.wait_for_url("**/console/alerts/*")
            alert_id = int(page.url.rsplit("/", 1)[1])
            assert page.locator("a", has_text="Runbook").get_attribute("href") == (
                f"http://runbooks.example.test/{TARGET}"
            )
            assert "portfolio" in page.locator("dl.labels").first.inner_text()
            _shoot(page, "detail", tmp_path)

            page.click("text=Acknowledge…")
            page.wait_for_selector("dialog.ack-dialog")
            page.fill("textarea[name=note]", "Hedged with index futures; watching.")
            page.fill("input[name=silence_hours]", "1")
            _shoot(page, "ack-dialog", tmp_path)
            page.click("dialog button[type=submit]")
            page.wait_for_url(f"{world.receiver}/console/alerts/{alert_id}")
            timeline = page.locator("ol.timeline").inner_text()
            assert "Hedged with index futures; watching." in timeline
            assert "rita" in timeline

            trail = world.api(f"/api/alerts/{alert_id}")
            assert [(a["who"], a["why"]) for a in trail["acks"]] == [
                ("rita", "Hedged with index futures; watching.")
            ]
            silence_id = trail["acks"][0]["silence_id"]
            assert silence_id and trail["silences"][0]["created_by"] == "rita"
            silence = next(s for s in world.silences() if s["id"] == silence_id)
            assert silence["createdBy"] == "rita"
            assert silence["status"]["state"] == "active"
            assert {"name": "alertname", "value": TARGET, "isRegex": False, "isEqual": True} in (
                silence["matchers"]
            )

            # Quiet: the control repeats three more times, the silenced alert never.
            control = world.slack_posts(CONTROL)
            wait_for(lambda: world.slack_posts(CONTROL) > control, "a control repeat", 30)
            silenced = world.slack_posts(TARGET)  # anything in flight has landed now
            control = world.slack_posts(CONTROL)
            wait_for(lambda: world.slack_posts(CONTROL) >= control + 3, "control repeats", 60)
            assert world.slack_posts(TARGET) == silenced

            # A POST without its CSRF token is refused and stores nothing.
            forged = page.request.post(
                f"{world.receiver}/console/alerts/{alert_id}/ack",
                form={"note": "forged"},
                max_redirects=0,
            )
            assert forged.status == 400
            assert "CSRF" in forged.text()
            assert len(world.api(f"/api/alerts/{alert_id}")["acks"]) == 1

            # Expiring the silence lets Alertmanager speak again.
            page.click("table.silences button[type=submit]")
            page.wait_for_url(f"{world.receiver}/console/alerts/{alert_id}")
            assert "expired by rita" in page.locator("table.silences").inner_text()
            assert (
                next(s for s in world.silences() if s["id"] == silence_id)["status"]["state"]
                == "expired"
            )
            wait_for(lambda: world.slack_posts(TARGET) > silenced, "a repeat after expiry", 30)

            # A viewer reads, but the ack is refused: the dialog and the POST alike.
            viewer = _log_in(browser, world, "vera")
            viewer.goto(f"{world.receiver}/console/alerts/{alert_id}")
            assert viewer.locator("text=Acknowledge…").count() == 0
            refused = viewer.goto(f"{world.receiver}/console/alerts/{alert_id}/ack")
            assert refused is not None and refused.status == 403
            posted = viewer.request.post(
                f"{world.receiver}/console/alerts/{alert_id}/ack",
                form={"csrf_token": _csrf(viewer), "note": "viewer ack"},
                max_redirects=0,
            )
            assert posted.status == 403
            assert len(world.api(f"/api/alerts/{alert_id}")["acks"]) == 1
        finally:
            browser.close()

    actions = [(a["who"], a["action"]) for a in world.api("/api/actions")["actions"]]
    for expected in [("rita", "login"), ("rita", "ack"), ("rita", "expire_silence")]:
        assert expected in actions
    assert ("vera", "login") in actions
