"""A world's own forecast log and nightly validation, for the scenarios that judge the
desk's models.

A world that keeps a forecast log gets a database of its own on the stack's
PostgreSQL (`riskwatch.database`), so its books' forecasts never mix with the desk's
(the historical backfill's, a live agent's) and the desk validation of the world reads
exactly its portfolios. The validation's results go to the Pushgateway as the nightly
job's do (grouping key `dataset`), under a job of the world's own
(`<validation.job>_<agent>`), so the desk's last results stay as they were. The
database and the group are removed when the world stops; the artifacts stay under
`<state>/demo/<agent>/`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

import psycopg
from prometheus_client import delete_from_gateway
from psycopg import sql
from psycopg.conninfo import make_conninfo

from riskwatch.database import local_database_url
from riskwatch.demo.backfill.desk import book_of
from riskwatch.demo.backfill.forecasts import close_records, validate_desk, write_records
from riskwatch.demo.world import World
from riskwatch.forecast_log import ForecastLog
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.stack.runner import Stack
from riskwatch.validation.datasets import DESK
from riskwatch.validation.job import describe, pushgateway_url

log = logging.getLogger("riskwatch.demo")

_LOG = "forecast_log"
"""The note (`World.notes`) that holds the DSN of the world's forecast log."""


def _name(world: World) -> str:
    """The world's agent id as a database or job name: letters, digits, underscores."""
    return re.sub(r"[^a-z0-9_]", "_", world.config.agent_id.lower())


def own_database(admin: str, name: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database `name` on the cluster `admin` connects to: its DSN, and
    the call that drops it. One of that name is dropped first: a world of the same
    name that did not stop cleanly left it behind.

    Raises:
        psycopg.Error: the cluster refuses (no CREATEDB privilege, unreachable).
    """
    database = sql.Identifier(name)

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))

    drop()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(database))
    return make_conninfo(admin, dbname=name), drop


class ForecastLogError(RuntimeError):
    """The world's forecast log could not be kept; already phrased as one line."""


def keep_forecast_log(world: World, days: int) -> ForecastLog:
    """Give `world` a forecast log of its own holding what its agent would have logged
    at the `days` closes before its session (`forecasts.close_records`, from its
    market's history as of its clock); it is dropped when the world stops.

    Raises:
        ForecastLogError: no PostgreSQL is configured or recorded by the local stack,
            or the database cannot be created or written.
    """
    admin = local_database_url(world.settings)
    if admin is None:
        raise ForecastLogError(
            "the scenario keeps a forecast log in PostgreSQL: start the stack "
            "(`riskwatch stack up`) or set RISKWATCH_DATABASE_URL"
        )
    books = [book_of(p, world.brokers[p.name]) for p in world.portfolio_settings]
    records = close_records(books, world.market, world.calendar, world.settings.policy, days=days)
    try:
        dsn, drop = own_database(admin, f"riskwatch_demo_{_name(world)}"[:63])
        world.on_stop(drop)
        forecast_log = ForecastLog(dsn)
        write_records(forecast_log, records)
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())
        raise ForecastLogError(f"cannot keep the world's forecast log: {detail}") from None
    world.notes[_LOG] = dsn
    return forecast_log


def validate_in_background(world: World) -> None:
    """Run the desk validation of `world` (its forecast log, its market's daily bars,
    as of its clock) in a thread of its own, and push the results under the world's
    job: a run takes seconds, which the agent and the other worlds' incidents must not
    wait for. `World.stop` waits for it, then deletes the group."""
    forecast_log = ForecastLog(world.notes[_LOG])  # KeyError: keep_forecast_log first
    v = world.settings.validation
    job = f"{v.job}_{_name(world)}"
    settings = world.settings.model_copy(update={"validation": v.model_copy(update={"job": job})})
    out_dir = Stack(world.settings).layout.root / "demo" / world.config.agent_id

    def run() -> None:
        try:
            outcome = validate_desk(
                settings, forecast_log, world.market, now=world.clock.now(), out_dir=out_dir
            )
        except Exception:  # the missing alerts will say so; the log says why
            log.exception("world %s: the validation failed", world.config.agent_id)
            return
        if outcome.push_error:
            log.error("world %s: %s", world.config.agent_id, outcome.push_error)
        log.info("world %s: %s", world.config.agent_id, "; ".join(describe(outcome)))

    def delete_group() -> None:
        delete_from_gateway(
            pushgateway_url(settings),
            job=job,
            grouping_key={"dataset": DESK},
            handler=PushgatewayAccess.from_settings(settings).handler(),
        )

    thread = threading.Thread(target=run, name=f"validate-{world.config.agent_id}", daemon=True)
    world.on_stop(delete_group)
    world.on_stop(lambda: thread.join(timeout=120))  # registered last: runs first
    thread.start()
