"""The daily summary email: multipart/alternative (plain text, then HTML with its charts
as related inline images), sent over SMTP with retries.

A failed attempt waits `send_backoff_seconds`, then twice that, and so on, up to
`send_attempts` tries; only then does `MailError` say, in one line, what the last
attempt met. A permanent refusal (5xx: bad recipient, authentication) is not retried:
trying again cannot change the answer.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from riskwatch.settings import Settings

if TYPE_CHECKING:  # charts pulls in matplotlib; `riskwatch report --help` should not
    from riskwatch.report.charts import Chart

log = logging.getLogger("riskwatch.report.mail")

SMTP_TIMEOUT_SECONDS = 30.0


class MailError(Exception):
    """The email could not be sent; the message is one line for the operator."""


def content_id(chart: Chart, day: date) -> str:
    """The Content-ID (without brackets) the HTML part uses as `cid:` for a chart."""
    return f"{chart.name}.{day.isoformat()}@riskwatch"


def build_message(
    settings: Settings,
    subject: str,
    text: str,
    html: str,
    charts: list[Chart],
    day: date,
    *,
    pdf: bytes | None = None,
) -> EmailMessage:
    """The email: text and HTML alternatives, the charts related to the HTML part, and
    the report's `pdf` attached when given (the message is then multipart/mixed)."""
    report = settings.report
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = report.from_address
    msg["To"] = ", ".join(report.recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("report", domain="riskwatch")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
    for chart in charts:
        if chart.png:
            html_part.add_related(
                chart.png,
                maintype="image",
                subtype="png",
                cid=f"<{content_id(chart, day)}>",
                filename=chart.filename,
                disposition="inline",
            )
    if pdf is not None:
        msg.add_attachment(
            pdf,
            maintype="application",
            subtype="pdf",
            filename=f"riskwatch-report-{day.isoformat()}.pdf",
        )
    return msg


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        detail = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        return f"{exc.smtp_code} {' '.join(detail.split())}".strip()
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {err.decode(errors='replace')}"
            for rcpt, (code, err) in exc.recipients.items()
        )
    return " ".join(str(exc).split()) or type(exc).__name__


def send_message(
    settings: Settings,
    msg: EmailMessage,
    *,
    sleep: Callable[[float], None] = time.sleep,
    smtp: Callable[..., smtplib.SMTP] = smtplib.SMTP,
) -> int:
    """Deliver `msg` to the report's recipients; returns the attempts it took."""
    report = settings.report
    host = report.smtp_host or settings.stack.host
    port = report.smtp_port or settings.stack.smtp_port
    where = f"{host}:{port}"
    wait = report.send_backoff_seconds
    for attempt in range(1, report.send_attempts + 1):
        try:
            with smtp(host, port, timeout=SMTP_TIMEOUT_SECONDS) as client:
                if report.smtp_starttls:
                    client.starttls()
                if report.smtp_username:
                    password = (
                        report.smtp_password.get_secret_value() if report.smtp_password else ""
                    )
                    client.login(report.smtp_username, password)
                client.send_message(msg, report.from_address, list(report.recipients))
            return attempt
        except (OSError, smtplib.SMTPException) as exc:
            last = _describe(exc)
            if _permanent(exc):
                raise MailError(f"SMTP server {where} refused the report email: {last}") from None
            if attempt == report.send_attempts:
                raise MailError(
                    f"could not send the report email via {where} after {attempt} "
                    f"attempt{'s' if attempt != 1 else ''}: {last}"
                ) from None
            log.warning(
                "report email attempt %d of %d via %s failed: %s; retrying in %.1f s",
                attempt,
                report.send_attempts,
                where,
                last,
                wait,
            )
            sleep(wait)
            wait *= 2
    raise AssertionError("unreachable: send_attempts is at least 1")  # pragma: no cover
