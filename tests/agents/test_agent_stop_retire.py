"""A stopped agent keeps its Pushgateway group, so AgentDown pages; retiring it is an
explicit `riskwatch agent retire`. The agent runs as the real process a supervisor
would SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from riskwatch.settings import Settings
from riskwatch.stack.runner import Stack
from tests.support.stack import free_port, pushgateway_get, run_cli, stack_env, wait_for

AGENT = "health-sigterm"


def groups_of(settings: Settings, agent: str) -> list[dict[str, object]]:
    """The Pushgateway's groups of `agent` under the push job, as /api/v1/metrics says."""
    resp = pushgateway_get(settings, "/api/v1/metrics")
    return [
        g
        for g in resp.json()["data"]
        if g["labels"].get("job") == "riskwatch" and g["labels"].get("agent") == agent
    ]


@dataclass
class AgentProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


@pytest.fixture
def agent_process(stack: Stack, tmp_path: Path) -> Iterator[AgentProcess]:
    """`riskwatch agent health` as a supervisor runs it (the daily report and the
    nightly validation left out: they run on the wall clock); its log goes to a file,
    which a pipe nobody reads would fill and stall."""
    env = stack_env(
        stack,
        RISKWATCH_AGENT__ID=AGENT,
        RISKWATCH_REPORT__ENABLED="false",
        RISKWATCH_VALIDATION__ENABLED="false",
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "riskwatch", "agent", "health"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield AgentProcess(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.stack
def test_sigterm_keeps_the_group_and_retire_removes_it(
    stack: Stack, agent_process: AgentProcess
) -> None:
    gateway = stack.settings
    env = stack_env(stack)
    proc = agent_process.proc

    def has_pushed() -> bool:
        assert proc.poll() is None, agent_process.log_tail()
        return any(
            "riskwatch_agent_last_success_timestamp_seconds" in g for g in groups_of(gateway, AGENT)
        )

    wait_for(has_pushed, "the agent's first push", timeout=60)

    proc.send_signal(signal.SIGTERM)  # `docker stop`, or a supervisor
    assert proc.wait(timeout=30) == 0, agent_process.log_tail()

    # The process is gone, so whatever the Pushgateway holds now stays: AgentDown's input.
    kept = groups_of(gateway, AGENT)
    assert len(kept) == 1 and "riskwatch_agent_last_success_timestamp_seconds" in kept[0]

    retired = run_cli("agent", "retire", AGENT, env=env)
    assert retired.returncode == 0, retired.stderr[-2000:]
    assert f"agent={AGENT}" in retired.stdout and gateway.url.pushgateway in retired.stdout
    assert groups_of(gateway, AGENT) == []

    again = run_cli("agent", "retire", AGENT, env=env)  # a typo'd id must not look done
    assert again.returncode == 1
    assert "no group" in again.stderr and AGENT in again.stderr


def test_retire_with_the_pushgateway_unreachable_says_so_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("agent", "retire", AGENT, env={"RISKWATCH_AGENT__PUSHGATEWAY_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("riskwatch: error: cannot retire") and url in lines[0]
