"""The desk validation with Polygon configured, at the wire: daily and minute bars from
the local server that speaks Polygon's protocol (tests/sources/polygon_server.py),
the forecast log written through its own API into the real PostgreSQL, a real
Pushgateway.

The server's bars are chosen so the completeness is known by construction: every
session of the span has a daily bar except 10 of MTUM's (490 of 500), and the
validated day's session has its 390 minutes except every tenth of SPY's (351 of 390,
0.9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result

from riskwatch.clock import FixedClock
from riskwatch.forecast_log import ForecastLog
from riskwatch.settings import Settings, load_settings
from riskwatch.sources.polygon import PolygonSource
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.stack.runner import Stack
from riskwatch.validation.completeness import minute_completeness
from riskwatch.validation.span import sessions_ending
from tests.sources.polygon_server import FakeClock, FakePolygon, Reply, day_aggs, serve_polygon
from tests.sources.ports import stable_port
from tests.support.calendar import shipped_calendar
from tests.support.stack import stack_env
from tests.validation.support import pushed, sample, validate
from tests.validation.test_desk import AS_OF, AT, desk_db, write_log

pytestmark = pytest.mark.stack
__all__ = ["desk_db"]  # the fixture, shared with test_desk

SYMBOLS = ("SPY", "MTUM", "XLK")
# 2026-11-17 is in EST: the session is 14:30 to 21:00 UTC, 390 minutes.
OPENING = datetime(2026, 11, 17, 14, 30, tzinfo=UTC)
MAX_RETRIES = 2


def polygon_env(url: str) -> dict[str, str]:
    """The settings that name Polygon as the market source, at `url`."""
    return {
        "RISKWATCH_TRADING__DATA_SOURCE": "polygon",
        "RISKWATCH_TRADING__POLYGON__API_KEY": "test-key",
        "RISKWATCH_TRADING__POLYGON__BASE_URL": url,
        "RISKWATCH_TRADING__POLYGON__REQUESTS_PER_MINUTE": "100",
        "RISKWATCH_TRADING__POLYGON__MAX_RETRIES": str(MAX_RETRIES),
        "RISKWATCH_VALIDATION__SYMBOLS": json.dumps(SYMBOLS),
    }


@dataclass
class DeskCommand:
    """`riskwatch validate` on the desk at `AT`, with settings that name Polygon."""

    env: dict[str, str]
    out: Path
    gateway: Settings
    """The stack whose Pushgateway the command pushes to."""
    monkeypatch: pytest.MonkeyPatch

    def __call__(self, url: str, clock: FakeClock | None = None) -> Result:
        """Run against the Polygon at `url`. The source is built from the command's
        settings but on the test's clock (the validation's own would be the wall
        clock), and handed to the command as its market."""
        env = {**self.env, **polygon_env(url)}
        for name, value in env.items():
            self.monkeypatch.setenv(name, value)
        config = load_settings().trading.polygon
        assert config is not None
        clock = clock or FakeClock()
        source = PolygonSource(
            config, clock=clock, sleep=clock.sleep, now=lambda: AT.astimezone(UTC)
        )
        return validate([], at=AT, env=env, market=source)


@pytest.fixture
def desk(
    stack: Stack, desk_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> DeskCommand:
    """The command, with test_desk's forecast log in a database of its own."""
    calendar = shipped_calendar()
    write_log(ForecastLog(desk_db), list(sessions_ending(calendar, AS_OF, 301)), calendar)
    out = tmp_path / "out"
    env = stack_env(stack, RISKWATCH_DATABASE_URL=desk_db, RISKWATCH_VALIDATION__OUT_DIR=str(out))
    return DeskCommand(env, out, stack.settings, monkeypatch)


@pytest.fixture
def polygon() -> Iterator[FakePolygon]:
    """The local Polygon, serving a daily bar on every session of the desk's span (but
    MTUM's first 10)."""
    span = list(sessions_ending(shipped_calendar(), AS_OF, 500))
    with serve_polygon() as fake:
        for symbol in SYMBOLS:
            # The first 10 sessions are in no model window (the earliest starts 17
            # sessions in), so the model's windows stay complete.
            days: list[date] = span[10:] if symbol == "MTUM" else span
            fake.script(symbol, Reply(200, day_aggs(symbol, days)))
        yield fake


def error_line(stderr: str) -> str:
    """The command's error: its last line, after the source's logged retries."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith("{") for line in lines[:-1]), stderr  # JSON log records
    assert lines[-1].startswith("riskwatch: error: "), stderr
    return lines[-1]


def minutes(*offsets: int) -> list[datetime]:
    return [OPENING + timedelta(minutes=k) for k in offsets]


def test_desk_scores_polygon_daily_and_minute_bars(polygon: FakePolygon, desk: DeskCommand) -> None:
    polygon.remove_minutes("SPY", *minutes(*range(0, 390, 10)))  # 39 of 390
    result = desk(polygon.url)

    assert result.exit_code == 0, result.output + result.stderr
    for symbol in SYMBOLS:
        daily, minute = (r.path for r in polygon.seen(symbol))
        assert daily.startswith(f"/v2/aggs/ticker/{symbol}/range/1/day/")
        assert minute == f"/v2/aggs/ticker/{symbol}/range/1/minute/2026-11-17/2026-11-17"
    s = pushed(desk.gateway, "desk")
    # The daily ratio keeps its meaning: daily bars over the span's sessions.
    for symbol, ratio in {"SPY": 1.0, "MTUM": 490 / 500, "XLK": 1.0}.items():
        assert sample(
            s, "riskwatch_validation_data_completeness_ratio", dataset="desk", symbol=symbol
        ) == (pytest.approx(ratio))
    gate = {"dataset": "desk", "gate": "session_completeness"}
    assert sample(s, "riskwatch_validation_gate_value", **gate) == pytest.approx(
        (3 * 390 - 39) / 1170
    )
    assert sample(s, "riskwatch_validation_gate_threshold", **gate) == 0.7
    assert sample(s, "riskwatch_validation_gate_passed", **gate) == 1
    assert sample(
        s, "riskwatch_validation_gate_value", dataset="desk", gate="data_completeness"
    ) == (pytest.approx(1490 / 1500))

    folder = desk.out / "desk" / AS_OF.isoformat()
    data = json.loads((folder / "validation.json").read_text())
    session = data["session_completeness"]
    assert session["day"] == "2026-11-17"
    assert (session["received"], session["expected"]) == (1131, 1170)
    assert [(x["symbol"], x["received"], x["ratio"]) for x in session["symbols"]] == [
        ("SPY", 351, 0.9),
        ("MTUM", 390, 1.0),
        ("XLK", 390, 1.0),
    ]
    markdown = (folder / "validation.md").read_text()
    assert "## Session completeness (2026-11-17, minute bars)" in markdown
    assert "| SPY | 351 | 390 | 90.00% |" in markdown


def test_too_many_missing_minutes_fail_the_session_gate(
    polygon: FakePolygon, desk: DeskCommand
) -> None:
    for symbol in SYMBOLS:
        polygon.remove_minutes(symbol, *minutes(*range(200)))  # 190 of 390 left
    result = desk(polygon.url)

    assert result.exit_code == 3, result.output + result.stderr
    assert "gate session_completeness: FAIL (0.4872 >= 0.7; 570 of 1170 minute bars" in (
        result.output
    )
    s = pushed(desk.gateway, "desk")
    assert (
        sample(s, "riskwatch_validation_gate_passed", dataset="desk", gate="session_completeness")
        == 0
    )
    assert (
        sample(s, "riskwatch_validation_gate_passed", dataset="desk", gate="data_completeness") == 1
    )


def test_a_rate_limited_polygon_fails_the_run_with_one_line(
    polygon: FakePolygon, desk: DeskCommand
) -> None:
    # SPY's daily bars come (scripted by the fixture), then its minute bars are refused.
    polygon.script("SPY", *[Reply.error(429)] * (MAX_RETRIES + 1))
    clock = FakeClock()
    result = desk(polygon.url, clock)

    assert result.exit_code == 1, result.output + result.stderr
    line = error_line(result.stderr)
    assert "cannot read bars from the market source: polygon: SPY: giving up after 3" in line
    assert "HTTP 429" in line
    assert polygon.seen("SPY")[-1].path.endswith("/range/1/minute/2026-11-17/2026-11-17")
    assert clock.sleeps == [1.0, 2.0]
    assert not (desk.out / "desk").exists()


def test_an_unreachable_polygon_fails_the_run_with_one_line(desk: DeskCommand) -> None:
    url = f"http://127.0.0.1:{stable_port()}"  # nothing listens there
    result = desk(url)

    assert result.exit_code == 1, result.output + result.stderr
    line = error_line(result.stderr)
    assert "cannot read bars from the market source: polygon: SPY: giving up after 3" in line


def test_a_half_day_expects_the_minutes_of_its_shorter_session() -> None:
    # The day after Thanksgiving closes at 13:00: 210 minutes from 09:30. The synthetic
    # tape trades the full day; only the session's minutes count, so all 210 are there.
    calendar = shipped_calendar()
    half_day = date(2026, 11, 27)
    session = calendar.session_times(half_day)
    assert session is not None
    after = datetime.combine(half_day + timedelta(days=3), datetime.min.time(), UTC)
    market = SyntheticMarket(7, clock=FixedClock(after), calendar=calendar)

    scored = minute_completeness(market.minute_bars(["SPY"], half_day), *session)

    assert [(s.received, s.expected) for s in scored.symbols] == [(210, 210)]
