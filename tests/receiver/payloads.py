"""Alertmanager webhook payloads (version 4) for the receiver tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def alert(
    alertname: str = "PortfolioDrawdownHigh",
    *,
    status: str = "firing",
    starts_at: str = "2024-05-01T09:30:00.123456789Z",
    ends_at: str = GO_ZERO_TIME,
    severity: str = "critical",
    portfolio: str | None = "alpha",
    team: str = "risk",
    fingerprint: str | None = None,
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager sends it; the fingerprint derives from the labels."""
    all_labels = {"alertname": alertname, "severity": severity, "team": team, **labels}
    if portfolio is not None:
        all_labels["portfolio"] = portfolio
    if fingerprint is None:
        digest = hashlib.sha256(json.dumps(all_labels, sort_keys=True).encode())
        fingerprint = digest.hexdigest()[:16]
    return {
        "status": status,
        "labels": all_labels,
        "annotations": annotations if annotations is not None else {"summary": alertname},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def resolved(firing: dict[str, Any], ends_at: str = "2024-05-01T10:00:00Z") -> dict[str, Any]:
    """The resolved notification of a firing alert."""
    return {**firing, "status": "resolved", "endsAt": ends_at}


def payload(*alerts: dict[str, Any], receiver: str = "riskwatch-audit") -> dict[str, Any]:
    """A webhook body grouping `alerts` (status is firing if any alert fires)."""
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="PortfolioDrawdownHigh"}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": {"alertname": "PortfolioDrawdownHigh"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": list(alerts),
    }
