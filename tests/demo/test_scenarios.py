"""Every demo scenario at high speed, all at once on the real stack: exactly the
declared alerts reach the receiver, each on exactly its channels, and no others."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from riskwatch.demo.runner import DemoRunner, ScenarioRun
from riskwatch.demo.scenarios import SCENARIOS
from riskwatch.stack.runner import Stack
from tests.conftest import Receiver

pytestmark = pytest.mark.stack

SPEED = 120.0
SHORT = {
    "calm": "ca",
    "drawdown_crisis": "dc",
    "crowding_unwind": "cu",
    "compliance_breach": "cb",
    "model_decay": "md",
    "feed_outage": "fo",
    "agent_crash": "ac",
}


@pytest.fixture(scope="module")
def runs(stack: Stack) -> Iterator[dict[str, ScenarioRun]]:
    assert set(SHORT) == set(SCENARIOS), "every scenario is played"
    runner = DemoRunner(stack.settings, SPEED)
    runner.compress_time()
    try:
        played = runner.play(
            list(SCENARIOS),
            prefix=lambda name: f"{SHORT[name]}-",
            agent_id=lambda name: f"demo-{SHORT[name]}",
        )
        yield {run.scenario.name: run for run in played}
    finally:
        runner.restore_time()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_alerts_exactly_as_declared(runs: dict[str, ScenarioRun], name: str) -> None:
    run = runs[name]
    assert run.fired == list(range(len(run.scenario.incidents))), "every incident happened"
    assert run.missing == []
    assert run.unexpected == []
    assert run.wrong_channels == []
    assert (
        len(run.observed)
        == sum(
            len(run.world.portfolios) if e.per_portfolio and not run.scenario.portfolios else 1
            for e in run.scenario.expected
        )
        or name == "compliance_breach"
    )


def test_calm_has_nothing_but_the_watchdog(
    runs: dict[str, ScenarioRun], receiver: Receiver
) -> None:
    assert runs["calm"].observed == []
    watchdog = receiver.alerts(alertname="Watchdog")
    assert watchdog and watchdog[0]["status"] == "firing"
