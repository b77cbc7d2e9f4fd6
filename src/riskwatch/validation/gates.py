"""The validation gates: pass/fail checks of the data and the model backtest.

Each gate has a stable name, the `gate` label of `riskwatch_validation_gate_passed`,
`riskwatch_validation_gate_value` and `riskwatch_validation_gate_threshold`
(ValidationGateFailed fires on `riskwatch_validation_gate_passed == 0`), and its
threshold from the policy's `validation` section:

| gate | value | passes when |
|---|---|---|
| `complete_windows` | share of model windows without a missing bar | >= min_complete_windows |
| `data_completeness` | bars received over bars expected, all symbols | >= min_data_completeness |
| `max_abs_return` | largest absolute daily return, any symbol or portfolio | < max_abs_return |
| `windows` | model-backtest windows | >= min_windows |
| `session_completeness` | as-of day's minute bars over session minutes | >= min_data_completeness |

`session_completeness` is only there when the market source serves minute bars (the
desk's). It is a gate of its own rather than folded into `data_completeness`: a
morning's missing minutes and a missing month of daily bars need different fixes,
and the label says which. It takes the daily gate's threshold: the policy's bar for
"enough data" is one ratio, whatever the bar size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd

from riskwatch.policy import Validation
from riskwatch.validation.completeness import Completeness
from riskwatch.validation.model_backtest import ModelBacktest

GATES: Final = (
    "complete_windows",
    "data_completeness",
    "max_abs_return",
    "windows",
    "session_completeness",
)
"""Every gate's name, as the `gate` label carries it."""


@dataclass(frozen=True)
class Gate:
    """One gate's outcome."""

    name: str
    value: float
    threshold: float
    rule: Literal[">=", "<"]
    """How `value` must compare with `threshold` to pass."""
    detail: str
    """What the value is, for a person: which symbol and day for a return."""

    @property
    def passed(self) -> bool:
        if self.rule == ">=":
            return self.value >= self.threshold
        return self.value < self.threshold


@dataclass(frozen=True)
class LargestReturn:
    """The largest absolute daily return in the span, and where it was."""

    value: float
    where: str
    day: str


def largest_return(*frames: pd.DataFrame) -> LargestReturn:
    """The largest absolute value in `frames` (daily returns, a column per symbol or
    portfolio, indexed by day); 0 when there is none."""
    best = LargestReturn(0.0, "", "")
    for frame in frames:
        values = np.abs(frame.to_numpy(dtype=float))
        if not np.isfinite(values).any():
            continue
        row, column = divmod(int(np.nanargmax(values)), values.shape[1])
        if values[row, column] > best.value:
            best = LargestReturn(
                float(values[row, column]), str(frame.columns[column]), str(frame.index[row])
            )
    return best


def evaluate_gates(
    completeness: Completeness, model: ModelBacktest, largest: LargestReturn, policy: Validation
) -> tuple[Gate, ...]:
    """The four gates every dataset has, in `GATES` order (`session_gate` is the fifth)."""
    windows = len(model.windows)
    complete = sum(w.complete for w in model.windows)
    return (
        Gate(
            "complete_windows",
            model.complete_share,
            policy.min_complete_windows,
            ">=",
            f"{complete} of {windows} model windows complete",
        ),
        Gate(
            "data_completeness",
            completeness.ratio,
            policy.min_data_completeness,
            ">=",
            f"{completeness.received} of {completeness.expected} daily bars received",
        ),
        Gate(
            "max_abs_return",
            largest.value,
            policy.max_abs_return,
            "<",
            f"{largest.where} on {largest.day}" if largest.where else "no returns",
        ),
        Gate(
            "windows",
            float(windows),
            float(policy.min_windows),
            ">=",
            f"{windows} windows of {model.window_days} sessions every {model.step_days}",
        ),
    )


def session_gate(session: Completeness, policy: Validation) -> Gate:
    """The `session_completeness` gate of the validated day's minute bars."""
    return Gate(
        "session_completeness",
        session.ratio,
        policy.min_data_completeness,
        ">=",
        f"{session.received} of {session.expected} minute bars of the session received",
    )
