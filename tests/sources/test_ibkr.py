"""IbkrSource against a fake gateway speaking the TWS API socket protocol.

The real ib_async client does the handshake, decoding and bookkeeping; the fake (see
fake_tws.py) plays TWS/IB Gateway: it answers the requests, drops the connection, goes
away and comes back, and sends the gateway's link-lost/restored errors.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from riskwatch.sources.base import Account, BrokerSource, Execution, Position, SourceError
from riskwatch.sources.ibkr import IbkrConfig, IbkrSource
from tests.sources.fake_tws import FakeTws, running
from tests.support.stack import wait_for

FAST = {
    "reconnect_initial_seconds": 0.05,
    "reconnect_max_seconds": 0.2,
    "connect_timeout_seconds": 2.0,
    "request_timeout_seconds": 2.0,
}

SMALL_ACCOUNT = [("NetLiquidation", "10", "USD"), ("TotalCashValue", "4", "USD")]


def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll `check` until true; fails the test, naming `what`, on timeout."""
    wait_for(check, what, timeout=timeout, interval=0.01)


def refused_attempts(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The backoff delays of the failed connect attempts logged so far."""
    return [
        float(r.getMessage().rsplit("retrying in ", 1)[1].rstrip("s"))
        for r in caplog.records
        if r.name == "riskwatch.sources.ibkr" and "cannot connect" in r.getMessage()
    ]


class Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def drops() -> Counter:
    return Counter()


@pytest.fixture
def make_source(drops: Counter) -> Iterator[Callable[..., IbkrSource]]:
    sources: list[IbkrSource] = []

    def make(port: int, **config: Any) -> IbkrSource:
        source = IbkrSource(
            IbkrConfig(port=port, **{"client_id": 7, **FAST, **config}), on_disconnect=drops
        )
        sources.append(source)
        source.start()
        return source

    yield make
    for source in sources:
        source.close()


def test_config_needs_a_client_id_and_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="client_id"):
        IbkrConfig()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="extra"):
        IbkrConfig(client_id=1, password="x")  # type: ignore[call-arg]
    config = IbkrConfig(client_id=1)
    assert (config.host, config.port, config.readonly, config.account) == (
        "127.0.0.1",
        4002,
        True,
        None,
    )


def test_connects_readonly_and_maps_account_and_positions(
    tws: FakeTws, make_source: Callable[..., IbkrSource]
) -> None:
    source = make_source(tws.port)
    assert isinstance(source, BrokerSource)

    assert source.wait_connected(5)
    assert source.connected

    assert source.account() == Account(cash=250000.25, net_liquidation=1250000.50)
    assert source.positions() == [
        Position("AAPL", 100, 180.5),
        Position("MSFT", -50, 420.0),
        Position("AAPL  240621C00200000", 2, 350.0),
    ]
    # One API session, with our client id, that asked for positions and account updates
    # and, read-only, for no orders (open, all open, completed).
    assert tws.handshakes == 1
    assert tws.requests(71)[0][2] == "7"
    assert tws.requests(6)[0][2:4] == ["1", "DU1234567"]
    assert tws.requests(61)
    assert not (tws.requests(5) or tws.requests(16) or tws.requests(99))


def test_executions_since_a_time(tws: FakeTws, make_source: Callable[..., IbkrSource]) -> None:
    source = make_source(tws.port)
    assert source.wait_connected(5)

    fills = source.executions(datetime(2024, 5, 31, 13, 40, tzinfo=UTC))

    assert fills == [
        Execution(
            "0000e0d5.665a1c02.01.01",
            "AAPL",
            "buy",
            40,
            191.75,
            datetime(2024, 5, 31, 13, 45, tzinfo=UTC),
        ),
        Execution(
            "0000e0d5.665a1c03.01.01",
            "MSFT",
            "sell",
            50,
            415.1,
            datetime(2024, 5, 31, 14, 30, 12, tzinfo=UTC),
        ),
    ]
    assert all(f.timestamp.tzinfo is UTC for f in fills)
    assert tws.requests(7)[-1][4] == "DU1234567"  # asked for our account's fills only
    assert len(source.executions(datetime(2024, 5, 31, 0, 0, tzinfo=UTC))) == 3
    with pytest.raises(ValueError, match="timezone-aware"):
        source.executions(datetime(2024, 5, 31))


def test_gateway_reset_disconnects_fails_fast_and_reconnects(
    tws: FakeTws,
    make_source: Callable[..., IbkrSource],
    drops: Counter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="riskwatch.sources.ibkr")
    source = make_source(tws.port)
    assert source.wait_connected(5)

    tws.stop()  # the nightly reset: the socket closes and the port refuses for a while

    eventually(lambda: not source.connected, "the source to see the drop")
    assert drops.count == 1 and source.disconnects == 1
    started = time.monotonic()
    for call in (source.account, source.positions, lambda: source.executions(datetime.now(UTC))):
        with pytest.raises(SourceError, match="not connected"):
            call()
    assert time.monotonic() - started < 0.5  # no waiting on a gateway that is not there
    # A few refused reconnect attempts, backing off (0.05 s doubling to 0.2 s).
    eventually(lambda: len(refused_attempts(caplog)) >= 3, "three refused reconnects")
    assert refused_attempts(caplog)[:3] == [0.05, 0.1, 0.2]
    assert not source.connected

    tws.holdings = tws.holdings[:1]  # the book changed while we were away
    tws.start()  # the gateway is back on the same port

    assert source.wait_connected(5)
    assert source.positions() == [Position("AAPL", 100, 180.5)]
    assert source.account().net_liquidation == 1250000.50
    assert tws.handshakes == 2
    assert drops.count == 1


def test_gateway_down_at_start_then_up(make_source: Callable[..., IbkrSource]) -> None:
    with running(FakeTws(account_values=SMALL_ACCOUNT)) as tws:
        tws.stop()
        source = make_source(tws.port)
        assert not source.wait_connected(0.3)
        with pytest.raises(SourceError):
            source.account()

        tws.start()

        assert source.wait_connected(5)
        assert source.account() == Account(cash=4, net_liquidation=10)
        assert source.positions() == []
        assert source.disconnects == 0  # never connected, so nothing was lost


def connect_then_lose_link(tws: FakeTws, make_source: Callable[..., IbkrSource]) -> IbkrSource:
    """A connected source whose gateway then reports losing its link to IB (1100)."""
    source = make_source(tws.port)
    assert source.wait_connected(5)
    tws.broadcast_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
    eventually(lambda: not source.connected, "the source to see it down")
    return source


def test_link_lost_and_restored_without_reconnecting(
    tws: FakeTws, make_source: Callable[..., IbkrSource], drops: Counter
) -> None:
    source = connect_then_lose_link(tws, make_source)
    assert drops.count == 1
    with pytest.raises(SourceError):
        source.positions()

    tws.broadcast_error(
        1102, "Connectivity between IB and Trader Workstation has been restored - data maintained."
    )
    eventually(lambda: source.connected, "the source to be up again")
    assert source.positions()[0].symbol == "AAPL"
    assert tws.handshakes == 1  # same session throughout
    assert drops.count == 1


def test_link_restored_with_data_lost_resynchronises(
    tws: FakeTws, make_source: Callable[..., IbkrSource], drops: Counter
) -> None:
    source = connect_then_lose_link(tws, make_source)
    tws.holdings = []
    tws.broadcast_error(
        1101, "Connectivity between IB and Trader Workstation has been restored - data lost."
    )

    eventually(lambda: tws.handshakes == 2, "a second API session")
    assert source.wait_connected(5)
    assert source.positions() == []
    assert drops.count == 1  # one outage, counted once


def test_unanswered_request_times_out(tws: FakeTws, make_source: Callable[..., IbkrSource]) -> None:
    tws.answer_executions = False
    source = make_source(tws.port, request_timeout_seconds=0.3)
    assert source.wait_connected(5)

    started = time.monotonic()
    with pytest.raises(SourceError, match="no answer to executions"):
        source.executions(datetime(2024, 5, 31, tzinfo=UTC))
    assert time.monotonic() - started < 1.5
    assert source.connected  # a slow answer is not a disconnect


def test_several_accounts_need_one_chosen(make_source: Callable[..., IbkrSource]) -> None:
    two_accounts = FakeTws(accounts=["DU1111111", "DU2222222"], account_values=SMALL_ACCOUNT)
    with running(two_accounts) as tws:
        ambiguous = make_source(tws.port)
        assert ambiguous.wait_connected(5)
        with pytest.raises(SourceError, match="DU1111111"):
            ambiguous.account()

        chosen = make_source(tws.port, client_id=8, account="DU2222222")
        assert chosen.wait_connected(5)
        assert chosen.account() == Account(cash=4, net_liquidation=10)
        assert tws.requests(6)[-1][3] == "DU2222222"


def test_account_without_usd_values_is_an_error(make_source: Callable[..., IbkrSource]) -> None:
    with running(FakeTws(account_values=[("NetLiquidation", "900000", "EUR")])) as tws:
        source = make_source(tws.port)
        assert source.wait_connected(5)
        with pytest.raises(SourceError, match="no USD"):
            source.account()


def test_hung_gateway_times_out_and_close_does_not_wait_for_it(
    make_source: Callable[..., IbkrSource],
) -> None:
    # Accepts TCP connections (the kernel's backlog) but never speaks the protocol.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        source = make_source(hung.getsockname()[1], connect_timeout_seconds=10)
        assert not source.wait_connected(0.3)
        with pytest.raises(SourceError, match="not connected"):
            source.positions()

        started = time.monotonic()
        source.close()
        assert time.monotonic() - started < 2  # the pending handshake is cancelled


def test_close_disconnects_and_calls_fail(
    tws: FakeTws, make_source: Callable[..., IbkrSource], drops: Counter
) -> None:
    source = make_source(tws.port)
    assert source.wait_connected(5)

    source.close()

    assert not source.connected
    eventually(lambda: tws.client_count == 0, "the client to leave the gateway")
    with pytest.raises(SourceError):
        source.account()
    assert drops.count == 0  # our own close is not a lost connection
