"""docker-compose.grafana.yml: parses, mounts only repo files, pins images by digest, has
no default passwords, gives each secret only to the services that read it, runs
hardened, and starts services only after their dependencies are healthy.

There is no Docker here: these read the file. The database roles the DSNs name are
tested for real in tests/test_compose_roles.py."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from riskwatch.settings import ReceiverSettings, Settings
from riskwatch.stack.runner import Stack
from tests.support.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.grafana.yml"
# Created by the operator from their own secrets; never committed.
OPERATOR_PROVIDED = {"./secrets"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_parses_with_the_expected_services(compose: dict[str, Any]) -> None:
    for name in (
        "prometheus",
        "pushgateway",
        "alertmanager",
        "grafana",
        "postgres",
        "receiver",
        "trading-agent",
        "health-agent",
    ):
        assert name in compose["services"], name


def bind_mounts(compose: dict[str, Any]) -> list[str]:
    mounts = []
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                mounts.append(source)
    for secret in compose.get("secrets", {}).values():
        mounts.append(secret["file"])
    return mounts


def test_every_mounted_config_exists_in_the_repo(compose: dict[str, Any]) -> None:
    mounts = bind_mounts(compose)
    assert "./prometheus.yml" in mounts and "./alerts" in mounts
    for source in mounts:
        if any(source == p or source.startswith(p + "/") for p in OPERATOR_PROVIDED):
            continue
        assert (ROOT / source).exists(), f"{source} is mounted but not in the repo"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "secrets/" in ignored


DIGEST = re.compile(r"^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$")
PENDING_DIGEST = {
    # Built by compose from a Dockerfile of ours whose base is pinned (below).
    "riskwatch:0.1.0": "built here from ./Dockerfile",
    "riskwatch-receiver:0.1.0": "built here from ./Dockerfile (target receiver)",
    "riskwatch-prometheus:2.42.0": "built here from deploy/prometheus/Dockerfile",
}
DOCKERFILES = (ROOT / "Dockerfile", ROOT / "deploy" / "prometheus" / "Dockerfile")


def test_images_are_pinned_by_digest(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image"
        assert DIGEST.match(image) or image in PENDING_DIGEST, f"{name}: {image} not by digest"
        repo, _, tag = image.split("@")[0].rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))
        froms = [i for i in re.findall(r"^FROM\s+(\S+)", text, re.M) if i not in stages]
        assert froms and all(DIGEST.match(image) for image in froms), (dockerfile, froms)
    built = {s["image"] for s in compose["services"].values() if "build" in s}
    assert built == {i for i, why in PENDING_DIGEST.items() if why.startswith("built here")}
    pending_in_use = {s.get("image") for s in compose["services"].values()} & set(PENDING_DIGEST)
    assert pending_in_use == set(PENDING_DIGEST), "a pinned image is still listed as pending"


def test_no_default_passwords(compose: dict[str, Any]) -> None:
    secretish = re.compile(r"PASSWORD|TOKEN|SECRET", re.I)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if not secretish.search(key) or key.endswith("_FILE"):
                continue
            assert isinstance(value, str) and re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (
                f"{name}: {key} must be required from the environment, got {value!r}"
            )
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            if secretish.search(key):
                assert value.strip() == "", f".env.example must not default {key}"


def test_dependencies_are_awaited_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions"
        for dep, cond in depends.items():
            assert cond == {"condition": "service_healthy"}, (name, dep)
            assert "healthcheck" in services[dep], f"{dep} is awaited but has no healthcheck"


# ----------------------------------------------------------------- least privilege
DB_USER = {
    "receiver": "riskwatch_receiver",
    "trading-agent": "riskwatch_trading",
    "health-agent": "riskwatch_health",
    "tradestore-exporter": "riskwatch_tradestore",
}
"""The database role of each service that touches PostgreSQL (deploy/postgres/roles.sql)."""

EXPECTED_SECRETS: dict[str, set[str]] = {
    "prometheus": {"pushgateway_password"},
    "pushgateway": {"pushgateway_web.yml"},
    "alertmanager": {
        "receiver_webhook_token",
        "slack_api_url",
        "pagerduty_routing_key",
        "smtp_password",
    },
    "alertmanager-2": {
        "receiver_webhook_token",
        "slack_api_url",
        "pagerduty_routing_key",
        "smtp_password",
    },
    "grafana": {"grafana_admin_password"},
    "postgres": {
        "postgres_password",
        "db_receiver.scram",
        "db_trading.scram",
        "db_health.scram",
        "db_tradestore.scram",
    },
    "receiver": {
        "receiver_token",
        "receiver_webhook_token",
        "receiver_session_key",
        "db_receiver.pass",
    },
    "trading-agent": {"pushgateway_auth", "db_trading.pass"},
    # The report reads the alert trail through the receiver's API: the receiver token.
    "health-agent": {"pushgateway_auth", "receiver_token", "db_health.pass", "smtp_password"},
    "tradestore-exporter": {"db_tradestore.pass"},
    "ibkr-exporter": set(),
    "marketdata-exporter": set(),
    "victoriametrics": set(),
    "mail": set(),
}
"""Every service's secrets, exactly."""

SECRET_ENV = re.compile(
    r"PASSWORD|TOKEN|SECRET|SESSION_KEY|PUSHGATEWAY_AUTH|PGPASS|DATABASE_URL", re.I
)
EXPECTED_SECRET_ENV: dict[str, set[str]] = {
    "grafana": {"GF_SECURITY_ADMIN_PASSWORD__FILE"},
    "postgres": {"POSTGRES_PASSWORD_FILE"},
    "receiver": {
        "RISKWATCH_DATABASE_URL",
        "RISKWATCH_RECEIVER_TOKEN_FILE",
        "RISKWATCH_RECEIVER_WEBHOOK_TOKEN_FILE",
        "RISKWATCH_RECEIVER_SESSION_KEY_FILE",
    },
    "trading-agent": {"RISKWATCH_DATABASE_URL", "RISKWATCH_PUSHGATEWAY_AUTH_FILE"},
    "health-agent": {
        "RISKWATCH_DATABASE_URL",
        "RISKWATCH_PUSHGATEWAY_AUTH_FILE",
        "RISKWATCH_RECEIVER_TOKEN_FILE",
        "RISKWATCH_REPORT__SMTP_PASSWORD_FILE",
    },
    "tradestore-exporter": {"RISKWATCH_DATABASE_URL"},
}
"""Every environment variable that carries or points at a secret, exactly; the rest
have none."""


def secrets_of(service: dict[str, Any]) -> dict[str, str]:
    """{secret: its path in the container}."""
    mounted = {}
    for entry in service.get("secrets", []):
        if isinstance(entry, str):
            mounted[entry] = f"/run/secrets/{entry}"
        else:
            target = entry.get("target", entry["source"])
            mounted[entry["source"]] = (
                target if target.startswith("/") else f"/run/secrets/{target}"
            )
    return mounted


def load_deploy_secrets() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compose_secrets", ROOT / "deploy" / "compose_secrets.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_secret_goes_only_to_the_services_that_use_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == set(EXPECTED_SECRETS)
    for name, service in services.items():
        assert set(secrets_of(service)) == EXPECTED_SECRETS[name], name
        env = service.get("environment") or {}
        assert {k for k in env if SECRET_ENV.search(k)} == EXPECTED_SECRET_ENV.get(name, set()), (
            name
        )
    used = set().union(*EXPECTED_SECRETS.values())
    assert set(compose["secrets"]) == used, "a secret is declared that nobody reads"


def test_only_postgres_has_the_superuser_password(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        assert "PGPASSWORD" not in env and "PGPASSFILE" not in env, name
        if name != "postgres":
            assert not any(k.startswith("POSTGRES_") for k in env), name
            assert "postgres_password" not in secrets_of(service), name
    assert "POSTGRES_PASSWORD" not in compose["services"]["postgres"]["environment"]


def test_each_database_user_is_its_own_role_with_its_own_passfile(
    compose: dict[str, Any],
) -> None:
    roles = load_deploy_secrets().DB_ROLES
    for name, service in compose["services"].items():
        url = (service.get("environment") or {}).get("RISKWATCH_DATABASE_URL")
        if name not in DB_USER:
            assert url is None, f"{name} does not use the database"
            continue
        assert isinstance(url, str), name
        params = conninfo_to_dict(url)
        assert params["user"] == DB_USER[name] and "password" not in params, name
        role = DB_USER[name].removeprefix("riskwatch_")
        assert role in roles
        assert params["passfile"] == secrets_of(service)[f"db_{role}.pass"], name
    assert sorted(DB_USER[s].removeprefix("riskwatch_") for s in DB_USER) == sorted(roles)


def test_postgres_makes_the_roles_at_init(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    mounts = dict(
        v.rsplit(":", 1)[0].split(":", 1) for v in postgres["volumes"] if v.startswith(".")
    )
    init = mounts["./deploy/postgres/init-roles.sh"]
    assert init.startswith("/docker-entrypoint-initdb.d/") and init.endswith(".sh")
    init_text = (ROOT / "deploy" / "postgres" / "init-roles.sh").read_text()
    default_sql = re.search(r"RISKWATCH_DB_ROLES_SQL:-([^}]+)}", init_text)
    assert default_sql and mounts["./deploy/postgres/roles.sql"] == default_sql[1]


def test_every_secret_file_has_an_owner(compose: dict[str, Any]) -> None:
    owners = load_deploy_secrets().OWNERS
    for name, secret in compose["secrets"].items():
        assert secret["file"] == f"./secrets/{name}"
        assert name in owners, f"deploy/compose_secrets.py own does not know {name}"


def test_pushgateway_takes_the_agents_login_only(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = services["pushgateway"]
    web_config = secrets_of(gateway)["pushgateway_web.yml"]
    assert f"--web.config.file={web_config}" in gateway["command"]
    check = " ".join(gateway["healthcheck"]["test"])
    assert "401" in check and "@" not in check, "checks the login is demanded, holds none"
    for name, service in services.items():
        command = " ".join(service.get("command", []))
        assert "admin-api" not in command and "enable-lifecycle" not in command, name
    # Prometheus scrapes with the password file where prometheus.yml expects it.
    scrape = yaml.safe_load((ROOT / "prometheus.yml").read_text())["scrape_configs"]
    job = next(j for j in scrape if j["job_name"] == "pushgateway")
    password_file = job["basic_auth"]["password_file"]
    assert secrets_of(services["prometheus"])["pushgateway_password"] == password_file
    for agent in ("trading-agent", "health-agent"):
        env = services[agent]["environment"]
        path = secrets_of(services[agent])["pushgateway_auth"]
        assert env["RISKWATCH_PUSHGATEWAY_AUTH_FILE"] == path, agent


def test_the_receiver_reads_each_secret_where_compose_mounts_it(compose: dict[str, Any]) -> None:
    receiver = compose["services"]["receiver"]
    env, mounted = receiver["environment"], secrets_of(receiver)
    for setting, secret in (
        ("RISKWATCH_RECEIVER_TOKEN_FILE", "receiver_token"),
        ("RISKWATCH_RECEIVER_WEBHOOK_TOKEN_FILE", "receiver_webhook_token"),
        # The console's cookie key: a fixed one, so logins survive a restart.
        ("RISKWATCH_RECEIVER_SESSION_KEY_FILE", "receiver_session_key"),
    ):
        assert env[setting] == mounted[secret], setting
    # The settings those variables name (env_prefix RISKWATCH_, nesting by "__").
    assert {
        "receiver_token_file",
        "receiver_webhook_token_file",
        "receiver_session_key_file",
    } <= set(Settings.model_fields)
    assert "public_url" in ReceiverSettings.model_fields


def test_alertmanager_templates_get_the_console_url_over_a_committed_file(
    compose: dict[str, Any],
) -> None:
    """The console template compose makes is mounted over alerts/templates/site.tmpl:
    a file that exists (a mount point inside the read-only templates folder) and sorts
    after riskwatch.tmpl, whose default it replaces. tests/test_console_links.py renders
    it with amtool."""
    for name in ("alertmanager", "alertmanager-2"):
        service = compose["services"][name]
        assert "./alerts/templates:/etc/alertmanager/templates:ro" in service["volumes"], name
        (config,) = service["configs"]
        assert config["target"] == "/etc/alertmanager/templates/site.tmpl", name
        assert config["source"] in compose["configs"], name
    templates = sorted(p.name for p in (ROOT / "alerts" / "templates").glob("*.tmpl"))
    assert templates[-1] == "site.tmpl" and "riskwatch.tmpl" in templates
    assert "{{ define" not in (ROOT / "alerts" / "templates" / "site.tmpl").read_text()
    content = compose["configs"]["console_url.tmpl"]["content"]
    variable = compose["services"]["receiver"]["environment"]["RISKWATCH_RECEIVER__PUBLIC_URL"]
    assert '{{ define "riskwatch.console_url" }}' + variable + "{{ end }}" in content


def test_alertmanager_secrets_are_where_its_config_reads_them(compose: dict[str, Any]) -> None:
    config = (ROOT / "alerts" / "alertmanager.yml").read_text()
    wanted = set(re.findall(r"_file:\s*(/etc/alertmanager/secrets/\S+)", config))
    assert wanted
    for name in ("alertmanager", "alertmanager-2"):
        assert set(secrets_of(compose["services"][name]).values()) == wanted, name
        mounts = [v for v in compose["services"][name]["volumes"] if v.startswith("./secrets")]
        assert not mounts, f"{name} must not mount the whole secrets folder"


RUNS_AS = {
    "prometheus": "65534:65534",
    "pushgateway": "65534:65534",
    "alertmanager": "65534:65534",
    "alertmanager-2": "65534:65534",
    "grafana": "472:0",
    "postgres": "70:70",
}
"""Services whose user compose sets; the riskwatch services run as the image's USER."""
IMAGE_ROOT = {"victoriametrics": "a new volume is root's; it holds no secret"}


def test_containers_run_hardened_and_not_as_root(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"] and not service.get("cap_add"), name
        assert service.get("security_opt") == ["no-new-privileges:true"], name
        assert not service.get("privileged"), name
        user = service.get("user")
        if name in RUNS_AS:
            assert user == RUNS_AS[name], name
        elif service.get("image", "").startswith(("riskwatch:", "riskwatch-receiver:")):
            assert user is None, f"{name} runs as the image's riskwatch user"
        else:
            assert name in IMAGE_ROOT, f"{name}: set a user, or say why not"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER riskwatch$", dockerfile, re.M)


def test_secrets_are_generated_once_and_given_to_their_readers(tmp_path: Path) -> None:
    deploy = load_deploy_secrets()
    folder = tmp_path / "secrets"
    made = deploy.generate(folder)
    assert "postgres_password" in made and "db_health.scram" in made
    assert "receiver_session_key" in made, "the console's cookie key, before `stack secrets`"
    before = (folder / "db_health.pass").read_text()
    assert deploy.generate(folder) == [], "nothing is made twice"
    assert (folder / "db_health.pass").read_text() == before
    assert (folder / "db_health.pass").stat().st_mode & 0o777 == 0o600
    assert deploy.passfile_password(deploy.passfile_line("a:b\\c")) == "a:b\\c"
    if os.geteuid() != 0:
        pytest.skip("own chowns: root only")
    done = deploy.own(folder)
    assert set(done) == set(made)
    for name in done:
        uid, gid, mode = deploy.OWNERS[name]
        info = (folder / name).stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (uid, gid, mode), name


def test_the_prometheus_image_installs_the_versions_the_tests_run() -> None:
    """deploy/prometheus/Dockerfile pins the upstream versions of the Debian packages;
    they are the ones this machine's stack (and so every stack test) runs."""
    text = (ROOT / "deploy" / "prometheus" / "Dockerfile").read_text()
    pinned = dict(re.findall(r'"(prometheus[a-z-]*)=([0-9.]+)[+-]\*"', text))
    assert set(pinned) == {"prometheus", "prometheus-alertmanager", "prometheus-pushgateway"}
    for package, version in pinned.items():
        installed = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert re.match(rf"{re.escape(version)}[+-]", installed), (package, installed)


@pytest.mark.stack
def test_the_pushgateway_healthcheck_passes_on_a_401_only(
    compose: dict[str, Any], stack: Stack
) -> None:
    """Run the compose healthcheck against the real local Pushgateway (which demands
    the login, as compose's does) and against Prometheus (which answers 200)."""
    test = compose["services"]["pushgateway"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"]
    script = test[3]
    assert "http://localhost:9091" in script

    def exit_code(url: str) -> int:
        run = [sys.executable, "-c", script.replace("http://localhost:9091", url)]
        return subprocess.run(run, capture_output=True, timeout=30, check=False).returncode

    assert exit_code(stack.settings.url.pushgateway) == 0
    assert exit_code(stack.settings.url.prometheus) != 0  # 200: not the Pushgateway's answer
    dead = f"http://127.0.0.1:{free_port()}"
    assert exit_code(dead) != 0


def test_images_install_from_the_hashed_locks() -> None:
    """Each image stage installs its dependencies from a lock with hashes, then
    riskwatch without resolving anything: the slim receiver from the core's lock."""
    text = (ROOT / "Dockerfile").read_text()
    stages = dict(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)\n(.*?)(?=^FROM|\Z)", text, re.M | re.S))
    assert {"receiver", "full"} <= set(stages)
    for stage, lock in (("receiver", "core.lock"), ("full", "all.lock")):
        body = stages[stage]
        assert f"pip install --require-hashes -r requirements/{lock}" in body, stage
        assert "pip install --no-deps ." in body, stage
        assert re.search(r"pip install (?!--require-hashes|--no-deps)", body) is None, stage
    assert stages["receiver"].count("COPY dashboards") == 0  # the slim one stays slim
