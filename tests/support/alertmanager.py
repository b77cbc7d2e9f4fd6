"""A real Alertmanager for a test: started on a free loopback port, polled until ready,
stopped afterwards; and the Debian tools (promtool, amtool, alertmanager) by name."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from riskwatch.settings import load_settings
from tests.support.processes import running_program
from tests.support.stack import free_port


def tool(name: str) -> str:
    """The real promtool/amtool/alertmanager; the stack's Debian packages provide them."""
    found = shutil.which(name)
    assert found, f"{name} is not installed (`riskwatch stack install` installs it)"
    return found


@contextmanager
def running_alertmanager(
    config_file: Path, state: Path, *flags: str, port: int | None = None
) -> Iterator[str]:
    """Alertmanager with `config_file` and `flags`, keeping its data and its log
    (`state/log`) in `state`; yields its URL once ready, stops it on exit. `port`:
    where it listens (default: a free one), for a config that must name it first."""
    port = port or free_port()
    argv = [
        tool(load_settings().stack.alertmanager_bin),
        f"--config.file={config_file}",
        f"--storage.path={state}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        *flags,
    ]
    with running_program(argv, state, f"http://127.0.0.1:{port}", "Alertmanager") as url:
        yield url
