"""Two real Alertmanagers as an HA pair behind a real Prometheus: when both peers
deliver, the duplicates reach the receiver and each alert is still stored once.

Prometheus sends every alert to every Alertmanager it knows. A pair whose gossip
works usually notifies once: the second peer waits its position x peer_timeout and
finds the first peer's entry in the shared notification log. During a gossip
partition each peer has only its own log, so both notify and the receiver gets every
alert twice; that is the case in which the audit trail alone must keep one record.
The peers here run partitioned (no gossip at all), so both deliver every time and the
test never depends on how fast gossip happens to be.

Each peer posts through a tap of its own (tests/support/webhook_tap.py) that records
the receiver's answer to every payload, so the duplicates are counted per alert and
per peer, not inferred from a counter the rest of the stack also moves.

Holds at any hour (issue #19): the alerts are risk info, routed to the audit trail;
`startsAt` is Prometheus's own, the same in what it sends to both peers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from riskwatch.receiver_client import ReceiverClient
from riskwatch.stack.runner import Stack
from tests.support.alertmanager import running_alertmanager
from tests.support.prometheus import running_prometheus
from tests.support.stack import TEST_TOKEN, wait_for
from tests.support.webhook_tap import WebhookTap, metric_value, running_tap, webhook_only_config

pytestmark = pytest.mark.stack

ALERTNAME = "HaPairTest"
ALERTS = 3


@dataclass
class Pair:
    run: str
    peers: list[str]  # the Alertmanagers' URLs
    taps: list[WebhookTap]  # what each peer delivered, and the receiver's answers
    prometheus: str


@pytest.fixture
def ha_pair(stack: Stack, tmp_path: Path) -> Iterator[Pair]:
    run = uuid.uuid4().hex[:12]
    token = tmp_path / "receiver_token"
    token.write_text(TEST_TOKEN)
    token.chmod(0o600)
    with ExitStack() as cleanup:
        peers: list[str] = []
        taps: list[WebhookTap] = []
        for i in range(2):
            tap = cleanup.enter_context(running_tap(stack.settings.url.receiver))
            state = tmp_path / f"am{i}"
            state.mkdir()
            config = webhook_only_config(
                state / "alertmanager.yml", f"{tap.url}/webhook/alertmanager", token
            )
            peers.append(cleanup.enter_context(running_alertmanager(config, state)))
            taps.append(tap)
        rules = [
            {
                "name": "ha-pair",
                "rules": [
                    {
                        "alert": ALERTNAME,
                        "expr": "vector(1)",
                        "labels": {
                            "severity": "info",
                            "team": "risk",
                            "portfolio": f"ha-{run}-{n}",
                        },
                        "annotations": {"summary": "HA test", "description": "HA test"},
                    }
                    for n in range(ALERTS)
                ],
            }
        ]
        targets = [urlsplit(url).netloc for url in peers]
        prometheus = cleanup.enter_context(running_prometheus(tmp_path / "prom", rules, targets))
        yield Pair(run, peers, taps, prometheus)


def test_ha_pair_duplicates_reach_the_receiver_and_each_alert_is_stored_once(
    ha_pair: Pair, receiver: ReceiverClient
) -> None:
    portfolios = {f"ha-{ha_pair.run}-{n}" for n in range(ALERTS)}
    url = receiver.url
    duplicates_before = metric_value(url, "riskwatch_receiver_alerts_duplicate_total")

    def delivered(tap: WebhookTap) -> dict[str, list[dict[str, int]]]:
        """The receiver's 2xx answers to this peer's payloads, by portfolio."""
        answers: dict[str, list[dict[str, int]]] = {}
        for d in tap.deliveries():
            if 200 <= d.status < 300:
                for labels in d.labels:
                    if labels.get("portfolio") in portfolios:
                        answers.setdefault(labels["portfolio"], []).append(d.answer)
        return answers

    # Both peers deliver every alert: Prometheus fed both, and neither knows the other.
    for i, tap in enumerate(ha_pair.taps):

        def all_delivered(tap: WebhookTap = tap) -> bool:
            return set(delivered(tap)) == portfolios

        wait_for(all_delivered, f"peer {i} to deliver the {ALERTS} alerts to the receiver", 60)
    for peer in ha_pair.peers:
        sent = metric_value(peer, "alertmanager_notifications_total", integration="webhook")
        assert sent >= ALERTS, f"{peer} notified {sent} times"

    # Each alert is its own group (grouped by portfolio), so each payload is one alert,
    # and the receiver's answers add up per alert: over both peers' deliveries, one
    # stored it and every other one was a duplicate.
    answers = [delivered(tap) for tap in ha_pair.taps]
    for portfolio in sorted(portfolios):
        mine = answers[0][portfolio] + answers[1][portfolio]
        assert sum(a["stored"] for a in mine) == 1, (portfolio, mine)
        assert sum(a["duplicates"] for a in mine) == len(mine) - 1 >= 1, (portfolio, mine)
    duplicates = sum(a["duplicates"] for peer in answers for got in peer.values() for a in got)
    # The receiver's own counter saw them too (it may also count other tests' repeats).
    assert (
        metric_value(url, "riskwatch_receiver_alerts_duplicate_total") - duplicates_before
        >= duplicates
    )

    # One row per alert. The trail's key is (fingerprint, startsAt): a peer that sent
    # another startsAt for the same alert would have made a second row, not a duplicate.
    rows = [a for a in receiver.alerts(alertname=ALERTNAME) if a["portfolio"] in portfolios]
    assert sorted(a["portfolio"] for a in rows) == sorted(portfolios)
    fingerprints = {fp for d in ha_pair.taps[0].deliveries() for fp, _ in d.alerts}
    assert {a["fingerprint"] for a in rows} <= fingerprints
