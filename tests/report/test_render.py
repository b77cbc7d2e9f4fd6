"""Charts, HTML and plain text of the report, from sample data (no stack needed)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from riskwatch.report import fmt
from riskwatch.report.build import _write_atomically
from riskwatch.report.charts import RED, render_charts
from riskwatch.report.html import build_view, render_html, render_text
from riskwatch.report.model import AlertRow, ReportData
from tests.report.sample import LIMITS, empty_report, sample_report, sample_validation


def test_numbers_read_as_a_cro_reads_them() -> None:
    assert fmt.usd(1_458_041.4) == "$1,458,041"
    assert fmt.usd(-41_959.2, signed=True) == "\u2212$41,959"
    assert fmt.usd(-41_959.2, signed=True, ascii_minus=True) == "-$41,959"
    assert fmt.usd(18_160, signed=True) == "+$18,160"
    assert fmt.usd_short(1_020_000) == "$1.02M"
    assert fmt.usd_short(-60_119) == "\u2212$60k"
    assert fmt.pct(0.14084) == "14.08%"
    assert fmt.pct(-0.0288, signed=True, ascii_minus=True) == "-2.88%"
    assert fmt.limit_pct(0.10) == "10%"
    assert fmt.limit_pct(0.025) == "2.5%"
    assert fmt.in_unit(300, "seconds", limit=True) == "5 min"
    assert fmt.in_unit(50_000, "usd", limit=True) == "$50,000"
    assert fmt.crowding(2) == "High"
    assert fmt.usd(None) == fmt.pct(float("nan")) == fmt.NO_DATA


def _red_pixels(png: bytes) -> int:
    image = imread(io.BytesIO(png))[..., :3]
    target = np.array([int(RED[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(image - target).max(axis=2) < 0.08).sum())


def test_charts_are_pngs_and_turn_red_past_the_limit() -> None:
    data = sample_report()
    charts = render_charts(data)
    assert [c.name for c in charts] == ["value_pnl", "drawdown", "tail_risk"]
    for chart in charts:
        assert chart.png is not None and chart.png.startswith(b"\x89PNG\r\n\x1a\n")
        height, width = imread(io.BytesIO(chart.png)).shape[:2]
        assert width == 880 and height > 250, (chart.name, width, height)

    # The same day with beta's drawdown capped at 8%: only the dashed limit line is red.
    calm = dataclasses.replace(data, series=dict(data.series))
    calm.series["drawdown"] = [
        dataclasses.replace(s, values=tuple(min(v, 0.08) for v in s.values))
        for s in data.series["drawdown"]
    ]
    breached = next(c for c in charts if c.name == "drawdown")
    within = next(c for c in render_charts(calm) if c.name == "drawdown")
    assert breached.png is not None and within.png is not None
    assert _red_pixels(breached.png) > 2 * _red_pixels(within.png) > 0


def test_html_has_every_section_with_states_and_acks() -> None:
    data = sample_report()
    charts = render_charts(data)
    view = build_view(data)
    page = render_html(view, charts, lambda c: c.filename)
    for heading in (
        "Firm",
        "Portfolios",
        "Over the day",
        "Limit breaches today",
        "Alerts and acknowledgements",
        "Compliance",
    ):
        assert f"<h2>{heading}</h2>" in page
    assert 'src="drawdown.png"' in page and 'src="tail_risk.png"' in page
    beta = next(r for r in view.portfolios if r.name == "beta")
    assert beta.cells["drawdown"].state == "bad"
    assert beta.cells["var"].state == "bad"
    alpha = next(r for r in view.portfolios if r.name == "alpha")
    assert alpha.cells["drawdown"].state == "ok"
    assert "✓ jane.cro" in page and "Not acknowledged" in page
    assert "RISK_002" in page and "Breach</span>" in page
    assert view.headline_state == "bad"
    assert view.subject.startswith("[riskwatch] Daily risk report 2026-11-24: P&L -$41,959")


def test_plain_text_marks_breaches_and_is_ascii() -> None:
    data = sample_report()
    text = render_text(build_view(data), render_charts(data))
    assert text.isascii()
    assert "14.08% !!" in text  # beta's worst drawdown, past its 10% limit
    assert "acked by jane.cro" in text and "NOT ACKED" in text
    lines = [line for line in text.splitlines() if line.startswith("beta ")]
    assert any("BREACH" in line and "RISK_002" in line for line in lines)


def test_alert_text_is_escaped_in_html() -> None:
    data = sample_report()
    assert data.alerts is not None
    evil = dataclasses.replace(data.alerts[0], summary="<script>alert(1)</script>")
    data.alerts = [evil, *data.alerts[1:]]
    page = render_html(build_view(data), [], lambda c: c.filename)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_no_data_and_no_receiver_are_marked_not_hidden() -> None:
    data = empty_report()
    charts = render_charts(data)
    assert all(c.png is None for c in charts)
    view = build_view(data)
    page = render_html(view, charts, lambda c: c.filename)
    assert page.count("No data for this chart.") == 3
    assert "Alert history unavailable: cannot reach the receiver" in page
    assert "No portfolio figures in Prometheus" in page
    assert "All clear" not in page  # no compliance figures is not a clean bill
    assert view.subject.endswith(": NO DATA")
    text = render_text(view, charts)
    assert "Alert history unavailable" in text and "No data." in text


def test_alert_rows_only_show_their_own_portfolio_counts() -> None:
    data: ReportData = sample_report()
    assert data.alerts is not None
    stray = dataclasses.replace(data.alerts[0], id=99, portfolio="gamma", acked=False)
    data.alerts.append(stray)
    rows = {r.name: r.cells for r in build_view(data).portfolios}
    assert rows["beta"]["alerts"].text == "2" and rows["alpha"]["alerts"].text == "0"
    assert isinstance(stray, AlertRow) and LIMITS.var == 0.02


def test_a_report_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "2026-11-24"
    _write_atomically(target, {"report.html": b"old"})
    with pytest.raises(OSError):
        # The second file cannot be written (no such subfolder): nothing may change.
        _write_atomically(target, {"report.html": b"new", "missing/x.png": b"x"})
    assert (target / "report.html").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-24"]
    _write_atomically(target, {"report.html": b"new"})
    assert (target / "report.html").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-11-24"]


def _between(page: str, start: str, end: str) -> str:
    return page[page.index(start) : page.index(end, page.index(start))]


def test_performance_says_which_figures_are_realised_and_shows_them_first() -> None:
    data = sample_report()
    page = render_html(build_view(data), [], lambda c: c.filename)
    section = _between(page, "<h2>Performance</h2>", "<h2>Over the day</h2>")
    realised = section.index("Realised (desk P&amp;L and closed trades)")
    holdings = section.index("Holdings-based backtest (today&#39;s holdings over the price")
    assert realised < holdings
    # Each Sharpe sits under its own heading: alpha's realised 1.42, holdings-based 0.87.
    assert "1.42" in section[realised:holdings] and "0.87" not in section[realised:holdings]
    assert "0.87" in section[holdings:] and "1.42" not in section[holdings:]
    text = render_text(build_view(data), [])
    assert text.index("Realised (desk P&L") < text.index("Holdings-based backtest")
    # beta's realised fall of 14.1% is past its 10% drawdown limit; alpha's 22% in the
    # holdings-based what-if is no breach of anything.
    assert "14.10% !!" in text and "22.00% !" not in text


def test_validation_shows_zones_in_colour_tests_and_failed_gates() -> None:
    data = sample_report()
    view = build_view(data)
    page = render_html(view, [], lambda c: c.filename)
    section = _between(page, "<h2>Model validation</h2>", "<h2>Alerts and acknowledgements</h2>")
    assert section.count('<span class="pill okgreen">Green</span>') == 4
    assert section.count('<span class="pill warn">Yellow</span>') == 1
    assert section.count('<span class="pill bad">Red</span>') == 1
    assert "12 of 250" in section and "expected 2.5" in section
    assert "0.001" in section and "-1.90" in section  # Kupiec p, ES Z2
    assert "data_completeness" in section and "0.62" in section  # the failed gate
    assert "complete_windows" not in section  # a gate that passed is not listed
    assert "succeeded 01:12 New York time" in section and '<div class="notice">' not in section
    assert "1 VaR backtest red" in view.headline and "1 validation gate failed" in view.headline
    text = render_text(view, [])
    assert "Red !!" in text and "Yellow !" in text and text.isascii()


def test_no_validation_is_said_and_never_looks_green() -> None:
    data = sample_report()
    data.validation = sample_validation(ran=False)
    view = build_view(data)
    page = render_html(view, [], lambda c: c.filename)
    section = _between(page, "<h2>Model validation</h2>", "<h2>Alerts and acknowledgements</h2>")
    assert '<div class="notice">No model validation run in the last 7 days' in section
    assert "not the same as green" in section and "Green" not in section
    assert "no model validation" in view.headline and view.subject.endswith("no model validation")
    assert "Note: No model validation run in the last 7 days" in render_text(view, [])

    # An otherwise clean day is amber, not green.
    data.breaches, data.alerts = [], []
    data.firm.alerts = data.firm.unacknowledged = 0
    assert build_view(data).headline_state == "warn"
    data.validation = sample_validation()
    data.validation.backtests = [b for b in data.validation.backtests if b.zone == "green"]
    data.validation.gates = [g for g in data.validation.gates if g.passed]
    assert build_view(data).headline_state == "ok"


def test_a_validation_older_than_the_last_exchange_day_is_out_of_date() -> None:
    data = sample_report()
    data.validation = sample_validation(current=False)
    view = build_view(data)
    page = render_html(view, [], lambda c: c.filename)
    assert (
        '<div class="notice">No model validation since the close of Mon Nov 23: the last run '
        "succeeded Nov 17 01:12 New York time"
    ) in page
    assert "model validation out of date" in view.headline
    assert '<span class="pill bad">Red</span>' in page  # its results still show, dated
