"""Render the repo's Prometheus and Alertmanager configs for the local runner.

The repo keeps one hand-edited copy of each config, written for docker compose's
service names. The local runner loads it, replaces only what differs on loopback
(target addresses, the receiver URL, the SMTP smarthost, secret and template
paths), the deployment's heartbeat (the Watchdog's URLs and intervals), the
PagerDuty, Discord and Telegram destinations and the console address notifications
link to, and writes the result into the state folder. Everything else, including
every other interval and route, is the repo's own.
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from riskwatch.alerting.calendar import splice
from riskwatch.promql import human_duration
from riskwatch.settings import Settings
from riskwatch.sinks import (
    HEARTBEAT_PATH,
    LOCAL_DISCORD_WEBHOOK_PATH,
    LOCAL_PAGERDUTY_ROUTING_KEY,
    LOCAL_TELEGRAM_BOT_TOKEN,
    LOCAL_TELEGRAM_CHAT_ID,
    PAGERDUTY_PATH,
)
from riskwatch.stack.errors import StackError
from riskwatch.stack.secrets import PushgatewayAuth, secure_dir, write_secret

PROMETHEUS_CONFIG = "prometheus.yml"
ALERTMANAGER_CONFIG = "alerts/alertmanager.yml"
HEARTBEAT_RECEIVER = "heartbeat"
"""The receiver in alerts/alertmanager.yml that the Watchdog's route names."""
CONSOLE_URL_TEMPLATE = "console_url.tmpl"
"""The generated template beside the rendered alertmanager.yml: the console's address."""
CONSOLE_URL_DEFINITION = "riskwatch.console_url"
"""The template alerts/templates/riskwatch.tmpl links to the console with; its committed
definition is docker compose's address, which the generated one replaces."""


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise StackError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise StackError(f"{path} is not a YAML mapping")
    return data


class _NoAliasDumper(yaml.SafeDumper):
    """YAML anchors in the sources share lists between receivers; write them out in full."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: dict[str, Any], path: Path, secret: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Rendered by `riskwatch stack` from the repo's config. Edit the source instead.\n"
    text = header + yaml.dump(data, Dumper=_NoAliasDumper, sort_keys=False)
    if secret:
        write_secret(path, text)
    else:
        path.write_text(text)
    return path


STACK_JOBS = ("pushgateway", "prometheus", "alertmanager", "receiver")
"""The scrape jobs of the processes `riskwatch stack up` runs itself."""

AGENTS_JOB = "agents"
"""The job of agents scraped directly; its targets come from files, not from here."""


def local_scrape_targets(settings: Settings) -> dict[str, str]:
    """host:port of each scrape job on loopback, by job name."""
    st = settings.stack
    return {
        "pushgateway": f"{st.host}:{st.pushgateway_port}",
        "prometheus": f"{st.host}:{st.prometheus_port}",
        "alertmanager": f"{st.host}:{st.alertmanager_port}",
        "receiver": f"{st.host}:{st.receiver_port}",
        "tradestore": f"{st.host}:{settings.exporters.tradestore_port}",
        "ibkr": f"{st.host}:{settings.exporters.ibkr_port}",
        "marketdata": f"{st.host}:{settings.exporters.marketdata_port}",
    }


def render_prometheus(
    settings: Settings, out: Path, push_auth: PushgatewayAuth, agent_targets: Path
) -> Path:
    """Write the local Prometheus config; returns its path.

    It scrapes the stack's own processes and the jobs the policy's inventory expects
    (`inventory.scrape_jobs`). The sidecar exporters run only where someone starts
    them: a job nobody runs would be a target forever down, and ExporterDown would
    page for it all day. Where an exporter runs beside the stack, the policy lists its
    job, and from then on its absence pages too. Agents scraped directly are the
    target files in `agent_targets` (none until someone writes one).
    """
    source = settings.project_dir / PROMETHEUS_CONFIG
    config = copy.deepcopy(load_yaml(source))
    targets = local_scrape_targets(settings)
    wanted = set(STACK_JOBS) | set(settings.policy.inventory.scrape_jobs)
    # prometheus.yml names the committed alerts/rules (rendered from the repository's
    # policy); the stack runs the same rules rendered from the deployment's policy.
    config["rule_files"] = [str(_running_rules(settings, out.parent / "rules") / "*.yml")]
    jobs = []
    for job in config.get("scrape_configs", []):
        name = job["job_name"]
        if name == AGENTS_JOB:
            files = [str(agent_targets / pattern) for pattern in ("*.json", "*.yml")]
            job["file_sd_configs"] = [{"files": files}]
            jobs.append(job)
            continue
        if name not in targets:
            raise StackError(
                f"{source}: scrape job {name!r} has no local address; "
                "add it to riskwatch.stack.render.local_scrape_targets"
            )
        if name in wanted:
            job["static_configs"] = [{"targets": [targets[name]]}]
            if name == "pushgateway":
                _pushgateway_scrape(settings, job, push_auth)
            jobs.append(job)
    unknown = sorted(wanted - {j["job_name"] for j in jobs})
    if unknown:
        raise StackError(
            f"the policy's inventory expects scrape job(s) {', '.join(unknown)} that "
            f"{source} does not define"
        )
    config["scrape_configs"] = jobs
    for am in config.get("alerting", {}).get("alertmanagers", []):
        am["static_configs"] = [{"targets": [targets["alertmanager"]]}]
    _remote_write(settings, config)
    return _dump(config, out)


VICTORIAMETRICS_WRITE_PATH = "/api/v1/write"
"""Where VictoriaMetrics takes Prometheus' remote_write."""


def longterm_write_url(settings: Settings) -> str:
    """The local VictoriaMetrics' remote_write endpoint (stack.longterm)."""
    return f"{settings.url.victoriametrics}{VICTORIAMETRICS_WRITE_PATH}"


def _remote_write(settings: Settings, config: dict[str, Any]) -> None:
    """With stack.longterm, every sample (scraped, recorded, ALERTS) also goes to the
    local VictoriaMetrics. Without it, none: a remote_write in the repo's config names
    docker compose's hosts, which do not exist on loopback."""
    if settings.stack.longterm:
        config["remote_write"] = [{"url": longterm_write_url(settings)}]
    else:
        config.pop("remote_write", None)


def _pushgateway_scrape(settings: Settings, job: dict[str, Any], auth: PushgatewayAuth) -> None:
    """Prometheus scrapes the Pushgateway with the agents' login, over TLS if it has it."""
    job["basic_auth"] = {"username": auth.username, "password_file": str(auth.password_file)}
    if settings.stack.pushgateway_tls_cert_file is not None:
        job["scheme"] = "https"
        tls: dict[str, str] = {}
        if settings.pushgateway_ca_file is not None:
            tls["ca_file"] = str(settings.pushgateway_ca_file.resolve())
        job["tls_config"] = tls
    else:
        job.pop("scheme", None)
        job.pop("tls_config", None)


def _running_rules(settings: Settings, folder: Path) -> Path:
    """The rules Prometheus runs: rendered from the deployment's policy file and
    Grafana URL, with every duration divided by stack.time_scale (the demo)."""
    from riskwatch.alerting.rules import render_rule_files
    from riskwatch.policy import time_compressed

    policy = time_compressed(settings.policy, settings.stack.time_scale)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yml"):
        stale.unlink()
    for name, text in render_rule_files(policy, settings.grafana_url).items():
        (folder / name).write_text(text)
    return folder


def _with_netloc(url: str, base: str) -> str:
    """`url` with the scheme and host:port of `base`, keeping its path."""
    parts, new = urlsplit(url), urlsplit(base)
    return urlunsplit((new.scheme, new.netloc, parts.path, parts.query, parts.fragment))


def render_alertmanager(
    settings: Settings,
    out: Path,
    secrets_dir: Path,
    receiver_credential: Path,
    today: date | None = None,
) -> Path:
    """Write the local Alertmanager config and its secret files; returns its path.

    Alertmanager posts to the receiver with the token in `receiver_credential`: the
    receiver never runs open, so there is always one. The market-closed calendar is
    rendered afresh from `today` (default: today in the market's time zone), so a
    stack started long after `alerts render` last ran still mutes this year's
    holidays and half days: the committed block only lasts its horizon."""
    source = settings.project_dir / ALERTMANAGER_CONFIG
    market = settings.policy.market
    today = today or datetime.now(market.zone).date()
    config = yaml.safe_load(splice(source.read_text(), market, today))
    st, notif = settings.stack, settings.notifications
    secure_dir(secrets_dir)

    slack_url = (
        notif.slack_webhook_url.get_secret_value()
        if notif.slack_webhook_url
        else f"{settings.url.slack_sink}/services/riskwatch"
    )
    glob = config.setdefault("global", {})
    glob["slack_api_url_file"] = str(_secret(secrets_dir, "slack_api_url", slack_url))
    glob["smtp_smarthost"] = notif.smtp_smarthost or f"{st.host}:{st.smtp_port}"
    glob["smtp_require_tls"] = notif.smtp_require_tls
    if notif.smtp_password is not None and notif.smtp_username:
        glob["smtp_auth_username"] = notif.smtp_username
        glob["smtp_auth_password_file"] = str(
            _secret(secrets_dir, "smtp_password", notif.smtp_password.get_secret_value())
        )
    else:  # the local sink, or a relay without AUTH: no credentials at all
        glob.pop("smtp_auth_username", None)
        glob.pop("smtp_auth_password_file", None)
    # The repo's templates, then the console's address from settings: parsed last, its
    # definition replaces the committed default (Go templates keep the last definition).
    config["templates"] = [
        *(str((source.parent / pattern).resolve()) for pattern in config.get("templates", [])),
        str(render_console_url(settings, out.parent / CONSOLE_URL_TEMPLATE)),
    ]

    for receiver in config.get("receivers", []):
        if receiver.get("name") == HEARTBEAT_RECEIVER:
            continue  # not the audit trail: _render_heartbeat writes it
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = _with_netloc(hook["url"], settings.url.receiver)
            hook.setdefault("http_config", {})["authorization"] = {
                "type": "Bearer",
                "credentials_file": str(receiver_credential),
            }
    _render_heartbeat(settings, config, source)
    _render_channels(settings, config, secrets_dir)
    # With an external heartbeat URL (a token in its path, often), a Discord webhook URL
    # or a Telegram bot token, the file holds secrets: Alertmanager 0.25 takes those
    # inline only. Owner-only from the start.
    return _dump(config, out, secret=True)


def render_console_url(settings: Settings, out: Path) -> Path:
    """Write the template defining the console's public address (receiver.public_url,
    no trailing slash), which every notification's "Open in console" link starts with.

    The address is a Go string literal in the template, not template text: html/template
    then escapes it for the email's href, and no `{{` in it can be read as an action."""
    url = settings.receiver_public_url()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise StackError(
            f"receiver.public_url {url!r}: want an http(s) URL without a query or fragment, "
            "e.g. https://riskwatch.example.com"
        )
    literal = json.dumps(url, ensure_ascii=False)  # a JSON string is a Go string literal
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "{{/* Rendered by `riskwatch stack` from receiver.public_url. Edit the setting. */}}\n"
        f'{{{{ define "{CONSOLE_URL_DEFINITION}" }}}}{{{{ {literal} }}}}{{{{ end }}}}\n'
    )
    return out


def local_heartbeat_url(settings: Settings) -> str:
    """The local sinks' heartbeat endpoint, which the local stack always pings."""
    return f"{settings.url.slack_sink}{HEARTBEAT_PATH}"


def _render_heartbeat(settings: Settings, config: dict[str, Any], source: Path) -> None:
    """The heartbeat receiver pings the local sink and `heartbeat.url` if set; its routes
    repeat at the deployment's intervals."""
    hb = settings.heartbeat
    routes = [
        r for r in _walk_routes(config.get("route", {})) if r.get("receiver") == HEARTBEAT_RECEIVER
    ]
    receivers = [r for r in config.get("receivers", []) if r.get("name") == HEARTBEAT_RECEIVER]
    if not routes or not receivers:
        raise StackError(f"{source}: no route to a receiver named {HEARTBEAT_RECEIVER!r}")
    for route in routes:
        route["group_interval"] = human_duration(hb.group_interval_seconds)
        route["repeat_interval"] = human_duration(hb.repeat_interval_seconds)
    # Keep the committed hook's other fields (max_alerts, ...), but never send resolved:
    # a ping service would take a "resolved" Watchdog as a sign of life too.
    committed = receivers[0].get("webhook_configs") or [{}]
    template = {k: v for k, v in committed[0].items() if k not in ("url", "http_config")}
    urls = [local_heartbeat_url(settings)]
    if hb.url is not None:
        urls.append(hb.url.get_secret_value())
    receivers[0]["webhook_configs"] = [{**template, "url": u, "send_resolved": False} for u in urls]


def _render_channels(settings: Settings, config: dict[str, Any], secrets_dir: Path) -> None:
    """PagerDuty, Discord and Telegram: each configured one in settings, else the local
    sinks (on the Slack sink's port), so the local stack exercises every channel.

    PagerDuty's routing key goes by file (routing_key_file); the Discord webhook URL and
    the Telegram bot token replace the committed placeholders in this (0600) file."""
    notif, sink = settings.notifications, settings.url.slack_sink
    for receiver in config.get("receivers", []):
        for pd in receiver.get("pagerduty_configs", []):
            key = notif.pagerduty_routing_key
            value = key.get_secret_value() if key else LOCAL_PAGERDUTY_ROUTING_KEY
            pd.pop("routing_key", None)
            pd["routing_key_file"] = str(_secret(secrets_dir, "pagerduty_routing_key", value))
            url = notif.pagerduty_url or (None if key else f"{sink}{PAGERDUTY_PATH}")
            if url:
                pd["url"] = url
            else:  # Alertmanager's default: PagerDuty's own endpoint
                pd.pop("url", None)
        for dc in receiver.get("discord_configs", []):
            hook = notif.discord_webhook_url
            dc["webhook_url"] = (
                hook.get_secret_value() if hook else f"{sink}{LOCAL_DISCORD_WEBHOOK_PATH}"
            )
        for tg in receiver.get("telegram_configs", []):
            token = notif.telegram_bot_token
            tg["bot_token"] = token.get_secret_value() if token else LOCAL_TELEGRAM_BOT_TOKEN
            tg["chat_id"] = (
                notif.telegram_chat_id
                if notif.telegram_chat_id is not None
                else LOCAL_TELEGRAM_CHAT_ID
            )
            api = notif.telegram_api_url or (None if token else sink)
            if api:
                tg["api_url"] = api
            else:  # Alertmanager's default: Telegram's own Bot API
                tg.pop("api_url", None)


def _walk_routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    found = [route]
    for child in route.get("routes", []):
        found.extend(_walk_routes(child))
    return found


def _secret(secrets_dir: Path, name: str, value: str) -> Path:
    return write_secret(secrets_dir / name, value)
