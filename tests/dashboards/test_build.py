"""The generated dashboards: committed and current, laid out, with limits from the config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwatch.alerting.rules import alert_rules
from riskwatch.dashboards import build, check, performance, queries, validation
from riskwatch.dashboards.board import DATASOURCE_UID
from riskwatch.policy import POLICY_FILE, Policy, duration_seconds, load_policy, parse_policy
from riskwatch.promql import metric_names
from riskwatch.settings import ValidationSettings
from tests.dashboards.support import run_dashboards

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def limits() -> Policy:
    return load_policy(ROOT / POLICY_FILE)


@pytest.fixture(scope="module")
def boards(limits: Policy) -> dict[str, dict[str, Any]]:
    return build.build_all(limits)


def panel(board: dict[str, Any], title: str) -> dict[str, Any]:
    hits = [p for p in queries.panels(board) if p.get("title") == title]
    assert len(hits) == 1, f"{len(hits)} panels titled {title!r}"
    return hits[0]


def steps(p: dict[str, Any]) -> list[tuple[float | None, str]]:
    found = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in found]


def test_committed_json_is_a_fresh_build() -> None:
    assert build.stale(ROOT) == [], "run `riskwatch dashboards build` and commit the JSON"


def test_check_fails_on_a_hand_edited_file(tmp_path: Path) -> None:
    (tmp_path / "alerts").mkdir()
    (tmp_path / POLICY_FILE).write_text((ROOT / POLICY_FILE).read_text())
    assert build.write(tmp_path) == [f"dashboards/{n}.json" for n in build.BUILDERS]
    assert build.stale(tmp_path) == []
    path = tmp_path / "dashboards" / "risk.json"
    path.write_text(path.read_text().replace('"Sharpe"', '"Sharp"'))
    problems = build.stale(tmp_path)
    assert len(problems) == 1 and "risk.json" in problems[0] and '"Sharp"' in problems[0]


def test_cli_check_passes_on_the_repo() -> None:
    done = run_dashboards("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout


def test_json_is_printed_with_sorted_keys(boards: dict[str, dict[str, Any]]) -> None:
    text = (ROOT / "dashboards" / "executive.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_uids_and_tags_are_explicit_and_the_alert_links_resolve(
    boards: dict[str, dict[str, Any]], limits: Policy
) -> None:
    uids = {name: b["uid"] for name, b in boards.items()}
    # Each dashboard's uid is the one the policy declares for it, and nothing else.
    assert uids == limits.links.dashboards
    selecting = {n for n, b in boards.items() if "portfolio" in str(b["templating"]["list"])}
    assert selecting == set(limits.links.portfolio_dashboards)
    assert len(set(uids.values())) == len(uids)
    assert all(b["tags"] == ["riskwatch"] for b in boards.values())
    # Each alert links to its team's board, /d/<uid>?var-portfolio=... when it is about
    # one portfolio: that board, and its portfolio variable, exist.
    for rule in alert_rules(limits):
        url = limits.links.dashboard_url("http://grafana", rule.team, rule.per_portfolio)
        uid = url.removeprefix("http://grafana/d/").split("?")[0]
        board = next(b for b in boards.values() if b["uid"] == uid)
        names = [v["name"] for v in board["templating"]["list"]]
        assert ("?var-portfolio=" in url) == (rule.per_portfolio and "portfolio" in names)


def test_panels_have_unique_ids_a_datasource_and_lay_out_on_the_grid(
    boards: dict[str, dict[str, Any]],
) -> None:
    for board in boards.values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
        occupied: set[tuple[int, int]] = set()
        for p in board["panels"]:
            pos = p["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (board["uid"], p["title"])
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                     for y in range(pos["y"], pos["y"] + pos["h"])}  # fmt: skip
            assert not cells & occupied, f"{board['uid']}: {p['title']} overlaps another panel"
            occupied |= cells
            if p["type"] not in ("row", "text"):
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert p.get("description"), f"{p['title']} has no description"
                assert p["targets"], p["title"]
        datasource = board["templating"]["list"][0]
        assert datasource["current"]["value"] == DATASOURCE_UID


def test_drawdown_gauge_thresholds_come_from_the_limits_config(
    boards: dict[str, dict[str, Any]], limits: Policy
) -> None:
    gauge = panel(boards["executive"], "Drawdown")
    d = limits.defaults
    assert steps(gauge) == [(None, "green"), (d.drawdown_warning, "orange"),
                            (d.drawdown_critical, "red")]  # fmt: skip
    # fund-b's approved limit is an override by series name, with its own steps.
    overrides = {o["matcher"]["options"]: o for o in gauge["fieldConfig"]["overrides"]}
    assert set(overrides) == set(limits.portfolios)
    fund_b = {p["id"]: p["value"] for p in overrides["fund-b"]["properties"]}
    own = [limits.limit(name, "fund-b") for name in ("drawdown_warning", "drawdown_critical")]
    assert [s["value"] for s in fund_b["thresholds"]["steps"]] == [None, *own]


def test_changing_a_limit_changes_the_panels(limits: Policy) -> None:
    data = yaml.safe_load((ROOT / POLICY_FILE).read_text())
    data["defaults"]["var"] = 0.031
    data["defaults"]["drawdown_critical"] = 0.12
    data["portfolios"] = {"gamma": {"var": 0.05}}
    changed = build.build_all(parse_policy(data))
    var = panel(changed["executive"], "VaR 99% 1-day")
    assert steps(var) == [(None, "green"), (0.031, "red")]
    assert [o["matcher"]["options"] for o in var["fieldConfig"]["overrides"]] == ["gamma"]
    assert (0.12, "red") in steps(panel(changed["executive"], "Drawdown"))
    assert "3.1%" in var["description"]


def test_units_are_the_ones_a_cro_reads(boards: dict[str, dict[str, Any]]) -> None:
    expected = {
        "Firm value": "currencyUSD",
        "Firm P&L today": "currencyUSD",
        "Firm return today": "percentunit",
        "Worst drawdown": "percentunit",
        "Drawdown": "percentunit",
        "Model confidence": "percentunit",
        "VaR 99% 1-day": "percentunit",
        "Compliance breaches": "none",
    }
    for title, unit in expected.items():
        p = panel(boards["executive"], title)
        assert p["fieldConfig"]["defaults"]["unit"] == unit, title
        if unit == "percentunit":
            assert p["fieldConfig"]["defaults"]["decimals"] >= 1, title


def test_every_query_parses_its_variables(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        names = {v["name"]: ["x"] for v in queries.query_variables(board)}
        for target in [*queries.targets(board), *queries.annotation_targets(board)]:
            expr = queries.substitute(target.expr, names)
            assert "$" not in expr, target.where


def test_substitute_formats_multi_values_like_grafana() -> None:
    expr = 'x{portfolio=~"$portfolio",rule=~"${rule}"}[$__rate_interval]'
    got = queries.substitute(expr, {"portfolio": ["alpha", "fund.b"], "rule": ["R1"]})
    assert got == 'x{portfolio=~"(alpha|fund\\\\.b)",rule=~"R1"}[1m]'
    with pytest.raises(KeyError, match=r"\$nope"):
        queries.substitute('x{a=~"$nope"}', {})


def test_rule_files_are_found() -> None:
    assert {p.name for p in check.rule_files(ROOT)} >= {"recording.rules.yml", "risk.rules.yml"}


def test_preview_of_an_unreachable_prometheus_is_one_clear_error(tmp_path: Path) -> None:
    done = run_dashboards(
        "preview", "--prometheus-url", "http://127.0.0.1:9", "--out", str(tmp_path),
        "--dashboard", "risk",
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot reach Prometheus at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def table_y(board: dict[str, Any], prefix: str) -> int:
    hits = [p for p in board["panels"] if p["title"].startswith(prefix)]
    return int(hits[0]["gridPos"]["y"])


def _reads(p: dict[str, Any]) -> set[str]:
    return {name for t in p["targets"] for name in metric_names(t["expr"])}


def test_realised_figures_come_first_and_are_labelled_apart_from_the_backtest(
    boards: dict[str, dict[str, Any]],
) -> None:
    realised = {m for m, _, _ in performance.REALISED}
    holdings = {m for m, _, _ in performance.HOLDINGS_BASED}
    for name in ("executive", "risk"):
        table = panel(boards[name], "Realised performance (desk P&L and closed trades)")
        assert _reads(table) == realised, name
        assert "realised" in table["description"].lower()
        assert all(m.startswith(("risk_realised_", "trading_closed_trades")) for m in realised)
    backtest = panel(
        boards["risk"], "Holdings-based backtest (today's holdings over the price history)"
    )
    assert _reads(backtest) == holdings and not holdings & realised
    # Where a reader looks first: above the holdings-based table on the risk board, and
    # above the drawdown, positions and models on the executive's.
    assert table_y(boards["risk"], "Realised performance") < table_y(
        boards["risk"], "Holdings-based backtest"
    )
    assert table_y(boards["executive"], "Realised performance") < table_y(
        boards["executive"], "Drawdown"
    )


def test_exception_lines_are_the_basel_table(limits: Policy) -> None:
    # The Basel Committee's traffic light (1996) for 250 days at 99%: green 0-4,
    # yellow 5-9, red from 10 exceptions.
    assert validation.zone_exceptions(limits) == (5, 10)
    data = yaml.safe_load((ROOT / POLICY_FILE).read_text())
    data["validation"]["backtest_days"] = 500
    longer = parse_policy(data)
    yellow, red = validation.zone_exceptions(longer)
    # Over 500 days the same probabilities allow more exceptions: 10 is still yellow.
    assert 5 < yellow <= 10 < red
    exceptions = panel(build.build_all(longer)["risk"], "VaR 99% exceptions in the backtest window")
    assert steps(exceptions) == [(None, "green"), (yellow, "yellow"), (red, "red")]


def test_zones_and_verdicts_read_as_words_in_their_colours(
    boards: dict[str, dict[str, Any]],
) -> None:
    def mapping(p: dict[str, Any], header: str | None = None) -> dict[str, tuple[str, str]]:
        if header is None:
            found = p["fieldConfig"]["defaults"]["mappings"]
        else:
            override = next(o for o in p["fieldConfig"]["overrides"]
                            if o["matcher"]["options"] == header
                            and any(x["id"] == "mappings" for x in o["properties"]))  # fmt: skip
            found = next(x["value"] for x in override["properties"] if x["id"] == "mappings")
        return {k: (v["text"], v["color"]) for k, v in found[0]["options"].items()}

    zones = {"0": ("GREEN", "green"), "1": ("YELLOW", "yellow"), "2": ("RED", "red")}
    table = panel(boards["risk"], "VaR and ES backtest by portfolio and method")
    assert mapping(table, "Zone") == zones
    assert mapping(table, "ES test") == {"0": ("PASS", "green"), "1": ("REJECTED", "red")}
    assert mapping(panel(boards["risk"], "VaR 99% backtest zone over time")) == zones
    assert mapping(panel(boards["executive"], "VaR backtest zone (worst method)")) == zones
    assert mapping(panel(boards["risk"], "Validation gates")) == {
        "1": ("PASS", "green"),
        "0": ("FAIL", "red"),
    }


def test_validation_panels_read_the_nightly_run_and_its_staleness_from_the_policy(
    boards: dict[str, dict[str, Any]], limits: Policy
) -> None:
    # The nightly dataset as ValidationJobMissing reads it: the setting's default.
    nightly = f'dataset="{ValidationSettings().dataset}"'
    titles = [
        "VaR and ES backtest by portfolio and method",
        "Last validation",
        "Validation gates",
        "VaR 99% exceptions in the backtest window",
        "VaR 99% backtest zone over time",
    ]
    for title in titles:
        for t in panel(boards["risk"], title)["targets"]:
            assert nightly in t["expr"], (title, t["expr"])
    assert (
        nightly
        in panel(boards["executive"], "VaR backtest zone (worst method)")["targets"][0]["expr"]
    )
    age = panel(boards["risk"], "Last validation")
    stale = duration_seconds(limits.validation.job_stale)
    assert steps(age) == [(None, "green"), (stale, "orange")]

    data = yaml.safe_load((ROOT / POLICY_FILE).read_text())
    data["validation"]["job_stale"] = "30h"
    changed = build.build_all(parse_policy(data))["risk"]
    assert steps(panel(changed, "Last validation")) == [(None, "green"), (30 * 3600, "orange")]


def test_preview_needs_a_folder_and_never_defaults_into_docs() -> None:
    done = run_dashboards("preview", "--prometheus-url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "Missing option '--out'" in done.stderr
