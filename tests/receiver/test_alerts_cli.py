"""`riskwatch alerts list|show|ack` as people run them: the installed CLI in its own
process against a real receiver (waitress, over HTTP) on a real PostgreSQL, with users
made by `riskwatch users add` and alerts stored through the webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from riskwatch.receiver.serve import serving_in_thread
from riskwatch.receiver_client import ReceiverClient

from .conftest import free_port, make_settings
from .payloads import alert, payload, resolved
from .support import WEBHOOK

ADMIN_TOKEN = "admin-" + os.urandom(8).hex()
RUNBOOK = "https://runbooks.example/PortfolioDrawdownHigh"
DASHBOARD = "https://grafana.example/d/riskwatch-portfolio?var-portfolio=alpha"


@dataclass
class Receiver:
    """A served receiver and what a `riskwatch` process needs to use it."""

    url: str
    database_url: str
    home: Path

    def run(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """`riskwatch ARGS` in its own process, in an empty folder; the `alerts` trail
        commands get this receiver's URL (unless ARGS name one) and `token` in a file
        passed as --token-file when given."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWATCH_")}
        # No config, token or state of the developer's: only what the test passes.
        env["RISKWATCH_STATE_DIR"] = str(self.home / "state")
        env["RISKWATCH_DATABASE_URL"] = self.database_url
        extra: list[str] = []
        if args[0] == "alerts" and args[1] in ("list", "show", "ack"):
            extra = [] if "--receiver-url" in args else ["--receiver-url", self.url]
            if token is not None:
                token_file = self.home / f"token-{abs(hash(token))}"
                token_file.write_text(token + "\n")
                extra += ["--token-file", str(token_file)]
        return subprocess.run(
            [sys.executable, "-m", "riskwatch", *args, *extra],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.home,
            timeout=60,
            check=False,
        )

    def add_user(self, name: str, role: str) -> str:
        """`riskwatch users add NAME --role ROLE`; the token it prints last."""
        added = self.run("users", "add", name, "--role", role)
        assert added.returncode == 0, added.stderr
        return added.stdout.strip().splitlines()[-1]

    def store(self, *alerts: dict[str, Any]) -> None:
        """Post `alerts` as Alertmanager does."""
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        answer = requests.post(self.url + WEBHOOK, json=payload(*alerts), headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text

    def api(self) -> ReceiverClient:
        """The admin's client, to check what the receiver holds."""
        return ReceiverClient(self.url, ADMIN_TOKEN)


@pytest.fixture
def receiver(database_url: str, tmp_path: Path) -> Iterator[Receiver]:
    settings = make_settings(database_url, token=ADMIN_TOKEN, threads=4)
    with serving_in_thread(settings) as url:
        yield Receiver(url, database_url, tmp_path)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with one line on stderr and no traceback; that line."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("riskwatch: error: "), lines[0]
    return lines[0]


def rows(stdout: str) -> list[list[str]]:
    """The table's rows below its header, split on whitespace."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    assert lines[0] == [
        "ID",
        "STATUS",
        "ALERTNAME",
        "SEVERITY",
        "TEAM",
        "PORTFOLIO",
        "STARTS_AT",
        "ACKED_BY",
    ]
    return lines[1:]


def drawdown(portfolio: str, starts_at: str, **kwargs: Any) -> dict[str, Any]:
    annotations = {"summary": f"{portfolio} drawdown", "runbook_url": RUNBOOK}
    annotations["dashboard_url"] = DASHBOARD
    return alert(portfolio=portfolio, starts_at=starts_at, annotations=annotations, **kwargs)


def test_list_show_and_ack_as_the_tokens_user(receiver: Receiver) -> None:
    older = drawdown("alpha", "2024-05-01T09:30:00Z")
    receiver.store(older)
    receiver.store(resolved(older, "2024-05-01T10:00:00Z"))
    receiver.store(
        drawdown("beta", "2024-05-01T11:00:00Z", severity="warning", team="markets"),
        alert("VaRLimitBreach", starts_at="2024-05-01T12:00:00Z", portfolio="gamma"),
    )
    jane = receiver.add_user("jane.cro", "responder")

    listed = receiver.run("alerts", "list", token=jane)
    assert listed.returncode == 0, listed.stderr
    table = rows(listed.stdout)
    # Newest first; each column where the header says.
    assert [row[2] for row in table] == [
        "VaRLimitBreach",
        "PortfolioDrawdownHigh",
        "PortfolioDrawdownHigh",
    ]
    gamma, beta, alpha = table
    assert beta[1:] == [
        "firing",
        "PortfolioDrawdownHigh",
        "warning",
        "markets",
        "beta",
        "2024-05-01T11:00:00Z",
        "-",
    ]
    assert alpha[1] == "resolved"
    assert listed.stderr == ""  # no further page

    as_json = receiver.run("alerts", "list", "--json", token=jane)
    assert as_json.returncode == 0, as_json.stderr
    objects = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [o["id"] for o in objects] == [int(row[0]) for row in table]
    assert objects[1]["labels"]["team"] == "markets"

    for flags, expected in [
        (["--status", "resolved"], [alpha]),
        (["--severity", "warning"], [beta]),
        (["--portfolio", "gamma"], [gamma]),
        (["--alertname", "PortfolioDrawdownHigh", "--since", "2024-05-01T10:30:00+00:00"], [beta]),
    ]:
        filtered = receiver.run("alerts", "list", *flags, token=jane)
        assert filtered.returncode == 0, filtered.stderr
        assert rows(filtered.stdout) == expected, flags

    alpha_id = alpha[0]
    shown = receiver.run("alerts", "show", alpha_id, token=jane)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert f"alert {alpha_id}: PortfolioDrawdownHigh (resolved)" in text
    assert f"runbook_url:     {RUNBOOK}" in text
    assert f"dashboard_url:   {DASHBOARD}" in text
    assert "  portfolio=alpha" in text and "  summary: alpha drawdown" in text
    timeline = text.split("timeline:\n")[1].splitlines()
    assert [line.split()[1] for line in timeline] == ["firing", "resolved"]

    acked = receiver.run(
        "alerts", "ack", alpha_id, "--note", "desk cutting beta exposure", token=jane
    )
    assert acked.returncode == 0, acked.stderr
    assert "acknowledged by jane.cro" in acked.stdout
    assert acked.stdout.rstrip().endswith(": desk cutting beta exposure")
    assert "silenced" not in acked.stdout

    # The receiver recorded the token's user: the CLI has no way to name anyone else.
    history = receiver.api().alert(int(alpha_id))
    assert history["acked_by"] == "jane.cro"
    assert [(a["who"], a["why"]) for a in history["acks"]] == [
        ("jane.cro", "desk cutting beta exposure")
    ]
    shown = receiver.run("alerts", "show", alpha_id, token=jane)
    assert "by jane.cro: desk cutting beta exposure" in shown.stdout.split("timeline:")[1]
    relisted = receiver.run("alerts", "list", "--status", "resolved", token=jane)
    assert rows(relisted.stdout)[0][-1] == "jane.cro"

    detail = json.loads(receiver.run("alerts", "show", alpha_id, "--json", token=jane).stdout)
    assert detail["acks"][0]["who"] == "jane.cro"
    assert detail["silences"] == []


def test_a_viewer_may_not_ack(receiver: Receiver) -> None:
    receiver.store(drawdown("alpha", "2024-05-01T09:30:00Z"))
    viewer = receiver.add_user("vic.viewer", "viewer")
    alert_id = receiver.api().alerts()[0]["id"]

    assert receiver.run("alerts", "list", token=viewer).returncode == 0
    refused = receiver.run("alerts", "ack", str(alert_id), "--note", "mine", token=viewer)
    line = one_error_line(refused)
    assert "HTTP 403" in line and "role viewer may not POST" in line
    assert refused.stdout == ""
    assert receiver.api().alert(alert_id)["acks"] == []


def test_errors_are_one_line(receiver: Receiver) -> None:
    receiver.store(drawdown("alpha", "2024-05-01T09:30:00Z"))
    jane = receiver.add_user("jane.cro", "responder")
    alert_id = str(receiver.api().alerts()[0]["id"])

    unauthorized = one_error_line(receiver.run("alerts", "list", token="rwt_wrong"))
    assert "HTTP 401" in unauthorized and "--token-file" in unauthorized
    tokenless = one_error_line(receiver.run("alerts", "show", alert_id))
    assert "HTTP 401" in tokenless

    missing = one_error_line(receiver.run("alerts", "show", "999999", token=jane))
    assert "HTTP 404" in missing and "no alert with id 999999" in missing
    missing = one_error_line(receiver.run("alerts", "ack", "999999", "--note", "x", token=jane))
    assert "HTTP 404" in missing

    blank_note = one_error_line(receiver.run("alerts", "ack", alert_id, "--note", " ", token=jane))
    assert "HTTP 400" in blank_note and "note" in blank_note

    nobody = f"http://127.0.0.1:{free_port()}"
    refused = receiver.run("alerts", "list", "--receiver-url", nobody, token=jane)
    line = one_error_line(refused)
    assert line == f"riskwatch: error: cannot reach the receiver at {nobody}: connection refused"

    no_file = one_error_line(
        receiver.run("alerts", "list", "--token-file", str(receiver.home / "absent"))
    )
    assert "absent" in no_file


# Needs the receiver's `next` cursor and `before` parameter (GET /api/alerts): without
# them the first page is reported as the last and --all stops after it.
def test_all_follows_the_next_cursor(receiver: Receiver) -> None:
    count = 7
    receiver.store(
        *(drawdown(f"p{i}", f"2024-05-01T09:{i:02d}:00Z", desk=f"d{i}") for i in range(count))
    )
    jane = receiver.add_user("jane.cro", "responder")
    newest_first = [f"p{i}" for i in reversed(range(count))]

    first = receiver.run("alerts", "list", "--limit", "3", token=jane)
    assert first.returncode == 0, first.stderr
    assert [row[5] for row in rows(first.stdout)] == newest_first[:3]
    # Needs `next`: the command says there is more, on stderr.
    assert "--all" in first.stderr

    every = receiver.run("alerts", "list", "--limit", "3", "--all", token=jane)
    assert every.returncode == 0, every.stderr
    # Needs `next` and `before`: three pages, each alert once, newest first.
    assert [row[5] for row in rows(every.stdout)] == newest_first
    assert every.stderr == ""

    streamed = receiver.run("alerts", "list", "--limit", "2", "--all", "--json", token=jane)
    assert streamed.returncode == 0, streamed.stderr
    portfolios = [json.loads(line)["portfolio"] for line in streamed.stdout.splitlines()]
    assert portfolios == newest_first


# Needs the receiver's `team` and `until` query parameters (GET /api/alerts).
def test_team_and_until_filters(receiver: Receiver) -> None:
    receiver.store(
        drawdown("alpha", "2024-05-01T09:30:00Z", team="risk"),
        drawdown("beta", "2024-05-01T11:00:00Z", team="markets"),
    )
    jane = receiver.add_user("jane.cro", "responder")

    by_team = receiver.run("alerts", "list", "--team", "markets", token=jane)
    assert by_team.returncode == 0, by_team.stderr
    assert [row[5] for row in rows(by_team.stdout)] == ["beta"]
    until = receiver.run("alerts", "list", "--until", "2024-05-01T10:00:00Z", token=jane)
    assert until.returncode == 0, until.stderr
    assert [row[5] for row in rows(until.stdout)] == ["alpha"]


# Needs the receiver's `silence_hours` (POST /api/alerts/<id>/ack), its `silence_id`
# answer and the `silences` of GET /api/alerts/<id>.
def test_ack_with_a_silence(database_url: str, tmp_path: Path, alertmanager: str) -> None:
    settings = make_settings(database_url, token=ADMIN_TOKEN, alertmanager_url=alertmanager)
    with serving_in_thread(settings) as url:
        receiver = Receiver(url, database_url, tmp_path)
        receiver.store(drawdown("alpha", "2024-05-01T09:30:00Z"))
        jane = receiver.add_user("jane.cro", "responder")
        alert_id = str(receiver.api().alerts()[0]["id"])

        acked = receiver.run(
            "alerts", "ack", alert_id, "--note", "rebalancing", "--silence-hours", "2", token=jane
        )
        assert acked.returncode == 0, acked.stderr
        lines = acked.stdout.splitlines()
        assert "acknowledged by jane.cro" in lines[0]
        assert lines[1].startswith("silenced: silence ")
        silence_id = lines[1].split()[2]

        # Alertmanager holds that silence, made in jane.cro's name.
        made = requests.get(f"{alertmanager}/api/v2/silence/{silence_id}", timeout=10).json()
        assert made["createdBy"] == "jane.cro" and "rebalancing" in made["comment"]

        shown = receiver.run("alerts", "show", alert_id, token=jane)
        timeline = shown.stdout.split("timeline:")[1]
        assert f"by jane.cro: rebalancing (silence {silence_id})" in timeline
        assert f"silence  {silence_id} by jane.cro until " in timeline
