"""`riskwatch stack up|status|down`: the whole pipeline on loopback.

Components start in dependency order (PostgreSQL, Pushgateway, sinks, receiver,
Alertmanager, VictoriaMetrics when stack.longterm is on, Prometheus), each awaited on
its readiness endpoint. `up` is idempotent: a component already running from this
state folder is left alone.
`down` stops exactly what `up` recorded, newest first; `stop` stops one component
(`up` starts it again). `status` includes the age of the last heartbeat (the
Watchdog) that the local sinks recorded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import requests

from riskwatch.database import STACK_FILE
from riskwatch.promql import human_duration
from riskwatch.pushgateway import PushgatewayAccess
from riskwatch.settings import ENV_PREFIX, PUSHGATEWAY_AUTH_FILE, RECEIVER_TOKEN_FILE, Settings
from riskwatch.stack import binaries, heartbeat
from riskwatch.stack.errors import StackError
from riskwatch.stack.postgres import LocalPostgres, find_postgres_bin_dir, redact_dsn
from riskwatch.stack.processes import (
    ProcessRecord,
    http_ok,
    is_alive,
    port_in_use,
    spawn,
    terminate,
    wait_until,
)
from riskwatch.stack.render import render_alertmanager, render_prometheus
from riskwatch.stack.secrets import ensure_pushgateway_auth, ensure_receiver_tokens


@dataclass(frozen=True)
class Layout:
    """Where a state folder keeps each thing."""

    root: Path

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def rendered(self) -> Path:
        return self.root / "config"

    @property
    def agent_targets(self) -> Path:
        """Target files of the agents Prometheus scrapes directly (file_sd)."""
        return self.root / "targets"


@dataclass(frozen=True)
class Component:
    """One process of the stack: how to start it and how to know it is ready."""

    name: str
    port_setting: str
    port: int
    argv: tuple[str, ...]
    ready: Callable[[], bool]
    env: dict[str, str] | None = None


def _env_var(setting: str) -> str:
    return ENV_PREFIX + setting.replace(".", "__").upper()


def _check_port(settings: Settings, setting: str, port: int) -> None:
    if port_in_use(settings.stack.host, port):
        raise StackError(
            f"port {port} on {settings.stack.host} is already in use; "
            f"change {setting} (or {_env_var(setting)}) or stop what holds it"
        )


PROCESSES = ("pushgateway", "sinks", "receiver", "alertmanager", "victoriametrics", "prometheus")
"""The processes `up` may start, in that order (PostgreSQL aside). VictoriaMetrics, the
long-term store, only with stack.longterm; it starts before Prometheus, which writes to
it, and `down` stops it after Prometheus, which flushes its last samples to it."""

VICTORIAMETRICS_HEALTH_PATH = "/health"
"""VictoriaMetrics answers 200 there once it serves writes and queries."""


class Stack:
    """The local stack of one state folder."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = Layout(settings.state_dir)

    # ----------------------------------------------------------------- helpers
    def _postgres(self, create: bool = False) -> LocalPostgres | None:
        if self.settings.database_url is not None:
            return None
        bin_dir = find_postgres_bin_dir(self.settings.stack.postgres_bin_dir)
        if bin_dir is None:
            raise StackError(binaries.missing_message(["postgresql"]))
        st = self.settings.stack
        return LocalPostgres.in_state_dir(
            bin_dir, self.layout.root, st.host, st.postgres_port, create=create
        )

    def database_dsn(self) -> str:
        if self.settings.database_url is not None:
            return self.settings.database_url.get_secret_value()
        pg = self._postgres()
        assert pg is not None
        return pg.dsn

    def urls(self) -> dict[str, str | None]:
        u = self.settings.url
        longterm = {"victoriametrics": u.victoriametrics} if self.settings.stack.longterm else {}
        return {
            "prometheus": u.prometheus,
            "pushgateway": u.pushgateway,
            "alertmanager": u.alertmanager,
            **longterm,
            "receiver": u.receiver,
            "console": f"{self.settings.receiver_public_url()}/console/",
            "database": redact_dsn(self.database_dsn()),
            "outbox": str(self.layout.outbox),
            "pushgateway_auth_file": self._pushgateway_auth_file(),
            "receiver_token_file": self._receiver_token_file(),
        }

    def _receiver_token_file(self) -> str | None:
        """The file holding the receiver's admin token (configured or generated)."""
        s = self.settings
        if s.receiver_token_file is not None:
            return str(s.receiver_token_file)
        generated = s.secrets_dir / RECEIVER_TOKEN_FILE
        return str(generated) if generated.is_file() else None

    def _pushgateway_auth_file(self) -> str | None:
        """The file holding `user:password` for the Pushgateway, for other tools."""
        s = self.settings
        if s.pushgateway_auth_file is not None:
            return str(s.pushgateway_auth_file)
        generated = s.secrets_dir / PUSHGATEWAY_AUTH_FILE
        return str(generated) if generated.is_file() else None

    def _pushgateway_ready(self) -> bool:
        access = PushgatewayAccess.from_settings(self.settings)
        return http_ok(
            f"{self.settings.url.pushgateway}/-/ready",
            headers=access.headers(),
            verify=str(access.ca_file) if access.ca_file else True,
        )

    def _components(self, bins: dict[str, str]) -> list[Component]:
        s, st, u, lay = self.settings, self.settings.stack, self.settings.url, self.layout
        host = st.host
        child_env = dict(os.environ)
        child_env[_env_var("database_url")] = self.database_dsn()
        child_env[_env_var("state_dir")] = str(lay.root)
        child_env[_env_var("project_dir")] = str(s.project_dir)
        py = (sys.executable, "-m", "riskwatch")
        push_auth = ensure_pushgateway_auth(s)
        tokens = ensure_receiver_tokens(s)
        lay.agent_targets.mkdir(parents=True, exist_ok=True)
        prom_cfg = render_prometheus(
            s, lay.rendered / "prometheus.yml", push_auth, lay.agent_targets
        )
        am_cfg = render_alertmanager(
            s, lay.rendered / "alertmanager.yml", s.secrets_dir, tokens.webhook_file
        )
        components = [
            Component(
                "pushgateway",
                "stack.pushgateway_port",
                st.pushgateway_port,
                (
                    bins["pushgateway"],
                    f"--web.listen-address={host}:{st.pushgateway_port}",
                    f"--persistence.file={lay.root / 'pushgateway' / 'metrics.store'}",
                    "--persistence.interval=1m",
                    # Basic auth (and TLS when configured) on every path; no admin
                    # API: nothing of ours wipes the Pushgateway (docs/security.md).
                    f"--web.config.file={push_auth.web_config}",
                ),
                self._pushgateway_ready,
            ),
            Component(
                "sinks",
                "stack.slack_port",
                st.slack_port,
                (
                    *py,
                    "sinks",
                    f"--outbox={lay.outbox}",
                    f"--smtp-listen={host}:{st.smtp_port}",
                    f"--slack-listen={host}:{st.slack_port}",
                ),
                lambda: http_ok(f"{u.slack_sink}/healthz"),
                child_env,
            ),
            Component(
                "receiver",
                "stack.receiver_port",
                st.receiver_port,
                (*py, "receiver", f"--listen={host}:{st.receiver_port}"),
                lambda: http_ok(f"{u.receiver}/healthz"),
                child_env,
            ),
            Component(
                "alertmanager",
                "stack.alertmanager_port",
                st.alertmanager_port,
                (
                    bins["alertmanager"],
                    f"--config.file={am_cfg}",
                    f"--storage.path={lay.root / 'alertmanager'}",
                    f"--web.listen-address={host}:{st.alertmanager_port}",
                    f"--web.external-url={u.alertmanager}",
                    "--cluster.listen-address=",  # a single local instance: no gossip port
                ),
                lambda: http_ok(f"{u.alertmanager}/-/ready"),
            ),
            Component(
                "prometheus",
                "stack.prometheus_port",
                st.prometheus_port,
                (
                    bins["prometheus"],
                    f"--config.file={prom_cfg}",
                    f"--storage.tsdb.path={lay.root / 'prometheus'}",
                    f"--storage.tsdb.retention.time={st.prometheus_retention}",
                    f"--web.listen-address={host}:{st.prometheus_port}",
                    f"--web.external-url={u.prometheus}",
                    # No lifecycle or admin API: `up` reloads the config by SIGHUP to
                    # the PID it recorded, and nothing of ours deletes series.
                    # Bounds how long Alertmanager keeps the Watchdog (and so the
                    # heartbeat) alive after Prometheus stops: see stack.heartbeat.
                    "--rules.alert.resend-delay="
                    + human_duration(s.heartbeat.alert_resend_delay_seconds),
                ),
                lambda: http_ok(f"{u.prometheus}/-/ready"),
            ),
        ]
        if st.longterm:  # just before Prometheus, which writes to it
            components.insert(-1, self._victoriametrics(bins["victoriametrics"]))
        return components

    def _victoriametrics(self, binary: str) -> Component:
        """The long-term store: single-node VictoriaMetrics, data in the state folder."""
        st, url = self.settings.stack, self.settings.url.victoriametrics
        return Component(
            "victoriametrics",
            "stack.victoriametrics_port",
            st.victoriametrics_port,
            (
                binary,
                f"-httpListenAddr={st.host}:{st.victoriametrics_port}",
                f"-storageDataPath={self.layout.root / 'victoriametrics'}",
                f"-retentionPeriod={st.longterm_retention}",
            ),
            lambda: http_ok(f"{url}{VICTORIAMETRICS_HEALTH_PATH}"),
        )

    # ------------------------------------------------------------------- verbs
    def up(self, report: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
        """Start whatever is not running yet and return the status."""
        st = self.settings.stack
        bins = binaries.resolve(self.settings, report, everything=False)
        self.layout.root.mkdir(parents=True, exist_ok=True)
        pg = self._postgres(create=True)
        components = self._components(bins)
        running = {c.name: self._running(c.name) for c in components}
        # Every port is checked before anything starts, so a clash leaves nothing half-up.
        if pg is not None and not pg.running():
            _check_port(self.settings, "stack.postgres_port", pg.port)
        for comp in components:
            if running[comp.name] is None:
                _check_port(self.settings, comp.port_setting, comp.port)
                if comp.name == "sinks":
                    _check_port(self.settings, "stack.smtp_port", st.smtp_port)
        if pg is not None:
            if pg.running():
                report(f"postgres: already running (pid {pg.pid()})")
            else:
                pg.initialize()
                pg.start(st.ready_timeout_seconds)
                report(f"postgres: started (pid {pg.pid()}, data {pg.data_dir})")
        self._check_database()
        for comp in components:
            record = running[comp.name]
            if record is not None:
                if comp.name in ("alertmanager", "prometheus"):
                    self._reload(comp.name, record)  # the rendered config may have changed
                report(f"{comp.name}: already running (pid {record.pid})")
                continue
            log = self.layout.logs / f"{comp.name}.log"
            record = spawn(comp.name, comp.argv, log, comp.env)
            record.save(self.layout.run)
            wait_until(
                comp.ready,
                comp.name,
                st.ready_timeout_seconds,
                alive=partial(is_alive, record),
                log_path=str(log),
            )
            report(f"{comp.name}: started (pid {record.pid})")
        (self.layout.root / STACK_FILE).write_text(json.dumps(self.urls(), indent=2))
        return self.status()

    def _running(self, name: str) -> ProcessRecord | None:
        record = ProcessRecord.load(self.layout.run, name)
        if record is not None and is_alive(record):
            return record
        ProcessRecord.forget(self.layout.run, name)
        return None

    def _check_database(self, timeout_seconds: int = 5) -> None:
        try:
            with psycopg.connect(self.database_dsn(), connect_timeout=timeout_seconds) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise StackError(
                f"database {redact_dsn(self.database_dsn())} is unreachable: "
                f"{' '.join(str(exc).split())}"
            ) from None

    def _reload(self, name: str, record: ProcessRecord) -> None:
        """Reload a running Prometheus or Alertmanager (its rendered config may have changed).

        Both reload on SIGHUP, so Prometheus needs no lifecycle API. Success is read
        from the process's own metrics: the reload-success time moves past the signal,
        and the last reload was successful.
        """
        url = (
            self.settings.url.prometheus if name == "prometheus" else self.settings.url.alertmanager
        )
        prefix = "prometheus" if name == "prometheus" else "alertmanager"
        sent = time.time()
        os.kill(record.pid, signal.SIGHUP)

        def reloaded() -> bool:
            figures = _config_metrics(url, prefix)
            if figures.get("last_reload_successful") == 0.0:
                raise StackError(f"{name} rejected its new config: see {record.log}")
            return figures.get("last_reload_success_timestamp_seconds", 0.0) >= sent - 1.0

        wait_until(
            reloaded,
            f"{name}'s config reload",
            self.settings.stack.ready_timeout_seconds,
            alive=partial(is_alive, record),
            log_path=record.log,
        )

    def status(self) -> dict[str, Any]:
        """URLs and each component's health; reads what `up` recorded."""
        stack_file = self.layout.root / STACK_FILE
        urls: dict[str, Any] = (
            json.loads(stack_file.read_text()) if stack_file.is_file() else self.urls()
        )
        u = self.settings.url
        health = {
            "prometheus": http_ok(f"{u.prometheus}/-/ready"),
            "pushgateway": self._pushgateway_ready(),
            "alertmanager": http_ok(f"{u.alertmanager}/-/ready"),
            "receiver": http_ok(f"{u.receiver}/healthz"),
            "sinks": http_ok(f"{u.slack_sink}/healthz"),
            "database": self._database_up(),
        }
        if urls.get("victoriametrics"):  # as `up` recorded it: on with stack.longterm
            health["victoriametrics"] = http_ok(
                f"{urls['victoriametrics']}{VICTORIAMETRICS_HEALTH_PATH}"
            )
        urls["health"] = health
        urls["healthy"] = all(health.values())
        # Not part of `healthy`: a stack just started has no heartbeat yet.
        urls["heartbeat"] = heartbeat.status(self.settings, self.layout.outbox)
        return urls

    def _database_up(self) -> bool:
        try:
            self._check_database(timeout_seconds=3)
        except StackError:
            return False
        return True

    def restart_prometheus(self) -> ProcessRecord | None:
        """Stop the Prometheus `up` started and start it again with the command line
        and log `up` recorded, then wait until it is ready; None (nothing touched)
        when no Prometheus of this state folder is running where the settings say.

        Prometheus 2.42 reads TSDB blocks added to its data folder at start, or at its
        own reload once a minute; with its admin API off (docs/security.md) a restart
        is the only sooner way. SIGTERM is a clean shutdown: what it holds in memory
        is in its WAL, replayed at start, so no sample it took is lost. It scrapes
        nothing while down: the Pushgateway keeps what agents push meanwhile.
        """
        record = self._running("prometheus")
        url = self.settings.url.prometheus
        listen = f"--web.listen-address={url.split('://', 1)[-1]}"
        if record is None or listen not in record.argv:
            return None
        timeout = self.settings.stack.ready_timeout_seconds
        terminate(record, timeout)
        fresh = spawn(record.name, record.argv, Path(record.log))
        fresh.save(self.layout.run)
        wait_until(
            lambda: http_ok(f"{url}/-/ready"),
            "prometheus (restarted)",
            timeout,
            alive=partial(is_alive, fresh),
            log_path=fresh.log,
        )
        return fresh

    def stop(self, name: str, report: Callable[[str], None] = lambda _: None) -> None:
        """Stop one component that `up` started (`up` starts it again)."""
        if name not in PROCESSES:
            raise StackError(f"unknown component {name!r}; one of {', '.join(PROCESSES)}")
        record = ProcessRecord.load(self.layout.run, name)
        if record is None:
            return
        if is_alive(record):
            terminate(record)
            report(f"{name}: stopped (pid {record.pid})")
        ProcessRecord.forget(self.layout.run, name)

    def down(self, report: Callable[[str], None] = lambda _: None) -> None:
        """Stop everything this state folder's `up` started, newest first."""
        for name in reversed(PROCESSES):
            self.stop(name, report)
        pg = self._postgres() if self.settings.database_url is None else None
        if pg is not None and pg.running():
            pg.stop()
            report(f"postgres: stopped (data {pg.data_dir})")
        (self.layout.root / STACK_FILE).unlink(missing_ok=True)


def _config_metrics(url: str, prefix: str) -> dict[str, float]:
    """`<prefix>_config_*` gauges from a process's /metrics (empty when unreachable)."""
    try:
        text = requests.get(f"{url}/metrics", timeout=5).text
    except requests.RequestException:
        return {}
    figures: dict[str, float] = {}
    head = f"{prefix}_config_"
    for line in text.splitlines():
        if line.startswith(head):
            name, _, value = line.partition(" ")
            figures[name.removeprefix(head)] = float(value)
    return figures
