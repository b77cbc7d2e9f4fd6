"""The layer contract (pyproject's [tool.importlinter]) holds, and catches an import
that points the wrong way: shown on a temporary copy of the sources."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools/check_layers.py")
assert _spec is not None and _spec.loader is not None
check_layers = importlib.util.module_from_spec(_spec)
sys.modules["check_layers"] = check_layers
_spec.loader.exec_module(check_layers)


def copy_project(target: Path) -> Path:
    for name in ("src", "agents", "exporters"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_the_sources_keep_the_contract() -> None:
    done = check_layers.check(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "reported"),
    [
        # The core importing a feature: the policy reaching up into the report.
        (
            "src/riskwatch/policy.py",
            "import riskwatch.report.collect",
            "riskwatch.policy -> riskwatch.report.collect",
        ),
        # A feature importing another feature sideways.
        (
            "src/riskwatch/alerting/rules/__init__.py",
            "import riskwatch.dashboards.build",
            "riskwatch.alerting.rules -> riskwatch.dashboards.build",
        ),
        # An agent importing the command line above it.
        ("agents/trading.py", "import riskwatch.cli", "riskwatch.agents.trading -> riskwatch.cli"),
    ],
)
def test_an_import_that_points_the_wrong_way_breaks_it(
    tmp_path: Path, module: str, line: str, reported: str
) -> None:
    project = copy_project(tmp_path)
    path = project / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402\n")
    done = check_layers.check(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    assert reported in done.stdout
