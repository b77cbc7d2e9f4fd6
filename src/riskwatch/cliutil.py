"""What every `riskwatch` command shares: loading settings, one-line errors, and
listen addresses. The root command and each command group use these, so a bad
config file reads the same everywhere and no group imports the root CLI.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
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


class LazyGroup(click.Group):
    """A command group whose subcommands' modules are imported only when used.

    `lazy` maps a command name to ``("module:attribute", extra)``: where the command
    is, and the extra it needs beyond the core (None: the core has it). When that
    extra is not installed, the command is a stand-in that says which to install.
    """

    def __init__(self, *, lazy: Mapping[str, tuple[str, str | None]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        target, extra = self.lazy[cmd_name]
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if extra is None or not _is_missing_package(exc):
                raise
            return _needs_extra(cmd_name, extra, exc, ctx)
        command: click.Command = getattr(module, attr)
        return command


def _is_missing_package(exc: ImportError) -> bool:
    """An import that failed because a third-party package is not installed (not a
    bug of ours: a riskwatch module that fails to import is raised as it is)."""
    missing = exc.name or ""
    return bool(missing) and not missing.startswith("riskwatch")


def _needs_extra(name: str, extra: str, exc: ImportError, ctx: click.Context) -> click.Command:
    """A stand-in for a command whose extra is not installed: it says which."""
    where = f"{ctx.command_path} {name}".strip()
    message = (
        f"`{where}` needs the {extra} extra ({exc.name} is not installed): "
        f"pip install 'riskwatch[{extra}]'"
    )

    @click.command(
        name,
        help=f"Not installed: pip install 'riskwatch[{extra}]'.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    def stand_in() -> None:
        fail(message, 2)

    return stand_in
