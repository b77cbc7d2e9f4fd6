"""Helpers shared by the dashboard tests."""

from __future__ import annotations

from typing import Any

from tests.support.stack import run_cli


def run_dashboards(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run the `dashboards` command group as a user would, in its own process.

    It runs the group's module directly, so these tests do not depend on how the main
    `riskwatch` command registers it.
    """
    return run_cli(*args, env=env, timeout=timeout, module="riskwatch.dashboards.cli")
