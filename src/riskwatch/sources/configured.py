"""The data sources the settings name: the market feed and one broker per portfolio.

The trading agent, the health agent's broker check and the market-data exporter all
build their sources here, so a deployment's `trading.data_source` and `trading.broker`
mean the same thing to each of them.
"""

from __future__ import annotations

from riskwatch.publish import Publisher
from riskwatch.settings import ConfigError, Settings
from riskwatch.sources.base import BrokerSource, MarketDataSource
from riskwatch.sources.synthetic import SyntheticBroker, SyntheticMarket


def make_market(settings: Settings, publisher: Publisher) -> MarketDataSource:
    """The configured market-data feed; ticks it rejects are counted on `publisher`."""
    t = settings.trading
    if t.data_source == "synthetic":
        return SyntheticMarket(t.seed)
    from riskwatch.sources.polygon import PolygonSource

    assert t.polygon is not None  # settings validation guarantees it
    rejected = publisher.counter("marketdata_rejected_ticks_total")
    return PolygonSource(t.polygon, on_reject=lambda r: rejected.labels("polygon", r.reason).inc())


def make_brokers(
    settings: Settings, market: MarketDataSource, publisher: Publisher
) -> dict[str, BrokerSource]:
    """One started broker source per configured portfolio, by portfolio name."""
    t = settings.trading
    if t.broker == "synthetic":
        if not isinstance(market, SyntheticMarket):
            raise ConfigError("trading.broker 'synthetic' needs trading.data_source 'synthetic'")
        return {
            p.name: SyntheticBroker(market, p.name, p.initial_value_usd, p.positions)
            for p in t.portfolios
        }
    from riskwatch.sources.ibkr import IbkrSource

    assert t.ibkr is not None
    disconnects = publisher.counter("broker_disconnects_total")
    brokers: dict[str, BrokerSource] = {}
    for i, p in enumerate(t.portfolios):
        # One API client per account, each with its own client id on the gateway.
        config = t.ibkr.model_copy(
            update={"client_id": t.ibkr.client_id + i, "account": p.broker_account}
        )
        source = IbkrSource(config, on_disconnect=lambda: disconnects.labels("ibkr").inc())
        source.start()
        brokers[p.name] = source
    return brokers
