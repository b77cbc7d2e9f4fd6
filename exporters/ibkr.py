"""The IBKR exporter: the gateway's connection, account updates, API errors and farms.

Reads the state an `IbkrSource` keeps (it connects and reconnects on its own) and,
on each scrape, asks the gateway for the account: a gateway that does not answer
within the timeout makes the scrape fail (`ibkr_scrape_success 0`) while the
connection state is still exported.

Sample output::

    ibkr_connected 1.0
    ibkr_account_update_age_seconds 2.4
    ibkr_api_errors_total{code="2104"} 1.0
    ibkr_market_data_farm_up{farm="usfarm"} 1.0
    ibkr_scrape_success 1.0
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from riskwatch import catalog
from riskwatch.exporters.base import TimedCollector
from riskwatch.sources.ibkr import IbkrSource


def collect(source: IbkrSource) -> Iterator[Any]:
    """Families from `source`'s state, then a live account request (which may raise)."""
    connected = catalog.family("ibkr_connected")
    connected.add_metric([], float(source.connected))
    yield connected
    errors = catalog.family("ibkr_api_errors_total")
    for code, count in sorted(source.error_counts.items()):
        errors.add_metric([str(code)], float(count))
    yield errors
    farms = catalog.family("ibkr_market_data_farm_up")
    for farm, up in sorted(source.farms.items()):
        farms.add_metric([farm], float(up))
    yield farms
    if source.last_account_update is not None:
        age = catalog.family("ibkr_account_update_age_seconds")
        age.add_metric([], max(0.0, time.time() - source.last_account_update))
        yield age
    source.account()  # raises SourceError when the gateway cannot answer


def make_collector(source: IbkrSource, timeout_seconds: float) -> TimedCollector:
    """The IBKR exporter's collector over a started `IbkrSource`."""
    return TimedCollector("ibkr", lambda: collect(source), timeout_seconds)
