"""The model-validation alerts on a real stack (issue 13's done-criteria).

- The real `riskwatch validate --dataset sp500 --date 2008-12-31` pushes its results
  to the stack's Pushgateway; 2008's history puts the unconditional VaR methods in the
  Basel red zone, and VaRBacktestRed reaches #risk-alerts and the CRO's mailbox (and
  the audit trail), quoting the run's own exception count.
- ValidationJobMissing fires when the nightly job has not run: the stack's policy is
  a copy whose `validation.job_stale` is seconds, not 26 hours. It stays quiet while
  nothing has traded (no run is due), and fires once a trading agent's portfolio
  task has succeeded `job_stale` ago, not sooner.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from riskwatch.demo.scenarios import CRO_EMAIL, RISK_SLACK
from riskwatch.policy import duration_seconds
from riskwatch.publish import Publisher
from riskwatch.receiver_client import ReceiverClient
from riskwatch.settings import load_settings
from riskwatch.sinks import Outbox
from riskwatch.stack.runner import Stack
from tests.support.policy import policy_copy
from tests.support.stack import (
    TEST_TOKEN,
    free_ports,
    gateway_access,
    prom_query,
    run_cli,
    running_stack,
    stack_env,
    wait_for,
)

pytestmark = pytest.mark.stack

# Short enough for a test, long enough that Prometheus (5 s scrapes and evaluations)
# sees the alert quiet first.
JOB_STALE = "30s"
# 2008 over a 250-day backtest, and the 250 returns before it the forecasts need:
# the same zones as the whole history gives, in a tenth of the time.
SINCE, AS_OF = "2006-12-01", "2008-12-31"
ALERT_TIMEOUT = 120


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("validation-alerts")

    def shorten(data: dict[str, Any]) -> None:
        data["validation"]["job_stale"] = JOB_STALE

    settings = load_settings(
        state_dir=folder / "state",
        stack=free_ports(),
        receiver_token=TEST_TOKEN,
        policy_file=policy_copy(folder, shorten),
    )
    with running_stack(settings) as runner:
        yield runner


def _firing(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    """The alert's firing instances in Prometheus, with their `activeAt`."""
    resp = requests.get(f"{stack.settings.url.prometheus}/api/v1/alerts", timeout=10)
    resp.raise_for_status()
    return [
        a
        for a in resp.json()["data"]["alerts"]
        if a["labels"]["alertname"] == alertname and a["state"] == "firing"
    ]


def _audited(stack: Stack, alertname: str) -> list[dict[str, Any]]:
    receiver = ReceiverClient(stack.settings.url.receiver, TEST_TOKEN, timeout=5)
    return [a for a in receiver.alerts() if a["alertname"] == alertname]


def test_a_red_validation_run_reaches_the_cro_and_risk_alerts(stack: Stack, tmp_path: Path) -> None:
    since = time.time()
    done = run_cli(
        "validate",
        "--dataset",
        "sp500",
        "--date",
        AS_OF,
        "--since",
        SINCE,
        "--out",
        str(tmp_path),
        env=stack_env(stack, RISKWATCH_POLICY_FILE=str(stack.settings.policy_file)),
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", red" in done.stdout, done.stdout

    # Every red backtest the run pushed, as Prometheus has it.
    prometheus = stack.settings.url.prometheus
    red = wait_for(
        lambda: prom_query(prometheus, 'riskwatch_validation_var_zone{dataset="sp500"} == 2'),
        "Prometheus to scrape the run's red zones",
    )
    labels = red[0]["metric"]
    same = ",".join(f'{k}="{labels[k]}"' for k in ("portfolio", "method", "confidence"))
    (exceptions,) = prom_query(
        prometheus, f'riskwatch_validation_var_exceptions{{dataset="sp500",{same}}}'
    )
    (days,) = prom_query(
        prometheus, f'riskwatch_validation_var_observations{{dataset="sp500",{same}}}'
    )
    quoted = f"{float(exceptions['value'][1]):.0f} exceptions in {float(days['value'][1]):.0f} days"

    outbox = Outbox(stack.layout.outbox)
    # The description names the portfolio and the method: this very backtest.
    needle = f"portfolio {labels['portfolio']} (method {labels['method']},"
    wanted = {RISK_SLACK, CRO_EMAIL}

    def reached() -> frozenset[str] | None:
        got = outbox.channels("VaRBacktestRed", needle, since, quoted)
        return got if wanted <= got else None

    channels = wait_for(
        reached, f"VaRBacktestRed ({needle} {quoted}) on {sorted(wanted)}", timeout=ALERT_TIMEOUT
    )
    assert channels == wanted
    assert wait_for(lambda: _audited(stack, "VaRBacktestRed"), "VaRBacktestRed in the audit trail")

    # The run's yellow backtests (the GARCH-filtered method's) post to #risk-alerts
    # only; they went out with the red ones' group_wait, so an email would be here.
    yellow = wait_for(
        lambda: outbox.channels("VaRBacktestYellow", "dataset sp500", since),
        "VaRBacktestYellow on #risk-alerts",
        timeout=ALERT_TIMEOUT,
    )
    assert yellow == {RISK_SLACK}
    # A red backtest is never yellow too.
    for alert in _firing(stack, "VaRBacktestYellow"):
        key = {k: alert["labels"].get(k) for k in ("portfolio", "method", "confidence")}
        assert key not in [
            {k: r["metric"].get(k) for k in ("portfolio", "method", "confidence")} for r in red
        ]


def test_validation_job_missing_fires_when_the_job_has_not_run(stack: Stack) -> None:
    prometheus = stack.settings.url.prometheus
    stale = duration_seconds(JOB_STALE)
    # The desk's nightly run never pushed, and Prometheus has evaluated the rules for
    # longer than `job_stale`: yet nothing traded, so no run was due.
    wait_for(
        lambda: prom_query(
            prometheus, f'time() - process_start_time_seconds{{job="prometheus"}} > {stale + 10}'
        ),
        "Prometheus to have run longer than job_stale",
    )
    assert not prom_query(
        prometheus, 'riskwatch_validation_last_success_timestamp_seconds{dataset="desk"}'
    )
    assert not _firing(stack, "ValidationJobMissing"), "no trading, no run due"

    # A trading agent's portfolio task succeeds: the market trades.
    trader = Publisher(
        f"validation-trader-{os.getpid()}",
        stack.settings.url.pushgateway,
        access=gateway_access(stack.settings),
    )
    traded = time.time()
    trader.gauge("riskwatch_agent_last_success_timestamp_seconds").labels(
        trader.agent, "portfolio"
    ).set(traded)
    assert trader.push(wait=True)
    try:
        (alert,) = wait_for(
            lambda: _firing(stack, "ValidationJobMissing"),
            "ValidationJobMissing to fire",
            timeout=ALERT_TIMEOUT,
        )
        assert alert["labels"]["dataset"] == "desk"
        assert alert["labels"]["team"] == "ops"
        # Not before that trading was `job_stale` old.
        # activeAt is RFC 3339 in UTC; its whole seconds are enough (hence the 1 s).
        active = datetime.strptime(alert["activeAt"][:19], "%Y-%m-%dT%H:%M:%S")
        assert active.replace(tzinfo=UTC).timestamp() >= traded + stale - 1, (alert, traded)
        # The audit trail records it at any hour (#trading-ops only while the market
        # is open: alerts/tests/routes.yml).
        wait_for(
            lambda: _audited(stack, "ValidationJobMissing"),
            "ValidationJobMissing in the audit trail",
            timeout=ALERT_TIMEOUT,
        )
    finally:
        trader.delete()
        trader.close()
