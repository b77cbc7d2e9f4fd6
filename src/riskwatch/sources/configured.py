"""The data sources the settings name: the market feed and one broker per portfolio.

The trading agent, the health agent's broker check and the market-data exporter all
build their sources here, so a deployment's `trading.data_source` and `trading.broker`
mean the same thing to each of them.
"""

from __future__ import annotations

from riskwatch.calendar import MarketCalendar
from riskwatch.publish import Publisher
from riskwatch.settings import ConfigError, Settings
from riskwatch.sources.base import BrokerSource, MarketDataSource
from riskwatch.sources.synthetic import SyntheticMarket
from riskwatch.sources.synthetic_broker import SyntheticBroker


def make_market(settings: Settings, publisher: Publisher) -> MarketDataSource:
    """The configured market-data feed; ticks it rejects are counted on `publisher`."""
    t = settings.trading
    if t.data_source == "synthetic":
        return SyntheticMarket(t.seed, calendar=MarketCalendar(settings.policy.market))
    from riskwatch.sources.polygon import PolygonSource

    assert t.polygon is not None  # settings validation guarantees it
    rejected = publisher.counter("marketdata_rejected_ticks_total")
    return PolygonSource(t.polygon, on_reject=lambda r: rejected.labels("polygon", r.reason).inc())


def make_brokers(
    settings: Settings,
    market: MarketDataSource | None,
    publisher: Publisher,
    *,
    ibkr_client_id: int | None = None,
) -> dict[str, BrokerSource]:
    """One started broker source per configured portfolio, by portfolio name.

    `ibkr_client_id` is the first IBKR client id (default `trading.ibkr.client_id`),
    one more for each further portfolio: another process watching the same gateway
    needs a range of its own. `market` is needed by the synthetic broker only.
    """
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
    first = t.ibkr.client_id if ibkr_client_id is None else ibkr_client_id
    disconnects = publisher.counter("riskwatch_broker_disconnects_total")
    brokers: dict[str, BrokerSource] = {}
    for i, p in enumerate(t.portfolios):
        # One API client per account, each with its own client id on the gateway.
        config = t.ibkr.model_copy(update={"client_id": first + i, "account": p.broker_account})
        # start() only starts the background loop: a gateway that is down does not
        # block here, the source reconnects on its own and reports `connected` false.
        source = IbkrSource(config, on_disconnect=lambda: disconnects.labels("ibkr").inc())
        source.start()
        brokers[p.name] = source
    return brokers


def make_health_brokers(settings: Settings, publisher: Publisher) -> dict[str, BrokerSource]:
    """The brokers of every configured portfolio, for the health agent to check: the
    trading agent's, on gateway connections of the health agent's own
    (`health.ibkr_client_id`, which must not overlap the trading agent's ids)."""
    t = settings.trading
    if t.broker == "synthetic":
        return make_brokers(settings, make_market(settings, publisher), publisher)
    assert t.ibkr is not None
    first = settings.health.ibkr_client_id
    if first is None:
        raise ConfigError(
            "trading.broker 'ibkr' needs health.ibkr_client_id for the health agent: "
            "it checks the gateway on connections of its own, and a client id serves "
            "one connection only"
        )
    n = len(t.portfolios)
    trading_ids = range(t.ibkr.client_id, t.ibkr.client_id + n)
    health_ids = range(first, first + n)
    if set(trading_ids) & set(health_ids):
        raise ConfigError(
            f"health.ibkr_client_id {first} makes the health agent use client ids "
            f"{health_ids.start}-{health_ids.stop - 1}, which overlap the trading agent's "
            f"{trading_ids.start}-{trading_ids.stop - 1} (trading.ibkr.client_id, one per "
            "portfolio)"
        )
    return make_brokers(settings, None, publisher, ibkr_client_id=first)
