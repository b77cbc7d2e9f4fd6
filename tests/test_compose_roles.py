"""The compose database roles (deploy/postgres), for real on the session's PostgreSQL.

A scratch database gets the roles exactly as the postgres image would make them:
deploy/compose_secrets.py generates the passfiles and SCRAM verifiers, and
deploy/postgres/init-roles.sh runs roles.sql with psql. Each service then logs in as
its own role, through its passfile, and runs its own code: migrations at start, then a
representative write and read. The denials that matter are shown too. Roles are
cluster-wide, so every run uses a unique prefix and drops its roles after.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from riskwatch.agents.equity import EquityStore
from riskwatch.exporters.tradestore import TradeStoreCollector, ensure_schema
from riskwatch.forecast_log import Forecast, ForecastLog
from riskwatch.receiver.app import create_app
from riskwatch.receiver.db import close_pool
from riskwatch.settings import ReceiverSettings, Settings
from riskwatch.stack.postgres import find_postgres_bin_dir
from riskwatch.stack.runner import Stack
from tests.receiver.payloads import alert, payload

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "deploy" / "compose_secrets.py"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init-roles.sh"
ROLES_SQL = ROOT / "deploy" / "postgres" / "roles.sql"
ROLES = ("receiver", "trading", "health", "tradestore")
SCHEMAS = {"receiver": "receiver", "trading": "agents", "tradestore": "tradestore"}
DENIED = (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)
TOKEN = "compose-roles-token"  # nosec B105: a test token
WHEN = datetime(2024, 5, 1, 15, tzinfo=UTC)


@dataclass(frozen=True)
class RolesDatabase:
    """A scratch database with the compose roles, and how to log in as each."""

    admin_dsn: str
    name: str
    prefix: str
    secrets: Path

    def role(self, service: str) -> str:
        return f"{self.prefix}{service}"

    def dsn(self, service: str) -> str:
        """The DSN compose gives `service`: its role, its passfile, no password."""
        params = conninfo_to_dict(self.admin_dsn)
        return make_conninfo(
            "",
            host=params["host"],
            port=params["port"],
            dbname=self.name,
            user=self.role(service),
            passfile=str(self.secrets / f"db_{service}.pass"),
            connect_timeout="5",
        )

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_dsn, dbname=self.name, autocommit=True)


def run_init(admin_dsn: str, database: str, prefix: str, secrets: Path) -> None:
    """Run init-roles.sh as the postgres image does, pointed at the test cluster."""
    bin_dir = find_postgres_bin_dir(None)
    assert bin_dir is not None, "PostgreSQL binaries (psql) are not installed"
    params = conninfo_to_dict(admin_dsn)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "POSTGRES_USER": str(params["user"]),
        "POSTGRES_DB": database,
        "PGHOST": str(params["host"]),
        "PGPORT": str(params["port"]),
        "PGPASSFILE": str(params["passfile"]),
        "RISKWATCH_DB_SECRETS_DIR": str(secrets),
        "RISKWATCH_DB_ROLES_SQL": str(ROLES_SQL),
        "RISKWATCH_DB_ROLE_PREFIX": prefix,
    }
    subprocess.run([str(INIT_SCRIPT)], env=env, check=True, capture_output=True, text=True)


def drop_roles(admin_dsn: str, prefix: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for service in ROLES:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(prefix + service)))


@pytest.fixture(scope="module")
def roles_db(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolesDatabase]:
    admin_dsn = stack.database_dsn()
    run = uuid.uuid4().hex[:10]
    name, prefix = f"compose_roles_{run}", f"rwtest_{run}_"
    secrets = tmp_path_factory.mktemp("compose-secrets") / "secrets"
    subprocess.run([sys.executable, str(GENERATOR), "generate", str(secrets)], check=True)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        run_init(admin_dsn, name, prefix, secrets)
        yield RolesDatabase(admin_dsn, name, prefix, secrets)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        drop_roles(admin_dsn, prefix)


def forecast(day: date) -> Forecast:
    return Forecast(
        "alpha", "historical", 0.99, day, 0.021, 0.028, datetime(2024, 5, 1, 20, tzinfo=UTC)
    )


def table_homes(db: RolesDatabase, *tables: str) -> dict[str, tuple[str, str]]:
    """Where each table is and who owns it: {table: (schema, owner)}."""
    with db.admin() as conn:
        rows = conn.execute(
            "SELECT tablename, schemaname, tableowner FROM pg_tables WHERE tablename = ANY(%s)",
            (list(tables),),
        ).fetchall()
    return {table: (schema, owner) for table, schema, owner in rows}


def test_roles_are_plain_logins_with_scram_verifiers(roles_db: RolesDatabase) -> None:
    with roles_db.admin() as conn:
        for service in ROLES:
            row = conn.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
                " rolcanlogin, rolpassword FROM pg_authid WHERE rolname = %s",
                (roles_db.role(service),),
            ).fetchone()
            assert row is not None, service
            *powers, can_login, stored = row
            assert powers == [False] * 5 and can_login, service
            # The database holds the verifier from the secret file, never the password.
            assert stored == (roles_db.secrets / f"db_{service}.scram").read_text()
        public_acl = conn.execute(
            "SELECT has_database_privilege('public', current_database(), 'CONNECT'),"
            " has_database_privilege('public', current_database(), 'TEMP'),"
            " has_schema_privilege('public', 'public', 'CREATE')"
        ).fetchone()
    assert public_acl == (False, False, False)


def test_init_is_idempotent(roles_db: RolesDatabase) -> None:
    run_init(roles_db.admin_dsn, roles_db.name, roles_db.prefix, roles_db.secrets)
    with psycopg.connect(roles_db.dsn("health")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_init_refuses_a_missing_secret(roles_db: RolesDatabase, tmp_path: Path) -> None:
    prefix = f"rwtest_{uuid.uuid4().hex[:10]}_"
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_init(roles_db.admin_dsn, roles_db.name, prefix, tmp_path)
    assert "db_receiver.scram is missing" in failed.value.stderr
    with roles_db.admin() as conn:
        made = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, %s)", (prefix,)
        ).fetchone()
    assert made == (0,)


def store_an_alert(db: RolesDatabase) -> None:
    """The receiver, logged in as its role, stores an alert and lists it back."""
    settings = Settings(
        database_url=SecretStr(db.dsn("receiver")),
        receiver_token=SecretStr(TOKEN),
        receiver=ReceiverSettings(pool_max_size=2),
    )
    app = create_app(settings, {"TESTING": True})
    try:
        client = app.test_client()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        stored = client.post("/webhook/alertmanager", json=payload(alert()), headers=auth)
        assert stored.status_code == 200, stored.get_data(as_text=True)
        listed = client.get("/api/alerts", headers=auth)
        assert listed.status_code == 200 and len(listed.get_json()["alerts"]) == 1
    finally:
        close_pool(app)


@pytest.fixture(scope="module")
def migrated(roles_db: RolesDatabase) -> RolesDatabase:
    """`roles_db` once every service has run its migrations and written something."""
    store_an_alert(roles_db)
    trading = roles_db.dsn("trading")
    EquityStore(trading).record("alpha", WHEN, 1_000_000.0, WHEN.replace(hour=4))
    ForecastLog(trading).record_forecasts([forecast(date(2024, 5, 2))])
    ensure_schema(roles_db.dsn("tradestore"))
    return roles_db


def test_receiver_stores_the_alert_trail_in_its_own_schema(roles_db: RolesDatabase) -> None:
    store_an_alert(roles_db)
    owner = roles_db.role("receiver")
    homes = table_homes(roles_db, "alerts", "alert_events", "alert_acks", "riskwatch_migrations")
    assert homes["alerts"] == homes["alert_events"] == homes["alert_acks"] == ("receiver", owner)


def test_trading_agent_keeps_equity_and_the_forecast_log(roles_db: RolesDatabase) -> None:
    dsn = roles_db.dsn("trading")
    state = EquityStore(dsn).record("alpha", WHEN, 1_000_000.0, WHEN.replace(hour=4))
    assert state.value == 1_000_000.0
    log = ForecastLog(dsn)
    log.record_forecasts([forecast(date(2024, 5, 2))])
    assert len(log.history()) == 1
    owner = roles_db.role("trading")
    homes = table_homes(roles_db, "agent_equity", "agent_executions", "forecast_log")
    assert set(homes.values()) == {("agents", owner)}
    with roles_db.admin() as conn:
        scopes = conn.execute("SELECT DISTINCT scope FROM agents.riskwatch_migrations").fetchall()
    assert sorted(s for (s,) in scopes) == ["agent_equity", "forecast_log"]


def test_tradestore_exporter_migrates_and_reads_its_store(roles_db: RolesDatabase) -> None:
    dsn = roles_db.dsn("tradestore")
    assert ensure_schema(dsn) is False  # no TimescaleDB here: plain tables
    families = list(TradeStoreCollector(dsn).collect())
    assert families
    owner = roles_db.role("tradestore")
    assert table_homes(roles_db, "trade_orders", "trade_fills") == {
        "trade_orders": ("tradestore", owner),
        "trade_fills": ("tradestore", owner),
    }


def test_health_agent_reads_the_forecast_log_and_writes_nothing(migrated: RolesDatabase) -> None:
    with psycopg.connect(migrated.dsn("health"), autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the health check's query
        read = conn.execute("SELECT count(*) FROM forecast_log").fetchone()
        assert read is not None and read[0] >= 1
        for statement in (
            "INSERT INTO forecast_realised (portfolio, day, realised_return)"
            " VALUES ('alpha', '2024-05-03', 0.01)",
            "DELETE FROM forecast_log",
            "CREATE TABLE agents.mine (x int)",
            "CREATE TABLE public.mine (x int)",
            "CREATE TEMP TABLE mine (x int)",
        ):
            with pytest.raises(DENIED):
                conn.execute(statement)


def test_health_agent_reads_the_forecast_log_through_forecast_log(
    migrated: RolesDatabase,
) -> None:
    assert len(ForecastLog(migrated.dsn("health")).history()) >= 1


@pytest.mark.parametrize(
    ("service", "statement"),
    [
        # Only the receiver reads the alert trail; the report reads it through its API.
        ("trading", "SELECT * FROM receiver.alerts"),
        ("tradestore", "SELECT * FROM receiver.alerts"),
        ("health", "SELECT * FROM receiver.alert_acks"),
        # The receiver writes nothing of the agents' or the trade store's.
        ("receiver", "INSERT INTO agents.agent_equity VALUES ('x', now(), 1)"),
        ("receiver", "SELECT * FROM agents.forecast_log"),
        ("receiver", "SELECT * FROM tradestore.trade_orders"),
        ("tradestore", "SELECT * FROM agents.agent_equity"),
        ("trading", "SELECT * FROM tradestore.trade_fills"),
        # Nobody creates outside its own schema.
        ("trading", "CREATE TABLE public.squat (x int)"),
        ("receiver", "CREATE TABLE agents.forecast_squat (x int)"),
        ("tradestore", "CREATE SCHEMA extra"),
    ],
)
def test_denials(migrated: RolesDatabase, service: str, statement: str) -> None:
    with psycopg.connect(migrated.dsn(service), autocommit=True) as conn, pytest.raises(DENIED):
        conn.execute(statement.encode())


def test_a_role_cannot_log_in_with_another_roles_password(roles_db: RolesDatabase) -> None:
    stolen = roles_db.dsn("receiver").replace(
        f"user={roles_db.role('receiver')}", f"user={roles_db.role('trading')}"
    )
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(stolen).close()


def test_the_receiver_runs_on_compose_s_environment_and_secrets(
    roles_db: RolesDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver's environment in docker-compose.grafana.yml, its /run/secrets files
    being the generated ones: the admin token, Alertmanager's credential and the
    console's cookie key are read from their files, and the console's public URL is
    compose's default."""
    compose = yaml.safe_load((ROOT / "docker-compose.grafana.yml").read_text())
    env = compose["services"]["receiver"]["environment"]
    for name, value in env.items():
        value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))  # compose's defaults
        monkeypatch.setenv(name, value.replace("/run/secrets/", f"{roles_db.secrets}/"))
    # The database as this test names it (a prefixed role on the session's cluster).
    monkeypatch.setenv("RISKWATCH_DATABASE_URL", roles_db.dsn("receiver"))
    settings = Settings()

    secret = (roles_db.secrets / "receiver_session_key").read_text().strip()
    assert secret and settings.receiver_session_secret() == secret
    assert settings.receiver_public_url() == "http://localhost:8080"
    webhook = (roles_db.secrets / "receiver_webhook_token").read_text().strip()
    app = create_app(settings, {"TESTING": True})
    try:
        stored = app.test_client().post(
            "/webhook/alertmanager",
            json=payload(alert()),
            headers={"Authorization": f"Bearer {webhook}"},
        )
        assert stored.status_code == 200, stored.get_data(as_text=True)
    finally:
        close_pool(app)
