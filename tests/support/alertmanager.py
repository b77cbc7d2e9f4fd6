"""A real Alertmanager for a test: started on a free loopback port, polled until ready,
stopped afterwards; the Debian tools (promtool, amtool, alertmanager) by name; and
notification templates rendered by the real amtool."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def amtool_render(
    globs: list[str], template: str, data: dict[str, Any], scratch: Path, kind: str = "text"
) -> str:
    """`template` (e.g. ``{{ template "email.riskwatch.text" . }}``) rendered by the real
    amtool from the template files `globs`, with `data` (a notification) written into
    `scratch`; `kind` is text or html (html escapes)."""
    data_file = scratch / "amtool-data.json"
    data_file.write_text(json.dumps(data))
    done = subprocess.run(
        [
            tool("amtool"),
            "template",
            "render",
            *(f"--template.glob={glob}" for glob in globs),
            f"--template.text={template}",
            f"--template.type={kind}",
            f"--template.data={data_file}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
