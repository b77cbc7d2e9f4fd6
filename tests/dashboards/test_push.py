"""`riskwatch dashboards push` against a real local HTTP server speaking Grafana's API."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from riskwatch.dashboards import build
from riskwatch.dashboards.push import PushError, push
from tests.dashboards.fake_grafana import fake_grafana
from tests.dashboards.support import run_dashboards

TOKEN = "glsa_test_token_0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, object]]:
    return build.load_committed(ROOT)


def test_push_creates_the_folder_and_every_dashboard_with_overwrite(boards: dict) -> None:  # type: ignore[type-arg]
    with fake_grafana(TOKEN) as (url, grafana):
        pushed = push(boards, url, TOKEN, "Risk desk")
        assert grafana.folders == {"risk-desk": "Risk desk"}
        assert {p.uid for p in pushed} == {b["uid"] for b in boards.values()}
        for body in grafana.dashboards.values():
            assert body["overwrite"] is True
            assert body["folderUid"] == "risk-desk"
            assert body["dashboard"]["id"] is None
        assert ("GET", "/api/health") in grafana.requests

        again = push(boards, url, TOKEN, "Risk desk")  # same folder, same uids: versions move
        assert len(grafana.folders) == 1
        assert {p.version for p in again} == {2}
        assert len(grafana.dashboards) == len(boards)


def test_push_reuses_a_folder_found_by_title(boards: dict) -> None:  # type: ignore[type-arg]
    with fake_grafana(TOKEN) as (url, grafana):
        grafana.folders["abc123"] = "riskwatch"
        push(boards, url, TOKEN)
        assert grafana.folders == {"abc123": "riskwatch"}
        assert {b["folderUid"] for b in grafana.dashboards.values()} == {"abc123"}


def test_a_bad_token_is_one_clear_error(boards: dict) -> None:  # type: ignore[type-arg]
    with fake_grafana(TOKEN) as (url, grafana):
        with pytest.raises(PushError, match=r"refused the token \(401\)"):
            push(boards, url, "wrong-token")
        assert grafana.dashboards == {}


def test_an_unreachable_grafana_is_one_clear_error(boards: dict) -> None:  # type: ignore[type-arg]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        with pytest.raises(PushError, match=r"cannot reach Grafana at http://127\.0\.0\.1"):
            push(boards, f"http://127.0.0.1:{port}", TOKEN, timeout=2)


def test_cli_push_reads_the_token_file_and_reports_each_dashboard(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with fake_grafana(TOKEN) as (url, grafana):
        done = run_dashboards(
            "push", "--grafana-url", url, "--token-file", str(token_file),
            env={"RISKWATCH_GRAFANA_TOKEN": ""},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "pushed riskwatch-executive" in done.stdout
        assert set(grafana.folders.values()) == {"riskwatch"}
        assert len(grafana.dashboards) == 4


def test_cli_push_takes_url_and_token_from_the_environment() -> None:
    with fake_grafana(TOKEN) as (url, grafana):
        done = run_dashboards(
            "push", "--folder", "CRO",
            env={"RISKWATCH_GRAFANA_URL": url, "RISKWATCH_GRAFANA_TOKEN": TOKEN},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert set(grafana.folders.values()) == {"CRO"}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            (),
            {"RISKWATCH_GRAFANA_URL": "", "RISKWATCH_GRAFANA_TOKEN": TOKEN},
            "invalid setting grafana_url",
        ),
        (("--grafana-url", "http://127.0.0.1:9"), {}, "no Grafana token"),
        (("--grafana-url", "grafana:3000"), {"RISKWATCH_GRAFANA_TOKEN": TOKEN}, "not an http"),
    ],
)
def test_cli_push_without_settings_says_what_is_missing(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    done = run_dashboards(
        "push", *args,
        env={"RISKWATCH_GRAFANA_TOKEN": "", **env},
    )  # fmt: skip
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_push_with_a_bad_token_exits_1_with_the_reason(tmp_path: Path) -> None:
    with fake_grafana(TOKEN) as (url, _grafana):
        done = run_dashboards(
            "push", "--grafana-url", url,
            env={"RISKWATCH_GRAFANA_TOKEN": "nope"},
        )  # fmt: skip
    assert done.returncode == 1
    assert "refused the token (401)" in done.stderr
    assert "Traceback" not in done.stderr
