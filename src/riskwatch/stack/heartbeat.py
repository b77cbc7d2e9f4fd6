"""The dead man's switch as the local stack sees it: where the Watchdog goes, how often
it should arrive, and how old the last one the sinks recorded is.

Alertmanager re-sends the always-firing Watchdog to the `heartbeat` receiver every
`heartbeat.repeat_interval_seconds`, but only at a `group_interval` tick, so pings
arrive every repeat interval plus at most one group interval. When Prometheus stops,
Alertmanager keeps the Watchdog firing until its endsAt, which Prometheus sets to
4 x max(evaluation_interval, --rules.alert.resend-delay) after its last send.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from riskwatch.policy import duration_seconds
from riskwatch.settings import Settings
from riskwatch.sinks import Outbox
from riskwatch.stack.errors import StackError
from riskwatch.stack.render import PROMETHEUS_CONFIG, load_yaml

# Prometheus's own default when prometheus.yml sets no evaluation_interval.
_DEFAULT_EVALUATION_INTERVAL = "1m"
# Prometheus keeps an alert valid for this many resend periods after sending it
# (rules/alerting.go: "Allow for two Eval or Alertmanager send failures").
_VALID_FOR_RESENDS = 4

HeartbeatState = Literal["ok", "stale", "none"]


def evaluation_interval_seconds(settings: Settings) -> float:
    """Prometheus's rule evaluation interval, from the repo's prometheus.yml."""
    source = settings.project_dir / PROMETHEUS_CONFIG
    text = load_yaml(source).get("global", {}).get("evaluation_interval")
    try:
        return duration_seconds(str(text or _DEFAULT_EVALUATION_INTERVAL))
    except ValueError as exc:
        raise StackError(f"{source}: evaluation_interval: {exc}") from None


def alert_hold_seconds(settings: Settings) -> float:
    """How long Alertmanager keeps the Watchdog firing after Prometheus's last send:
    the longest the pings go on once Prometheus stops."""
    resend = max(
        evaluation_interval_seconds(settings), settings.heartbeat.alert_resend_delay_seconds
    )
    return _VALID_FOR_RESENDS * resend


def first_ping_within_seconds(settings: Settings) -> float:
    """How soon after Prometheus starts the first ping arrives, at the latest. Prometheus
    drops what it evaluates before it has discovered Alertmanager (a few seconds) and
    sends it again only after the resend delay; Alertmanager sends at once (group_wait 0s)."""
    resend = max(
        evaluation_interval_seconds(settings), settings.heartbeat.alert_resend_delay_seconds
    )
    return resend + evaluation_interval_seconds(settings)


def expected_every_seconds(settings: Settings) -> float:
    """The longest gap between two pings while everything runs."""
    hb = settings.heartbeat
    return hb.repeat_interval_seconds + hb.group_interval_seconds


def stale_after_seconds(settings: Settings) -> float:
    """A last ping older than this means a due ping was missed: a whole group_interval
    tick passed after the longest expected gap."""
    return expected_every_seconds(settings) + settings.heartbeat.group_interval_seconds


def status(settings: Settings, outbox_dir: Path, now: float | None = None) -> dict[str, Any]:
    """The last heartbeat the local sink recorded: `state` is "ok", "stale" (older than
    `stale_after_seconds`) or "none" (never arrived: normal for `first_within_seconds`
    after the stack starts), with its time and age."""
    now = time.time() if now is None else now
    last = Outbox(outbox_dir, create=False).last_heartbeat()
    stale_after = stale_after_seconds(settings)
    state: HeartbeatState
    if last is None:
        state, age = "none", None
    else:
        age = max(0.0, now - last)
        state = "stale" if age > stale_after else "ok"
    return {
        "state": state,
        "last_at": last,
        "age_seconds": age,
        "expected_every_seconds": expected_every_seconds(settings),
        "first_within_seconds": first_ping_within_seconds(settings),
        "stale_after_seconds": stale_after,
        "external": settings.heartbeat.url is not None,
        "folder": str(outbox_dir / "heartbeat"),
    }
