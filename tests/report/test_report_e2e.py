"""`riskwatch report` against the real stack: agents' data, a breach acknowledged in
the receiver, the page in headless Chromium and the email in the SMTP sink.

The agents publish now, so a report of today is about the wall clock's day: these
tests hold at any hour. Data pushed to the Pushgateway is scraped until it is deleted,
so today's window holds it even just after midnight or on a weekend, and the alert is
open whatever the day. The day a run reports on is read from its output and checked to
be New York's date during the run (it may straddle midnight); a test that needs an
event inside one day names that day with --date. The clock itself is pinned in the
tests without a stack (test_cli.py, test_window.py).
"""

from __future__ import annotations

import email
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread

from riskwatch.clock import system_clock
from riskwatch.publish import Publisher
from riskwatch.receiver_client import ReceiverClient
from riskwatch.report import fmt
from riskwatch.report.model import report_window
from riskwatch.report.validation import validation_due
from riskwatch.stack.runner import Stack
from tests.dashboards.support import (
    DeskBacktest,
    delete_validation,
    desk_backtests,
    publish_realised,
    push_validation,
)
from tests.support.calendar import shipped_calendar, shipped_zone
from tests.support.stack import (
    TEST_TOKEN,
    delete_group,
    free_port,
    gateway_access,
    prom_query,
    push_gauges,
    run_cli,
    stack_env,
    wait_for,
)

pytestmark = pytest.mark.stack

AGENT = "report-trading"
HEALTH = "report-health"
BREACH = "report-breach"
REALISED = "report-realised"
PORTFOLIOS = [
    {"name": "rpt-alpha", "positions": 28},
    {"name": "rpt-beta", "positions": 12, "initial_value_usd": 500_000.0},
]
CHROMIUM = "/usr/bin/chromium"
# Debian's browser, and the fonts the page is drawn with (only a recommendation of
# chromium-common, so named here for --no-install-recommends).
CHROMIUM_PACKAGES = ("chromium", "fonts-liberation")
# A day no test writes to the session's Prometheus: in the past whenever the suite runs,
# a year before the history the backfill test loads (November 2026). A Sunday when the
# clocks went back, so its window is 25 hours.
NO_DATA_DAY = date(2025, 11, 2)
CALENDAR = shipped_calendar()


def ensure_chromium() -> str:
    """Debian's chromium, installed here if missing (as root): the test never skips."""
    if not os.path.exists(CHROMIUM):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", *CHROMIUM_PACKAGES]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode:
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
            subprocess.run(install, env=env, capture_output=True, check=True)
    assert os.path.exists(CHROMIUM), "chromium is not installed and could not be installed"
    return CHROMIUM


def market_today() -> date:
    return system_clock().astimezone(shipped_zone()).date()


def report_today(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], date]:
    """`riskwatch report` for its default day, and that day.

    The day must be New York's date at the start or the end of the run: the two differ
    only when the run straddles midnight, and either is then today as the command saw it.
    """
    before = market_today()
    result = report_cli(*args, env=env)
    after = market_today()
    assert result.returncode == 0, result.stderr
    said = re.match(r"report for (\d{4}-\d{2}-\d{2}) written to ", result.stdout)
    assert said, result.stdout
    day = date.fromisoformat(said[1])
    assert day in (before, after), (day, before, after)
    return result, day


def report_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The click command run as its own process, as `riskwatch report` will run it."""
    code = "from riskwatch.report.cli import report; report(obj={})"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def env(stack: Stack) -> dict[str, str]:
    return stack_env(
        stack,
        RISKWATCH_RECEIVER_TOKEN=TEST_TOKEN,
        RISKWATCH_TRADING__PORTFOLIOS=json.dumps(PORTFOLIOS),
        RISKWATCH_TRADING__SEED="5",
    )


@pytest.fixture(scope="module")
def fed(stack: Stack, receiver: ReceiverClient, env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Real agent data, one drawdown breach on rpt-beta, its alert acknowledged."""
    urls = stack.settings.url
    # Chromium installs (if need be) while the agents run and the alert travels.
    browser: dict[str, str] = {}

    def install() -> None:
        try:
            browser["path"] = ensure_chromium()
        except (OSError, subprocess.CalledProcessError, AssertionError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            browser["error"] = f"{exc} {detail.decode(errors='replace')[-1000:]}"

    installer = threading.Thread(target=install)
    installer.start()
    # The trading agent's own figures for rpt-beta, plus a 12% drawdown from a
    # second group: max by (portfolio) makes it rpt-beta's drawdown, past the 10% limit.
    push_gauges(
        stack.settings, BREACH, [("trading_drawdown_ratio", {"portfolio": "rpt-beta"}, 0.12)]
    )
    trading = run_cli("agent", "trading", "--once", env={**env, "RISKWATCH_AGENT__ID": AGENT})
    assert trading.returncode == 0, trading.stderr[-2000:]
    health = run_cli("agent", "health", "--once", env={**env, "RISKWATCH_AGENT__ID": HEALTH})
    assert health.returncode == 0, health.stderr[-2000:]

    def alert() -> dict[str, Any] | None:
        hits = receiver.alerts(alertname="PortfolioDrawdownCritical", portfolio="rpt-beta")
        return hits[0] if hits else None

    stored = wait_for(alert, "PortfolioDrawdownCritical for rpt-beta in the receiver", timeout=60)
    # The CRO acknowledges with her own token: the receiver records who from it.
    added = run_cli("users", "add", "jane.cro", "--role", "responder", env=env)
    assert added.returncode == 0, added.stderr[-2000:]
    jane = ReceiverClient(urls.receiver, added.stdout.strip().splitlines()[-1])
    jane.ack(stored["id"], "desk cutting beta exposure")
    for expr in (
        'portfolio:trading_portfolio_value_usd:sum{portfolio="rpt-alpha"}',
        'compliance_violation_active{portfolio="rpt-beta"}',
        f'riskwatch_component_up{{agent="{HEALTH}"}}',
    ):
        wait_for(lambda e=expr: prom_query(urls.prometheus, e), expr, timeout=30)
    installer.join(timeout=600)
    assert browser.get("path"), f"chromium could not be installed: {browser.get('error')}"
    yield {"alert": stored, "chromium": browser["path"]}
    delete_group(stack.settings, BREACH)  # leave no breach behind for other tests


@dataclass(frozen=True)
class Validated:
    """What the nightly run and the trading agent's realised figures put in Prometheus."""

    dataset: str
    backtests: list[DeskBacktest]


@pytest.fixture(scope="module")
def validated(stack: Stack) -> Iterator[Validated]:
    """Last night's validation of both books (rpt-beta's volatility jumped: some of its
    models are yellow or red), and the realised figures of months of trading."""
    gateway = stack.settings.url.pushgateway
    dataset = stack.settings.validation.dataset
    backtests = desk_backtests([p["name"] for p in PORTFOLIOS], stack.settings.policy)
    push_validation(stack.settings, dataset, backtests, succeeded_at=time.time() - 600)
    pub = Publisher(REALISED, gateway, access=gateway_access(stack.settings))
    for i, p in enumerate(PORTFOLIOS):
        publish_realised(pub, p["name"], 1.0 + i)
    pub.push_now()
    wait_for(
        lambda: (
            prom_query(stack.settings.url.prometheus, "risk_realised_sharpe")
            and prom_query(stack.settings.url.prometheus, "riskwatch_validation_var_zone")
        ),
        "the validation run and the realised figures in Prometheus",
        timeout=30,
    )
    yield Validated(dataset, backtests)
    pub.delete()
    delete_validation(stack.settings, dataset)  # no zone may outlive the module


def _row(section: str, b: DeskBacktest) -> re.Match[str] | None:
    """The zone pill of backtest `b`'s row in the validation table."""
    confidence = fmt.limit_pct(b.confidence)
    return re.search(
        rf'<td class="name">{b.portfolio}</td>\s*<td>{b.method}</td>\s*<td>{confidence}</td>\s*'
        r'<td class="num"[^>]*><span class="pill (\w+)">(\w+)</span></td>\s*'
        r'<td class="num[^"]*"[^>]*><div class="fig">(\d+) of (\d+)</div>',
        section,
    )


def test_the_report_shows_each_backtest_and_the_realised_figures(
    stack: Stack,
    fed: dict[str, Any],
    validated: Validated,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    # No --send: the report is written, never mailed (the one email the next test
    # finds in the sink for the day is its own).
    written, day = report_today("--out", str(tmp_path), env=env)
    assert "emailed" not in written.stdout
    page = (tmp_path / day.isoformat() / "report.html").read_text()
    section = page[page.index("<h2>Model validation</h2>") : page.index("<h2>Alerts and")]
    assert '<div class="notice">' not in section  # the run is current
    pills = {"green": "okgreen", "yellow": "warn", "red": "bad"}
    for b in validated.backtests:
        row = _row(section, b)
        assert row is not None, (b.portfolio, b.method, b.confidence)
        assert row.groups() == (pills[b.var.zone], b.var.zone.title(),
                                str(b.var.exceptions), str(b.var.n))  # fmt: skip
    red = sum(1 for b in validated.backtests if b.var.zone == "red")
    assert red and f"{red} VaR backtest{'s' if red > 1 else ''} red" in page

    performance = page[page.index("<h2>Performance</h2>") : page.index("<h2>Over the day</h2>")]
    realised, holdings = performance.split("Holdings-based backtest")

    def figure(metric: str) -> float:
        # Prometheus' figure for rpt-beta, the report's; the trading agent may publish
        # some realised figures of its own beside the months of history pushed here.
        rows = prom_query(stack.settings.url.prometheus, f'max({metric}{{portfolio="rpt-beta"}})')
        return float(rows[0]["value"][1])

    # Each figure under its own heading: a realised Sharpe is not the holdings-based one.
    def cell(text: str) -> str:
        return f'<div class="fig">{text}</div>'

    sharpe = cell(fmt.number(figure("risk_realised_sharpe"), 2))
    assert sharpe in realised and sharpe not in holdings
    assert cell(fmt.number(figure("risk_sharpe"), 2)) in holdings
    assert cell(fmt.pct(figure("trading_closed_trades_win_rate_ratio"))) in realised
    text = (tmp_path / day.isoformat() / "report.txt").read_text()
    assert "Red !!" in text and text.index("Realised (desk P&L") < text.index("Holdings-based")


def _push_run(
    stack: Stack, validated: Validated, at: float, backtests: list[DeskBacktest] | None = None
) -> None:
    """Push a validation run that succeeded at `at`, and wait for its scrape."""
    urls = stack.settings.url
    runs = validated.backtests if backtests is None else backtests
    push_validation(stack.settings, validated.dataset, runs, succeeded_at=at)
    series = f'riskwatch_validation_last_success_timestamp_seconds{{dataset="{validated.dataset}"}}'
    wait_for(lambda: prom_query(urls.prometheus, f"{series} == {at}"), "the run's scrape")


def test_a_run_before_the_last_close_is_out_of_date(
    stack: Stack, validated: Validated, env: dict[str, str], tmp_path: Path
) -> None:
    due = validation_due(
        report_window(market_today(), system_clock(), CALENDAR), stack.settings.policy
    )
    _push_run(stack, validated, (due - timedelta(days=1)).timestamp())
    try:
        _, day = report_today("--out", str(tmp_path), "--no-send", env=env)
    finally:
        _push_run(stack, validated, time.time())
    page = (tmp_path / day.isoformat() / "report.html").read_text()
    # What the report said instead, if not this: the failure must be readable.
    said = re.search(r"(No model validation|The last validation run)[^<]*", page)
    assert f"No model validation since the close of {due:%a %b %-d}" in page, (
        said and said[0],
        due,
    )
    assert "model validation out of date" in page


def test_a_book_the_last_run_dropped_is_not_shown_from_an_older_run(
    stack: Stack, validated: Validated, env: dict[str, str], tmp_path: Path
) -> None:
    retired = desk_backtests(["rpt-retired"], stack.settings.policy)
    _push_run(stack, validated, time.time(), validated.backtests + retired)
    _push_run(stack, validated, time.time())  # the next night: rpt-retired has left
    _, day = report_today("--out", str(tmp_path), "--no-send", env=env)
    page = (tmp_path / day.isoformat() / "report.html").read_text()
    assert "rpt-retired" not in page and _row(page, validated.backtests[0]) is not None


def _emails(outbox: Path) -> list[Message]:
    return [
        email.message_from_bytes(p.read_bytes()) for p in sorted((outbox / "email").glob("*.eml"))
    ]


def test_report_page_screenshot_and_email(
    stack: Stack, fed: dict[str, Any], env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    result, day = report_today("--out", str(out), "--send", env=env)
    assert "Traceback" not in result.stderr
    folder = out / day.isoformat()
    assert result.stdout.startswith(f"report for {day} written to {folder / 'report.html'}")
    assert "emailed to cro@localhost" in result.stdout
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["drawdown.png", "report.html", "report.txt", "tail_risk.png", "value_pnl.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp folder left

    page = (folder / "report.html").read_text()
    value = prom_query(
        stack.settings.url.prometheus,
        'portfolio:trading_portfolio_value_usd:sum{portfolio="rpt-alpha"}',
    )[0]["value"][1]
    assert fmt.usd(float(value)) in page  # the KPI is Prometheus' figure
    assert "rpt-beta" in page and "PortfolioDrawdownCritical" in page
    assert "✓ jane.cro" in page  # the acknowledgement from the receiver
    assert "Drawdown</td>" in page and "12.00%" in page  # the breach, from the metrics
    assert "RISK_001" in page and "DAT_001" in page  # the compliance table

    # The page as a browser draws it: a real picture, not a blank or an error page.
    shot = tmp_path / "report.png"
    chrome = subprocess.run(
        [
            fed["chromium"], "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
            f"--screenshot={shot}", "--window-size=1400,2000",
            (folder / "report.html").as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shot.exists(), chrome.stderr[-2000:]
    assert shot.stat().st_size > 50_000
    pixels = imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (2000, 1400)
    assert float(pixels.std()) > 0.05  # text, tables and charts, not one flat colour
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.3) & (pixels[..., 2] < 0.3)
    assert int(red.sum()) > 500  # the breach shows in red
    shutil.copy(shot, folder / "screenshot.png")  # for a human to look at, with -s

    subject = f"[riskwatch] Daily risk report {day.isoformat()}: "
    mails = wait_for(
        lambda: [
            m
            for m in _emails(outbox)
            if str(m["Subject"]).startswith(subject) and m["To"] == "cro@localhost"
        ],
        "the report email in the SMTP sink",
        timeout=30,
    )
    assert len(mails) == 1
    mail = mails[0]
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["To"] == "cro@localhost"
    parts = {p.get_content_type(): p for p in mail.walk()}
    text = parts["text/plain"].get_payload(decode=True).decode()
    html = parts["text/html"].get_payload(decode=True).decode()
    assert "rpt-beta" in text and "acked by jane.cro" in text
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 3
    for image in images:
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html


def test_the_pdf_is_attached_when_asked(
    fed: dict[str, Any], env: dict[str, str], outbox: Path, tmp_path: Path
) -> None:
    board = {
        **env,
        "RISKWATCH_REPORT__ATTACH_PDF": "true",
        "RISKWATCH_REPORT__RECIPIENTS": json.dumps(["board@localhost"]),
    }
    result, day = report_today("--out", str(tmp_path), "--send", env=board)
    pdf = tmp_path / day.isoformat() / "report.pdf"
    assert f"PDF written to {pdf}" in result.stdout  # attach_pdf prints it without --pdf
    mail = wait_for(
        lambda: next((m for m in _emails(outbox) if m["To"] == "board@localhost"), None),
        "the board's report email in the SMTP sink",
        timeout=30,
    )
    assert mail.get_content_type() == "multipart/mixed"
    attached = [p for p in mail.walk() if p.get_content_type() == "application/pdf"]
    assert len(attached) == 1
    assert attached[0].get_filename() == f"riskwatch-report-{day.isoformat()}.pdf"
    assert attached[0].get_payload(decode=True) == pdf.read_bytes()
    # The HTML and its inline charts are still the readable body.
    kinds = [p.get_content_type() for p in mail.walk()]
    assert "text/html" in kinds and kinds.count("image/png") == 3


def test_receiver_down_marks_the_alerts_section(
    fed: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result, day = report_today("--out", str(tmp_path), "--no-send", "--receiver-url", dead, env=env)
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert any(
        f"alerts section unavailable: cannot reach the receiver at {dead}" in w for w in warnings
    )
    page = (tmp_path / day.isoformat() / "report.html").read_text()
    assert "Alert history unavailable: cannot reach the receiver" in page
    assert "rpt-alpha" in page  # the metrics sections stand


def test_a_day_without_data_says_so(
    fed: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    from tests.report.test_report_browser import MIN_INK, page_inks

    day = NO_DATA_DAY.isoformat()
    result = report_cli("--date", day, "--out", str(tmp_path), "--no-send", "--pdf", env=env)
    assert result.returncode == 0, result.stderr
    assert f"no portfolio data for {day}" in result.stderr
    # `riskwatch report --pdf`: the same report printed, its pages rendered back.
    pdf = tmp_path / day / "report.pdf"
    assert f"PDF written to {pdf}" in result.stdout
    inks = page_inks(pdf, tmp_path)
    assert inks and all(ink > MIN_INK for ink in inks), inks
    assert (
        "No data: the agents recorded no fills on this day."
        in (tmp_path / day / "report.html").read_text()
    )
    page = (tmp_path / day / "report.html").read_text()
    assert "No portfolio figures in Prometheus for this day." in page
    assert page.count("No data for this chart.") == 3
    assert "Full day, 00:00\u201324:00 New York time" in page
    # No run is no verdict, not a green one.
    assert "No model validation run in the last 7 days" in page and "Green" not in page


def breach_then_clear(stack: Stack) -> date:
    """Have Prometheus scrape rpt-beta's 12% breach, then delete it and see it go stale;
    the New York day that holds both.

    A midnight in between leaves no day with the breach during it and its clearing
    before the report: the breach is then scraped and cleared again, which cannot
    straddle a midnight twice.
    """
    urls = stack.settings.url
    series = f'trading_drawdown_ratio{{agent="{BREACH}"}}'
    for _ in range(2):
        pushed = system_clock()
        scraped_since = f"timestamp({series}) >= {pushed.timestamp()}"
        push_gauges(
            stack.settings, BREACH, [("trading_drawdown_ratio", {"portfolio": "rpt-beta"}, 0.12)]
        )
        wait_for(
            functools.partial(prom_query, urls.prometheus, scraped_since),
            "a scrape of the breach after its push",
            timeout=30,
        )
        delete_group(stack.settings, BREACH)
        wait_for(
            lambda: not prom_query(urls.prometheus, series),
            "the cleared breach to go stale in Prometheus",
            timeout=30,
        )
        day = pushed.astimezone(shipped_zone()).date()
        if market_today() == day:
            return day
    raise AssertionError("the breach straddled the market's midnight twice")


def test_a_cleared_breach_is_the_worst_of_the_day_not_the_close(
    stack: Stack, fed: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> None:
    day = breach_then_clear(stack).isoformat()
    # The day named, not today's: past midnight it is the whole day, which still ends
    # after the clearing.
    result = report_cli("--date", day, "--out", str(tmp_path), "--no-send", env=env)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / day / "report.txt").read_text()
    # rpt-beta's worst drawdown that day is still the 12% breach...
    # (The breaches table's columns widen with whatever else breached in this session.)
    assert re.search(r"rpt-beta\s+Drawdown\s+12\.00%", text), text
    # ...but its drawdown at the end is the trading agent's own, not the cleared 12%.
    page = (tmp_path / day / "report.html").read_text()
    assert "now 12.00%" not in page and "now 0.00%" in page
