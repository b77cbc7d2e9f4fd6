"""The Publisher API: catalog metrics, closed positions removed, scrape endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from riskwatch.publish import PositionFigures, Publisher
from riskwatch.sources.base import Execution
from tests.support.stack import free_port


def test_closed_positions_disappear_and_trades_are_deduplicated() -> None:
    pub = Publisher("quant-1")
    pub.positions(
        "alpha",
        {
            "AAPL": PositionFigures(10, 1900.0, "tech", 0.1),
            "XOM": PositionFigures(5, 500.0, "energy", 0.05),
        },
    )
    pub.positions("alpha", {"AAPL": PositionFigures(12, 2300.0, "tech", 0.12)})
    r = pub.registry
    assert (
        r.get_sample_value("trading_position_quantity", {"portfolio": "alpha", "symbol": "AAPL"})
        == 12
    )
    assert (
        r.get_sample_value("trading_position_quantity", {"portfolio": "alpha", "symbol": "XOM"})
        is None
    )
    assert r.get_sample_value("trading_positions", {"portfolio": "alpha"}) == 1
    fill = Execution("e-1", "AAPL", "buy", 2, 190.0, datetime.now(UTC))
    assert pub.trades("alpha", [fill, fill]) == 1
    assert pub.trades("alpha", [fill]) == 0
    labels = {"portfolio": "alpha", "side": "buy"}
    assert r.get_sample_value("trading_trades_total", labels) == 1
    assert r.get_sample_value("trading_traded_notional_usd_total", labels) == 380.0


def test_drawdown_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="outside 0-1"):
        Publisher("quant-1").portfolio("alpha", value=1.0, cash=1.0, daily_pnl=0.0, drawdown=1.5)


def test_serve_exposes_metrics_for_direct_scraping() -> None:
    pub = Publisher("quant-2")
    pub.model("alpha", "momentum", confidence=0.8)
    port = free_port()
    pub.serve("127.0.0.1", port)
    body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'riskwatch_model_confidence_ratio{model="momentum",portfolio="alpha"} 0.8' in body


def test_empty_agent_id_is_refused() -> None:
    with pytest.raises(ValueError, match="agent id"):
        Publisher("")
