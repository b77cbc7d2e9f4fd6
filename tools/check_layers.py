"""Check that riskwatch's imports point down: the contracts in pyproject.toml.

The layers, top to bottom, are the command line; the demo and the local stack, which
compose features; the features (agents, exporters, alerting, dashboards, report,
receiver), which may not import each other; the shared services; the settings; and
the core (policy, calendar, catalog, analytics, clock). import-linter reads a package
from one folder, but riskwatch.agents and riskwatch.exporters live in the top-level
agents/ and exporters/ (setuptools maps them in), so this copies src/riskwatch with
both in place into a temporary folder and runs the contracts there.

    python tools/check_layers.py [PROJECT_DIR]

Exits 0 when every contract is kept, 1 with import-linter's report otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"


def check(project: Path) -> subprocess.CompletedProcess[str]:
    """Run the contracts of `project`'s pyproject.toml over its sources."""
    with tempfile.TemporaryDirectory(prefix="riskwatch-layers-") as staging:
        package = Path(staging) / "riskwatch"
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(project / "src" / "riskwatch", package, ignore=ignore)
        for mapped in ("agents", "exporters"):
            shutil.copytree(project / mapped, package / mapped, ignore=ignore)
        # The staged copy comes first on the path, before the installed package.
        env = {**os.environ, "PYTHONPATH": staging}
        return subprocess.run(
            [sys.executable, "-c", RUN, "--no-cache", str(project / "pyproject.toml")],
            capture_output=True,
            text=True,
            env=env,
            cwd=staging,
            check=False,
        )


def main() -> int:
    project = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1]).resolve()
    done = check(project)
    print(done.stdout + done.stderr, end="")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
