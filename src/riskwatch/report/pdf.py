"""The report as a PDF, printed by Debian's Chromium in headless mode.

The PDF is the HTML page itself, printed: one layout to maintain, and what a reader
sees in the browser is what the board pack gets. The page's print rules (`@page` in
the template: A4 landscape, so the wide tables keep their columns) set the paper.
Chromium runs with its own throwaway profile and no network features, and is given a
time limit: a hung browser must not hang the daily report.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from riskwatch.report.model import ReportError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
PRINT_TIMEOUT_SECONDS = 120.0
INSTALL_HINT = "apt-get install chromium fonts-liberation (make setup installs them as root)"


def find_chromium() -> str:
    """The path of a Chromium on PATH; ReportError saying how to install one if none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError(
        "cannot print the report to PDF: Chromium is not installed "
        f"(looked for {', '.join(CHROMIUM_NAMES)} on PATH); {INSTALL_HINT}"
    )


def print_pdf(html: Path, chromium: str | None = None) -> bytes:
    """The PDF of the page `html` (its images beside it); ReportError if Chromium is
    missing, fails or writes nothing."""
    browser = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="riskwatch-pdf-") as tmp:
        target = Path(tmp) / "report.pdf"
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # as root (make demo in a container) Chromium refuses without
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # Both spellings of "no date and URL in the margins": old and new Chromium.
            "--no-pdf-header-footer",
            "--print-to-pdf-no-header",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={target}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=PRINT_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise ReportError(
                f"Chromium did not print the report to PDF within {PRINT_TIMEOUT_SECONDS:.0f} s"
            ) from None
        except OSError as exc:
            raise ReportError(f"cannot run Chromium ({browser}): {exc.strerror or exc}") from None
        if not target.exists() or target.stat().st_size == 0:
            detail = " ".join(done.stderr.split()[-40:]) or f"exit status {done.returncode}"
            raise ReportError(f"Chromium wrote no PDF of the report: {detail}")
        return target.read_bytes()
