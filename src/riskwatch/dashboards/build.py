"""Build every dashboard to JSON: what `riskwatch dashboards build|check` run.

The JSON in `dashboards/*.json` is generated, committed and provisioned as is. It
is printed with sorted keys and a fixed indent so that a change to a panel is a
readable diff, and `check` compares a fresh build with the committed files.
"""

from __future__ import annotations

import difflib
import json
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from riskwatch.dashboards import compliance, executive, operations, risk
from riskwatch.policy import POLICY_FILE, Policy, load_policy

DASHBOARDS_DIR = "dashboards"

BUILDERS: Mapping[str, Callable[[Policy], dashboard_builder.Dashboard]] = {
    "executive": executive.build,
    "risk": risk.build,
    "compliance": compliance.build,
    "operations": operations.build,
}
"""File stem -> dashboard builder, in the order the dashboards are listed to people."""


def _number(board: model.Dashboard) -> None:
    """Give every panel a unique id and every query a refId.

    Grafana keys panel state (links, `viewPanel=`) by id and a query's result by its
    refId; the builders leave both unset unless a panel needs a particular refId.
    """
    for panel_id, panel in enumerate(board.panels or [], start=1):
        panel.id_val = panel_id
        targets = getattr(panel, "targets", None) or []
        taken = {t.ref_id for t in targets if getattr(t, "ref_id", "")}
        free = (letter for letter in string.ascii_uppercase if letter not in taken)
        for target in targets:
            if not getattr(target, "ref_id", ""):
                target.ref_id = next(free)


def build_dashboard(name: str, limits: Policy) -> dict[str, Any]:
    """One dashboard as the JSON object Grafana stores."""
    board = BUILDERS[name](limits).build()
    _number(board)
    encoded: dict[str, Any] = json.loads(JSONEncoder().encode(board))
    return encoded


def build_all(limits: Policy) -> dict[str, dict[str, Any]]:
    """Every dashboard by file stem."""
    return {name: build_dashboard(name, limits) for name in BUILDERS}


def to_text(board: Mapping[str, Any]) -> str:
    """The committed form: sorted keys, two-space indent, a final newline."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render(limits: Policy) -> dict[str, str]:
    """File name -> text of every generated dashboard file."""
    return {f"{name}.json": to_text(board) for name, board in build_all(limits).items()}


def project_limits(project_dir: Path) -> Policy:
    """The limits config of the checkout (PolicyError names a bad field in one line)."""
    return load_policy(project_dir / POLICY_FILE)


def write(project_dir: Path) -> list[str]:
    """Regenerate dashboards/*.json; returns the files that changed."""
    out = project_dir / DASHBOARDS_DIR
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for filename, content in render(project_limits(project_dir)).items():
        path = out / filename
        if not path.is_file() or path.read_text() != content:
            path.write_text(content)
            changed.append(f"{DASHBOARDS_DIR}/{filename}")
    return changed


def stale(project_dir: Path) -> list[str]:
    """Differences between the committed JSON and a fresh build, as unified diffs."""
    out = project_dir / DASHBOARDS_DIR
    problems = []
    for filename, content in render(project_limits(project_dir)).items():
        path = out / filename
        rel = f"{DASHBOARDS_DIR}/{filename}"
        if not path.is_file():
            problems.append(f"{rel} is missing")
            continue
        committed = path.read_text()
        if committed != content:
            diff = difflib.unified_diff(
                committed.splitlines(),
                content.splitlines(),
                rel,
                f"{rel} (fresh build)",
                lineterm="",
                n=1,
            )
            problems.append("\n".join(list(diff)[:40]))
    return problems


def load_committed(project_dir: Path) -> dict[str, dict[str, Any]]:
    """The committed dashboards by file stem, as Grafana would load them."""
    out = project_dir / DASHBOARDS_DIR
    boards: dict[str, dict[str, Any]] = {}
    for name in BUILDERS:
        data = json.loads((out / f"{name}.json").read_text())
        assert isinstance(data, dict)
        boards[name] = data
    return boards
