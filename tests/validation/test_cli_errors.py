"""`riskwatch validate` on bad input and a Pushgateway that is down: one line each,
the right exit status, and nothing lost that was already computed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.support.calendar import shipped_zone
from tests.support.policy import policy_copy
from tests.support.stack import free_port
from tests.validation.support import historical_only, one_line, validate

# Wednesday 2026-11-18 before the open: the last completed exchange day is Tuesday.
AT = datetime(2026, 11, 18, 2, 0, tzinfo=shipped_zone())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Settings that reach nothing: no database, a Pushgateway nobody listens on, one
    push attempt."""
    return {
        "RISKWATCH_VALIDATION__OUT_DIR": str(tmp_path / "out"),
        "RISKWATCH_VALIDATION__PUSHGATEWAY_URL": f"http://127.0.0.1:{free_port()}",
        "RISKWATCH_AGENT__PUSH_MAX_ATTEMPTS": "1",
        "RISKWATCH_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "ftse"], "unknown dataset 'ftse'; expected one of desk, sp500, nasdaq"),
        (["--date", "31/12/2008"], "--date '31/12/2008' is not a date like 2026-11-24"),
        (["--dataset", "sp500", "--since", "2008"], "--since '2008' is not a date like"),
        (
            ["--dataset", "sp500", "--date", "2019-03-01"],
            "the sp500 history ends on 2018-12-31; --date 2019-03-01 is after it",
        ),
        (
            ["--dataset", "sp500", "--date", "1999-06-01"],
            "the sp500 history's first forecast is for 1999-12-31 (it needs 250 returns "
            "before it); --date 1999-06-01 is before it",
        ),
        (
            ["--dataset", "sp500", "--date", "2008-12-27"],
            "--date 2008-12-27 is not an exchange day of XNYS; the one before it is 2008-12-26",
        ),
        (
            ["--dataset", "nasdaq", "--since", "2009-01-02", "--date", "2008-12-31"],
            "--since 2009-01-02 is after --date 2008-12-31",
        ),
        # The desk's future is judged by the clock: Wednesday's session has not closed.
        (
            ["--dataset", "desk", "--date", "2026-11-18"],
            "--date 2026-11-18 has not closed yet; the last completed exchange day is 2026-11-17",
        ),
    ],
    ids=[
        "unknown-dataset",
        "bad-date",
        "bad-since",
        "after-history",
        "before-history",
        "saturday",
        "since-after-date",
        "future",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, env: dict[str, str], tmp_path: Path
) -> None:
    result = validate(args, at=AT, env=env)
    assert result.exit_code == 2, result.output + result.stderr
    assert one_line(result).startswith(f"riskwatch: error: {message}")
    assert not (tmp_path / "out").exists()


def test_the_desk_without_a_database_says_so(env: dict[str, str]) -> None:
    result = validate(["--dataset", "desk"], at=AT, env=env)
    assert result.exit_code == 1
    assert "the desk dataset reads the forecast log in PostgreSQL" in one_line(result)


def test_a_pushgateway_that_is_down_fails_the_run_but_keeps_the_artifacts(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["RISKWATCH_POLICY_FILE"] = str(policy_copy(tmp_path, historical_only))
    gateway = env["RISKWATCH_VALIDATION__PUSHGATEWAY_URL"]
    args = ["--dataset", "nasdaq", "--since", "2018-10-01", "--date", "2018-12-31"]
    result = validate(args, at=AT, env=env)
    assert result.exit_code == 1
    folder = tmp_path / "out" / "nasdaq" / "2018-12-31"
    line = one_line(result)
    assert line.startswith(
        f"riskwatch: error: cannot push the validation results to the Pushgateway at {gateway} "
        "(job riskwatch_validate) after 1 attempt(s): "
    )
    assert line.endswith(f"; the artifacts are in {folder}")
    assert (folder / "validation.json").is_file() and (folder / "validation.md").is_file()
    assert len(list(folder.glob("*.png"))) == 4
