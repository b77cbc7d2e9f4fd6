"""Find the Prometheus stack's binaries, installing Debian's packages when we may."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable

from riskwatch.settings import Settings
from riskwatch.stack.errors import StackError
from riskwatch.stack.postgres import find_postgres_bin_dir

# Binary role -> (setting that names it, Debian package that ships it).
ROLES: dict[str, tuple[str, str]] = {
    "prometheus": ("stack.prometheus_bin", "prometheus"),
    "alertmanager": ("stack.alertmanager_bin", "prometheus-alertmanager"),
    "pushgateway": ("stack.pushgateway_bin", "prometheus-pushgateway"),
    "promtool": ("stack.promtool_bin", "prometheus"),
    "amtool": ("stack.amtool_bin", "prometheus-alertmanager"),
    "victoriametrics": ("stack.victoriametrics_bin", "victoria-metrics"),
}
LONGTERM_ROLES = frozenset({"victoriametrics"})
"""Roles `stack up` needs only with stack.longterm on."""


def missing_message(packages: Iterable[str]) -> str:
    names = " ".join(sorted(set(packages)))
    return (
        f"missing Debian package(s): {names}. Install them with "
        f"`sudo apt-get install {names}`, or run the stack with "
        "`docker compose -f docker-compose.grafana.yml up`"
    )


def _configured(settings: Settings, role: str) -> str:
    setting = ROLES[role][0].split(".", 1)[1]
    value: str = getattr(settings.stack, setting)
    return value


def _find(settings: Settings, everything: bool) -> tuple[dict[str, str], set[str]]:
    found: dict[str, str] = {}
    missing: set[str] = set()
    for role, (_, package) in ROLES.items():
        if role in LONGTERM_ROLES and not (everything or settings.stack.longterm):
            continue
        path = shutil.which(_configured(settings, role))
        if path is None:
            missing.add(package)
        else:
            found[role] = path
    if (
        settings.database_url is None
        and find_postgres_bin_dir(settings.stack.postgres_bin_dir) is None
    ):
        missing.add("postgresql")
    return found, missing


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(packages: Iterable[str], report: Callable[[str], None]) -> None:
    names = sorted(set(packages))
    report(f"installing Debian packages: {' '.join(names)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *names],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise StackError(f"`{' '.join(argv)}` failed: {' '.join(tail)}")


def resolve(
    settings: Settings, report: Callable[[str], None], everything: bool = True
) -> dict[str, str]:
    """Paths of every binary the stack may need; installs missing ones when allowed.

    With `everything` off (`stack up`), the optional components' roles
    (LONGTERM_ROLES) count only when the settings turn them on; `stack install` keeps
    it on, so a machine it set up can turn them on later without apt-get."""
    found, missing = _find(settings, everything)
    if missing and settings.stack.install_missing and can_install():
        install(missing, report)
        found, missing = _find(settings, everything)
    if missing:
        raise StackError(missing_message(missing))
    return found
