"""Email and Slack notifications link each alert to its page in the receiver's console:
`<receiver.public_url>/console/go?fingerprint=<fingerprint>&starts_at=<startsAt>`.

Proven on the real Alertmanager running the config `riskwatch stack` renders (with a
public URL that is not the default, so the setting is seen to flow through), posting
to the real local sinks; and on docker compose's console template, which the rendered
one replaces, rendered by the real amtool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from riskwatch.settings import Settings, load_settings
from riskwatch.sinks import Outbox, Sinks
from riskwatch.stack.errors import StackError
from riskwatch.stack.render import CONSOLE_URL_TEMPLATE, render_alertmanager
from tests.support.alertmanager import amtool_render, running_alertmanager, tool
from tests.support.stack import free_ports, wait_for

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_URL = "https://console.example.test"
CONSOLE_PATH = "/console/go"


def _settings(tmp_path: Path, public_url: str | None = PUBLIC_URL + "/") -> Settings:
    # The trailing slash is the operator's; the links never have two.
    receiver = {"public_url": public_url} if public_url is not None else {}
    return load_settings(state_dir=tmp_path / "state", stack=free_ports(), receiver=receiver)


def _render(settings: Settings, folder: Path) -> Path:
    return render_alertmanager(
        settings, folder / "alertmanager.yml", folder / "secrets", folder / "credential"
    )


# ------------------------------------------------------------------ links, parsed
def console_link(url: str, base: str = PUBLIC_URL) -> tuple[str, datetime]:
    """(fingerprint, startsAt) of a console link, which must be exactly base + the
    route with those two parameters, each once, startsAt in UTC."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == base + CONSOLE_PATH, url
    query = parse_qs(parts.query, strict_parsing=True)
    assert set(query) == {"fingerprint", "starts_at"}, url
    assert all(len(v) == 1 for v in query.values()), url
    starts_at = query["starts_at"][0]
    assert starts_at.endswith("Z"), f"startsAt in UTC: {starts_at}"
    return query["fingerprint"][0], datetime.fromisoformat(starts_at)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((data.strip(), self._href))
            self._href = None


def html_console_links(html: str) -> list[str]:
    anchors = _Anchors()
    anchors.feed(html)
    return [href for text, href in anchors.links if text == "Open in console"]


def text_console_links(text: str) -> list[str]:
    return re.findall(r"^Open in console: (\S+?)\r?$", text, re.M)


def slack_console_links(text: str) -> list[str]:
    return re.findall(r"<([^|>]+)\|Open in console>", text)


def email_parts(message: Message) -> dict[str, str]:
    parts = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[part.get_content_type()] = payload.decode()
    return parts


# ------------------------------------------------------------------ the real Alertmanager
@pytest.fixture
def delivered(tmp_path: Path) -> Iterator[tuple[Settings, Path, str]]:
    """Alertmanager on the rendered config, delivering to the local sinks: yields the
    settings, the outbox and Alertmanager's URL."""
    settings = _settings(tmp_path)
    config = _render(settings, tmp_path / "rendered")
    checked = subprocess.run(
        [tool("amtool"), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    st = settings.stack
    sinks = Sinks(tmp_path / "outbox", st.host, st.smtp_port, st.slack_port)
    sinks.start()
    state = tmp_path / "alertmanager"
    state.mkdir()
    try:
        with running_alertmanager(config, state) as url:
            yield settings, tmp_path / "outbox", url
    finally:
        sinks.stop()


def test_email_and_slack_link_each_alert_to_its_console_page(
    delivered: tuple[Settings, Path, str],
) -> None:
    settings, outbox_dir, am = delivered
    assert settings.receiver_public_url() == PUBLIC_URL
    # Two alerts of one group (alertname and portfolio): one notification, a link each.
    # startsAt in another zone, to millisecond precision (what the v2 API reports).
    # The link must say it in UTC.
    now = datetime.now(timezone(timedelta(hours=2)))
    starts = [(now - timedelta(minutes=m)).replace(microsecond=123_000) for m in (7, 3)]
    labels = {
        "alertname": "PortfolioDrawdownCritical",
        "portfolio": "fund-links",
        "severity": "critical",
        "team": "risk",
    }
    annotations = {
        "summary": "Portfolio drawdown is beyond its critical limit.",
        "description": "Portfolio fund-links is 16% below its peak value.",
        "runbook_url": "https://runbooks.example.test/PortfolioDrawdownCritical",
        "dashboard_url": "https://grafana.example.test/d/riskwatch-risk",
    }
    posted = [
        {
            "labels": {**labels, "agent": f"agent-{n}"},
            "annotations": annotations,
            "startsAt": start.isoformat(timespec="milliseconds"),
        }
        for n, start in enumerate(starts)
    ]
    assert all("+02:00" in a["startsAt"] for a in posted)
    requests.post(f"{am}/api/v2/alerts", json=posted, timeout=10).raise_for_status()

    # What Alertmanager says each alert is: its fingerprint and its startsAt.
    def reported() -> dict[str, datetime] | None:
        got = requests.get(
            f"{am}/api/v2/alerts", params={"filter": 'portfolio="fund-links"'}, timeout=10
        ).json()
        return (
            {a["fingerprint"]: datetime.fromisoformat(a["startsAt"]) for a in got}
            if len(got) == 2
            else None
        )

    alerts = wait_for(reported, "Alertmanager to hold both alerts", timeout=30)
    assert sorted(alerts.values()) == sorted(starts)

    outbox = Outbox(outbox_dir, create=False)
    # group_wait (3 s in alertmanager.yml), then one email and one Slack post.
    mails = wait_for(outbox.emails, "the CRO's email", timeout=60)
    posts = wait_for(outbox.slack_posts, "the #risk-alerts post", timeout=60)
    assert len(mails) == 1 and len(posts) == 1

    parts = email_parts(mails[0])
    assert set(parts) == {"text/plain", "text/html"}
    attachment = posts[0]["message"]["attachments"][0]
    links = {
        "email text": text_console_links(parts["text/plain"]),
        "email html": html_console_links(parts["text/html"]),
        "slack text": slack_console_links(attachment["text"]),
    }
    for where, found in links.items():
        assert dict(map(console_link, found)) == alerts, where
        assert len(found) == 2, where

    # The button: the group's first alert, in the order the text lists them.
    (button,) = attachment["actions"]
    assert (button["type"], button["text"]) == ("button", "Open in console")
    assert button["url"] == links["slack text"][0]
    fingerprint, started = console_link(button["url"])
    assert alerts[fingerprint] == started


# ------------------------------------------------------------------ the render
def test_the_rendered_config_defines_the_console_url_last(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    config = yaml.safe_load(_render(settings, tmp_path).read_text())
    generated = tmp_path / CONSOLE_URL_TEMPLATE
    assert config["templates"][-1] == str(generated)
    committed = settings.project_dir / "alerts" / "templates" / "*.tmpl"
    assert config["templates"][:-1] == [str(committed)]
    assert PUBLIC_URL in generated.read_text()


def test_without_a_public_url_the_links_go_to_the_local_receiver(tmp_path: Path) -> None:
    settings = _settings(tmp_path, public_url=None)
    _render(settings, tmp_path)
    rendered = render_email(
        [str(ROOT / "alerts" / "templates" / "*.tmpl"), str(tmp_path / CONSOLE_URL_TEMPLATE)],
        tmp_path,
    )
    (link,) = text_console_links(rendered)
    assert console_link(link, settings.url.receiver) == (FINGERPRINT, STARTS_AT)


@pytest.mark.parametrize("bad", ["console.example.test", "ftp://x.test", "https://x.test/?a=1"])
def test_a_public_url_that_is_no_http_address_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(StackError, match=r"receiver\.public_url"):
        _render(_settings(tmp_path, public_url=bad), tmp_path)


# ------------------------------------------------------------------ docker compose
FINGERPRINT = "8a1bd6e9c0f3a2b4"
STARTS_AT = datetime(2026, 3, 2, 14, 30, 5, 250_000, tzinfo=UTC)
NOTIFICATION = {
    "receiver": "risk-critical",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "A", "severity": "critical", "team": "risk"},
            "annotations": {"summary": "s", "description": "d"},
            # Alertmanager's own zone may be anything: the link says UTC.
            "startsAt": STARTS_AT.astimezone(timezone(timedelta(hours=-5))).isoformat(),
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": FINGERPRINT,
        }
    ],
    "groupLabels": {},
    "commonLabels": {"alertname": "A", "severity": "critical", "team": "risk"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager.test",
}


def render_email(globs: list[str], scratch: Path, kind: str = "text") -> str:
    """The email template (text or html) rendered by the real amtool from `globs`, with
    NOTIFICATION as its data."""
    template = f'{{{{ template "email.riskwatch.{kind}" . }}}}'
    return amtool_render(globs, template, NOTIFICATION, scratch, kind)


def compose_interpolate(text: str, env: dict[str, str]) -> str:
    """docker compose's `${VAR:-default}`: the variable if set and not empty."""
    return re.sub(
        r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1]) or m[2], text.replace("$$", "\0")
    ).replace("\0", "$")


@pytest.mark.parametrize("public_url", [None, PUBLIC_URL])
def test_compose_mounts_the_console_url_over_the_committed_default(
    tmp_path: Path, public_url: str | None
) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.grafana.yml").read_text())
    receiver_env = compose["services"]["receiver"]["environment"]
    env = {"RISKWATCH_RECEIVER__PUBLIC_URL": public_url} if public_url else {}
    # The receiver and Alertmanager's links take the same variable, with one default.
    expected = compose_interpolate(receiver_env["RISKWATCH_RECEIVER__PUBLIC_URL"], env)
    assert expected == (public_url or "http://localhost:8080")

    for service in ("alertmanager", "alertmanager-2"):
        (mounted,) = compose["services"][service]["configs"]
        assert mounted["target"] == "/etc/alertmanager/templates/site.tmpl", service
    templates = tmp_path / "etc" / "templates"
    shutil.copytree(ROOT / "alerts" / "templates", templates)
    # compose mounts a file over an existing one in the read-only templates folder.
    assert (templates / "site.tmpl").is_file()
    content = compose["configs"][mounted["source"]]["content"]
    (templates / "site.tmpl").write_text(compose_interpolate(content, env))

    for kind in ("text", "html"):
        rendered = render_email([str(templates / "*.tmpl")], tmp_path, kind)
        found = text_console_links(rendered) if kind == "text" else html_console_links(rendered)
        assert [console_link(link, expected) for link in found] == [(FINGERPRINT, STARTS_AT)]


def test_the_committed_templates_alone_link_to_compose_s_receiver(tmp_path: Path) -> None:
    """What `amtool check-config alerts/alertmanager.yml` and compose without its
    config would send: the receiver compose publishes."""
    templates = tmp_path / "etc" / "templates"
    shutil.copytree(ROOT / "alerts" / "templates", templates)
    (link,) = text_console_links(render_email([str(templates / "*.tmpl")], tmp_path))
    assert console_link(link, "http://localhost:8080") == (FINGERPRINT, STARTS_AT)
