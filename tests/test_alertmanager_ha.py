"""Two real Alertmanagers as an HA pair: every alert is stored once at the receiver,
whichever peer delivers it, however often.

Holds at any hour (issue #19): the alerts are risk info, routed to the audit trail,
which no time interval mutes; `startsAt` is the real now because the Alertmanagers
read their own clocks.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from riskwatch.receiver_client import ReceiverClient
from riskwatch.stack.runner import Stack
from tests.support.stack import free_port, wait_for

pytestmark = pytest.mark.stack


class Peer:
    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc, self.url = proc, url

    def ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).ok
        except requests.RequestException:
            return False

    def cluster_size(self) -> int:
        status = requests.get(f"{self.url}/api/v2/status", timeout=2).json()
        return len(status["cluster"]["peers"])

    def notifications(self) -> float:
        total = 0.0
        for line in requests.get(f"{self.url}/metrics", timeout=2).text.splitlines():
            if line.startswith('alertmanager_notifications_total{integration="webhook"}'):
                total += float(line.rsplit(" ", 1)[1])
        return total


@pytest.fixture
def ha_pair(stack: Stack, tmp_path: Path) -> Iterator[list[Peer]]:
    binary = shutil.which(stack.settings.stack.alertmanager_bin)
    assert binary
    config = stack.layout.rendered / "alertmanager.yml"
    gossip = [free_port(), free_port()]
    peers: list[Peer] = []
    try:
        for i in range(2):
            web = free_port()
            argv = [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / f'am{i}'}",
                f"--web.listen-address=127.0.0.1:{web}",
                f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
                "--cluster.settle-timeout=2s",
                # Peers wait position x peer-timeout before sending, to let the first
                # peer's notification log reach them: short here, 15 s by default.
                "--cluster.peer-timeout=2s",
            ]
            log = (tmp_path / f"am{i}.log").open("wb")
            proc = subprocess.Popen(argv, stdout=log, stderr=log)
            peers.append(Peer(proc, f"http://127.0.0.1:{web}"))
        for peer in peers:
            wait_for(peer.ready, "an Alertmanager peer", timeout=30)
        wait_for(lambda: all(p.cluster_size() == 2 for p in peers), "the cluster to form", 30)
        yield peers
    finally:
        for peer in peers:
            peer.proc.terminate()
            peer.proc.wait(timeout=10)


def test_ha_pair_stores_each_alert_once(ha_pair: list[Peer], receiver: ReceiverClient) -> None:
    run = datetime.now(UTC).strftime("%H%M%S%f")
    starts = datetime.now(UTC).isoformat()
    alerts: list[dict[str, Any]] = [
        {
            "labels": {
                "alertname": "HaPairTest",
                "severity": "info",
                "team": "risk",
                "portfolio": f"ha-{run}-{n}",
            },
            "annotations": {"summary": "HA test", "description": "HA test", "runbook_url": "x"},
            "startsAt": starts,
        }
        for n in range(5)
    ]
    # Prometheus sends every alert to every Alertmanager; so do we.
    for peer in ha_pair:
        requests.post(f"{peer.url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

    def stored() -> list[dict[str, Any]] | None:
        hits = [a for a in receiver.alerts(alertname="HaPairTest") if run in a["portfolio"]]
        return hits if len(hits) == 5 else None

    rows = wait_for(stored, "the five alerts at the receiver", timeout=60)
    # Wait until both peers have finished their notification pipeline for the groups.
    wait_for(lambda: sum(p.notifications() for p in ha_pair) >= 5, "the peers' deliveries")
    rows = receiver.alerts(alertname="HaPairTest")
    mine = [a for a in rows if run in a["portfolio"]]
    assert sorted(a["portfolio"] for a in mine) == sorted(a["labels"]["portfolio"] for a in alerts)
    assert len({a["fingerprint"] for a in mine}) == 5
    for alert in mine:
        detail = requests.get(
            f"{receiver.url}/api/alerts/{alert['id']}", headers=receiver.headers, timeout=5
        ).json()
        assert [e["status"] for e in detail["events"]] == ["firing"]
