"""`riskwatch exporter NAME [--listen HOST:PORT]`: serve a sidecar exporter."""

from __future__ import annotations

import click

from riskwatch.settings import ConfigError, Settings

EXPORTERS = ("tradestore", "ibkr", "marketdata")


def build_collector(name: str, settings: Settings) -> object:
    """The named exporter's collector, configured from settings."""
    timeout = settings.exporters.timeout_seconds
    if name == "tradestore":
        from riskwatch.database import local_database_url
        from riskwatch.exporters.tradestore import ensure_schema, make_collector

        dsn = local_database_url(settings)
        if dsn is None:
            raise ConfigError("the tradestore exporter needs RISKWATCH_DATABASE_URL")
        ensure_schema(dsn)
        return make_collector(dsn, timeout)
    if name == "ibkr":
        from riskwatch.exporters.ibkr import make_collector as ibkr_collector
        from riskwatch.sources.ibkr import IbkrSource

        if settings.trading.ibkr is None:
            raise ConfigError("the ibkr exporter needs trading.ibkr (host, port, client_id)")
        # Its own API client id, next to the trading agent's range of ids.
        config = settings.trading.ibkr.model_copy(
            update={"client_id": settings.trading.ibkr.client_id + 100}
        )
        source = IbkrSource(config)
        source.start()
        return ibkr_collector(source, timeout)
    from riskwatch.exporters.marketdata import make_collector as marketdata_collector
    from riskwatch.publish import Publisher
    from riskwatch.sources.configured import make_market

    market = make_market(settings, Publisher("marketdata-exporter"))
    e = settings.exporters
    return marketdata_collector(market, e.marketdata_symbols, e.marketdata_stale_seconds, timeout)


@click.command("exporter")
@click.argument("name", type=click.Choice(EXPORTERS))
@click.option("--listen", default=None, help="HOST:PORT (default: exporters.NAME_port).")
@click.pass_context
def exporter(ctx: click.Context, name: str, listen: str | None) -> None:
    """Serve a sidecar exporter's /metrics and /healthz: tradestore, ibkr or marketdata."""
    from riskwatch.cliutil import cli_settings, fail, parse_listen
    from riskwatch.exporters.base import TimedCollector, serve

    settings = cli_settings(ctx)
    try:
        collector = build_collector(name, settings)
    except ConfigError as exc:
        fail(str(exc), 2)
    assert isinstance(collector, TimedCollector)
    default_port: int = getattr(settings.exporters, f"{name}_port")
    host, port = parse_listen(listen) if listen else (settings.stack.host, default_port)
    serve(collector, host, port)
