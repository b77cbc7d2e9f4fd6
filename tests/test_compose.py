"""docker-compose.grafana.yml: parses, mounts only repo files, pins images, has no
default passwords, and starts services only after their dependencies are healthy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} tag is not a version"


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
