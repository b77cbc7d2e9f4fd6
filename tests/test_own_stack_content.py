"""Monitoring content for a Prometheus, Alertmanager and Grafana of your own, like a
mixin's output: `alerts render --out` and `dashboards build --out` write rules, an
Alertmanager config with its templates and the dashboards' JSON into a folder, from
the deployment's policy file and Grafana URL, and never touch the checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.support.alertmanager import tool
from tests.support.stack import run_cli

ROOT = Path(__file__).resolve().parent.parent


def _checkout_state() -> dict[Path, bytes]:
    tracked = [*(ROOT / "alerts").rglob("*"), *(ROOT / "dashboards").rglob("*.json")]
    return {p: p.read_bytes() for p in tracked if p.is_file()}


def test_alert_content_for_your_own_prometheus_and_alertmanager(tmp_path: Path) -> None:
    before = _checkout_state()
    policy = yaml.safe_load((ROOT / "policy.yaml").read_text())
    policy["defaults"]["var"] = 0.0432  # a deployment's own limit
    own = tmp_path / "policy.yaml"
    own.write_text(yaml.safe_dump(policy, sort_keys=False))
    out = tmp_path / "content"
    done = run_cli(
        "alerts",
        "render",
        "--out",
        str(out),
        env={"RISKWATCH_POLICY_FILE": str(own), "RISKWATCH_GRAFANA_URL": "https://g.example"},
    )
    assert done.returncode == 0, done.stderr
    rules = sorted((out / "rules").glob("*.yml"))
    assert {p.name for p in rules} >= {"risk.rules.yml", "recording.rules.yml"}
    text = "\n".join(p.read_text() for p in rules)
    assert "0.0432" in text  # the deployment's policy, not the committed one
    assert "https://g.example/d/" in text  # and its Grafana in the dashboard links
    checked = subprocess.run(
        [tool("promtool"), "check", "rules", *map(str, rules)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    config = out / "alertmanager" / "riskwatch.yml"
    assert sorted(p.name for p in (out / "alertmanager" / "templates").glob("*.tmpl"))
    amtool = subprocess.run(
        [tool("amtool"), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert amtool.returncode == 0, amtool.stdout + amtool.stderr
    assert "market-closed" in {
        t["name"] for t in yaml.safe_load(config.read_text())["time_intervals"]
    }
    assert _checkout_state() == before


def test_dashboards_for_your_own_grafana(tmp_path: Path) -> None:
    before = _checkout_state()
    out = tmp_path / "dashboards"
    done = run_cli("dashboards", "build", "--out", str(out))
    assert done.returncode == 0, done.stderr
    written = sorted(out.glob("*.json"))
    committed = sorted((ROOT / "dashboards").glob("*.json"))
    assert [p.name for p in written] == [p.name for p in committed]
    for path in written:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"]
    assert _checkout_state() == before
