"""Alerts through the real Prometheus and Alertmanager: each reaches exactly its
channels, and an audit trail that survives PostgreSQL going away loses nothing.

These hold at any hour (issue #19): the only mute, `market-closed`, applies to ops
warnings alone, and the ops alert here is AgentDown, critical, which goes out at any
hour; risk and compliance routes are never muted. The wall clock read here only names
the run uniquely or dates a sample for Prometheus, which compares it with its own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from riskwatch.receiver_client import ReceiverClient
from riskwatch.stack.runner import Stack
from tests.support.stack import (
    delete_group,
    email_text,
    outbox_emails,
    outbox_slack,
    push_gauges,
    wait_for,
)

pytestmark = pytest.mark.stack


def slack_mentioning(outbox: Path, needle: str) -> list[dict[str, Any]]:
    return [
        post
        for post in outbox_slack(outbox)
        if any(
            needle in a.get("title", "") + a.get("text", "")
            for a in post["message"].get("attachments", [])
        )
    ]


def emails_mentioning(outbox: Path, needle: str) -> list[Any]:
    return [m for m in outbox_emails(outbox) if needle in email_text(m)]


def test_risk_compliance_and_ops_alerts_reach_exactly_their_channels(
    stack: Stack, receiver: ReceiverClient, outbox: Path
) -> None:
    gw = stack.settings
    run = datetime.now(UTC).strftime("%H%M%S%f")
    risk, comp, ops = f"risk-{run}", f"comp-{run}", f"ops-{run}"
    push_gauges(gw, f"agent-{risk}", [("trading_drawdown_ratio", {"portfolio": risk}, 0.25)])
    push_gauges(
        gw,
        f"agent-{comp}",
        [
            (
                "compliance_violation_active",
                {"portfolio": comp, "rule": "RISK_001", "severity": "HIGH"},
                1,
            ),
            ("compliance_rule_value", {"portfolio": comp, "rule": "RISK_001"}, 81_000),
            ("compliance_rule_limit", {"portfolio": comp, "rule": "RISK_001"}, 50_000),
        ],
    )
    # An agent whose last completed task was 10 minutes ago: AgentDown, critical ops.
    # Real time, since the rule compares it with Prometheus's time().
    push_gauges(
        gw,
        ops,
        [
            (
                "riskwatch_agent_last_success_timestamp_seconds",
                {"task": "heartbeat"},
                time.time() - 600,
            )
        ],
    )
    try:
        wait_for(
            lambda: receiver.alerts(alertname="PortfolioDrawdownCritical", portfolio=risk),
            "risk alert",
        )
        wait_for(
            lambda: receiver.alerts(alertname="ComplianceViolation", portfolio=comp),
            "compliance alert",
        )
        downs = wait_for(
            lambda: [
                a for a in receiver.alerts(alertname="AgentDown") if a["labels"].get("agent") == ops
            ],
            "ops alert",
        )
        assert downs[0]["severity"] == "critical" and downs[0]["team"] == "ops"

        # Critical risk: #risk-alerts and the CRO's mailbox.
        risk_posts = wait_for(lambda: slack_mentioning(outbox, risk), "risk Slack post")
        risk_mails = wait_for(lambda: emails_mentioning(outbox, risk), "CRO email")
        # Compliance: the compliance mailbox only.
        comp_mails = wait_for(lambda: emails_mentioning(outbox, comp), "compliance email")
        # Ops: #trading-ops only.
        ops_posts = wait_for(lambda: slack_mentioning(outbox, ops), "ops Slack post")

        assert {p["message"]["channel"] for p in risk_posts} == {"#risk-alerts"}
        assert {m["To"] for m in risk_mails} == {"cro@localhost"}
        assert {m["To"] for m in comp_mails} == {"compliance@localhost"}
        assert "81000" in email_text(comp_mails[0]) and "50000" in email_text(comp_mails[0])
        assert {p["message"]["channel"] for p in ops_posts} == {"#trading-ops"}
        assert slack_mentioning(outbox, comp) == [], "compliance alerts do not go to Slack"
        assert emails_mentioning(outbox, ops) == [], "ops alerts do not page by email"
        assert len(risk_posts) == 1 and len(risk_mails) == 1 and len(comp_mails) == 1
        assert len(ops_posts) == 1
    finally:
        for agent in (f"agent-{risk}", f"agent-{comp}", ops):
            delete_group(gw, agent)


def rejected_while_down(receiver_url: str) -> float:
    text = requests.get(f"{receiver_url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(
            'riskwatch_receiver_payloads_rejected_total{reason="database_unavailable"}'
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_postgres_outage_loses_nothing_and_stores_once(
    stack: Stack, receiver: ReceiverClient
) -> None:
    gw = stack.settings
    pg = stack._postgres()
    assert pg is not None, "the session stack runs its own PostgreSQL"
    run = datetime.now(UTC).strftime("%H%M%S%f")
    portfolios = [f"outage-{run}-{n}" for n in range(5)]
    before = rejected_while_down(receiver.url)
    pg.stop()
    try:
        for p in portfolios:
            push_gauges(gw, f"agent-{p}", [("trading_drawdown_ratio", {"portfolio": p}, 0.3)])
        # Alertmanager is delivering and being told to come back later.
        wait_for(lambda: rejected_while_down(receiver.url) > before, "a 503 from the receiver")
    finally:
        pg.start(60)
    try:

        def all_stored() -> list[dict[str, Any]] | None:
            rows = [
                a
                for a in receiver.alerts(alertname="PortfolioDrawdownCritical")
                if a["portfolio"] in portfolios
            ]
            return rows if len(rows) == len(portfolios) else None

        rows = wait_for(all_stored, "every alert stored after the outage", timeout=180)
        assert sorted(a["portfolio"] for a in rows) == sorted(portfolios)
        for alert in rows:
            detail = requests.get(
                f"{receiver.url}/api/alerts/{alert['id']}", headers=receiver.headers, timeout=5
            ).json()
            assert [e["status"] for e in detail["events"]] == ["firing"]
    finally:
        for p in portfolios:
            delete_group(gw, f"agent-{p}")
