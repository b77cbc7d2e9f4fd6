"""The end-to-end chain: a push becomes an alert in the audit trail, an email and a Slack post."""

from __future__ import annotations

import email
import json
import re
import time
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from riskwatch.receiver_client import ReceiverClient
from riskwatch.settings import Settings
from riskwatch.stack.runner import Stack
from tests.support.stack import delete_group, push_gauges, wait_for

pytestmark = pytest.mark.stack


def push_drawdown(settings: Settings, portfolio: str, value: float) -> None:
    push_gauges(
        settings, f"test-{portfolio}", [("trading_drawdown_ratio", {"portfolio": portfolio}, value)]
    )


def emails_about(outbox: Path, portfolio: str) -> list[Message]:
    found = []
    for path in sorted((outbox / "email").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes())
        # The whole portfolio name: "on t" must not match "on trading-1".
        if re.search(rf"\bon {re.escape(portfolio)}(?![\w-])", str(msg["Subject"])):
            found.append(msg)
    return found


def slack_about(outbox: Path, portfolio: str) -> list[dict[str, Any]]:
    posts = [json.loads(p.read_text()) for p in sorted((outbox / "slack").glob("*.json"))]
    return [
        p
        for p in posts
        if any(a.get("title", "").endswith(f"- {portfolio}") for a in p["message"]["attachments"])
    ]


def test_drawdown_push_reaches_receiver_email_and_slack_then_resolves(
    stack: Stack, receiver: ReceiverClient, outbox: Path
) -> None:
    pushed_at = time.time()
    push_drawdown(stack.settings, "t", 0.2)

    def stored() -> dict[str, Any] | None:
        hits = receiver.alerts(alertname="PortfolioDrawdownCritical", portfolio="t")
        return hits[0] if hits else None

    alert = wait_for(stored, "PortfolioDrawdownCritical for t in the receiver")
    stored_at = datetime.fromisoformat(alert["first_received_at"]).timestamp()
    print(f"\npush -> receiver stored: {stored_at - pushed_at:.1f} s")
    assert alert["status"] == "firing"
    assert alert["severity"] == "critical"
    assert alert["team"] == "risk"
    assert "20%" in alert["annotations"]["description"]

    mails = wait_for(lambda: emails_about(outbox, "t"), "the CRO's email")
    posts = wait_for(lambda: slack_about(outbox, "t"), "the #risk-alerts post")
    assert len(mails) == 1
    assert "[riskwatch FIRING] PortfolioDrawdownCritical on t" in mails[0]["Subject"]
    assert mails[0]["To"] == "cro@localhost"
    assert len(posts) == 1
    assert posts[0]["message"]["channel"] == "#risk-alerts"
    assert "20%" in posts[0]["message"]["attachments"][0]["text"]

    push_drawdown(stack.settings, "t", 0.01)

    def resolved() -> dict[str, Any] | None:
        hits = receiver.alerts(alertname="PortfolioDrawdownCritical", portfolio="t")
        return hits[0] if hits and hits[0]["status"] == "resolved" else None

    done = wait_for(resolved, "the resolution in the receiver", timeout=120)
    assert done["id"] == alert["id"]
    assert done["ends_at"] is not None
    delete_group(stack.settings, "test-t")  # leave no stale agent behind
