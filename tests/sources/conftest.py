"""Fixtures for the data-source adapters: a local Polygon, a fake TWS, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sources.fake_tws import FakeContract, FakeExecution, FakeTws, Holding, running
from tests.sources.polygon_server import FakeClock, FakePolygon, serve_polygon


@pytest.fixture
def polygon() -> Iterator[FakePolygon]:
    with serve_polygon() as fake:
        yield fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _fill(
    n: int,
    contract: FakeContract,
    side: str,
    shares: float,
    price: float,
    ny_time: str,
    account: str = "DU1234567",
) -> FakeExecution:
    """Execution number `n` of 2024-05-31, as TWS reports it (exchange-local time)."""
    time = f"20240531 {ny_time} America/New_York"
    return FakeExecution(
        f"0000e0d5.665a1c0{n}.01.01", contract, side, shares, price, time, account, 10 + n, 9000 + n
    )


def _default_tws() -> FakeTws:
    aapl = FakeContract(265598, "AAPL", exchange="SMART")
    msft = FakeContract(272093, "MSFT", exchange="SMART")
    call = FakeContract(
        690_000_001,
        "AAPL",
        sec_type="OPT",
        expiry="20240621",
        strike="200",
        right="C",
        multiplier="100",
        local_symbol="AAPL  240621C00200000",
        trading_class="AAPL",
    )
    return FakeTws(
        account_values=[
            ("AccountCode", "DU1234567", ""),
            ("NetLiquidation", "1250000.50", "USD"),
            ("TotalCashValue", "250000.25", "USD"),
            ("TotalCashBalance", "250000.25", "BASE"),
            ("BuyingPower", "4000000.00", "USD"),
        ],
        holdings=[
            Holding(aapl, 100, 180.5, 192.25),
            Holding(msft, -50, 420.0, 415.13),
            Holding(call, 2, 350.0, 4.1),
        ],
        executions=[
            _fill(1, aapl, "BOT", 100, 191.5, "09:31:00"),
            _fill(2, aapl, "BOT", 40, 191.75, "09:45:00"),
            _fill(3, msft, "SLD", 50, 415.1, "10:30:12"),
            _fill(4, msft, "BOT", 10, 415.0, "10:31:00", account="DU7654321"),
        ],
    )


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    with running(_default_tws()) as fake:
        yield fake
