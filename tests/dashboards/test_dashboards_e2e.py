"""Every panel query of every dashboard against the real Prometheus, fed by the agents.

The trading and health agents run `--once` against the session's stack, with one
compliance limit tightened so that a rule is in breach: the evidence table, the
firing-alerts list and the alert annotations then have something to show, as they
would on the day a limit is breached. A model scores its first prediction five
minutes after it starts, and realised figures need months of daily equity and closed
trades, so a demo publisher adds model accuracy and reward and the realised figures,
through the same public `Publisher` API the agents use; and a night's validation run
is pushed as the job pushes it, from real backtests (tests/dashboards/support.py).
Every panel query, with its variables substituted as Grafana does, must parse and
return data; so must the queries of the previews, which are rendered from the same
Prometheus. (tests/test_longterm.py runs the same queries against VictoriaMetrics.)
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskwatch.dashboards import build
from riskwatch.dashboards.queries import resolve_variables, verify
from riskwatch.prometheus_api import Prometheus
from riskwatch.stack.runner import Stack
from tests.dashboards.support import AGENT, HEALTH, PORTFOLIOS, fed_desk, run_dashboards
from tests.support.stack import wait_for

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return build.load_committed(ROOT)


@pytest.fixture(scope="module")
def fed(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """The session stack's Prometheus once the desk has published (`fed_desk`)."""
    with fed_desk(stack, tmp_path_factory.mktemp("dashboards")) as prometheus:
        yield prometheus


def test_every_panel_query_returns_data_for_all_portfolios(
    fed: Prometheus, boards: dict[str, dict[str, Any]]
) -> None:
    # Targets scraped every 15 s (receiver, Alertmanager) may need one more scrape.
    problems: list[str] = []

    def clean() -> bool:
        problems[:] = verify(boards, fed)
        return not problems

    try:
        wait_for(clean, "every panel to return data", timeout=45, interval=2)
    except AssertionError:
        pytest.fail("panels without data or with errors:\n" + "\n".join(problems))


@pytest.mark.parametrize("portfolio", PORTFOLIOS)
def test_every_panel_query_returns_data_for_one_portfolio(
    fed: Prometheus, boards: dict[str, dict[str, Any]], portfolio: str
) -> None:
    problems = verify(boards, fed, {"portfolio": [portfolio]})
    assert problems == [], "\n".join(problems)


def test_the_variables_list_what_the_agents_publish(
    fed: Prometheus, boards: dict[str, dict[str, Any]]
) -> None:
    executive = resolve_variables(boards["executive"], fed)
    assert set(PORTFOLIOS) <= set(executive["portfolio"])
    operations = resolve_variables(boards["operations"], fed)
    assert {AGENT, HEALTH} <= set(operations["agent"])
    compliance = resolve_variables(boards["compliance"], fed)
    assert "CON_001" in compliance["rule"]


def test_an_empty_panel_or_a_syntax_error_fails_verification(
    fed: Prometheus, boards: dict[str, dict[str, Any]]
) -> None:
    broken = {
        "t": {
            "title": "T",
            "panels": [
                {"id": 1, "title": "empty", "targets": [{"refId": "A", "expr": "no_such_metric"}]},
                {"id": 2, "title": "syntax", "targets": [{"refId": "A", "expr": "sum(up"}]},
                {"id": 3, "title": "fine", "targets": [{"refId": "A", "expr": "up"}]},
            ],
        }
    }
    problems = verify(broken, fed)
    assert len(problems) == 2
    assert problems[0].startswith("T / empty / A: no data")
    assert problems[1].startswith("T / syntax / A: Prometheus refused 'sum(up': bad_data: ")


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_preview_renders_each_dashboard_in_its_layout(
    fed: Prometheus, boards: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    started = time.monotonic()
    done = run_dashboards(
        "preview", "--prometheus-url", fed.url, "--out", str(tmp_path), "--range", "10m"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name, board in boards.items():
        width, height = _png_size(tmp_path / f"{name}.png")
        rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
        assert width == 24 * 70  # 24 grid columns
        assert height == 70 + rows * 38  # the header, then the grid rows
    assert time.monotonic() - started < 60
