"""The findings as plain data: what `validation.json` holds, and what the Markdown,
the charts' captions and the command's output read.

Numbers that are not finite (a Sharpe ratio over a flat window, a day without a
figure) are null, so the file is strict JSON any reader parses.

Layout (see docs/validation.md): `gates`, `completeness` (daily bars over the span),
`session_completeness` (the validated day's minute bars over its regular session, null
when the source serves no minute bars), `model`, and `backtests`,
one entry per portfolio, method and confidence with its `window` (the last
`backtest_days` sessions) and its `history` (the whole span); `rolling` holds, per
entry, the exceptions and zone of the `backtest_days` sessions ending on each day of
`rolling.days`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np

from riskwatch.analytics.backtest import ZONES
from riskwatch.policy import Policy, confidence_label
from riskwatch.validation.backtests import Backtest, GroupBacktest
from riskwatch.validation.completeness import Completeness
from riskwatch.validation.findings import Findings
from riskwatch.validation.model_backtest import ModelWindow

SCHEMA_VERSION = 1


def number(value: float | None) -> float | None:
    """`value` as JSON has it: null for NaN, infinities or None."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _counts(values: np.ndarray[Any, Any]) -> list[int | None]:
    return [None if math.isnan(v) else int(v) for v in values.tolist()]


def backtest_data(backtest: Backtest | None) -> dict[str, Any] | None:
    """One VaR backtest and its ES backtest."""
    if backtest is None:
        return None
    var, es = backtest.var, backtest.es
    return {
        "start": backtest.start.isoformat(),
        "end": backtest.end.isoformat(),
        "n": var.n,
        "exceptions": var.exceptions,
        "zone": var.zone,
        "kupiec_lr": number(var.kupiec_lr),
        "kupiec_p": number(var.kupiec_p),
        "christoffersen_lr": number(var.christoffersen_lr),
        "christoffersen_p": number(var.christoffersen_p),
        "conditional_coverage_lr": number(var.conditional_coverage_lr),
        "conditional_coverage_p": number(var.conditional_coverage_p),
        "es": None
        if es is None
        else {"n": es.n, "exceptions": es.exceptions, "z2": number(es.z2), "rejected": es.rejected},
    }


def _key(group: GroupBacktest) -> dict[str, Any]:
    return {
        "portfolio": group.portfolio,
        "method": group.method,
        "confidence": group.confidence,
        "confidence_label": confidence_label(group.confidence),
    }


def window_data(window: ModelWindow) -> dict[str, Any]:
    """One window of the model backtest."""
    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "complete": window.complete,
        "return": number(window.total_return),
        "sharpe": number(window.sharpe),
        "max_drawdown": number(window.max_drawdown),
    }


def completeness_data(scored: Completeness) -> dict[str, Any]:
    """A completeness (of daily or of minute bars) as plain data."""
    return {
        "ratio": number(scored.ratio),
        "received": scored.received,
        "expected": scored.expected,
        "symbols": [
            {"symbol": s.symbol, "received": s.received, "expected": s.expected, "ratio": s.ratio}
            for s in scored.symbols
        ],
    }


def summary(
    findings: Findings, policy: Policy, *, generated_at: datetime, duration_seconds: float
) -> dict[str, Any]:
    """Everything a run found, as JSON-ready data."""
    dataset, model, scored = findings.dataset, findings.model, findings.completeness
    latest = model.latest_complete
    minutes = dataset.session
    session = None if minutes is None else completeness_data(minutes)
    return {
        "schema": SCHEMA_VERSION,
        "dataset": dataset.name,
        "as_of": dataset.span.as_of.isoformat(),
        "since": dataset.span.since.isoformat(),
        "sessions": len(dataset.span.sessions),
        "generated_at": generated_at.isoformat(),
        "duration_seconds": round(duration_seconds, 3),
        "passed": findings.passed,
        "failed_gates": findings.failed_gates,
        "warnings": list(dataset.warnings),
        "policy": policy.validation.model_dump(mode="json"),
        "methods": list(policy.tail_risk.methods),
        "zones": list(ZONES),
        "gates": [
            {
                "gate": g.name,
                "passed": g.passed,
                "value": number(g.value),
                "threshold": g.threshold,
                "rule": g.rule,
                "detail": g.detail,
            }
            for g in findings.gates
        ],
        "completeness": completeness_data(scored),
        "session_completeness": (
            None if session is None else {"day": dataset.span.as_of.isoformat(), **session}
        ),
        "model": {
            "model": model.model,
            "window_days": model.window_days,
            "step_days": model.step_days,
            "complete_share": number(model.complete_share),
            "latest_complete": None if latest is None else window_data(latest),
            "windows": [window_data(w) for w in model.windows],
        },
        "backtests": [
            {**_key(g), "window": backtest_data(g.window), "history": backtest_data(g.history)}
            for g in findings.backtests
        ],
        "rolling": {
            "days": [d.isoformat() for d in dataset.span.sessions],
            "window_days": policy.validation.backtest_days,
            "series": [
                {
                    **_key(g),
                    "exceptions": _counts(g.rolling_exceptions),
                    "zone": [None if math.isnan(z) else ZONES[int(z)] for z in g.rolling_zone],
                }
                for g in findings.backtests
            ],
        },
    }
