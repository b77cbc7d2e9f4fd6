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
from tests.report.sample import LIMITS, empty_report, sample_report


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
        assert width == 1100 and height > 250, (chart.name, width, height)

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
