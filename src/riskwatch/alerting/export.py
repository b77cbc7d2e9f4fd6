"""Monitoring content for a Prometheus and an Alertmanager of your own, like a
monitoring mixin's output: `riskwatch alerts render --out DIR`.

DIR receives

- ``rules/*.yml``: the alerting and recording rules, rendered from the deployment's
  policy file with its ``grafana_url`` (links in the annotations), for Prometheus'
  ``rule_files``;
- ``alertmanager/riskwatch.yml``: the routes, receivers, inhibit rules and the
  market-closed calendar (rendered from `today`), to merge into your Alertmanager's
  config, or to run as it is; its receivers' addresses and secrets are the committed
  defaults, to replace with yours;
- ``alertmanager/templates/*.tmpl``: the notification templates it names.

The checkout is never written: the committed files stay what `alerts check` compares.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import yaml

from riskwatch.alerting import calendar
from riskwatch.alerting.rules import render_rule_files
from riskwatch.policy import Policy

RULES: str = "rules"
ALERTMANAGER: str = "alertmanager"


def export(
    project_dir: Path, policy: Policy, grafana_url: str, out: Path, today: date
) -> list[Path]:
    """Write the rules, the Alertmanager config and its templates into `out`; returns
    the files written. Rule files `out` holds from an earlier export are replaced."""
    written: list[Path] = []
    rules = out / RULES
    rules.mkdir(parents=True, exist_ok=True)
    for stale in rules.glob("*.yml"):
        stale.unlink()  # a rule file the policy no longer produces must not linger
    for name, text in render_rule_files(policy, grafana_url).items():
        (rules / name).write_text(text)
        written.append(rules / name)

    source = project_dir / calendar.ALERTMANAGER_CONFIG
    config = yaml.safe_load(calendar.splice(source.read_text(), policy.market, today))
    templates = out / ALERTMANAGER / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    for pattern in config.get("templates", []):
        for template in sorted(source.parent.glob(pattern)):
            shutil.copyfile(template, templates / template.name)
            written.append(templates / template.name)
    # Relative to the config file, as Alertmanager reads template globs.
    config["templates"] = ["templates/*.tmpl"]
    target = out / ALERTMANAGER / "riskwatch.yml"
    header = (
        "# riskwatch's routes, receivers, inhibit rules and market calendar "
        f"(rendered {today.isoformat()}).\n"
        "# Merge into your Alertmanager config, or run it as it is; replace the "
        "receivers' addresses and secrets.\n"
    )
    target.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    written.append(target)
    return written
