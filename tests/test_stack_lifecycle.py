"""`stack up` is idempotent and `stack down` leaves no process of ours running."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from riskwatch.settings import load_settings
from riskwatch.sinks import Outbox
from riskwatch.stack import heartbeat
from tests.support.stack import free_ports, run_cli, wait_for

pytestmark = pytest.mark.stack

# Prometheus's own start-up, before its first rule evaluation: readiness slack.
STARTUP_SECONDS = 30


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line mentions `text`."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state not in ("Z", "X"):
            pids.append(int(proc.name))
    return pids


def test_up_twice_then_down_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {f"RISKWATCH_STACK__{k.upper()}": str(v) for k, v in free_ports().items()}
    try:
        first = run_cli("stack", "up", "--state-dir", str(state), env=env)
        assert first.returncode == 0, first.stderr
        for url_key in ("prometheus", "pushgateway", "alertmanager", "receiver"):
            assert url_key in first.stdout
        started = {p.stem: json.loads(p.read_text())["pid"] for p in (state / "run").iterdir()}
        assert set(started) == {"pushgateway", "sinks", "receiver", "alertmanager", "prometheus"}
        assert processes_mentioning(str(state))

        second = run_cli("stack", "up", "--state-dir", str(state), env=env)
        assert second.returncode == 0, second.stderr
        assert second.stderr.count("already running") == 6  # five processes and postgres
        again = {p.stem: json.loads(p.read_text())["pid"] for p in (state / "run").iterdir()}
        assert again == started

        status = run_cli("stack", "status", "--json", "--state-dir", str(state), env=env)
        assert status.returncode == 0
        report = json.loads(status.stdout)
        for key in ("prometheus", "pushgateway", "alertmanager", "receiver", "database", "outbox"):
            assert key in report
        assert report["outbox"] == str(state / "outbox")
        assert all(report["health"].values())
        assert "passfile=" in report["database"]

        # The Watchdog reaches the sinks' heartbeat endpoint (Prometheus's first send
        # may come only after its resend delay), and the status says how old it is.
        outbox = Outbox(state / "outbox", create=False)
        first = heartbeat.first_ping_within_seconds(load_settings())
        wait_for(outbox.last_heartbeat, "the first heartbeat", timeout=first + STARTUP_SECONDS)
        text = run_cli("stack", "status", "--state-dir", str(state), env=env)
        assert text.returncode == 0, text.stderr
        (line,) = [line for line in text.stdout.splitlines() if " heartbeat " in line]
        assert line.startswith("ok") and "last Watchdog ping" in line, line
    finally:
        down = run_cli("stack", "down", "--purge", "--state-dir", str(state), env=env)
    assert down.returncode == 0, down.stderr
    # --purge: the cluster is gone too, even when it lived outside the state folder.
    assert "postgres: removed" in down.stderr
    assert not (state / "postgres").exists() and not (state / "postgres-home").exists()
    assert processes_mentioning(str(state)) == []
    for pid in started.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    status = run_cli("stack", "status", "--json", "--state-dir", str(state), env=env)
    assert status.returncode == 1
    assert not any(json.loads(status.stdout)["health"].values())


def test_down_leaves_unrelated_processes_alone(tmp_path: Path) -> None:
    import subprocess
    import sys

    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = run_cli("stack", "down", "--state-dir", str(tmp_path / "never-up"))
        assert result.returncode == 0, result.stderr
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
