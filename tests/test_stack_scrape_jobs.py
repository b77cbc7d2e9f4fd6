"""The local stack scrapes its own processes and the jobs the policy's inventory
expects, nothing else: a job nobody runs would page ExporterDown all day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwatch.settings import load_settings
from riskwatch.stack.errors import StackError
from riskwatch.stack.render import AGENTS_JOB, STACK_JOBS, render_prometheus
from riskwatch.stack.secrets import ensure_pushgateway_auth
from tests.support.policy import policy_copy


def rendered_jobs(tmp_path: Path, jobs: list[str] | None = None) -> dict[str, Any]:
    overrides: dict[str, Any] = {"state_dir": tmp_path / "state"}
    if jobs is not None:

        def expect(data: dict[str, Any]) -> None:
            data["inventory"]["scrape_jobs"] = jobs

        overrides["policy_file"] = policy_copy(tmp_path, expect)
    settings = load_settings(**overrides)
    auth = ensure_pushgateway_auth(settings)
    out = render_prometheus(
        settings, tmp_path / "rendered" / "prometheus.yml", auth, tmp_path / "targets"
    )
    config = yaml.safe_load(out.read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_the_shipped_policy_scrapes_the_stack_alone(tmp_path: Path) -> None:
    """...and the agents of the state's target files, which are none until written."""
    jobs = rendered_jobs(tmp_path)
    assert sorted(jobs) == sorted([*STACK_JOBS, AGENTS_JOB])
    files = jobs[AGENTS_JOB]["file_sd_configs"][0]["files"]
    assert files == [str(tmp_path / "targets" / "*.json"), str(tmp_path / "targets" / "*.yml")]
    assert jobs[AGENTS_JOB]["honor_labels"] is True


def test_the_policy_watches_the_job_of_directly_scraped_agents(tmp_path: Path) -> None:
    """AgentDown and ExporterDown select the job by the policy's matcher: a renamed job
    in prometheus.yml would leave scraped agents to no alert at all."""
    policy = load_settings().policy
    assert policy.ops.agent_scrape_job == f'job="{AGENTS_JOB}"'
    assert AGENTS_JOB in rendered_jobs(tmp_path)


def test_an_expected_exporter_is_scraped_on_its_local_port(tmp_path: Path) -> None:
    jobs = rendered_jobs(tmp_path, [*STACK_JOBS, "tradestore"])
    assert sorted(jobs) == sorted([*STACK_JOBS, "tradestore", AGENTS_JOB])
    settings = load_settings()
    local = f"{settings.stack.host}:{settings.exporters.tradestore_port}"
    assert jobs["tradestore"]["static_configs"] == [{"targets": [local]}]


def test_an_expected_job_prometheus_yml_lacks_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"scrape job.*vault.*does not define"):
        rendered_jobs(tmp_path, [*STACK_JOBS, "vault"])
