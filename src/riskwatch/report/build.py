"""Build a day's report into a folder, and optionally email it.

The folder `<out>/<YYYY-MM-DD>/` holds `report.html` (with its PNG charts beside it)
and `report.txt`, and `report.pdf` when a PDF is asked for or attached to the email.
It is written in a hidden temporary folder next to it and renamed into place only
when complete, so a reader, a crash or a failed run never leaves a
half-written report; a report built again for the same day replaces the old one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

from riskwatch.clock import Clock, system_clock
from riskwatch.report.charts import Chart, render_charts
from riskwatch.report.collect import collect
from riskwatch.report.html import View, build_view, render_html, render_text
from riskwatch.report.mail import build_message, content_id, send_message
from riskwatch.report.model import ReportData, ReportError
from riskwatch.report.pdf import print_pdf
from riskwatch.settings import Settings

HTML_FILE = "report.html"
TEXT_FILE = "report.txt"
PDF_FILE = "report.pdf"


@dataclass(frozen=True)
class BuiltReport:
    """A report on disk, and what its email is made of."""

    directory: Path
    data: ReportData
    view: View
    charts: list[Chart]
    text: str
    email_html: str
    pdf: bytes | None = None

    @property
    def html_path(self) -> Path:
        """The report's page."""
        return self.directory / HTML_FILE

    @property
    def pdf_path(self) -> Path | None:
        """The report's PDF, when one was printed."""
        return self.directory / PDF_FILE if self.pdf is not None else None

    def message(self, settings: Settings) -> EmailMessage:
        """The daily summary email of this report."""
        return build_message(
            settings,
            self.view.subject,
            self.text,
            self.email_html,
            self.charts,
            self.data.window.day,
            pdf=self.pdf if settings.report.attach_pdf else None,
        )


def _write_atomically(target: Path, files: dict[str, bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
        # mkdtemp makes it 0700; the report folder is for reading (no secret in it).
        os.chmod(tmp, 0o755)  # nosec B103
        if target.exists():
            # A directory cannot be renamed over a non-empty one: move the old report
            # aside first; the gap between the two renames is a missing report, never
            # a partial one.
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_report(
    settings: Settings,
    day: date,
    out_dir: Path,
    *,
    prometheus_url: str | None = None,
    receiver_url: str | None = None,
    now: datetime | None = None,
    clock: Clock = system_clock,
    pdf: bool = False,
) -> BuiltReport:
    """Collect, draw and write `day`'s report under `out_dir`; ReportError if impossible.

    The report is as of `now`, or of `clock()` without it (see `collect`). With `pdf`,
    or when `report.attach_pdf` is set, Chromium prints it to `report.pdf` as well.
    """
    data = collect(
        settings,
        day,
        prometheus_url=prometheus_url,
        receiver_url=receiver_url,
        now=now,
        clock=clock,
    )
    charts = render_charts(data)
    view = build_view(data)
    page = render_html(view, charts, lambda c: c.filename)
    email_html = render_html(view, charts, lambda c: f"cid:{content_id(c, day)}")
    text = render_text(view, charts)
    files = {HTML_FILE: page.encode(), TEXT_FILE: text.encode()}
    files.update({c.filename: c.png for c in charts if c.png})
    printed = _printed(files) if pdf or settings.report.attach_pdf else None
    if printed is not None:
        files[PDF_FILE] = printed
    target = out_dir / day.isoformat()
    try:
        _write_atomically(target, files)
    except OSError as exc:
        raise ReportError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    return BuiltReport(target, data, view, charts, text, email_html, printed)


def _printed(files: dict[str, bytes]) -> bytes:
    """The PDF of the page in `files`, printed from a scratch copy of it (the report's
    folder is only written once everything in it is ready)."""
    with tempfile.TemporaryDirectory(prefix="riskwatch-report-") as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
        return print_pdf(Path(tmp) / HTML_FILE)


def send_report(settings: Settings, report: BuiltReport) -> int:
    """Email `report` to settings.report.recipients; MailError after the last attempt."""
    return send_message(settings, report.message(settings))
