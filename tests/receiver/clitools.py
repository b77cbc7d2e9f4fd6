"""Running `riskwatch` commands in-process against a test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from riskwatch.cli import cli

# Environment variables that would point a command at something other than the test's.
_FOREIGN = (
    "RISKWATCH_CONFIG",
    "RISKWATCH_RECEIVER_TOKEN",
    "RISKWATCH_RECEIVER_WEBHOOK_TOKEN",
    "RISKWATCH_DATABASE_URL",
)


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No config file, no token and no state of the developer's for the commands."""
    for name in _FOREIGN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISKWATCH_STATE_DIR", str(tmp_path / "state"))


def riskwatch(*args: str, database_url: str | None = None) -> Result:
    """`riskwatch ARGS` in this process, on `database_url` when given."""
    env = {} if database_url is None else {"RISKWATCH_DATABASE_URL": database_url}
    return CliRunner().invoke(cli, list(args), obj={}, env=env)
