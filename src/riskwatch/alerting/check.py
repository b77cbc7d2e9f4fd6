"""Render the alerting config and check it: what `riskwatch alerts render|check` run.

`render` writes every generated file: `alerts/rules/*.yml` from the limits config
and the market calendar block of `alerts/alertmanager.yml`. `check` renders in
memory and compares, then runs the real tools: `promtool check rules`,
`promtool test rules alerts/tests/*.test.yml`, `amtool check-config` and one
`amtool config routes test` per case in `alerts/tests/routes.yml`, plus the
convention checks of `riskwatch.alerting.lint`. Each step reports on its own, so
one run shows every problem.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from riskwatch.alerting import calendar, lint
from riskwatch.alerting.rules import RULES_DIR, is_generated, render_rule_files
from riskwatch.clock import Clock, system_clock
from riskwatch.policy import POLICY_FILE, PolicyError, load_policy
from riskwatch.settings import DEFAULT_GRAFANA_URL

TESTS_GLOB = "alerts/tests/*.test.yml"
ROUTE_CASES = "alerts/tests/routes.yml"
TOOL_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Step:
    """The outcome of one check: its name, whether it passed, and what it printed."""

    name: str
    ok: bool
    detail: str = ""


class RouteCase(BaseModel):
    """An alert's labels and the receivers Alertmanager must deliver it to, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(min_length=1)
    receivers: tuple[str, ...] = Field(min_length=1)


class _RouteCases(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cases: tuple[RouteCase, ...] = Field(min_length=1)


def load_route_cases(path: Path) -> tuple[RouteCase, ...]:
    """The route cases in `path`; PolicyError names the problem in one line."""
    try:
        return _RouteCases.model_validate(yaml.safe_load(path.read_text())).cases
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise PolicyError(f"{path}: {loc}: {first['msg']}") from None


# ------------------------------------------------------------------ render
def expected_files(project_dir: Path, clock: Clock | None = None) -> dict[Path, str]:
    """Every generated file's path and the content a fresh render gives it.

    The committed rules link to Grafana at its default address, whoever renders them;
    `riskwatch stack up` renders the running rules with the deployment's `grafana_url`
    and policy file. The market calendar is rendered from `clock`'s day in the market's
    zone (or the day the block records, if recent: `calendar.render_day`); without a
    clock, from the day the committed block records, so a check says whether it was
    edited by hand or its policy changed, not how old it is.
    """
    limits = load_policy(project_dir / POLICY_FILE)
    rules_dir = project_dir / RULES_DIR
    rendered = render_rule_files(limits, DEFAULT_GRAFANA_URL)
    files = {rules_dir / name: text for name, text in rendered.items()}
    am = project_dir / calendar.ALERTMANAGER_CONFIG
    try:
        current = am.read_text()
    except OSError as exc:
        raise PolicyError(f"cannot read {am}: {exc.strerror}") from None
    today = (clock or system_clock)().astimezone(limits.market.zone).date()
    if clock is None:
        today = calendar.rendered_since(current) or today
    else:
        today = calendar.render_day(current, today)
    try:
        files[am] = calendar.splice(current, limits.market, today)
    except calendar.CalendarError as exc:
        raise PolicyError(str(exc)) from None
    return files


def _stray_rule_files(project_dir: Path, expected: dict[Path, str]) -> list[Path]:
    """Rule files under alerts/rules that the render would not produce."""
    rules_dir = project_dir / RULES_DIR
    return sorted(p for p in rules_dir.glob("*.yml") if p not in expected)


def render(project_dir: Path, clock: Clock = system_clock) -> list[str]:
    """Write every generated file, the market calendar from `clock`'s day; return one
    line per file written or removed."""
    expected = expected_files(project_dir, clock)
    changed = []
    for path, text in expected.items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(f"wrote {path.relative_to(project_dir)}")
    for path in _stray_rule_files(project_dir, expected):
        # A generated file the limits no longer produce is stale; a hand-written one
        # is someone's work: say so instead of deleting it.
        if is_generated(path):
            path.unlink()
            changed.append(f"removed stale {path.relative_to(project_dir)}")
        else:
            changed.append(
                f"left {path.relative_to(project_dir)}: not generated; `alerts check` "
                "fails until its rules move into the generator"
            )
    return changed


def in_sync(project_dir: Path) -> Step:
    """Whether the committed generated files equal a fresh render."""
    try:
        expected = expected_files(project_dir)
    except PolicyError as exc:
        return Step("generated files in sync", False, str(exc))
    problems = []
    for path, text in expected.items():
        rel = str(path.relative_to(project_dir))
        current = path.read_text() if path.is_file() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{rel} (committed)",
                f"{rel} (rendered)",
                n=1,
            )
            problems.append("".join(diff) or f"{rel} is missing")
    problems += [
        f"{p.relative_to(project_dir)} is not generated from {POLICY_FILE}"
        for p in _stray_rule_files(project_dir, expected)
    ]
    if problems:
        problems.append("run `riskwatch alerts render` and commit the result")
    return Step("generated files in sync", not problems, "\n".join(problems))


# ------------------------------------------------------------------ tools
def _run(name: str, argv: list[str], cwd: Path) -> Step:
    binary = shutil.which(argv[0])
    if binary is None:
        return Step(name, False, f"{argv[0]} not found on PATH (`riskwatch stack install`)")
    try:
        done = subprocess.run(
            [binary, *argv[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Step(name, False, f"{argv[0]} did not finish in {TOOL_TIMEOUT_SECONDS} s")
    output = (done.stdout + done.stderr).strip()
    return Step(name, done.returncode == 0, output)


def promtool_check_rules(project_dir: Path, promtool: str = "promtool") -> Step:
    """`promtool check rules` on every rule file."""
    files = sorted(str(p.relative_to(project_dir)) for p in (project_dir / RULES_DIR).glob("*.yml"))
    if not files:
        return Step("promtool check rules", False, f"no rule files in {RULES_DIR}")
    return _run("promtool check rules", [promtool, "check", "rules", *files], project_dir)


def promtool_test_rules(project_dir: Path, promtool: str = "promtool") -> Step:
    """`promtool test rules` on every alerts/tests/*.test.yml."""
    files = sorted(str(p.relative_to(project_dir)) for p in project_dir.glob(TESTS_GLOB))
    if not files:
        return Step("promtool test rules", False, f"no unit tests match {TESTS_GLOB}")
    return _run("promtool test rules", [promtool, "test", "rules", *files], project_dir)


def amtool_check_config(project_dir: Path, amtool: str = "amtool") -> Step:
    """`amtool check-config` on alerts/alertmanager.yml (templates included)."""
    return _run(
        "amtool check-config",
        [amtool, "check-config", calendar.ALERTMANAGER_CONFIG],
        project_dir,
    )


def route_case(project_dir: Path, case: RouteCase, amtool: str = "amtool") -> Step:
    """`amtool config routes test` for one case: exit 1 when the receivers differ."""
    argv = [
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={calendar.ALERTMANAGER_CONFIG}",
        f"--verify.receivers={','.join(case.receivers)}",
        *(f"{k}={v}" for k, v in sorted(case.labels.items())),
    ]
    step = _run(f"route: {case.name}", argv, project_dir)
    if step.ok:
        return step
    got = step.detail.splitlines()[0] if step.detail else "nothing"
    return Step(step.name, False, f"expected {','.join(case.receivers)}, routed to {got}")


def route_cases(project_dir: Path, amtool: str = "amtool") -> Iterator[Step]:
    """One step per case in alerts/tests/routes.yml."""
    try:
        cases = load_route_cases(project_dir / ROUTE_CASES)
    except PolicyError as exc:
        yield Step("route cases", False, str(exc))
        return
    for case in cases:
        yield route_case(project_dir, case, amtool)


def conventions(project_dir: Path) -> Step:
    """The lint checks: labels, annotations, runbooks, catalog metrics, alertgroup pairs."""
    files = sorted((project_dir / RULES_DIR).glob("*.yml"))
    try:
        found = list(lint.problems(files, project_dir))
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        return Step("rule conventions", False, f"cannot read the rule files: {exc!r}")
    return Step("rule conventions", not found, "\n".join(found))


def check(project_dir: Path, promtool: str = "promtool", amtool: str = "amtool") -> Iterator[Step]:
    """Every check, in order; each runs even when an earlier one failed."""
    steps: list[Callable[[], Step]] = [
        lambda: in_sync(project_dir),
        lambda: conventions(project_dir),
        lambda: promtool_check_rules(project_dir, promtool),
        lambda: promtool_test_rules(project_dir, promtool),
        lambda: amtool_check_config(project_dir, amtool),
    ]
    for step in steps:
        yield step()
    yield from route_cases(project_dir, amtool)
