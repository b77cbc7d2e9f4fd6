"""PagerDuty, Discord and Telegram (issue 17, item 1): each alert reaches exactly its
channels through the real Alertmanager, on the config `riskwatch stack` renders,
delivering to the real local sinks, which speak each service's API.

Per the policy: critical risk alerts and VaRBacktestRed page PagerDuty (besides the
CRO's email and #risk-alerts); ops alerts go to the Discord and Telegram ops chats
(besides #trading-ops); nothing else reaches either. The ops alert here is critical,
so the market-closed mute (ops warnings only) never holds it: these hold at any hour.
The committed group_wait (3 s) is short enough to use as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from riskwatch.settings import ConfigError, Settings, load_settings
from riskwatch.sinks import (
    LOCAL_DISCORD_WEBHOOK_PATH,
    LOCAL_PAGERDUTY_ROUTING_KEY,
    LOCAL_TELEGRAM_CHAT_ID,
    PAGERDUTY_PATH,
    Outbox,
    Sinks,
)
from riskwatch.stack.render import render_alertmanager
from tests.support.alertmanager import running_alertmanager, tool
from tests.support.stack import free_ports, wait_for

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-" + os.urandom(6).hex()
CRO = "email:cro@localhost"
RISK_SLACK, OPS_SLACK = "slack:#risk-alerts", "slack:#trading-ops"
COMPLIANCE = "email:compliance@localhost"


def _render(settings: Settings, folder: Path) -> Path:
    return render_alertmanager(
        settings, folder / "alertmanager.yml", folder / "secrets", folder / "credential"
    )


def _check_config(config: Path) -> None:
    checked = subprocess.run(
        [tool("amtool"), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@contextmanager
def _delivering(tmp_path: Path, group_interval: str | None = None) -> Iterator[tuple[Outbox, str]]:
    """Alertmanager on the rendered config (no channel configured: every one goes to
    the local sinks), delivering to the sinks: yields the outbox and Alertmanager's
    URL. `group_interval`: the root route's, in the rendered copy (default: the
    committed 30 s), for a test that waits for a resolution."""
    settings = load_settings(state_dir=tmp_path / "state", stack=free_ports())
    config = _render(settings, tmp_path / "rendered")
    if group_interval is not None:
        data = yaml.safe_load(config.read_text())
        data["route"]["group_interval"] = group_interval
        config.write_text(yaml.safe_dump(data, sort_keys=False))
    _check_config(config)
    st = settings.stack
    sinks = Sinks(tmp_path / "outbox", st.host, st.smtp_port, st.slack_port)
    sinks.start()
    (tmp_path / "alertmanager").mkdir()
    try:
        with running_alertmanager(config, tmp_path / "alertmanager") as url:
            yield sinks.outbox, url
    finally:
        sinks.stop()


def _alert(labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"https://runbooks.example.test/{labels['alertname']}",
            "dashboard_url": "https://grafana.example.test/d/riskwatch",
        },
        "startsAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _sent(am: str, metric: str = "alertmanager_notifications_total") -> dict[str, float]:
    """Alertmanager's own count of notifications attempted (or `metric`), by integration."""
    text = requests.get(f"{am}/metrics", timeout=10).text
    found = re.findall(rf'^{metric}\{{integration="(\w+)"\}} (\S+)$', text, re.M)
    return {integration: float(value) for integration, value in found}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def test_each_alert_reaches_exactly_its_channels(tmp_path: Path) -> None:
    with _delivering(tmp_path) as (outbox, am):
        _each_alert_reaches_exactly_its_channels(outbox, am, tmp_path)


def _each_alert_reaches_exactly_its_channels(outbox: Outbox, am: str, tmp_path: Path) -> None:
    run = datetime.now(UTC).strftime("%H%M%S%f")
    risk, var, warn, ops, comp = (f"{k}-{run}" for k in ("risk", "var", "warn", "ops", "comp"))
    long_summary = "VaR backtest in the red zone. " + "The model under-forecasts losses. " * 60
    alerts = [
        _alert(
            {"alertname": "PortfolioDrawdownCritical", "severity": "critical", "team": "risk"}
            | {"portfolio": risk, "alertgroup": "drawdown"},
            "Portfolio drawdown is beyond its critical limit.",
            f"Portfolio {risk} is 16% below its peak value.",
        ),
        _alert(
            {"alertname": "VaRBacktestRed", "severity": "critical", "team": "risk"}
            | {"source": "validation", "dataset": "desk", "portfolio": var},
            long_summary,
            f"Portfolio {var}: 11 exceptions in 250 days.",
        ),
        _alert(
            {"alertname": "PortfolioDrawdownWarning", "severity": "warning", "team": "risk"}
            | {"portfolio": warn},
            "Portfolio drawdown is beyond its warning limit.",
            f"Portfolio {warn} is 9% below its peak value.",
        ),
        _alert(
            {"alertname": "AgentDown", "severity": "critical", "team": "ops", "agent": ops},
            "A risk agent stopped pushing.",
            f"Agent {ops} has not pushed for 3 minutes: queue depth < 5 & falling.",
        ),
        _alert(
            {"alertname": "ComplianceViolation", "severity": "critical", "team": "compliance"}
            | {"rule": "CON_001", "portfolio": comp},
            "A concentration limit is breached.",
            f"Portfolio {comp} holds 31% in one issuer.",
        ),
    ]
    requests.post(f"{am}/api/v2/alerts", json=alerts, timeout=10).raise_for_status()

    expected = {
        ("PortfolioDrawdownCritical", risk): {"pagerduty", CRO, RISK_SLACK},
        ("VaRBacktestRed", var): {"pagerduty", CRO, RISK_SLACK},
        ("PortfolioDrawdownWarning", warn): {RISK_SLACK},
        ("AgentDown", ops): {"discord", "telegram", OPS_SLACK},
        ("ComplianceViolation", comp): {COMPLIANCE},
    }

    def reached() -> dict[tuple[str, str], frozenset[str]] | None:
        got = {key: outbox.channels(*key, since=0, every=True) for key in expected}
        return got if all(expected[k] <= got[k] for k in expected) else None

    got = wait_for(reached, "every alert on its channels", timeout=60)
    assert got == expected
    # Exactly: Alertmanager attempted no other notification on these integrations (a
    # wrong route would be one more, sent in the same flush as the right ones).
    wanted = {"pagerduty": 2, "discord": 1, "telegram": 1, "slack": 4, "email": 3}
    counted = wait_for(
        lambda: (s := _sent(am)) and {k: s.get(k) for k in wanted} == wanted and s,
        f"Alertmanager's notification counts to be {wanted}",
        timeout=30,
    )
    assert {k: counted[k] for k in wanted} == wanted
    # Each service's sink took its notifications as the service would: none failed
    # (Alertmanager 0.25 exports no failure counter for Discord until one fails).
    failed = _sent(am, "alertmanager_notifications_failed_total")
    assert [failed.get(k, 0.0) for k in ("pagerduty", "discord", "telegram")] == [0.0] * 3
    assert (len(outbox.pagerduty_events()), len(outbox.discord_posts())) == (2, 1)
    assert len(outbox.telegram_messages()) == 1

    # ---- PagerDuty: Events API v2, the routing key from its 0600 file.
    events = {
        e["event"]["payload"]["custom_details"]["portfolio"]: e for e in outbox.pagerduty_events()
    }
    assert set(events) == {risk, var}
    key_file = tmp_path / "rendered" / "secrets" / "pagerduty_routing_key"
    for record in events.values():
        assert record["path"] == PAGERDUTY_PATH
        assert (
            record["routing_key_sha256"]
            == hashlib.sha256(LOCAL_PAGERDUTY_ROUTING_KEY.encode()).hexdigest()
        )
        event = record["event"]
        assert event["event_action"] == "trigger"
        assert event["payload"]["severity"] == "critical"
        assert event["client"] == "riskwatch"
        assert "/console/go?fingerprint=" in event["client_url"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == LOCAL_PAGERDUTY_ROUTING_KEY
    drawdown = events[risk]["event"]
    assert drawdown["payload"]["summary"] == (
        f"PortfolioDrawdownCritical on {risk}: Portfolio drawdown is beyond its critical limit."
    )
    assert drawdown["payload"]["class"] == "PortfolioDrawdownCritical"
    assert drawdown["payload"]["group"] == "risk"
    assert drawdown["payload"]["component"] == risk
    details = drawdown["payload"]["custom_details"]
    assert f"Portfolio {risk} is 16% below its peak value." in details["firing"]
    assert details["runbook"] == "https://runbooks.example.test/PortfolioDrawdownCritical"
    # A summary longer than PagerDuty takes is cut to its 1024 characters, not refused.
    red = events[var]["event"]["payload"]["summary"]
    assert red.startswith(f"VaRBacktestRed on {var}: VaR backtest in the red zone.")
    assert len(red) <= 1024 < len(long_summary)

    # ---- Discord: an embed, Markdown, the console link.
    (post,) = outbox.discord_posts()
    assert post["path"] == LOCAL_DISCORD_WEBHOOK_PATH.rsplit("/", 1)[0] + "/***"
    (embed,) = post["message"]["embeds"]
    assert embed["title"] == "[FIRING:1] AgentDown"
    text = embed["description"]
    assert text.startswith("**A risk agent stopped pushing.**\n")
    assert f"Agent {ops} has not pushed for 3 minutes: queue depth < 5 & falling." in text
    assert f"Severity: `critical`  Team: `ops`  Agent: `{ops}`" in text
    assert re.search(r"Since: <t:\d+:f>", text)
    assert re.search(r"\[Open in console\]\(http://[^)]+/console/go\?fingerprint=\w+&", text)
    assert "[Runbook](https://runbooks.example.test/AgentDown)" in text

    # ---- Telegram: HTML that Telegram parses (every value escaped), to the chat.
    (message,) = outbox.telegram_messages()
    params = message["message"]
    assert int(params["chat_id"]) == LOCAL_TELEGRAM_CHAT_ID
    assert params["parse_mode"] == "HTML"
    text = params["text"]
    assert text.startswith("<b>[FIRING:1] AgentDown</b>\n")
    assert "queue depth &lt; 5 &amp; falling." in text
    assert "<b>A risk agent stopped pushing.</b>" in text
    assert f"Agent: <code>{ops}</code>" in text
    assert re.search(r'<a href="http://[^"]+/console/go\?fingerprint=\w+&amp;starts_at=', text)
    tags = _Tags()
    tags.feed(text)
    assert tags.tags <= {"b", "code", "a"}  # tags Telegram's HTML mode knows
    assert re.sub(r"<[^>]+>|&(lt|gt|amp|quot|#39);", "", text).count("<") == 0


def test_a_resolution_resolves_the_page_and_tells_the_chats(tmp_path: Path) -> None:
    # group_interval 1s in the rendered copy: a resolution goes out at the next tick.
    with _delivering(tmp_path, group_interval="1s") as (outbox, am):
        run = datetime.now(UTC).strftime("%H%M%S%f")
        page = _alert(
            {"alertname": "DailyLossLimitBreached", "severity": "critical", "team": "risk"}
            | {"portfolio": f"loss-{run}"},
            "The daily loss limit is breached.",
            f"Portfolio loss-{run} lost 2.1% today.",
        )
        chat = _alert(
            {"alertname": "ComponentDown", "severity": "critical", "team": "ops"}
            | {"agent": f"health-{run}", "component": "postgresql"},
            "A component is down.",
            "PostgreSQL does not answer.",
        )
        requests.post(f"{am}/api/v2/alerts", json=[page, chat], timeout=10).raise_for_status()
        (trigger,) = wait_for(outbox.pagerduty_events, "the page", timeout=60)
        wait_for(outbox.discord_posts, "the Discord post", timeout=60)
        wait_for(outbox.telegram_messages, "the Telegram message", timeout=60)
        ended = datetime.now(UTC).isoformat(timespec="milliseconds")
        resolved = [{**a, "endsAt": ended} for a in (page, chat)]
        requests.post(f"{am}/api/v2/alerts", json=resolved, timeout=10).raise_for_status()

        def resolution() -> dict[str, Any] | None:
            events = [e["event"] for e in outbox.pagerduty_events()]
            return next((e for e in events if e["event_action"] == "resolve"), None)

        resolve = wait_for(resolution, "PagerDuty's resolve event", timeout=60)
        # The same incident: Alertmanager keys both events by the alert group.
        assert resolve["dedup_key"] == trigger["event"]["dedup_key"]
        discord = wait_for(
            lambda: [p for p in outbox.discord_posts() if "RESOLVED" in json.dumps(p)],
            "the Discord resolution",
            timeout=60,
        )
        assert discord[0]["message"]["embeds"][0]["title"] == "[RESOLVED] ComponentDown"
        assert "Resolved: <t:" in discord[0]["message"]["embeds"][0]["description"]
        telegram = wait_for(
            lambda: [m for m in outbox.telegram_messages() if "RESOLVED" in m["message"]["text"]],
            "the Telegram resolution",
            timeout=60,
        )
        assert telegram[0]["message"]["text"].startswith("<b>[RESOLVED] ComponentDown</b>")


# ------------------------------------------------------------------ configured channels
def test_configured_channels_render_their_secrets_owner_only_never_in_the_repo(
    tmp_path: Path,
) -> None:
    discord = f"https://discord.com/api/webhooks/123/{SECRET}"
    token = f"123456:{SECRET}"
    token_file = tmp_path / "telegram_bot_token"
    token_file.write_text(token + "\n")
    settings = load_settings(
        state_dir=tmp_path / "state",
        notifications={
            "pagerduty_routing_key": f"pd-{SECRET}",
            "discord_webhook_url": discord,
            "telegram_bot_token_file": str(token_file),
            "telegram_chat_id": -1001234567,
        },
    )
    config = _render(settings, tmp_path / "rendered")
    _check_config(config)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    rendered = yaml.safe_load(config.read_text())
    receivers = {r["name"]: r for r in rendered["receivers"]}
    (pd,) = receivers["pagerduty"]["pagerduty_configs"]
    assert "url" not in pd and "routing_key" not in pd  # PagerDuty's own endpoint
    key_file = Path(pd["routing_key_file"])
    assert key_file.read_text() == f"pd-{SECRET}"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (dc,) = receivers["ops-chat"]["discord_configs"]
    assert dc["webhook_url"] == discord
    (tg,) = receivers["ops-chat"]["telegram_configs"]
    assert (tg["bot_token"], tg["chat_id"]) == (token, -1001234567)
    assert "api_url" not in tg  # Telegram's own Bot API
    assert "placeholder" not in config.read_text()
    # The committed config holds placeholders only.
    assert SECRET not in (ROOT / "alerts/alertmanager.yml").read_text()
    assert f"pd-{SECRET}" not in config.read_text()  # the routing key goes by file


def test_a_telegram_bot_token_without_a_chat_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(notifications={"telegram_bot_token": f"1:{SECRET}"})
    assert "telegram_chat_id" in str(error.value)
    assert SECRET not in str(error.value)


# ------------------------------------------------------------------ the sinks' APIs
@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[str, Outbox]]:
    ports = free_ports()
    sinks = Sinks(tmp_path / "outbox", "127.0.0.1", ports["smtp_port"], ports["slack_port"])
    sinks.start()
    try:
        yield f"http://127.0.0.1:{ports['slack_port']}", sinks.outbox
    finally:
        sinks.stop()


def test_the_sinks_answer_as_each_service_does(sink: tuple[str, Outbox]) -> None:
    url, outbox = sink
    # Telegram: JSON or a form, answered with the sent message.
    sent = requests.post(
        f"{url}/bot42:{SECRET}/sendMessage", data={"chat_id": "-100", "text": "hi"}, timeout=10
    )
    assert sent.status_code == 200
    assert sent.json()["ok"] is True and sent.json()["result"]["chat"]["id"] == -100
    empty = requests.post(f"{url}/bot42:{SECRET}/sendMessage", json={"chat_id": 1}, timeout=10)
    assert (empty.status_code, empty.json()["ok"]) == (400, False)
    # Discord: 204 without a body; an empty message refused.
    assert requests.post(f"{url}/api/webhooks/9/{SECRET}", json={"content": "x"}).status_code == 204
    assert requests.post(f"{url}/api/webhooks/9/{SECRET}", json={}, timeout=10).status_code == 400
    # PagerDuty: 202 with a dedup key; a summary beyond 1024 characters refused.
    event = {
        "routing_key": SECRET,
        "event_action": "trigger",
        "dedup_key": "abc",
        "payload": {"summary": "x", "source": "test", "severity": "critical"},
    }
    accepted = requests.post(f"{url}{PAGERDUTY_PATH}", json=event, timeout=10)
    assert accepted.status_code == 202
    assert accepted.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "abc",
    }
    event["payload"] = {**event["payload"], "summary": "x" * 1025}
    refused = requests.post(f"{url}{PAGERDUTY_PATH}", json=event, timeout=10)
    assert (refused.status_code, refused.json()["status"]) == (400, "invalid event")
    # Recorded once each, no token or key in the outbox; Slack's path is unchanged.
    assert requests.post(f"{url}/services/x", json={"text": "s"}, timeout=10).text == "ok"
    assert [len(outbox.telegram_messages()), len(outbox.discord_posts())] == [1, 1]
    assert [len(outbox.pagerduty_events()), len(outbox.slack_posts())] == [1, 1]
    for channel in ("telegram", "discord", "pagerduty"):
        for path in outbox.files(channel):
            assert SECRET not in path.read_text()
