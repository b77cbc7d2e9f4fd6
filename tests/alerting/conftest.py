"""Fixtures for the alerting tests: the checkout, its policy, a scratch copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from riskwatch.policy import POLICY_FILE, Policy, load_policy

PROJECT = Path(__file__).resolve().parents[2]
COPIED = ("alerts", "docs/runbooks", "prometheus.yml", POLICY_FILE)


@pytest.fixture(scope="session")
def project_dir() -> Path:
    """The checkout under test: alerts/, docs/runbooks/ and prometheus.yml."""
    return PROJECT


@pytest.fixture(scope="session")
def limits(project_dir: Path) -> Policy:
    """The committed limits config."""
    return load_policy(project_dir / POLICY_FILE)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the alerting files to break without touching the checkout."""
    for name in COPIED:
        source = PROJECT / name
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    return tmp_path
