"""Helpers shared by the dashboard tests."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any


def run_dashboards(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run the `dashboards` command group as a user would, in its own process.

    It runs the group's module directly, so these tests do not depend on how the main
    `riskwatch` command registers it.
    """
    return subprocess.run(
        [sys.executable, "-m", "riskwatch.dashboards.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
