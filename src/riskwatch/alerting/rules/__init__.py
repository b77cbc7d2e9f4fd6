"""The alerting and recording rules, rendered from the limits config.

Each alert is declared once, with its thresholds and `for` taken from `policy.yaml`,
in the module of the rule file it renders into: `risk`, `compliance`, `ops` and
`validation` (their shared record and helpers in `common`), and `recording` for the
recording rules.
`render` collects them and writes `alerts/rules/*.yml`. Callers import the public
names from here.
"""

from __future__ import annotations

from riskwatch.alerting.rules.common import AlertRule
from riskwatch.alerting.rules.recording import RECORDING_RULES, RecordingRule
from riskwatch.alerting.rules.render import (
    HEADER,
    RULES_DIR,
    alert_names,
    alert_rules,
    is_generated,
    render_rule_files,
)

__all__ = [
    "HEADER",
    "RECORDING_RULES",
    "RULES_DIR",
    "AlertRule",
    "RecordingRule",
    "alert_names",
    "alert_rules",
    "is_generated",
    "render_rule_files",
]
