"""What every `riskwatch` command shares: loading settings, one-line errors, and
listen addresses. The root command and each command group use these, so a bad
config file reads the same everywhere and no group imports the root CLI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from riskwatch import logs
from riskwatch.settings import ConfigError, Settings, load_settings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line and exit: operators get a sentence, never a traceback."""
    click.echo(f"riskwatch: error: {message}", err=True)
    sys.exit(code)


def cli_settings(ctx: click.Context, config: Path | None = None, **overrides: Any) -> Settings:
    """The settings of a command (`config`, else its group's `--config`), logging
    configured; an invalid configuration exits 2 with one line."""
    obj = ctx.ensure_object(dict)
    try:
        settings = load_settings(config or obj.get("config"), **overrides)
    except ConfigError as exc:
        fail(str(exc), 2)
    logs.configure(settings.log_level, obj.get("log_format") or settings.log_format)
    return settings


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (an empty host is 127.0.0.1); click.BadParameter otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)
