"""``riskwatch users``: the receiver's named users, their roles and API tokens.

The commands work on the receiver's database (`local_database_url`: the configured
one, else the running local stack's) and apply the receiver's migrations first.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click
import psycopg

from riskwatch.cliutil import cli_settings, fail
from riskwatch.database import local_database_url
from riskwatch.receiver.db import Connection
from riskwatch.receiver.users import (
    ROLES,
    UserError,
    add_token,
    add_user,
    list_tokens,
    list_users,
    migrate,
    set_active,
    set_password,
)
from riskwatch.receiver.users import revoke as revoke_tokens


@click.group("users")
def users() -> None:
    """Manage the receiver's users (roles: viewer, responder, admin) and API tokens."""


@contextmanager
def _database(ctx: click.Context) -> Iterator[Connection]:
    settings = cli_settings(ctx)
    dsn = local_database_url(settings)
    if dsn is None:
        fail("no database: set RISKWATCH_DATABASE_URL or start the local stack", 2)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            migrate(conn)
            yield conn
    except psycopg.Error as exc:
        fail(f"database: {' '.join(str(exc).split())}")
    except UserError as exc:
        fail(str(exc))


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, help=f"One of {', '.join(ROLES)}.")
@click.pass_context
def add_cmd(ctx: click.Context, name: str, role: str) -> None:
    """Add user NAME with ROLE; prints the user's first token alone on the last line."""
    with _database(ctx) as conn:
        token = add_user(conn, name, role)
    click.echo(f"user {name} added with role {role}; their token (shown once):")
    click.echo(token)


@users.command("token")
@click.argument("name")
@click.pass_context
def token_cmd(ctx: click.Context, name: str) -> None:
    """Give user NAME another token; prints it alone on the last line."""
    with _database(ctx) as conn:
        token = add_token(conn, name)
    click.echo(f"new token for {name} (shown once):")
    click.echo(token)


@users.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """Every user: name, role, created, tokens not revoked, active."""
    with _database(ctx) as conn:
        found = list_users(conn)
    click.echo(f"{'NAME':<24} {'ROLE':<10} {'CREATED':<20} {'TOKENS':>6}  ACTIVE")
    for user in found:
        created = _stamp(user.created_at)
        active = "yes" if user.active else "no"
        click.echo(f"{user.name:<24} {user.role:<10} {created:<20} {user.tokens:>6}  {active}")


@users.command("tokens")
@click.argument("name")
@click.pass_context
def tokens_cmd(ctx: click.Context, name: str) -> None:
    """The tokens of user NAME: id (the public part, for revoke --token-id), created,
    revoked."""
    with _database(ctx) as conn:
        found = list_tokens(conn, name)
    click.echo(f"{'ID':<16}  {'CREATED':<20}  REVOKED")
    for token in found:
        revoked = "-" if token.revoked_at is None else _stamp(token.revoked_at)
        click.echo(f"{token.id:<16}  {_stamp(token.created_at):<20}  {revoked}")


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@users.command("revoke")
@click.argument("name")
@click.option("--token-id", default=None, help="Revoke only this token (the id in rwt_<id>_...).")
@click.pass_context
def revoke_cmd(ctx: click.Context, name: str, token_id: str | None) -> None:
    """Revoke every token of user NAME (or only --token-id); effective at once."""
    with _database(ctx) as conn:
        count = revoke_tokens(conn, name, token_id)
    click.echo(f"revoked {count} token{'s' if count != 1 else ''} of {name}")


@users.command("password")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of a prompt.",
)
@click.pass_context
def password_cmd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set the console password of user NAME (at least 12 characters); their API
    tokens are unchanged. Never on the command line, where `ps` would show it."""
    password: str
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(click.prompt("password", hide_input=True, confirmation_prompt=True))
    with _database(ctx) as conn:
        set_password(conn, name, password)
    click.echo(f"console password of {name} set")


def _activation(active: bool, help_text: str) -> click.Command:
    verb = "enabled" if active else "disabled"

    @click.argument("name")
    @click.pass_context
    def command(ctx: click.Context, name: str) -> None:
        with _database(ctx) as conn:
            set_active(conn, name, active=active)
        click.echo(f"user {name} {verb}")

    return users.command(verb[:-1], help=help_text)(command)


disable_cmd = _activation(False, "Disable user NAME: every token of theirs is refused at once.")
enable_cmd = _activation(True, "Enable user NAME again; their tokens not revoked work again.")
