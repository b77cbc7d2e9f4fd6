"""Demo notification sinks: a real SMTP server, and one HTTP server speaking Slack's
incoming webhooks, Discord's webhooks, Telegram's Bot API (sendMessage), PagerDuty's
Events API v2 and a heartbeat endpoint for the Watchdog (a dead man's switch,
healthchecks.io-style).

Alertmanager delivers to these exactly as it would to a mail relay, to each service
and to an external ping URL. Every notification becomes a file in the outbox,
`<outbox>/email/*.eml`, `<outbox>/slack/*.json`, `<outbox>/discord/*.json`,
`<outbox>/telegram/*.json`, `<outbox>/pagerduty/*.json` and `<outbox>/heartbeat/*.json`,
written atomically so a reader never sees half a file. Tokens in the services' paths
and PagerDuty's routing key are not recorded (a hash of the key is).
"""

from __future__ import annotations

import email
import hashlib
import itertools
import json
import logging
import os
import re
import signal
import threading
import time
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("riskwatch.sinks")

# Slack caps an incoming-webhook message well below this; anything larger is not Slack.
MAX_SLACK_BODY_BYTES = 1_048_576

HEARTBEAT_PATH = "/heartbeat"
"""Where the Slack sink's HTTP server takes heartbeat pings (any method, any body)."""

DISCORD_PATH = re.compile(r"/api/webhooks/(?P<id>[^/]+)/(?P<token>[^/?]+)")
"""Discord's execute-webhook path (`POST /api/webhooks/<id>/<token>`)."""
TELEGRAM_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)")
"""The Telegram Bot API's path (`POST /bot<token>/<method>`)."""
PAGERDUTY_PATH = "/v2/enqueue"
"""PagerDuty's Events API v2 path."""

# What the local stack's Alertmanager sends to the sinks with when no real service is
# configured: values in the services' own formats, secrets of nothing.
LOCAL_DISCORD_WEBHOOK_PATH = "/api/webhooks/0/riskwatch-local"
LOCAL_TELEGRAM_BOT_TOKEN = "0:riskwatch-local"  # nosec B105 - the local sink's, no secret
LOCAL_TELEGRAM_CHAT_ID = -1000000000001
LOCAL_PAGERDUTY_ROUTING_KEY = "riskwatch-local-routing-key"

# PagerDuty refuses a longer summary.
MAX_PAGERDUTY_SUMMARY = 1024

CHANNELS = ("email", "slack", "heartbeat", "discord", "telegram", "pagerduty")


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

    def _records(self, channel: str, since: float) -> list[dict[str, Any]]:
        records = (json.loads(p.read_text()) for p in self.files(channel))
        return [record for record in records if record["received_at"] >= since]

    def discord_posts(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The Discord webhook posts received at or after `since`, oldest first: each a
        record with `path` (the token hidden), `webhook_id`, `received_at` and the
        posted `message` (`content` and `embeds`)."""
        return self._records("discord", since)

    def telegram_messages(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The Telegram sendMessage calls received at or after `since`, oldest first:
        each a record with `path` (the token hidden), `bot_id`, `received_at` and the
        call's parameters as `message` (`chat_id`, `text`, `parse_mode`, ...)."""
        return self._records("telegram", since)

    def pagerduty_events(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The PagerDuty Events API v2 events received at or after `since`, oldest
        first: each a record with `path`, `received_at`, `routing_key_sha256` and the
        `event` without its routing key."""
        return self._records("pagerduty", since)

    def heartbeats(self, since: float = 0.0) -> list[float]:
        """When each heartbeat ping arrived (epoch seconds), oldest first."""
        return [written_at(p) for p in self.files("heartbeat", since)]

    def last_heartbeat(self) -> float | None:
        """When the newest heartbeat ping arrived (epoch seconds), or None if none has."""
        beats = self.files("heartbeat")
        return written_at(beats[-1]) if beats else None

    def channels(
        self, alertname: str, needle: str, since: float, also: str = "", every: bool = False
    ) -> frozenset[str]:
        """Channels that carried a notification about `alertname` and `needle` (and
        `also`, e.g. a rule id) received at or after `since` (epoch seconds):
        ``email:<to>`` and ``slack:<channel>``; with `every`, also ``pagerduty``,
        ``discord`` and ``telegram`` (the demo's expectations name email and Slack)."""
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
        if every:
            texts = {
                "pagerduty": [json.dumps(r["event"]) for r in self.pagerduty_events(since)],
                "discord": [json.dumps(r["message"]) for r in self.discord_posts(since)],
                "telegram": [json.dumps(r["message"]) for r in self.telegram_messages(since)],
            }
            for channel, bodies in texts.items():
                # JSON-encoded, as the needles are plain words and label values.
                if any(alertname in b and needle in b and also in b for b in bodies):
                    found.add(channel)
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


def _pagerduty_errors(event: dict[str, Any] | None) -> list[str]:
    """What PagerDuty's Events API v2 would refuse in `event` (none: it is accepted)."""
    if event is None:
        return ["Event object is not JSON"]
    errors = []
    if not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing"]
        summary = payload.get("summary")
        if not summary or len(str(summary)) > MAX_PAGERDUTY_SUMMARY:
            errors.append(f"'payload.summary' is missing or longer than {MAX_PAGERDUTY_SUMMARY}")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
    return errors


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

        def _reply_json(self, status: HTTPStatus, body: dict[str, Any] | None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any] | None:
            """The request's JSON object (or, for Telegram, form fields); None if none."""
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_SLACK_BODY_BYTES:
                return None
            raw = self.rfile.read(length)
            kind = self.headers.get("Content-Type", "").split(";", 1)[0].strip()
            if kind == "application/x-www-form-urlencoded":
                return dict(parse_qsl(raw.decode(errors="replace")))
            try:
                data: Any = json.loads(raw)
            except ValueError:
                return None
            return data if isinstance(data, dict) else None

        def _discord(self, webhook_id: str) -> None:
            # Discord answers 204 without ?wait=true; it wants content or embeds.
            message = self._body()
            if message is None or not (message.get("content") or message.get("embeds")):
                self._reply_json(
                    HTTPStatus.BAD_REQUEST,
                    {"message": "Cannot send an empty message", "code": 50006},
                )
                return
            record = {
                "path": f"/api/webhooks/{webhook_id}/***",
                "webhook_id": webhook_id,
                "received_at": time.time(),
                "message": message,
            }
            path = outbox.write("discord", ".json", json.dumps(record, indent=2).encode())
            log.info("discord message for webhook %s saved as %s", webhook_id, path)
            self._reply_json(HTTPStatus.NO_CONTENT, None)

        def _telegram(self, token: str, method: str) -> None:
            bot_id = token.split(":", 1)[0]
            params = self._body() or {}
            if method == "getMe":
                me = {"id": int(bot_id) if bot_id.isdigit() else 0, "is_bot": True}
                self._reply_json(
                    HTTPStatus.OK, {"ok": True, "result": {**me, "first_name": "sink"}}
                )
                return
            if method != "sendMessage":
                self._reply_json(
                    HTTPStatus.NOT_FOUND,
                    {"ok": False, "error_code": 404, "description": "Not Found"},
                )
                return
            if not params.get("chat_id") or not params.get("text"):
                self._reply_json(
                    HTTPStatus.BAD_REQUEST,
                    {"ok": False, "error_code": 400, "description": "Bad Request: text or chat_id"},
                )
                return
            received = time.time()
            record = {
                "path": f"/bot{bot_id}:***/{method}",
                "bot_id": bot_id,
                "received_at": received,
                "message": params,
            }
            path = outbox.write("telegram", ".json", json.dumps(record, indent=2).encode())
            log.info("telegram message for chat %s saved as %s", params["chat_id"], path)
            try:
                chat: Any = int(params["chat_id"])
            except (TypeError, ValueError):
                chat = params["chat_id"]
            result = {
                "message_id": int(received * 1000) % 2**31,
                "date": int(received),
                "chat": {"id": chat, "type": "supergroup", "title": "riskwatch sink"},
                "text": params["text"],
            }
            self._reply_json(HTTPStatus.OK, {"ok": True, "result": result})

        def _pagerduty(self) -> None:
            event = self._body()
            errors = _pagerduty_errors(event)
            if event is None or errors:
                self._reply_json(
                    HTTPStatus.BAD_REQUEST,
                    {
                        "status": "invalid event",
                        "message": "Event object is invalid",
                        "errors": errors,
                    },
                )
                return
            key = str(event.pop("routing_key"))
            dedup = event.get("dedup_key") or f"riskwatch-sink-{time.time_ns()}"
            record = {
                "path": self.path,
                "received_at": time.time(),
                "routing_key_sha256": hashlib.sha256(key.encode()).hexdigest(),
                "event": event,
            }
            path = outbox.write("pagerduty", ".json", json.dumps(record, indent=2).encode())
            log.info("pagerduty %s event saved as %s", event.get("event_action"), path)
            self._reply_json(
                HTTPStatus.ACCEPTED,
                {"status": "success", "message": "Event processed", "dedup_key": dedup},
            )

        def do_POST(self) -> None:
            if self._is_heartbeat():
                self._heartbeat()
                return
            route = self.path.split("?", 1)[0]
            if discord := DISCORD_PATH.fullmatch(route):
                self._discord(discord["id"])
                return
            if telegram := TELEGRAM_PATH.fullmatch(route):
                self._telegram(telegram["token"], telegram["method"])
                return
            if route == PAGERDUTY_PATH:
                self._pagerduty()
                return
            # Anything else is Slack's incoming webhook.
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
    """The SMTP sink and the HTTP one (Slack, Discord, Telegram, PagerDuty and heartbeat),
    started and stopped together."""

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
        "sinks: smtp %s:%d, slack, discord, telegram, pagerduty and heartbeat (%s) http://%s:%d",
        host,
        smtp_port,
        HEARTBEAT_PATH,
        host,
        slack_port,
    )
    stop.wait()
    sinks.stop()
