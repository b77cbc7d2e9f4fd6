"""Demo notification sinks: a real SMTP server, a Slack-compatible webhook endpoint and
a heartbeat endpoint for the Watchdog (a dead man's switch, healthchecks.io-style).

Alertmanager delivers to these exactly as it would to a mail relay, to Slack and to
an external ping URL. Every notification becomes a file in the outbox,
`<outbox>/email/*.eml`, `<outbox>/slack/*.json` and `<outbox>/heartbeat/*.json`,
written atomically so a reader never sees half a file.
"""

from __future__ import annotations

import email
import itertools
import json
import logging
import os
import signal
import threading
import time
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("riskwatch.sinks")

# Slack caps an incoming-webhook message well below this; anything larger is not Slack.
MAX_SLACK_BODY_BYTES = 1_048_576

HEARTBEAT_PATH = "/heartbeat"
"""Where the Slack sink's HTTP server takes heartbeat pings (any method, any body)."""

CHANNELS = ("email", "slack", "heartbeat")


class Outbox:
    """A folder per channel; file names sort in arrival order.

    `create=False` only reads: a folder that does not exist yet holds no files (for
    `stack status` on a state folder the sinks never ran in)."""

    def __init__(self, root: Path, create: bool = True) -> None:
        self.root = root
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        if create:
            for channel in CHANNELS:
                (root / channel).mkdir(parents=True, exist_ok=True)

    def write(self, channel: str, suffix: str, data: bytes) -> Path:
        """Write one notification atomically; its name starts with the nanosecond."""
        with self._lock:
            name = f"{time.time_ns()}-{next(self._seq):06d}{suffix}"
        target = self.root / channel / name
        tmp = target.with_name("." + name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return target

    def files(self, channel: str, since: float = 0.0) -> list[Path]:
        """The channel's files in arrival order, written at or after `since` (epoch
        seconds; file names start with the nanosecond they were written)."""
        folder = self.root / channel
        if not folder.is_dir():
            return []
        return sorted(
            p for p in folder.iterdir() if not p.name.startswith(".") and written_at(p) >= since
        )

    def emails(self, since: float = 0.0) -> list[Message]:
        """The emails received at or after `since`, oldest first, parsed."""
        return [email.message_from_bytes(p.read_bytes()) for p in self.files("email", since)]

    def slack_posts(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The Slack posts received at or after `since`, oldest first: each a record
        with `path`, `received_at` and the posted `message`."""
        posts = (json.loads(p.read_text()) for p in self.files("slack"))
        return [post for post in posts if post["received_at"] >= since]

    def heartbeats(self, since: float = 0.0) -> list[float]:
        """When each heartbeat ping arrived (epoch seconds), oldest first."""
        return [written_at(p) for p in self.files("heartbeat", since)]

    def last_heartbeat(self) -> float | None:
        """When the newest heartbeat ping arrived (epoch seconds), or None if none has."""
        beats = self.files("heartbeat")
        return written_at(beats[-1]) if beats else None

    def channels(self, alertname: str, needle: str, since: float, also: str = "") -> frozenset[str]:
        """Channels that carried a notification about `alertname` and `needle` (and
        `also`, e.g. a rule id) received at or after `since` (epoch seconds):
        ``email:<to>`` and ``slack:<channel>``."""
        found = set()
        for msg in self.emails(since):
            body = str(msg["Subject"])
            for part in msg.walk():
                if part.get_content_type() == "text/plain":
                    payload = part.get_payload(decode=True)
                    if isinstance(payload, bytes):
                        body += payload.decode(errors="replace")
            if alertname in body and needle in body and also in body:
                found.add(f"email:{msg['To']}")
        for post in self.slack_posts(since):
            message = post["message"]
            for attachment in message.get("attachments", []):
                text = attachment.get("title", "") + attachment.get("text", "")
                if alertname in text and needle in text and also in text:
                    found.add(f"slack:{message.get('channel')}")
        return frozenset(found)


def written_at(path: Path) -> float:
    """When an outbox file arrived (epoch seconds): its name starts with the nanosecond."""
    return int(path.name.split("-", 1)[0]) / 1e9


class _MailHandler:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        headers = (
            f"X-Riskwatch-Mail-From: {envelope.mail_from}\r\n"
            f"X-Riskwatch-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        path = self.outbox.write("email", ".eml", headers + content)
        log.info("email from %s to %s saved as %s", envelope.mail_from, envelope.rcpt_tos, path)
        return "250 Message accepted for delivery"


def _slack_handler(outbox: Outbox) -> type[BaseHTTPRequestHandler]:
    class SlackHandler(BaseHTTPRequestHandler):
        def _reply(self, status: HTTPStatus, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _is_heartbeat(self) -> bool:
            path = self.path.split("?", 1)[0]
            return path == HEARTBEAT_PATH or path.startswith(HEARTBEAT_PATH + "/")

        def _heartbeat(self) -> None:
            # Ping services take GET or POST with any body (Alertmanager POSTs its
            # webhook JSON): record what came, and answer 200 as they do.
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_SLACK_BODY_BYTES:
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large")
                return
            body = self.rfile.read(length).decode(errors="replace") if length > 0 else ""
            record = {
                "path": self.path,
                "method": self.command,
                "received_at": time.time(),
                "body": body,
            }
            path = outbox.write("heartbeat", ".json", json.dumps(record, indent=2).encode())
            log.info("heartbeat %s %s saved as %s", self.command, self.path, path)
            self._reply(HTTPStatus.OK, "OK")

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(HTTPStatus.OK, "ok")
            elif self._is_heartbeat():
                self._heartbeat()
            else:
                self._reply(HTTPStatus.NOT_FOUND, "not_found")

        def do_POST(self) -> None:
            if self._is_heartbeat():
                self._heartbeat()
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_SLACK_BODY_BYTES:
                self._reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
                return
            try:
                message: Any = json.loads(self.rfile.read(length))
            except ValueError:
                self._reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
                return
            if not isinstance(message, dict):
                self._reply(HTTPStatus.BAD_REQUEST, "invalid_payload")
                return
            record = {"path": self.path, "received_at": time.time(), "message": message}
            path = outbox.write("slack", ".json", json.dumps(record, indent=2).encode())
            log.info("slack message for %s saved as %s", message.get("channel"), path)
            self._reply(HTTPStatus.OK, "ok")  # what Slack's incoming webhooks answer

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("slack sink: " + format, *args)

    return SlackHandler


class Sinks:
    """The SMTP sink and the HTTP one (Slack and heartbeat), started and stopped together."""

    def __init__(self, outbox_dir: Path, host: str, smtp_port: int, slack_port: int) -> None:
        self.outbox = Outbox(outbox_dir)
        self._smtp = Controller(_MailHandler(self.outbox), hostname=host, port=smtp_port)
        self._http = ThreadingHTTPServer((host, slack_port), _slack_handler(self.outbox))
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        self._smtp.start()
        self._http_thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._smtp.stop()


def run(outbox_dir: Path, host: str, smtp_port: int, slack_port: int) -> None:
    """Serve the sinks until SIGTERM or SIGINT."""
    sinks = Sinks(outbox_dir, host, smtp_port, slack_port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sinks.start()
    log.info(
        "sinks: smtp %s:%d, slack and heartbeat (%s) http://%s:%d",
        host,
        smtp_port,
        HEARTBEAT_PATH,
        host,
        slack_port,
    )
    stop.wait()
    sinks.stop()
