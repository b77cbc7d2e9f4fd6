"""A real program of the Prometheus family for one test: started with its log in its
state folder, polled on its readiness endpoint, stopped afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.stack import wait_for


@contextmanager
def running_program(argv: Sequence[str], state: Path, url: str, what: str) -> Iterator[str]:
    """Run `argv` with its output in `state/log`; yield `url` once `url/-/ready` answers
    200, and SIGTERM it (SIGKILL after 10 s) on exit. A program that exits while we wait
    fails the test with the end of its log."""
    with (state / "log").open("wb") as log:
        process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        assert process.poll() is None, (state / "log").read_text()[-2000:]
        try:
            return requests.get(f"{url}/-/ready", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(ready, f"{what} to be ready", timeout=30)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
