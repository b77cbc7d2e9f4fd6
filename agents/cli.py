"""`riskwatch agent trading|health`: build an agent from settings and run it;
`riskwatch agent retire`: take a stopped agent's groups off the Pushgateway."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from riskwatch.agents.equity import EquityStore
from riskwatch.agents.health import HealthAgent
from riskwatch.agents.model import MomentumModel
from riskwatch.agents.tracing import make_tracer
from riskwatch.agents.trading import Book, TradingAgent
from riskwatch.calendar import MarketCalendar
from riskwatch.database import local_database_url
from riskwatch.forecast_log import ForecastLog
from riskwatch.publish import PUSH_JOB, Publisher, RetryPolicy, retire_agent
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.runtime import AgentRuntime, Task
from riskwatch.settings import ConfigError, Settings
from riskwatch.sources.base import BrokerSource, MarketDataSource
from riskwatch.sources.configured import make_brokers, make_health_brokers, make_market

ExtraTasks = Callable[[Settings], Sequence[Task]]
"""Builds the tasks that run beside an agent's own, from the settings."""


def make_publisher(kind: str, settings: Settings) -> Publisher:
    a = settings.agent
    return Publisher(
        a.id or f"{kind}-{socket.gethostname()}",
        a.pushgateway_url or settings.url.pushgateway,
        retry=RetryPolicy(
            a.push_timeout_seconds,
            a.push_max_attempts,
            a.push_backoff_initial_seconds,
            a.push_backoff_max_seconds,
        ),
        access=PushgatewayAccess.from_settings(settings),
    )


def build_runtime(
    kind: str,
    settings: Settings,
    publisher: Publisher | None = None,
    market: MarketDataSource | None = None,
    brokers: dict[str, BrokerSource] | None = None,
    extra_tasks: Sequence[Task] = (),
) -> tuple[AgentRuntime, TradingAgent | HealthAgent]:
    """An agent of `kind` ('trading' or 'health') wired from settings.

    Sources and the publisher may be passed in, e.g. by the demo or a test; the health
    agent checks `brokers` if given, else connections of its own to the configured ones.
    `extra_tasks` run in the same process: the command line gives the health agent the
    daily report this way, so the agents need not import the report.
    """
    pub = publisher or make_publisher(kind, settings)
    calendar = MarketCalendar(settings.policy.market)
    tracer, _provider = make_tracer(kind, pub.agent, settings.agent)
    tasks: list[Task]
    agent: TradingAgent | HealthAgent
    if kind == "trading":
        market = market or make_market(settings, pub)
        brokers = brokers or make_brokers(settings, market, pub)
        dsn = local_database_url(settings)
        evidence = settings.policy.trading_model.min_scored_predictions
        books = [
            Book(p.name, brokers[p.name], MomentumModel(p.model, min_scored=evidence))
            for p in settings.trading.portfolios
        ]
        # One database keeps the equity curve, the fills and the forecast log; without
        # one the agent publishes from memory and records no closes.
        agent = TradingAgent(
            settings.trading,
            pub,
            market,
            books,
            EquityStore(dsn),
            calendar,
            policy=settings.policy,
            forecast_log=None if dsn is None else ForecastLog(dsn),
        )
        tasks = agent.tasks(settings.agent.tasks)
    else:
        agent = HealthAgent(settings, pub, brokers or make_health_brokers(settings, pub))
        tasks = agent.tasks()
    tasks = [*tasks, *extra_tasks]
    runtime = AgentRuntime(
        kind,
        pub,
        tasks,
        calendar,
        tracer,
        tick_seconds=settings.agent.tick_seconds,
        delete_on_exit=settings.agent.delete_on_exit,
    )
    return runtime, agent


def _run(kind: str, ctx: click.Context, config: Path | None, once: bool) -> None:
    from riskwatch.cliutil import cli_settings, fail

    settings = cli_settings(ctx, config)
    try:
        # The composition root (`riskwatch.cli`) says which other tasks share the
        # process: the daily report rides on the health agent.
        more: ExtraTasks | None = (ctx.find_root().obj or {}).get(f"{kind}_tasks")
        runtime, _ = build_runtime(kind, settings, extra_tasks=more(settings) if more else ())
    except ConfigError as exc:
        fail(str(exc), 2)
    listen = settings.agent.metrics_listen
    if listen:
        host, _, port = listen.rpartition(":")
        runtime.publisher.serve(host or "127.0.0.1", int(port))
    if once:
        ok = runtime.run_once()
        runtime.publisher.close()
        sys.exit(0 if ok else 1)
    runtime.run_forever()


_config_option = click.option(
    "--config", type=click.Path(path_type=Path), default=None, help="YAML settings file."
)
_once_option = click.option(
    "--once", is_flag=True, help="Run every task once, push, and exit non-zero on any failure."
)


@click.group("agent")
def agent() -> None:
    """Run a trading or health agent beside a trading system."""


@agent.command("trading")
@_config_option
@_once_option
@click.pass_context
def trading(ctx: click.Context, config: Path | None, once: bool) -> None:
    """Portfolio, positions, trades, model, risk, crowding and compliance metrics."""
    _run("trading", ctx, config, once)


@agent.command("health")
@_config_option
@_once_option
@click.pass_context
def health(ctx: click.Context, config: Path | None, once: bool) -> None:
    """Health of every component and of the trading agents."""
    _run("health", ctx, config, once)


@agent.command("retire")
@click.argument("agent_id")
@_config_option
@click.pass_context
def retire(ctx: click.Context, agent_id: str, config: Path | None) -> None:
    """Delete AGENT_ID's groups from the Pushgateway: the agent is gone for good.

    A stopped agent keeps its group, so AgentDown pages until someone decides it is
    not coming back; this is that decision. Stop the agent first (a running one pushes
    its group back), and drop it from the policy's expected-agent inventory
    (policy.yaml), or AgentMissing pages for it instead.
    """
    from riskwatch.cliutil import cli_settings, fail

    settings = cli_settings(ctx, config)
    url = settings.agent.pushgateway_url or settings.url.pushgateway
    try:
        groups = retire_agent(
            url,
            agent_id,
            timeout=settings.agent.push_timeout_seconds,
            access=PushgatewayAccess.from_settings(settings),
        )
    except (OSError, ValueError) as exc:
        fail(f"cannot retire {agent_id}: Pushgateway {url}: {' '.join(str(exc).split())}")
    if not groups:
        fail(f"no group of agent {agent_id!r} on the Pushgateway {url}: nothing retired")
    for key in groups:
        labels = ",".join(f"{k}={v}" for k, v in sorted(key.items()))
        click.echo(f"deleted group {{job={PUSH_JOB},{labels}}} from {url}")
