"""`riskwatch exporter NAME [--web.listen-address HOST:PORT] [--web.telemetry-path PATH]
[--web.config.file FILE]`: serve a sidecar exporter, with the Prometheus exporters' flags.
"""

from __future__ import annotations

from pathlib import Path

import click

from riskwatch.settings import ConfigError, Settings

DESCRIPTIONS = {
    "tradestore": "Orders, fills, latency, slippage and reconciliation from the trade store.",
    "ibkr": "The IB Gateway connection, account updates, API errors and market-data farms.",
    "marketdata": "Per market-data source: tick age, ticks, gaps and rate-limit hits.",
}
EXPORTERS = tuple(DESCRIPTIONS)


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
@click.option(
    "--web.listen-address",
    "listen_address",
    metavar="HOST:PORT",
    default=None,
    help="Where to listen (default: stack.host and exporters.NAME_port).",
)
@click.option(
    "--web.telemetry-path",
    "telemetry_path",
    metavar="PATH",
    default="/metrics",
    show_default=True,
    help="Where the metrics are served.",
)
@click.option(
    "--web.config.file",
    "web_config_file",
    metavar="FILE",
    type=click.Path(path_type=Path),
    default=None,
    help="Exporter-toolkit web config: tls_server_config and basic_auth_users (bcrypt). "
    "Default: exporters.web_config_file.",
)
@click.option("--listen", default=None, hidden=True, help="Deprecated: --web.listen-address.")
@click.pass_context
def exporter(
    ctx: click.Context,
    name: str,
    listen_address: str | None,
    telemetry_path: str,
    web_config_file: Path | None,
    listen: str | None,
) -> None:
    """Serve a sidecar exporter: tradestore, ibkr or marketdata.

    The metrics at --web.telemetry-path, a landing page at / and /healthz; TLS and
    basic auth from --web.config.file (the Prometheus exporter toolkit's format).
    """
    from riskwatch.cliutil import cli_settings, fail, parse_listen
    from riskwatch.exporters.base import TimedCollector, serve
    from riskwatch.exporters.web import WebConfig, WebConfigError, load_web_config

    if listen is not None:
        if listen_address is not None:
            raise click.UsageError("give --web.listen-address only (--listen is its old name)")
        click.echo("riskwatch: warning: --listen is deprecated, use --web.listen-address", err=True)
        listen_address = listen
    address = parse_listen(listen_address) if listen_address else None
    if not telemetry_path.startswith("/") or telemetry_path in ("/", "/healthz"):
        raise click.BadParameter(
            f"{telemetry_path!r} must be a path such as /metrics (not / or /healthz)",
            param_hint="--web.telemetry-path",
        )
    settings = cli_settings(ctx)
    web_config = WebConfig()
    web_config_file = web_config_file or settings.exporters.web_config_file
    if web_config_file is not None:
        try:
            web_config = load_web_config(web_config_file)
        except WebConfigError as exc:
            fail(str(exc), 2)
    try:
        collector = build_collector(name, settings)
    except ConfigError as exc:
        fail(str(exc), 2)
    assert isinstance(collector, TimedCollector)
    default_port: int = getattr(settings.exporters, f"{name}_port")
    host, port = address or (settings.stack.host, default_port)
    try:
        serve(
            collector,
            host,
            port,
            telemetry_path=telemetry_path,
            web_config=web_config,
            description=DESCRIPTIONS[name],
        )
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
