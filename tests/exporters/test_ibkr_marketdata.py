"""The IBKR and market-data exporters against the IBKR-boundary and Polygon-like doubles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from riskwatch.exporters import ibkr, marketdata
from riskwatch.source_settings import IbkrConfig, PolygonConfig
from riskwatch.sources.ibkr import IbkrSource
from riskwatch.sources.polygon import PolygonSource
from tests.sources.fake_tws import FakeContract, FakeTws, Holding, running
from tests.sources.polygon_server import FakePolygon, Reply, serve_polygon
from tests.support.stack import free_port, wait_for


def registry_of(collector: object) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)  # type: ignore[arg-type]
    return registry


@pytest.fixture
def tws() -> Iterator[FakeTws]:
    fake = FakeTws(
        account_values=[
            ("AccountCode", "DU1234567", ""),
            ("NetLiquidation", "1000.00", "USD"),
            ("TotalCashValue", "1000.00", "USD"),
        ],
        holdings=[Holding(FakeContract(265598, "AAPL", exchange="SMART"), 1, 100.0, 101.0)],
    )
    with running(fake) as gateway:
        yield gateway


def _try_start(tws: FakeTws) -> bool:
    try:
        tws.start()
    except OSError:
        return False
    return True


def ibkr_source(port: int) -> IbkrSource:
    return IbkrSource(
        IbkrConfig(
            port=port,
            client_id=21,
            reconnect_initial_seconds=0.05,
            reconnect_max_seconds=0.2,
            request_timeout_seconds=1.0,
            connect_timeout_seconds=2.0,
        )
    )


def test_ibkr_exporter_reports_connection_errors_farms_and_account_age(tws: FakeTws) -> None:
    source = ibkr_source(tws.port)
    source.start()
    try:
        assert source.wait_connected(10)
        tws.broadcast_error(2104, "Market data farm connection is OK:usfarm")
        tws.broadcast_error(2103, "Market data farm connection is broken:eufarm")
        wait_for(lambda: len(source.farms) == 2, "the farm notices")
        r = registry_of(ibkr.make_collector(source, 3.0))
        v = r.get_sample_value
        assert v("ibkr_scrape_success") == 1
        assert v("ibkr_connected") == 1
        assert v("ibkr_market_data_farm_up", {"farm": "usfarm"}) == 1
        assert v("ibkr_market_data_farm_up", {"farm": "eufarm"}) == 0
        assert v("ibkr_api_errors_total", {"code": "2104"}) == 1
        assert v("ibkr_account_update_age_seconds") is not None
        assert 0 <= v("ibkr_account_update_age_seconds") < 60

        tws.stop()  # the gateway goes away (a nightly reset)
        wait_for(lambda: not source.connected, "the disconnect")
        v = registry_of(ibkr.make_collector(source, 3.0)).get_sample_value
        assert v("ibkr_scrape_success") == 0, "a failing gateway fails the scrape"
        assert v("ibkr_connected") == 0, "and the exporter still says why"

        # Back after the reset. The port may be briefly held by the source's own
        # reconnect attempt (a socket bound to it while it dials), so retry the bind.
        wait_for(lambda: _try_start(tws), "the gateway's port to be free again", timeout=15)
        wait_for(lambda: source.connected, "the reconnect", timeout=15)
        v = registry_of(ibkr.make_collector(source, 3.0)).get_sample_value
        assert v("ibkr_scrape_success") == 1 and v("ibkr_connected") == 1
    finally:
        source.close()


@pytest.fixture
def polygon() -> Iterator[FakePolygon]:
    with serve_polygon() as fake:
        yield fake


def polygon_source(url: str) -> PolygonSource:
    return PolygonSource(
        PolygonConfig(
            api_key="test-key",
            base_url=url,
            requests_per_minute=1000,
            max_retries=1,
            backoff_initial_seconds=0.01,
            backoff_max_seconds=0.02,
        )
    )


def test_marketdata_exporter_counts_ticks_gaps_and_rate_limits(polygon: FakePolygon) -> None:
    source = polygon_source(polygon.url)
    clock = {"now": datetime(2024, 5, 31, 20, 0, tzinfo=UTC)}
    collector = marketdata.MarketDataCollector(source, ["AAPL", "MSFT"], 60.0, lambda: clock["now"])
    r = registry_of(marketdata.TimedCollector("marketdata", collector.collect, 5.0))
    v = r.get_sample_value
    labels = {"source": "polygon"}
    assert v("marketdata_scrape_success") == 1
    assert v("marketdata_ticks_total", labels) == 2  # one new trade per symbol
    first_age = v("marketdata_tick_age_seconds", labels)
    assert first_age is not None and first_age >= 0

    clock["now"] += timedelta(minutes=5)  # same recorded trades, five minutes later
    assert v("marketdata_ticks_total", labels) == 2, "an old trade is not a new tick"
    assert v("marketdata_gaps_total", labels) >= 2

    polygon.script("AAPL", *[Reply.error(429, "0")] * 2)  # past max_retries
    assert v("marketdata_scrape_success") == 0
    assert v("marketdata_rate_limited_total", labels) == 2
    assert v("marketdata_ticks_total", labels) == 2, "counters survive a failed scrape"


def test_marketdata_exporter_on_an_unreachable_source() -> None:
    source = polygon_source(f"http://127.0.0.1:{free_port()}")
    collector = marketdata.make_collector(source, ["AAPL"], 60.0, 5.0)
    v = registry_of(collector).get_sample_value
    assert v("marketdata_scrape_success") == 0
    assert v("marketdata_scrape_duration_seconds") is not None
