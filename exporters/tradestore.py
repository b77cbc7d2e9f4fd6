"""The trade-store exporter: orders, fills and reconciliation, read from PostgreSQL on scrape.

Schema (exporters/migrations, applied by `ensure_schema` under the migration scope
`tradestore`): `trade_orders`, `trade_fills` (a TimescaleDB hypertable on
`filled_at` when the extension exists), `internal_positions` and `broker_positions`.
The order management system writes them; this exporter only reads.

Sample output::

    tradestore_fills_total{portfolio="alpha",side="buy"} 42.0
    tradestore_order_fill_latency_seconds_bucket{portfolio="alpha",le="0.1"} 37.0
    tradestore_slippage_bps{portfolio="alpha"} 1.8
    tradestore_reconciliation_difference{portfolio="alpha",symbol="AAPL"} -100.0
    tradestore_reconciliation_breaks{portfolio="alpha"} 1.0
    tradestore_scrape_success 1.0
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from riskwatch import catalog
from riskwatch.exporters.base import TimedCollector
from riskwatch.migrations import apply_migrations, load_migrations, timescaledb_available

log = logging.getLogger("riskwatch.exporters.tradestore")

SCOPE = "tradestore"
_LATENCY = catalog.spec("tradestore_order_fill_latency_seconds")


def ensure_schema(dsn: str) -> bool:
    """Apply the trade store's migrations; returns True if fills are a hypertable."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_migrations(conn, SCOPE, load_migrations("riskwatch.exporters"))
        if not timescaledb_available(conn):
            return False
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(
            "SELECT create_hypertable('trade_fills', 'filled_at', if_not_exists => TRUE, "
            "migrate_data => TRUE)"
        )
        return True


def _latency_sql() -> sql.Composed:
    # One cumulative count per catalog bucket, composed by psycopg (the bounds go in as
    # literals), not by string formatting.
    assert _LATENCY.buckets is not None
    buckets = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE latency <= {})").format(sql.Literal(bound))
        for bound in _LATENCY.buckets
    )
    return sql.SQL("""
        WITH first_fill AS (
            SELECT o.portfolio,
                   extract(epoch FROM min(f.filled_at) - o.submitted_at) AS latency
            FROM trade_orders o JOIN trade_fills f USING (order_id)
            GROUP BY o.order_id, o.portfolio, o.submitted_at
        )
        SELECT portfolio, count(*), coalesce(sum(latency), 0), {buckets}
        FROM first_fill GROUP BY portfolio ORDER BY portfolio
    """).format(buckets=buckets)


class TradeStoreCollector:
    """Reads the trade store; `now` is injectable so 'today' is testable."""

    def __init__(self, dsn: str, day_start: Any = None) -> None:
        self.dsn = dsn
        self.day_start = day_start  # callable returning the start of today, or None

    def _today(self) -> datetime | None:
        return self.day_start() if self.day_start is not None else None

    def collect(self) -> Iterator[Any]:
        with psycopg.connect(self.dsn, connect_timeout=3) as conn:
            yield from self._counts(conn)
            yield self._latency(conn)
            yield self._slippage(conn)
            yield from self._reconciliation(conn)

    def _counts(self, conn: psycopg.Connection[Any]) -> Iterator[Any]:
        fills = catalog.family("tradestore_fills_total")
        for portfolio, side, n in conn.execute(
            "SELECT portfolio, side, count(*) FROM trade_fills GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            fills.add_metric([portfolio, side], float(n))
        orders = catalog.family("tradestore_orders_total")
        rejected = catalog.family("tradestore_orders_rejected_total")
        for portfolio, status, n in conn.execute(
            "SELECT portfolio, status, count(*) FROM trade_orders GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            orders.add_metric([portfolio, status], float(n))
        for portfolio, n in conn.execute(
            "SELECT portfolio, count(*) FILTER (WHERE status = 'rejected') "
            "FROM trade_orders GROUP BY 1 ORDER BY 1"
        ):
            rejected.add_metric([portfolio], float(n))
        yield from (fills, orders, rejected)

    def _latency(self, conn: psycopg.Connection[Any]) -> Any:
        family = catalog.family("tradestore_order_fill_latency_seconds")
        assert _LATENCY.buckets is not None
        for row in conn.execute(_latency_sql()):
            portfolio, count, total, *cumulative = row
            buckets = [
                (repr(bound), float(n))
                for bound, n in zip(_LATENCY.buckets, cumulative, strict=True)
            ]
            buckets.append(("+Inf", float(count)))
            family.add_metric([portfolio], buckets, float(total))
        return family

    def _slippage(self, conn: psycopg.Connection[Any]) -> Any:
        # Quantity-weighted, signed so that positive always means we paid away:
        # buying above, or selling below, the arrival price.
        family = catalog.family("tradestore_slippage_bps")
        since = self._today()
        # No day boundary (the exporter's `today` is off): every fill since -infinity.
        rows = conn.execute(
            """
            SELECT f.portfolio,
                   sum(f.quantity * (CASE WHEN f.side = 'buy' THEN 1 ELSE -1 END)
                       * (f.price - o.arrival_price) / o.arrival_price) * 1e4
                   / sum(f.quantity)
            FROM trade_fills f JOIN trade_orders o USING (order_id)
            WHERE o.arrival_price IS NOT NULL AND f.filled_at >= %s
            GROUP BY f.portfolio ORDER BY 1
            """,
            (since if since is not None else "-infinity",),
        )
        for portfolio, bps in rows:
            family.add_metric([portfolio], float(bps))
        return family

    def _reconciliation(self, conn: psycopg.Connection[Any]) -> Iterator[Any]:
        difference = catalog.family("tradestore_reconciliation_difference")
        breaks = catalog.family("tradestore_reconciliation_breaks")
        rows = conn.execute(
            """
            SELECT coalesce(b.portfolio, i.portfolio), coalesce(b.symbol, i.symbol),
                   coalesce(b.quantity, 0) - coalesce(i.quantity, 0)
            FROM broker_positions b
            FULL OUTER JOIN internal_positions i USING (portfolio, symbol)
            ORDER BY 1, 2
            """
        ).fetchall()
        counts: dict[str, int] = {}
        for portfolio, symbol, diff in rows:
            counts.setdefault(portfolio, 0)
            # Matching positions are not exported: the label set stays as small as the
            # number of breaks, not the size of the book.
            if abs(diff) > 1e-9:
                difference.add_metric([portfolio, symbol], float(diff))
                counts[portfolio] += 1
        for portfolio, n in sorted(counts.items()):
            breaks.add_metric([portfolio], float(n))
        yield from (difference, breaks)


def make_collector(dsn: str, timeout_seconds: float, day_start: Any = None) -> TimedCollector:
    """The trade-store exporter's collector."""
    return TimedCollector(
        "tradestore", TradeStoreCollector(dsn, day_start).collect, timeout_seconds
    )
