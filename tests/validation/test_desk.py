"""The default dataset, `desk`: the forecast log written through its own API into the
real PostgreSQL, the synthetic market on the test's clock, a real Pushgateway.

The log is built so the answer is known by construction: a constant 2% VaR and 3% ES,
and losses of exactly 3% on chosen days, so the exceptions, the zone and even Z2 are
counted by hand.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from riskwatch.calendar import MarketCalendar
from riskwatch.clock import FixedClock
from riskwatch.forecast_log import Forecast, ForecastLog
from riskwatch.settings import load_settings
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.stack.runner import Stack
from riskwatch.validation.span import sessions_ending
from tests.support.calendar import shipped_calendar, shipped_zone
from tests.support.stack import stack_env
from tests.validation.support import pushed, sample, validate

pytestmark = pytest.mark.stack

# Wednesday before the open: the last completed exchange day is Tuesday 2026-11-17.
AT = datetime(2026, 11, 18, 2, 0, tzinfo=shipped_zone())
AS_OF = date(2026, 11, 17)
VAR, ES, LOSS, GAIN = 0.02, 0.03, -0.03, 0.001
EXCEPTIONS = {"alpha": 12, "beta": 3}  # in the last 250 sessions: red, and green


@pytest.fixture
def desk_db(stack: Stack) -> Iterator[str]:
    """A database of its own on the stack's cluster: other tests log forecasts too."""
    name = f"validation_test_{uuid.uuid4().hex[:12]}"
    admin = stack.database_dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(admin, dbname=name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def write_log(log: ForecastLog, sessions: list[date], calendar: MarketCalendar) -> None:
    forecasts = []
    for previous, day in pairwise(sessions):
        close = calendar.session_times(previous)
        assert close is not None
        for portfolio in EXCEPTIONS:
            for confidence in (0.99, 0.975):
                forecasts.append(
                    Forecast(portfolio, "historical", confidence, day, VAR, ES, close[1])
                )
    # A book whose realised returns were never logged: nothing to backtest it against.
    close = calendar.session_times(sessions[-2])
    assert close is not None
    forecasts.append(Forecast("gamma", "historical", 0.99, sessions[-1], VAR, ES, close[1]))
    assert log.record_forecasts(forecasts) == len(forecasts)
    window = sessions[-250:]
    for portfolio, count in EXCEPTIONS.items():
        losses = set(window[::20][:count])
        for day in sessions[1:]:
            log.record_realised(portfolio, day, LOSS if day in losses else GAIN)


def test_the_desk_backtests_its_forecast_log(stack: Stack, desk_db: str, tmp_path: Path) -> None:
    calendar = shipped_calendar()
    sessions = list(sessions_ending(calendar, AS_OF, 301))
    write_log(ForecastLog(desk_db), sessions, calendar)
    market = SyntheticMarket(7, clock=FixedClock(AT), calendar=calendar)
    out = tmp_path / "out"
    env = stack_env(stack, RISKWATCH_DATABASE_URL=desk_db, RISKWATCH_VALIDATION__OUT_DIR=str(out))

    result = validate([], at=AT, env=env, market=market)

    assert result.exit_code == 0, result.output + result.stderr
    s = pushed(stack.settings, "desk")
    for portfolio, count in EXCEPTIONS.items():
        for confidence in ("0.99", "0.975"):
            labels = {
                "dataset": "desk",
                "portfolio": portfolio,
                "method": "historical",
                "confidence": confidence,
            }
            assert sample(s, "riskwatch_validation_var_exceptions", **labels) == count
            assert sample(s, "riskwatch_validation_var_observations", **labels) == 250
            # Z2 = sum(r / ES) / (n p) + 1 over the exceptions, each r / ES = -1.
            p = 1 - float(confidence)
            assert sample(s, "riskwatch_validation_es_z2", **labels) == pytest.approx(
                1 - count / (250 * p)
            )
        at_99 = {"dataset": "desk", "portfolio": portfolio, "method": "historical"}
        zone = sample(s, "riskwatch_validation_var_zone", **at_99, confidence="0.99")
        assert zone == (2 if count >= 10 else 0)
    settings = load_settings()
    symbols = ["SPY", *settings.trading.factor_proxies.values()]
    assert settings.trading.benchmark == "SPY"
    for symbol in symbols:
        ratio = sample(
            s, "riskwatch_validation_data_completeness_ratio", dataset="desk", symbol=symbol
        )
        assert ratio == 1
    for gate in ("complete_windows", "data_completeness", "max_abs_return", "windows"):
        assert sample(s, "riskwatch_validation_gate_passed", dataset="desk", gate=gate) == 1

    assert not [key for key in s if ("portfolio", "gamma") in key[1]]
    folder = out / "desk" / AS_OF.isoformat()
    markdown = (folder / "validation.md").read_text()
    assert "| gamma | historical | 0.99 | 0 | - | - | - | - | - | - | no realised return |" in (
        markdown
    )
    data = json.loads((folder / "validation.json").read_text())
    # Two backtest windows of sessions: the zone over time covers the last with full ones.
    assert data["sessions"] == 500 and data["as_of"] == AS_OF.isoformat()
    assert data["warnings"] == []
    # The log starts 300 sessions back: no forecast before, so the history has 300 days.
    (alpha,) = [
        b for b in data["backtests"] if (b["portfolio"], b["confidence_label"]) == ("alpha", "0.99")
    ]
    assert alpha["history"]["n"] == 300 and alpha["window"]["zone"] == "red"


def test_an_empty_forecast_log_is_a_warning_not_a_silent_pass(
    stack: Stack, desk_db: str, tmp_path: Path
) -> None:
    market = SyntheticMarket(7, clock=FixedClock(AT), calendar=shipped_calendar())
    out = tmp_path / "out"
    env = stack_env(stack, RISKWATCH_DATABASE_URL=desk_db, RISKWATCH_VALIDATION__OUT_DIR=str(out))
    result = validate(["--since", "2026-06-01"], at=AT, env=env, market=market)
    assert result.exit_code == 0, result.output + result.stderr
    assert "warning: the forecast log has no forecast from 2026-06-01 to 2026-11-17" in (
        result.output
    )
    markdown = (out / "desk" / AS_OF.isoformat() / "validation.md").read_text()
    assert "No forecasts to backtest." in markdown
