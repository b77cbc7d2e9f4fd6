"""The small conventions of a command-line tool: `--version`, and logs that a person
can read on a terminal and a machine can parse otherwise."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.stack import free_port, run_cli

RISKWATCH = str(Path(sys.executable).parent / "riskwatch")
# The receiver logs a warning at once when it runs open; the database need not exist.
OPEN_RECEIVER = ("receiver", "--insecure-no-auth", "--listen")
WARNING = "receiver has no credential configured"


def test_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"riskwatch, version {version('riskwatch')}"


def test_an_unknown_log_format_is_a_usage_error() -> None:
    done = run_cli("--log-format", "xml", "config")
    assert done.returncode == 2
    assert "'xml' is not one of 'auto', 'json', 'text'" in done.stderr


def _first_log_line(*options: str, terminal: bool, tmp_path: Path) -> str:
    """The line of the open receiver's warning, its stderr a terminal or a pipe."""
    env = {
        **os.environ,
        "RISKWATCH_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        "RISKWATCH_STATE_DIR": str(tmp_path / "state"),
    }
    argv = [RISKWATCH, *options, *OPEN_RECEIVER, f"127.0.0.1:{free_port()}"]
    reader, writer = pty.openpty() if terminal else os.pipe()
    process = subprocess.Popen(argv, stderr=writer, stdout=subprocess.DEVNULL, env=env)
    os.close(writer)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while WARNING.encode() not in seen:
            assert time.monotonic() < deadline, f"no warning in 60 s: {seen[-2000:]!r}"
            assert process.poll() is None, f"the receiver exited: {seen[-2000:]!r}"
            ready, _, _ = select.select([reader], [], [], 0.5)  # readiness, not a sleep
            if ready:
                seen += os.read(reader, 65536)
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(reader)
    lines = seen.decode(errors="replace").replace("\r\n", "\n").splitlines()
    return next(line for line in lines if WARNING in line)


@pytest.mark.parametrize(
    ("options", "terminal", "expect"),
    [
        ((), True, "text"),
        ((), False, "json"),
        (("--log-format", "json"), True, "json"),
        (("--log-format", "text"), False, "text"),
    ],
    ids=["auto-terminal", "auto-pipe", "json-on-terminal", "text-on-pipe"],
)
def test_logs_are_text_on_a_terminal_and_json_otherwise(
    options: tuple[str, ...], terminal: bool, expect: str, tmp_path: Path
) -> None:
    line = _first_log_line(*options, terminal=terminal, tmp_path=tmp_path)
    if expect == "json":
        entry = json.loads(line)
        assert (entry["level"], entry["logger"]) == ("WARNING", "riskwatch.receiver.auth")
    else:
        assert not line.startswith("{")
        assert " WARNING riskwatch.receiver.auth: " in line
