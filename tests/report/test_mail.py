"""The summary email's structure, and SMTP retries with doubling backoff."""

from __future__ import annotations

import email
import smtplib
from email.message import EmailMessage, Message
from typing import Any

import pytest

from riskwatch.report.charts import render_charts
from riskwatch.report.html import build_view, render_html, render_text
from riskwatch.report.mail import MailError, build_message, content_id, send_message
from riskwatch.settings import Settings, load_settings
from tests.report.sample import DAY, sample_report


def _settings(**report: Any) -> Settings:
    return load_settings(
        report={"recipients": ["cro@example.test", "risk@example.test"], **report},
        stack={"host": "127.0.0.1", "smtp_port": 2525},
    )


def _message(settings: Settings) -> EmailMessage:
    data = sample_report()
    charts = render_charts(data)
    view = build_view(data)
    html = render_html(view, charts, lambda c: f"cid:{content_id(c, DAY)}")
    return build_message(settings, view.subject, render_text(view, charts), html, charts, DAY)


def test_text_and_html_alternatives_with_inline_charts() -> None:
    raw = _message(_settings()).as_bytes()
    msg = email.message_from_bytes(raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"] == "cro@example.test, risk@example.test"
    assert str(msg["Subject"]).startswith("[riskwatch] Daily risk report 2026-11-24")
    text, related = msg.get_payload()
    assert isinstance(text, Message) and isinstance(related, Message)
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, *images = related.get_payload()
    assert html.get_content_type() == "text/html"
    body = html.get_payload(decode=True).decode()
    assert len(images) == 3
    for image in images:
        assert image.get_content_type() == "image/png"
        cid = image["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in body
        assert image.get_payload(decode=True).startswith(b"\x89PNG")


class FakeSMTP:
    """smtplib.SMTP's shape; fails its first `failures` connections with `error`."""

    attempts = 0
    failures = 0
    error: Exception = ConnectionRefusedError(111, "Connection refused")
    sent: list[tuple[str, list[str]]] = []  # noqa: RUF012 - reset per test below

    def __init__(self, host: str, port: int, timeout: float) -> None:
        type(self).attempts += 1
        if type(self).attempts <= type(self).failures:
            raise type(self).error

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send_message(self, msg: EmailMessage, from_addr: str, to_addrs: list[str]) -> None:
        type(self).sent.append((from_addr, to_addrs))


@pytest.fixture
def fake_smtp() -> type[FakeSMTP]:
    FakeSMTP.attempts, FakeSMTP.failures, FakeSMTP.sent = 0, 0, []
    FakeSMTP.error = ConnectionRefusedError(111, "Connection refused")
    return FakeSMTP


def test_retries_with_doubling_backoff_then_sends(fake_smtp: type[FakeSMTP]) -> None:
    settings = _settings(send_attempts=3, send_backoff_seconds=2)
    fake_smtp.failures = 2
    waits: list[float] = []
    attempts = send_message(settings, _message(settings), sleep=waits.append, smtp=fake_smtp)
    assert attempts == 3 and waits == [2, 4]
    assert fake_smtp.sent == [("riskwatch@localhost", ["cro@example.test", "risk@example.test"])]


def test_one_clear_line_after_the_last_attempt(fake_smtp: type[FakeSMTP]) -> None:
    settings = _settings(send_attempts=3, send_backoff_seconds=0.5)
    fake_smtp.failures = 99
    waits: list[float] = []
    with pytest.raises(MailError) as err:
        send_message(settings, _message(settings), sleep=waits.append, smtp=fake_smtp)
    assert waits == [0.5, 1.0] and fake_smtp.attempts == 3
    message = str(err.value)
    assert "\n" not in message
    assert message == (
        "could not send the report email via 127.0.0.1:2525 after 3 attempts: "
        "[Errno 111] Connection refused"
    )


def test_a_permanent_refusal_is_not_retried(fake_smtp: type[FakeSMTP]) -> None:
    settings = _settings(send_attempts=3)
    fake_smtp.failures = 99
    fake_smtp.error = smtplib.SMTPSenderRefused(550, b"5.7.1 relaying denied", "riskwatch@x")
    with pytest.raises(MailError, match=r"refused the report email: 550 5\.7\.1 relaying denied"):
        send_message(settings, _message(settings), sleep=lambda _s: None, smtp=fake_smtp)
    assert fake_smtp.attempts == 1


def test_the_pdf_is_an_attachment_beside_the_alternatives() -> None:
    data = sample_report()
    charts = render_charts(data)
    view = build_view(data)
    html = render_html(view, charts, lambda c: f"cid:{content_id(c, DAY)}")
    pdf = b"%PDF-1.4 sample"
    settings = _settings()
    built = build_message(settings, view.subject, render_text(view, charts), html, charts, DAY,
                          pdf=pdf)  # fmt: skip
    msg = email.message_from_bytes(built.as_bytes())
    assert msg.get_content_type() == "multipart/mixed"
    body, attachment = msg.get_payload()
    assert isinstance(body, Message) and isinstance(attachment, Message)
    assert body.get_content_type() == "multipart/alternative"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "riskwatch-report-2026-11-24.pdf"
    assert attachment.get_payload(decode=True) == pdf
