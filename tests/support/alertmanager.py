"""A real Alertmanager for a test: started on a free loopback port, polled until ready,
stopped afterwards; and the Debian tools (promtool, amtool, alertmanager) by name."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from riskwatch.settings import load_settings
from tests.support.stack import free_port, wait_for


def tool(name: str) -> str:
    """The real promtool/amtool/alertmanager; the stack's Debian packages provide them."""
    found = shutil.which(name)
    assert found, f"{name} is not installed (`riskwatch stack install` installs it)"
    return found


@contextmanager
def running_alertmanager(config_file: Path, state: Path, *flags: str) -> Iterator[str]:
    """Alertmanager with `config_file` and `flags`, keeping its data and its log
    (`state/log`) in `state`; yields its URL once ready, stops it on exit."""
    port = free_port()
    with (state / "log").open("wb") as log:
        process = subprocess.Popen(
            [
                tool(load_settings().stack.alertmanager_bin),
                f"--config.file={config_file}",
                f"--storage.path={state}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, (state / "log").read_text()
        try:
            return requests.get(f"{url}/-/ready", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(ready, "Alertmanager to be ready", timeout=30)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
