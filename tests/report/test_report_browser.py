"""The report page in Debian's Chromium (Playwright on the system browser) at a phone's
mail width and a desktop's, and its PDF printed by the same Chromium.

The page is the sample day with free text at its worst (a 5,000-character
acknowledgement note, 300-character names): nothing may widen the page past the window,
and every KPI tile must be fully in view.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from playwright.sync_api import sync_playwright

from riskwatch.report.build import HTML_FILE
from riskwatch.report.charts import render_charts
from riskwatch.report.html import build_view, render_html
from riskwatch.report.model import ReportError
from riskwatch.report.pdf import find_chromium, print_pdf
from tests.report.sample import LONG_NOTE, sample_report, with_long_texts
from tests.report.test_report_e2e import ensure_chromium

WIDTHS = (600, 1400)
# Where the docs' screenshots come from: `RISKWATCH_REPORT_SCREENSHOTS=docs/images
# pytest tests/report/test_report_browser.py` refreshes docs/images/report-*.png.
SCREENSHOTS_ENV = "RISKWATCH_REPORT_SCREENSHOTS"
# A blank page has no ink at all; the sparsest page of the report (its last: the
# footer line alone) has about 0.7% of its pixels inked at 40 dpi, and a page of tables
# or charts over 5%.
MIN_INK = 0.002
FULL_PAGE_INK = 0.03


def _write_page(folder: Path) -> Path:
    data = with_long_texts(sample_report())
    charts = render_charts(data)
    page = folder / HTML_FILE
    page.write_text(render_html(build_view(data), charts, lambda c: c.filename))
    for chart in charts:
        assert chart.png is not None
        (folder / chart.filename).write_bytes(chart.png)
    return page


def test_the_page_fits_600_and_1400_pixels(tmp_path: Path) -> None:
    chromium = ensure_chromium()
    page_file = _write_page(tmp_path)
    html = page_file.read_text()
    assert LONG_NOTE[:27] in html and LONG_NOTE not in html  # shown, and cut
    shots = os.environ.get(SCREENSHOTS_ENV)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 1000})
                page.goto(page_file.as_uri())
                page.wait_for_load_state("load")
                scroll, client = page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                assert scroll == client == width, (width, scroll, client)
                tiles = page.locator(".tile")
                assert tiles.count() == 6
                for i in range(tiles.count()):
                    box = tiles.nth(i).bounding_box()
                    assert box is not None
                    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, i, box)
                    # The tile's own content fits in it: nothing cut off inside.
                    assert tiles.nth(i).evaluate("t => t.scrollWidth <= t.clientWidth"), (
                        width,
                        i,
                    )
                # Every chart is drawn within the page.
                for img in page.locator(".chart img").all():
                    box = img.bounding_box()
                    assert box is not None and box["x"] + box["width"] <= width
                    assert img.evaluate("i => i.complete && i.naturalWidth > 0")
                shot = tmp_path / f"report-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                pixels = imread(str(shot))[..., :3]
                assert pixels.shape[1] == width and float(pixels.std()) > 0.05
                if shots:
                    Path(shots).mkdir(parents=True, exist_ok=True)
                    shutil.copy(shot, Path(shots) / f"report-{width}.png")
                page.close()
        finally:
            browser.close()


def _ink(png: Path) -> float:
    pixels = imread(str(png))[..., :3]
    return float((pixels.min(axis=2) < 0.9).mean())


def page_inks(pdf: Path, folder: Path) -> list[float]:
    """The PDF's pages rendered back to PNG by poppler's pdftoppm: each page's share of
    inked pixels (and each page's PNG left in `folder`)."""
    assert shutil.which("pdftoppm"), "pdftoppm missing: apt-get install poppler-utils"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", str(pdf), str(folder / "page")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return [_ink(p) for p in sorted(folder.glob("page-*.png"))]


def test_the_pdf_has_pages_that_are_not_blank(tmp_path: Path) -> None:
    chromium = ensure_chromium()
    pdf = print_pdf(_write_page(tmp_path), chromium)
    assert pdf.startswith(b"%PDF-")
    target = tmp_path / "report.pdf"
    target.write_bytes(pdf)
    inks = page_inks(target, tmp_path)
    assert len(inks) >= 2, inks
    assert all(ink > MIN_INK for ink in inks), inks
    assert all(ink > FULL_PAGE_INK for ink in inks[:-1]), inks
    width, height = imread(str(tmp_path / "page-1.png")).shape[1::-1]
    assert width > height  # A4 landscape, as the page's @page rule asks


def test_no_chromium_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ReportError) as err:
        find_chromium()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("cannot print the report to PDF: Chromium is not installed")
    assert "apt-get install chromium" in message


def test_ink_tells_a_blank_page(tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 60, 3), 255, dtype=np.uint8)).save(blank)
    assert _ink(blank) == 0.0
