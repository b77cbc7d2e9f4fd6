"""Edited copies of the shipped policy file, for tests that change the policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from riskwatch.policy import POLICY_FILE

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / POLICY_FILE


def shipped_policy_data() -> dict[str, Any]:
    """The shipped policy.yaml as plain data, a fresh copy each call."""
    data: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    return data


def policy_copy(folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Write the shipped policy, changed by `edit` (which mutates the data), into
    `folder`; returns the file's path, for the `policy_file` setting."""
    data = shipped_policy_data()
    edit(data)
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
