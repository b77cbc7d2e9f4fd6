"""The report's trading sections from the real sources: fills kept by the agents' own
store in the stack's PostgreSQL, position figures pushed to the stack's Pushgateway and
scraped by its Prometheus.

The fills are today's (between New York's midnight and now, whatever the hour), so the
window the report reads is today's; another day's window has none of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from riskwatch.agents.equity import EquityStore
from riskwatch.clock import system_clock
from riskwatch.report.model import ReportWindow, Trading, report_window
from riskwatch.report.prom import PrometheusClient
from riskwatch.report.sections import trading_section
from riskwatch.report.trading import TradingReader
from riskwatch.sources.base import Execution, Position
from riskwatch.stack.runner import Stack
from tests.report.test_report_e2e import NO_DATA_DAY
from tests.support.calendar import shipped_calendar
from tests.support.stack import delete_group, prom_query, push_gauges, wait_for

pytestmark = pytest.mark.stack

GROUP = "report-trading-positions"


def _today(stack: Stack) -> ReportWindow:
    now = system_clock()
    return report_window(now.astimezone(stack.settings.policy.market.zone).date(), now,
                         shipped_calendar())  # fmt: skip


def _read(stack: Stack, window: ReportWindow, dsn: str | None, watch: int = 10_000) -> Trading:
    # The watch list is cut to `watch` across every book: other tests' books share the
    # stack, so the list is long enough here to hold this test's book whatever theirs hold.
    prom = PrometheusClient(stack.settings.url.prometheus)
    return TradingReader(prom, window, stack.settings.policy, dsn, watch).read()


@pytest.fixture(scope="module")
def book(stack: Stack) -> Iterator[tuple[str, ReportWindow]]:
    """A book that held 10 MSFT at $400 before today; today it bought 100 AAPL at $190,
    sold 40 at $195, sold its MSFT at $390 and bought 10 NVDA at $900. The agents value
    its AAPL at $12,000 and its NVDA at $8,800."""
    portfolio = f"rpt-trade-{uuid.uuid4().hex[:8]}"
    window = _today(stack)
    start, end = window.start, window.end
    step = (end - start) / 6

    def at(i: int) -> datetime:
        return start + step * i

    store = EquityStore(stack.database_dsn())
    fills = [
        Execution("e1", "AAPL", "buy", 100, 190.0, at(1)),
        Execution("e2", "AAPL", "sell", 40, 195.0, at(2)),
        Execution("e3", "MSFT", "sell", 10, 390.0, at(3)),
        Execution("e4", "NVDA", "buy", 10, 900.0, at(4)),
    ]
    store.record_executions(
        portfolio, fills, [Position("MSFT", 10, 400.0)], start - timedelta(hours=1)
    )
    assert store.trade_fills(portfolio).shape[0] == 5  # the opening lot and four fills
    samples: list[tuple[str, dict[str, str], float]] = []
    for symbol, qty, value, weight in (
        ("AAPL", 60, 12_000.0, 0.012),
        ("NVDA", 10, 8_800.0, 0.0088),
    ):
        key = {"portfolio": portfolio, "symbol": symbol}
        samples += [
            ("trading_position_quantity", key, qty),
            ("trading_position_market_value_usd", {**key, "sector": "tech"}, value),
            ("trading_position_weight_ratio", key, weight),
        ]
    push_gauges(stack.settings, GROUP, samples)
    wait_for(
        lambda: prom_query(
            stack.settings.url.prometheus,
            f'count(trading_position_weight_ratio{{portfolio="{portfolio}"}}) == 2',
        ),
        "the book's positions in Prometheus",
        timeout=30,
    )
    yield portfolio, _today(stack)
    delete_group(stack.settings, GROUP)


def test_the_trading_sections_hold_what_was_stored(
    stack: Stack, book: tuple[str, ReportWindow]
) -> None:
    portfolio, window = book
    trading = _read(stack, window, stack.database_dsn())
    assert trading.trades_error is None
    trades = [t for t in trading.trades if t.portfolio == portfolio]
    assert [(t.symbol, t.side, t.quantity, t.price) for t in trades] == [
        ("AAPL", "buy", 100, 190.0),
        ("AAPL", "sell", 40, 195.0),
        ("MSFT", "sell", 10, 390.0),
        ("NVDA", "buy", 10, 900.0),
    ]
    # FIFO: 40 AAPL bought at 190 sold at 195; the opening 10 MSFT at 400 sold at 390.
    assert [t.realised for t in trades] == [None, pytest.approx(200.0), pytest.approx(-100.0), None]
    mine = Trading(trades=trades)
    assert mine.win_rate == 0.5

    positions = {p.symbol: p for p in trading.positions if p.portfolio == portfolio}
    assert sorted(positions) == ["AAPL", "NVDA"]  # MSFT was sold out
    aapl, nvda = positions["AAPL"], positions["NVDA"]
    assert (aapl.quantity, aapl.market_value, aapl.weight) == (60, 12_000.0, 0.012)
    assert aapl.average_cost == pytest.approx(190.0)
    assert aapl.unrealised == pytest.approx(12_000.0 - 60 * 190.0)
    assert nvda.unrealised == pytest.approx(8_800.0 - 9_000.0)

    movers = {c.symbol: c for c in trading.contributions if c.portfolio == portfolio}
    # AAPL: worth $12,000 at the end, $11,200 paid net during the day.
    assert movers["AAPL"].pnl == pytest.approx(800.0)
    assert movers["AAPL"].realised == pytest.approx(200.0)
    assert movers["NVDA"].pnl == pytest.approx(-200.0)
    # MSFT's value at the start was never published: no figure rather than a made-up one.
    assert "MSFT" not in movers

    watch = [w for w in trading.watch if w.portfolio == portfolio]
    limit = stack.settings.policy.compliance_limit("RISK_001", portfolio)
    assert [(w.symbol, w.rule, w.value, w.limit) for w in watch] == [
        ("AAPL", "RISK_001", 12_000.0, limit),
        ("NVDA", "RISK_001", 8_800.0, limit),
    ]

    assert len(_read(stack, window, stack.database_dsn(), watch=1).watch) == 1
    section = trading_section_text(mine)
    assert "win rate 50% (1 of 2), realised +$100" in section


def trading_section_text(trading: Trading) -> str:
    from tests.report.sample import sample_report

    data = sample_report()
    data.trading = trading
    s = trading_section(data)
    return " ".join(t.caption for t in s.tables)


def test_a_day_without_trading_says_no_data(stack: Stack, book: tuple[str, ReportWindow]) -> None:
    now = system_clock()
    window = report_window(NO_DATA_DAY, now, shipped_calendar())
    trading = _read(stack, window, stack.database_dsn())
    assert trading.trades == trading.positions == trading.contributions == trading.watch == []
    assert trading.trades_error is None

    from tests.report.sample import sample_report

    data = sample_report()
    data.trading = trading
    section = trading_section(data)
    empties = [t.empty for t in section.tables if not t.rows]
    assert len(empties) == len(section.tables) == 5
    assert all(e.startswith("No data") for e in empties if "None today" not in e)
    assert empties[0] == "No data: the agents recorded no fills on this day."

    # Without a database the fills are unknown, and the section says why.
    unread = _read(stack, _today(stack), None)
    assert unread.trades == [] and unread.trades_error is not None
    data.trading = unread
    assert trading_section(data).notices == [
        f"The agents' fills were not read: {unread.trades_error}."
    ]
