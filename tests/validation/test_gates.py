"""A gate that fails is a result: the run writes and pushes everything, the gate's
metric says 0, `last_success` advances, and the command exits 3 with one line."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from riskwatch.stack.runner import Stack
from tests.support.calendar import shipped_zone
from tests.support.policy import policy_copy
from tests.support.stack import stack_env
from tests.validation.support import historical_only, one_line, pushed, sample, validate

AT = datetime(2026, 11, 18, 2, 0, tzinfo=shipped_zone())


def demand_many_windows(data: dict[str, Any]) -> None:
    historical_only(data)
    data["validation"]["min_windows"] = 1000


@pytest.mark.stack
def test_a_failed_gate_is_pushed_and_exits_3(stack: Stack, tmp_path: Path) -> None:
    policy = policy_copy(tmp_path, demand_many_windows)
    out = tmp_path / "out"
    env = stack_env(
        stack, RISKWATCH_POLICY_FILE=str(policy), RISKWATCH_VALIDATION__OUT_DIR=str(out)
    )
    before = time.time()
    args = ["--dataset", "nasdaq", "--since", "2018-07-02", "--date", "2018-12-31"]
    result = validate(args, at=AT, env=env)
    assert result.exit_code == 3, result.output + result.stderr
    folder = out / "nasdaq" / "2018-12-31"
    assert one_line(result) == (
        f"riskwatch: error: validation gates failed: windows; the results are pushed and in "
        f"{folder}"
    )
    assert "gate windows: FAIL (4 >= 1000;" in result.output
    s = pushed(stack.settings, "nasdaq")
    assert sample(s, "riskwatch_validation_gate_passed", dataset="nasdaq", gate="windows") == 0
    assert sample(s, "riskwatch_validation_gate_value", dataset="nasdaq", gate="windows") == 4
    assert (
        sample(s, "riskwatch_validation_gate_threshold", dataset="nasdaq", gate="windows") == 1000
    )
    assert (
        sample(s, "riskwatch_validation_gate_passed", dataset="nasdaq", gate="data_completeness")
        == 1
    )
    # The job ran: ValidationGateFailed, not ValidationJobMissing, is the alert.
    assert (
        sample(s, "riskwatch_validation_last_success_timestamp_seconds", dataset="nasdaq") >= before
    )
    assert (folder / "validation.json").is_file()
