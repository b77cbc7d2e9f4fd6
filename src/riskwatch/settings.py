"""One validated settings object for all of riskwatch.

Settings come, highest priority first, from keyword arguments, the environment
(``RISKWATCH_`` prefix, ``__`` between nested names, e.g.
``RISKWATCH_STACK__PROMETHEUS_PORT=9090``), a YAML file (``--config FILE``,
``RISKWATCH_CONFIG``, or ``./riskwatch.yaml`` when it exists) and the defaults
documented on each field. ``riskwatch config`` prints the effective values.

Every deployment value (port, URL, path, secret, interval) lives here; nothing else
hard-codes one. Policy (limits, compliance rules, crowding thresholds, the market
calendar) is not a setting: it lives in the policy file (`riskwatch.policy`), whose
path is one (`policy_file`), and `Settings.policy` reads it. Secrets are never
defaulted: a receiver token, database URL or SMTP password only exists when the
operator provides it.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from riskwatch.policy import POLICY_FILE, Policy, PolicyError, load_policy
from riskwatch.source_settings import IbkrConfig, PolygonConfig

ENV_PREFIX = "RISKWATCH_"
CONFIG_ENV = "RISKWATCH_CONFIG"
DEFAULT_CONFIG_FILE = "riskwatch.yaml"

Port = int
DEFAULT_GRAFANA_URL = "http://127.0.0.1:3000"
"""Grafana on this machine, as docker-compose.grafana.yml publishes it."""

STATE_SECRETS = "secrets"
"""The state folder's subfolder for the secrets `riskwatch stack` generates (0700)."""
PUSHGATEWAY_AUTH_FILE = "pushgateway_auth"
"""The file in STATE_SECRETS holding the agents' Pushgateway credentials, `user:password`."""

# The file named by load_settings(config_file=...) for the duration of one construction.
_explicit_config: ContextVar[Path | None] = ContextVar("riskwatch_config_file", default=None)


def _project_dir() -> Path:
    """The checkout that holds prometheus.yml and alerts/, else the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "prometheus.yml").is_file() and (parent / "alerts").is_dir():
            return parent
    return Path.cwd()


class _Section(BaseModel):
    # Unknown keys are typos in a config file: reject them rather than ignore them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class StackSettings(_Section):
    """Where `riskwatch stack` binds each component. All listen on `host` only."""

    host: str = Field("127.0.0.1", description="Address every local component binds to.")
    prometheus_port: Port = Field(19090, ge=1, le=65535)
    pushgateway_port: Port = Field(19091, ge=1, le=65535)
    alertmanager_port: Port = Field(19093, ge=1, le=65535)
    receiver_port: Port = Field(18080, ge=1, le=65535)
    postgres_port: Port = Field(15432, ge=1, le=65535)
    smtp_port: Port = Field(11025, ge=1, le=65535)
    slack_port: Port = Field(18081, ge=1, le=65535)
    ready_timeout_seconds: float = Field(
        60.0, gt=0, description="How long `stack up` waits for each component to be ready."
    )
    install_missing: bool = Field(
        True, description="Install missing Debian packages with apt-get when run as root."
    )
    prometheus_bin: str = "prometheus"
    alertmanager_bin: str = Field(
        "prometheus-alertmanager", description="Debian names it prometheus-alertmanager."
    )
    pushgateway_bin: str = "prometheus-pushgateway"
    promtool_bin: str = "promtool"
    amtool_bin: str = "amtool"
    postgres_bin_dir: Path | None = Field(
        None,
        description="Folder with initdb/pg_ctl; default: PATH, then /usr/lib/postgresql/*/bin.",
    )
    time_scale: float = Field(
        1.0,
        ge=1,
        description="Divide every alert duration by this (the demo's --speed); 1 in production.",
    )
    prometheus_retention: str = Field(
        "35d", description="Prometheus --storage.tsdb.retention.time; the demo backfills 30d."
    )
    pushgateway_username: str = Field(
        "riskwatch-agent",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The user agents push as; `stack up` generates its password.",
    )
    pushgateway_tls_cert_file: Path | None = Field(
        None, description="With pushgateway_tls_key_file: the local Pushgateway serves HTTPS."
    )
    pushgateway_tls_key_file: Path | None = Field(
        None, description="The private key of pushgateway_tls_cert_file."
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> StackSettings:
        if (self.pushgateway_tls_cert_file is None) != (self.pushgateway_tls_key_file is None):
            raise ValueError(
                "stack.pushgateway_tls_cert_file and stack.pushgateway_tls_key_file go together"
            )
        return self


class ReceiverSettings(_Section):
    """The webhook receiver that keeps the alert audit trail."""

    max_payload_bytes: int = Field(
        1_048_576, gt=0, description="Larger webhook bodies get 413 and store nothing."
    )
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(8, ge=1)
    db_timeout_seconds: float = Field(
        5.0, gt=0, description="How long a request waits for a database connection before 503."
    )
    scrape_probe_timeout_seconds: float = Field(
        1.0,
        gt=0,
        description="How long a /metrics scrape waits for a database connection before it "
        "reports receiver_database_up 0; well below Prometheus's scrape timeout.",
    )
    threads: int = Field(8, ge=1, description="waitress worker threads")
    default_page_size: int = Field(100, ge=1)
    max_page_size: int = Field(1000, ge=1)
    # Input limits of a webhook payload: breaking one gets 400 naming the field and
    # stores nothing (docs/receiver.md). Lengths count characters.
    max_alerts_per_payload: int = Field(1000, ge=1, description="Alerts in one payload.")
    max_labels: int = Field(
        64, ge=1, description="Labels of one alert, and entries of groupLabels and commonLabels."
    )
    max_annotations: int = Field(
        64, ge=1, description="Annotations of one alert, and entries of commonAnnotations."
    )
    max_label_name_length: int = Field(
        256, ge=1, description="A label or annotation name (its key)."
    )
    max_label_value_length: int = Field(
        512,
        ge=1,
        description="A label value, and the receiver name. PostgreSQL indexes alertname, "
        "severity and portfolio, so at most indexed_label_limit() (669).",
    )
    max_annotation_length: int = Field(16_384, ge=1, description="An annotation value.")
    max_group_key_length: int = Field(4096, ge=1, description="The payload's groupKey.")
    max_url_length: int = Field(4096, ge=1, description="generatorURL and externalURL.")
    max_clock_skew_seconds: float = Field(
        86_400.0,
        ge=0,
        description="How far past the receiver's clock startsAt and endsAt may lie; the "
        "earliest accepted is 1970-01-01T00:00:00Z.",
    )

    @staticmethod
    def indexed_label_limit() -> int:
        """The longest label value, in characters, that the b-tree indexes on the copied
        label columns (alertname, severity, portfolio) hold whatever the characters.

        PostgreSQL refuses an index row over 2704 bytes (8 kB pages); the row holds an
        8-byte header, the text's 4-byte length word, then starts_at and id (8 bytes
        each), and UTF-8 takes at most 4 bytes a character.
        """
        btree_max_row_bytes = 2704
        row_overhead_bytes = 8 + 4 + 8 + 8
        return (btree_max_row_bytes - row_overhead_bytes) // 4

    @field_validator("max_label_value_length")
    @classmethod
    def _fits_the_index(cls, value: int) -> int:
        limit = cls.indexed_label_limit()
        if value > limit:
            raise ValueError(
                f"at most {limit}: alertname, severity and portfolio are indexed, and "
                f"PostgreSQL refuses an index row over 2704 bytes (a label of {value} "
                "characters can take 4 bytes each)"
            )
        return value


def plaintext_auth_refused(section: str, tls_setting: str) -> str:
    """Why an SMTP login without TLS is refused: the password would cross the wire in
    clear (AUTH PLAIN/LOGIN are base64, not encryption)."""
    return (
        f"{section}: an SMTP login without TLS sends the password in clear; set "
        f"{section}.{tls_setting}=true, or {section}.smtp_allow_plaintext_auth=true for a "
        "local sink on this machine"
    )


class NotificationSettings(_Section):
    """Where Alertmanager delivers. Routes and recipients live in alerts/alertmanager.yml."""

    smtp_smarthost: str | None = Field(
        None, description="host:port of the SMTP relay; default: the local demo sink."
    )
    smtp_require_tls: bool = Field(
        False, description="The local sink speaks plain SMTP; set true for a real relay."
    )
    smtp_username: str | None = Field(None, description="SMTP AUTH user of a real relay.")
    smtp_password: SecretStr | None = Field(
        None, description="SMTP AUTH password; written to a 0600 secrets file, never inline."
    )
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming-webhook URL; default: the local demo sink."
    )
    smtp_allow_plaintext_auth: bool = Field(
        False,
        description="Allow SMTP AUTH without TLS: only for a local sink, never a real relay.",
    )

    @model_validator(mode="after")
    def _auth_needs_tls(self) -> NotificationSettings:
        if self.smtp_password is not None and not (
            self.smtp_require_tls or self.smtp_allow_plaintext_auth
        ):
            raise ValueError(plaintext_auth_refused("notifications", "smtp_require_tls"))
        return self


class HeartbeatSettings(_Section):
    """The dead man's switch: where Alertmanager sends the always-firing Watchdog, and how
    often. The local stack's sinks always receive it too (`outbox/heartbeat/`)."""

    url: SecretStr | None = Field(
        None,
        description="An external dead man's switch's ping URL (healthchecks.io, Dead Man's "
        "Snitch, ...); unset: the local sink only. Alertmanager 0.25's webhook has no url_file, "
        "so the rendered alertmanager.yml holds it (0600); see docs/runbooks/Watchdog.md.",
    )
    url_file: Path | None = Field(
        None, description="A file holding `url` (docker secrets); read at start."
    )
    repeat_interval_seconds: float = Field(
        300.0, gt=0, description="How often Alertmanager re-sends the Watchdog (repeat_interval)."
    )
    group_interval_seconds: float = Field(
        60.0,
        gt=0,
        description="How often Alertmanager checks whether the repeat is due (group_interval): "
        "a ping arrives every repeat_interval plus at most this.",
    )
    alert_resend_delay_seconds: float = Field(
        60.0,
        gt=0,
        description="Prometheus --rules.alert.resend-delay (the local stack's). Alertmanager "
        "keeps a silent Prometheus's Watchdog firing for 4x the larger of this and the "
        "evaluation interval, so this bounds how late the pings stop.",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_url_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url_file") and not data.get("url"):
            path = Path(data["url_file"])
            try:
                data = {**data, "url": path.read_text().strip()}
            except OSError as exc:
                raise ValueError(f"heartbeat.url_file {path}: {exc.strerror}") from None
        return data

    @model_validator(mode="after")
    def _group_within_repeat(self) -> HeartbeatSettings:
        # Alertmanager only re-sends at a group_interval tick: a longer group_interval
        # would silently stretch the repeat to it.
        if self.group_interval_seconds > self.repeat_interval_seconds:
            raise ValueError(
                "heartbeat.group_interval_seconds must not exceed repeat_interval_seconds"
            )
        return self


MarketPhaseName = Literal["PRE_MARKET", "REGULAR", "AFTER_HOURS", "CLOSED"]
TRADING_HOURS: tuple[MarketPhaseName, ...] = ("PRE_MARKET", "REGULAR", "AFTER_HOURS")
ALL_PHASES: tuple[MarketPhaseName, ...] = (*TRADING_HOURS, "CLOSED")


class TaskSchedule(_Section):
    """How often a task runs, and in which market phases (the policy's exchange calendar,
    in the market's time zone: policy market.timezone)."""

    interval_seconds: float = Field(gt=0)
    phases: tuple[MarketPhaseName, ...] = TRADING_HOURS


def _default_tasks() -> dict[str, TaskSchedule]:
    return {
        # Portfolio value, positions, trades and prices: what the CRO's stats show.
        "portfolio": TaskSchedule(interval_seconds=15),
        "model": TaskSchedule(interval_seconds=60),
        # Its first run at or after each close (AFTER_HOURS) records the close's VaR and
        # ES forecasts in the forecast log (agents/realised.py): without AFTER_HOURS or
        # PRE_MARKET in its phases, no close is ever recorded.
        "risk": TaskSchedule(interval_seconds=60),
        # Factor crowding moves slowly; recomputing it every minute adds nothing.
        "crowding": TaskSchedule(interval_seconds=300, phases=("REGULAR",)),
        "compliance": TaskSchedule(interval_seconds=60),
        # Every phase, so a closed market is never mistaken for a dead agent.
        "health": TaskSchedule(interval_seconds=30, phases=ALL_PHASES),
        "heartbeat": TaskSchedule(interval_seconds=30, phases=ALL_PHASES),
    }


class AgentSettings(_Section):
    """The agent runtime shared by the trading and health agents."""

    id: str | None = Field(
        None, description="Agent id, the Pushgateway grouping key; default: KIND-HOSTNAME."
    )
    pushgateway_url: str | None = Field(None, description="Default: the local stack's Pushgateway.")
    push_timeout_seconds: float = Field(2.0, gt=0)
    push_max_attempts: int = Field(5, ge=1)
    push_backoff_initial_seconds: float = Field(0.5, gt=0)
    push_backoff_max_seconds: float = Field(30.0, gt=0)
    metrics_listen: str | None = Field(
        None, description="HOST:PORT to also serve /metrics for direct scraping."
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces."
    )
    trace_console: bool = Field(False, description="Print spans to stderr when no OTLP.")
    tick_seconds: float = Field(1.0, gt=0, description="Scheduler resolution.")
    delete_on_exit: bool = Field(
        False,
        description="For ephemeral test agents only: on SIGTERM/SIGINT remove the agent's "
        "Pushgateway group. Off, a stopped agent keeps its group, so AgentDown pages when "
        "a supervisor or `docker stop` ends it; retire an agent with `riskwatch agent retire`.",
    )
    tasks: dict[str, TaskSchedule] = Field(default_factory=_default_tasks)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: dict[str, TaskSchedule]) -> dict[str, TaskSchedule]:
        unknown = set(value) - set(_default_tasks())
        if unknown:
            raise ValueError(
                f"unknown task(s) {sorted(unknown)}; allowed: {sorted(_default_tasks())}"
            )
        return {**_default_tasks(), **value}


class PortfolioSettings(_Section):
    """One monitored portfolio (for the synthetic source: its seed and size too)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    initial_value_usd: float = Field(1_000_000.0, gt=0)
    positions: int = Field(20, ge=1, le=5000, description="Synthetic book size.")
    model: str = "momentum"
    broker_account: str | None = Field(None, description="IBKR account id for this book.")


# Style factors plus sector factors, as Barra-style risk models have them. With five
# style factors alone a book's exposure HHI could never fall below 1/5 = 0.20, above
# the 0.15 'medium' threshold, so every book would look crowded.
DEFAULT_FACTOR_PROXIES: dict[str, str] = {
    "momentum": "MTUM",
    "value": "VLUE",
    "quality": "QUAL",
    "size": "SIZE",
    "low_volatility": "USMV",
    "technology": "XLK",
    "financials": "XLF",
    "health_care": "XLV",
    "energy": "XLE",
    "consumer": "XLY",
    "industrials": "XLI",
}


class TradingAgentSettings(_Section):
    """What the trading agent watches and where its data comes from."""

    data_source: Literal["synthetic", "polygon"] = "synthetic"
    broker: Literal["synthetic", "ibkr"] = "synthetic"
    seed: int = Field(7, description="Seed of the synthetic source: same seed, same market.")
    portfolios: tuple[PortfolioSettings, ...] = (
        PortfolioSettings(name="alpha", positions=28),
        PortfolioSettings(name="beta", positions=24, initial_value_usd=500_000.0),
    )
    history_days: int = Field(756, ge=30, description="Daily history for risk figures (3y).")
    benchmark: str | None = Field("SPY", description="Benchmark symbol for beta/alpha.")
    factor_proxies: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_FACTOR_PROXIES),
        description="Factor -> factor-mimicking ETF whose returns define the factor.",
    )
    polygon: PolygonConfig | None = Field(
        None, description="Required when data_source is polygon (api_key has no default)."
    )
    ibkr: IbkrConfig | None = Field(
        None, description="Required when broker is ibkr (client_id has no default)."
    )

    @model_validator(mode="after")
    def _source_configured(self) -> TradingAgentSettings:
        if self.data_source == "polygon" and self.polygon is None:
            raise ValueError("data_source 'polygon' needs trading.polygon.api_key")
        if self.broker == "ibkr" and self.ibkr is None:
            raise ValueError("broker 'ibkr' needs trading.ibkr.client_id")
        return self


class HealthAgentSettings(_Section):
    """What the health agent checks."""

    trading_heartbeat_timeout_seconds: float = Field(
        300.0, gt=0, description="A trading agent silent this long is reported stopped."
    )
    disk_paths: tuple[Path, ...] = Field(
        (Path("."),), description="Filesystems whose free space is checked."
    )
    check_timeout_seconds: float = Field(3.0, gt=0)
    ibkr_client_id: int | None = Field(
        None,
        ge=0,
        description="First IBKR API client id of the health agent's own gateway connections "
        "(one per portfolio, counting up); required when trading.broker is ibkr, and outside "
        "the trading agent's range, since a client id serves one connection only.",
    )
    market_data_max_age_seconds: float = Field(300.0, gt=0)
    urls: dict[Literal["prometheus", "pushgateway", "alertmanager", "receiver"], str] = Field(
        default_factory=dict, description="Override a component's URL; default: local stack."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_to_policy(cls, data: Any) -> Any:
        # One limit, one place: the alert and the check read the policy's.
        if isinstance(data, dict) and "disk_min_free_ratio" in data:
            raise ValueError(
                "health.disk_min_free_ratio has moved to the policy file: set "
                "ops.disk_min_free_ratio in policy.yaml"
            )
        return data


class ExporterSettings(_Section):
    """The sidecar exporters Prometheus scrapes (`riskwatch exporter NAME`)."""

    timeout_seconds: float = Field(
        5.0, gt=0, description="A collection taking longer reports scrape_success 0."
    )
    tradestore_port: Port = Field(19411, ge=1, le=65535)
    ibkr_port: Port = Field(19412, ge=1, le=65535)
    marketdata_port: Port = Field(19413, ge=1, le=65535)
    marketdata_symbols: tuple[str, ...] = Field(
        ("SPY",), description="Symbols whose ticks the market-data exporter watches."
    )
    marketdata_stale_seconds: float = Field(
        60.0, gt=0, description="A watched symbol with no tick this old counts as a gap."
    )


class ReportSettings(_Section):
    """The executive report (`riskwatch report`) and its daily email."""

    recipients: tuple[str, ...] = Field(
        ("cro@localhost",), description="Who gets the daily summary email."
    )
    from_address: str = "riskwatch@localhost"
    smtp_host: str | None = Field(None, description="Default: stack.host (the local sink).")
    smtp_port: Port | None = Field(None, description="Default: stack.smtp_port.")
    smtp_starttls: bool = Field(False, description="The local sink speaks plain SMTP.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = Field(
        None, description="A file holding smtp_password (docker secrets); read at start."
    )
    smtp_allow_plaintext_auth: bool = Field(
        False,
        description="Allow SMTP login without STARTTLS: only for a local sink, never a relay.",
    )
    send_attempts: int = Field(3, ge=1, description="Tries before giving up on an email.")
    send_backoff_seconds: float = Field(2.0, ge=0, description="First wait; doubles.")
    schedule_time: str = Field(
        "16:30",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="When the agent sends the day's report, in the market's time zone "
        "(policy market.timezone).",
    )
    enabled: bool = Field(True, description="Whether the health agent schedules the report.")
    out_dir: Path = Field(Path("reports"), description="Where scheduled reports are written.")

    @model_validator(mode="before")
    @classmethod
    def _read_password_file(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("smtp_password_file")
            and not data.get("smtp_password")
        ):
            path = Path(data["smtp_password_file"])
            try:
                password = path.read_text().strip()
            except OSError as exc:
                raise ValueError(f"report.smtp_password_file {path}: {exc.strerror}") from None
            data = {**data, "smtp_password": password or None}  # empty: no SMTP login
        return data

    @model_validator(mode="after")
    def _login_needs_tls(self) -> ReportSettings:
        if self.smtp_username and not (self.smtp_starttls or self.smtp_allow_plaintext_auth):
            raise ValueError(plaintext_auth_refused("report", "smtp_starttls"))
        return self


class ValidationSettings(_Section):
    """The nightly model validation (`riskwatch validate`): where it writes and pushes,
    and when the health agent runs it. Its windows and gates are policy
    (policy.yaml `validation`)."""

    enabled: bool = Field(True, description="Whether the health agent schedules the run.")
    schedule_time: str = Field(
        "01:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="When the health agent runs the validation of an exchange day: the "
        "first time of day this late after its close, in the market's time zone (policy "
        "market.timezone); 01:00 is the next morning, Tuesday to Saturday.",
    )
    dataset: Literal["desk", "sp500", "nasdaq"] = Field(
        "desk", description="What `validate` and the scheduled run validate by default."
    )
    out_dir: Path = Field(
        Path("reports/validation"),
        description="Where the artifacts go: OUT_DIR/DATASET/YYYY-MM-DD/.",
    )
    job: str = Field(
        "riskwatch_validate",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="The Pushgateway job the results are pushed under (grouping key: dataset).",
    )
    pushgateway_url: str | None = Field(
        None, description="Default: agent.pushgateway_url, else the local stack's Pushgateway."
    )
    symbols: tuple[str, ...] | None = Field(
        None,
        description="Symbols whose daily bars the desk run scores (completeness, the "
        "model backtest); default: trading.benchmark and the factor proxies.",
    )
    retry_seconds: float = Field(
        900.0,
        gt=0,
        description="After a failed scheduled run, how long the health agent waits before "
        "trying again (each try reads the market source).",
    )


class Settings(BaseSettings):
    """Every setting riskwatch reads. See README 'Configuration' for the full list."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    project_dir: Path = Field(
        default_factory=_project_dir,
        description="Checkout holding prometheus.yml, alerts/ and dashboards/.",
    )
    state_dir: Path = Field(
        Path(".state"), description="Where `stack` keeps data, logs, PIDs and the outbox."
    )
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL DSN. Unset: `stack up` runs a throwaway cluster in the state dir.",
    )
    receiver_token: SecretStr | None = Field(
        None, description="When set, the receiver demands `Authorization: Bearer <token>`."
    )
    receiver_token_file: Path | None = Field(
        None, description="A file holding the receiver token (docker secrets); read at start."
    )
    pushgateway_auth: SecretStr | None = Field(
        None,
        description="`user:password` agents push with. Unset: pushgateway_auth_file, else "
        "the local stack's generated <state_dir>/secrets/pushgateway_auth.",
    )
    pushgateway_auth_file: Path | None = Field(
        None, description="A file holding `user:password` for the Pushgateway; read at start."
    )
    pushgateway_ca_file: Path | None = Field(
        None, description="CA certificate that signs an HTTPS Pushgateway's certificate."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    policy_file: Path | None = Field(
        None,
        description="The policy file: limits, compliance rules, crowding thresholds, "
        "market calendar. Default: policy.yaml in project_dir.",
    )
    grafana_url: str = Field(
        DEFAULT_GRAFANA_URL,
        pattern=r"^https?://",
        description="Grafana as its users reach it: alerts and the report link to its "
        "dashboards, and `riskwatch dashboards push` uploads there.",
    )
    grafana_token: SecretStr | None = Field(
        None, description="Grafana service-account token for `dashboards push`; never defaulted."
    )
    grafana_folder: str = Field("riskwatch", description="Grafana folder the dashboards go in.")
    stack: StackSettings = StackSettings()
    receiver: ReceiverSettings = ReceiverSettings()
    notifications: NotificationSettings = NotificationSettings()
    heartbeat: HeartbeatSettings = HeartbeatSettings()
    agent: AgentSettings = AgentSettings()
    trading: TradingAgentSettings = TradingAgentSettings()
    health: HealthAgentSettings = HealthAgentSettings()
    exporters: ExporterSettings = ExporterSettings()
    report: ReportSettings = ReportSettings()
    validation: ValidationSettings = ValidationSettings()

    @field_validator("state_dir", "project_dir", "policy_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        for secret in ("receiver_token", "pushgateway_auth"):
            if isinstance(data, dict) and data.get(f"{secret}_file") and not data.get(secret):
                path = Path(data[f"{secret}_file"])
                try:
                    data = {**data, secret: path.read_text().strip()}
                except OSError as exc:
                    raise ValueError(f"{secret}_file {path}: {exc.strerror}") from None
        return data

    @property
    def secrets_dir(self) -> Path:
        """Where `riskwatch stack` keeps the secrets it generates."""
        return self.state_dir / STATE_SECRETS

    def pushgateway_credentials(self) -> str | None:
        """`user:password` for the Pushgateway: configured, else the local stack's
        generated file when it exists, else None (a Pushgateway without auth)."""
        if self.pushgateway_auth is not None:
            return self.pushgateway_auth.get_secret_value()
        try:
            return (self.secrets_dir / PUSHGATEWAY_AUTH_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file()
        if config_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @cached_property
    def url(self) -> LocalUrls:
        return LocalUrls(self.stack)

    @property
    def policy_path(self) -> Path:
        """Where the policy is read from."""
        return self.policy_file or self.project_dir / POLICY_FILE

    @cached_property
    def policy(self) -> Policy:
        """The validated policy (read once); ConfigError, one line, if it is invalid."""
        try:
            return load_policy(self.policy_path)
        except PolicyError as exc:
            raise ConfigError(str(exc)) from None


class LocalUrls:
    """URLs of the local stack's components, derived from the ports."""

    def __init__(self, stack: StackSettings) -> None:
        base = f"http://{stack.host}"
        self.prometheus = f"{base}:{stack.prometheus_port}"
        tls = stack.pushgateway_tls_cert_file is not None
        self.pushgateway = f"{'https' if tls else 'http'}://{stack.host}:{stack.pushgateway_port}"
        self.alertmanager = f"{base}:{stack.alertmanager_port}"
        self.receiver = f"{base}:{stack.receiver_port}"
        self.slack_sink = f"{base}:{stack.slack_port}"


class ConfigError(Exception):
    """Invalid configuration, already phrased as one line for the operator."""


def _config_file() -> Path | None:
    explicit = _explicit_config.get()
    source = "--config"
    if explicit is None and os.environ.get(CONFIG_ENV):
        explicit, source = Path(os.environ[CONFIG_ENV]), CONFIG_ENV
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} ({source}) does not exist")
        return explicit
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def _env_name(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def _is_secret(loc: tuple[int | str, ...]) -> bool:
    """Whether the field at `loc` (a path into Settings) holds a secret (SecretStr)."""
    model: type[BaseModel] | None = Settings
    annotation: Any = None
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            break
        annotation = model.model_fields[part].annotation
        nested = [a for a in (annotation, *get_args(annotation)) if isinstance(a, type)]
        model = next((a for a in nested if issubclass(a, BaseModel)), None)
    return annotation is SecretStr or SecretStr in get_args(annotation)


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: the field, its env var, what was given and what is allowed."""
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        if not loc:  # a whole-model check: its message names the field itself
            lines.append(f"invalid settings: {problem['msg'].removeprefix('Value error, ')}")
            continue
        field = ".".join(str(part) for part in loc)
        given = problem.get("input")
        # A secret's value is never echoed, whatever shape the wrong value has.
        shown = "" if isinstance(given, dict) or _is_secret(loc) else f" (got {given!r})"
        lines.append(
            f"invalid setting {field}{shown}: {problem['msg']} "
            f"[set in the config file or {_env_name(loc)}]"
        )
    return "; ".join(lines)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, raising ConfigError with one readable line if they are invalid."""
    token = _explicit_config.set(config_file)
    try:
        settings = Settings(**overrides)
        settings.policy  # noqa: B018 - an invalid policy is a configuration error now
        return settings
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except (OSError, ValueError, yaml.YAMLError) as exc:  # unreadable or malformed YAML
        detail = " ".join(str(exc).split())
        raise ConfigError(f"cannot read configuration: {detail}") from None
    finally:
        _explicit_config.reset(token)
