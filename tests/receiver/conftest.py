"""Fixtures: a throwaway PostgreSQL cluster per session, a fresh database per test.

The cluster runs with fsync off: these databases are thrown away, and durability
costs seconds over a run.
"""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from pydantic import SecretStr

from riskwatch.receiver import users
from riskwatch.receiver.app import create_app
from riskwatch.receiver.db import close_pool
from riskwatch.settings import ReceiverSettings, Settings
from riskwatch.stack.postgres import DATABASE, LocalPostgres, find_postgres_bin_dir
from tests.support.alertmanager import running_alertmanager

START_TIMEOUT_SECONDS = 30.0
# Short, so the tests that take the database away answer 503 quickly.
TEST_DB_TIMEOUT_SECONDS = 1.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_dsn(cluster: LocalPostgres, database: str) -> str:
    """The cluster's DSN pointed at another database."""
    return cluster.dsn.replace(f"/{DATABASE}?", f"/{database}?")


def new_cluster(state_dir: Path) -> LocalPostgres:
    """An initialized, stopped cluster on a free loopback port."""
    bin_dir = find_postgres_bin_dir(None)
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    cluster = LocalPostgres.in_state_dir(bin_dir, state_dir, "127.0.0.1", free_port(), create=True)
    cluster.initialize()
    return cluster


def start_fast(cluster: LocalPostgres) -> None:
    """Start `cluster` and turn off durability, which test data does not need."""
    cluster.start(START_TIMEOUT_SECONDS)
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")


def remove_cluster(cluster: LocalPostgres, state_dir: Path) -> None:
    """Stop `cluster` and delete its files, also when they live outside `state_dir`."""
    try:
        cluster.stop()
    finally:
        if not cluster.home.is_relative_to(state_dir):
            # As root the cluster may live under /var/tmp (see LocalPostgres).
            shutil.rmtree(cluster.home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """The session's cluster, stopped and removed at the end."""
    state_dir = tmp_path_factory.mktemp("postgres")
    cluster = new_cluster(state_dir)
    try:
        start_fast(cluster)
        yield cluster
    finally:
        remove_cluster(cluster, state_dir)


@pytest.fixture
def make_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], LocalPostgres]]:
    """Dedicated clusters a test may stop and start; removed after the test."""
    made: list[tuple[LocalPostgres, Path]] = []

    def factory() -> LocalPostgres:
        state_dir = tmp_path_factory.mktemp("postgres-dedicated")
        cluster = new_cluster(state_dir)
        made.append((cluster, state_dir))
        return cluster

    yield factory
    for cluster, state_dir in made:
        remove_cluster(cluster, state_dir)


@pytest.fixture
def database_url(pg_cluster: LocalPostgres) -> Iterator[str]:
    """A new, empty database of the session cluster, dropped after the test."""
    name = f"receiver_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield database_dsn(pg_cluster, name)
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(autouse=True)
def cheap_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt's lowest cost for the tokens tests make: 4 ms, not 250 ms, a token."""
    monkeypatch.setattr(users, "BCRYPT_ROUNDS", 4)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the test's database, to check what was stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


# No generated secrets there: a developer's local stack must not lend the tests its tokens.
NO_STATE_DIR = Path("/nonexistent/riskwatch-receiver-tests")


def make_settings(
    database_url: str,
    token: str | None = None,
    webhook_token: str | None = None,
    **receiver: Any,
) -> Settings:
    """Settings for a receiver on `database_url`; `receiver` overrides ReceiverSettings.

    Without any token the receiver runs open (`insecure_no_auth`), as the tests of
    everything but authentication want it.
    """
    receiver.setdefault("db_timeout_seconds", TEST_DB_TIMEOUT_SECONDS)
    receiver.setdefault("pool_max_size", 4)
    receiver.setdefault("insecure_no_auth", token is None and webhook_token is None)
    return Settings(
        state_dir=NO_STATE_DIR,
        database_url=SecretStr(database_url),
        receiver_token=None if token is None else SecretStr(token),
        receiver_webhook_token=None if webhook_token is None else SecretStr(webhook_token),
        receiver=ReceiverSettings(**receiver),
    )


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(database_url: str) -> Iterator[AppFactory]:
    """Build receiver apps (default: on the test's database); their pools close after."""
    apps: list[Flask] = []

    def factory(
        *,
        url: str = database_url,
        token: str | None = None,
        webhook_token: str | None = None,
        **receiver: Any,
    ) -> Flask:
        settings = make_settings(url, token, webhook_token, **receiver)
        app = create_app(settings, {"TESTING": True})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        close_pool(app)


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """An open receiver app (no credential, `insecure_no_auth`) on the test's database."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager that notifies nobody, for the silences an ack creates."""
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    state = tmp_path / "alertmanager"
    state.mkdir()
    with running_alertmanager(config, state) as url:
        yield url
