"""The desk's policy (`policy.yaml`), validated: one file, read by this one module.

It holds every risk limit (with per-portfolio overrides), the VaR and ES confidences
and methods, the compliance rules' limits, severities and descriptions, the crowding
thresholds, the staleness and liveness limits, the inventory of agents and scrape
jobs that must exist, every alert's `for`, the market's calendar, hours and time
zone, and which team's alerts open which dashboard. The
agents, the rule generator, the dashboards, the report, the backfill and the demo
all take their policy from here, so changing one number in one file changes all of
them. Settings keep only deployment values (ports, URLs, paths, secrets, intervals).

Where two names mean one limit, there is one number: compliance rule RISK_002 is the
VaR limit (`limit_from: var`) and DAT_001 is the stale-market-data limit
(`limit_from: market_data_stale_seconds`).

An invalid file is reported as one line that names the field (`PolicyError`).
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

POLICY_FILE = "policy.yaml"
"""Where the policy lives in a checkout, relative to the project directory."""

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86_400,
    "w": 7 * 86_400,
    "y": 365 * 86_400,
}
# Portfolio names are spliced into PromQL regex matchers (`portfolio!~"a|b"`), so they
# may not hold regex or quoting metacharacters.
_PORTFOLIO = r"^[A-Za-z0-9_-]+$"
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_RULE_ID = r"^[A-Z]{2,8}_\d{3}$"
# A label matcher such as `job="riskwatch"`, spliced into the rules as written.
_JOB_MATCHER = r'^[a-z_]+="[^"]+"$'
# Agent ids and scrape job names become label values in PromQL matchers
# (`agent="trading-1"`): no quoting or escaping characters.
_LABEL_VALUE = r"^[A-Za-z0-9_.:-]+$"

AlertSeverity = Literal["critical", "warning", "info"]
RuleSeverity = Literal["HIGH", "MEDIUM", "LOW"]


class PolicyError(Exception):
    """An invalid policy file, already phrased as one line."""


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration such as ``10m``, ``1h30m`` or ``35d``."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 0s, 30s, 10m, 1h30m or 35d")
    return sum(int(n) * _DURATION_UNIT_SECONDS[u] for n, u in parts)


def _check_duration(text: str) -> str:
    duration_seconds(text)
    return text


def _check_clock(text: str) -> str:
    if not _CLOCK.match(text) or (text.startswith("24") and text != "24:00"):
        raise ValueError(f"{text!r} is not a time of day like 09:30")
    return text


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone like America/New_York") from None
    return name


Duration = Annotated[str, AfterValidator(_check_duration)]
Ratio = Annotated[float, Field(gt=0, lt=1)]
Seconds = Annotated[int, Field(gt=0)]
ClockTime = Annotated[str, AfterValidator(_check_clock)]
PortfolioName = Annotated[str, Field(pattern=_PORTFOLIO)]
Confidence = Annotated[float, Field(gt=0.5, lt=1)]


class _Strict(BaseModel):
    # An unknown key is a typo that would silently keep a default: reject it.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Links(_Strict):
    """Where an alert's runbook and dashboard live. The Grafana base URL is a
    deployment value (settings `grafana_url`); the dashboards' UIDs are declared here."""

    runbook_url: str = Field(pattern=r"\{alertname\}")
    dashboards: dict[str, str] = Field(min_length=1)
    """Dashboard name -> UID, each declared once."""
    teams: dict[str, str] = Field(min_length=1)
    """Alert `team` label -> the name of the dashboard its alerts open."""
    portfolio_dashboards: tuple[str, ...]
    """The dashboards with a `portfolio` variable: a portfolio's alert opens them on it."""

    @model_validator(mode="after")
    def _known_dashboards(self) -> Links:
        named = [(f"links.teams.{t}", b) for t, b in self.teams.items()]
        named += [("links.portfolio_dashboards", b) for b in self.portfolio_dashboards]
        for where, board in named:
            if board not in self.dashboards:
                raise ValueError(
                    f"{where}: no dashboard {board!r}; "
                    f"declared: {', '.join(sorted(self.dashboards))}"
                )
        return self

    def runbook(self, alertname: str) -> str:
        """The runbook URL of `alertname`."""
        return self.runbook_url.replace("{alertname}", alertname)

    def uid(self, dashboard: str) -> str:
        """The UID of the dashboard named `dashboard` (executive, risk, ...)."""
        try:
            return self.dashboards[dashboard]
        except KeyError:
            raise KeyError(f"policy declares no dashboard {dashboard!r}") from None

    def dashboard_url(self, grafana_url: str, team: str, per_portfolio: bool) -> str:
        """The URL an alert of `team` opens: its team's dashboard, on the alert's
        portfolio when it has one and the dashboard can select it."""
        try:
            board = self.teams[team]
        except KeyError:
            raise KeyError(f"policy links.teams has no dashboard for team {team!r}") from None
        url = f"{grafana_url.rstrip('/')}/d/{self.dashboards[board]}"
        if per_portfolio and board in self.portfolio_dashboards:
            return url + "?var-portfolio={{ $labels.portfolio }}"
        return url


class PortfolioLimits(_Strict):
    """Limits that may differ per portfolio; all are fractions between 0 and 1."""

    drawdown_warning: Ratio
    drawdown_critical: Ratio
    daily_loss: Ratio
    var: Ratio
    expected_shortfall: Ratio
    model_confidence: Ratio
    model_accuracy: Ratio


PortfolioLimitName = str
"""A field name of `PortfolioLimits`, e.g. `drawdown_critical`."""


class TailRisk(_Strict):
    """The VaR and ES the agents compute, and the limits apply to."""

    var_confidence: Confidence
    expected_shortfall_confidence: Confidence
    # The values of riskwatch.analytics.VaRMethod, which the core policy may not import;
    # tests/analytics/test_analytics_filtered.py keeps the two equal.
    methods: tuple[
        Literal["historical", "gaussian", "cornish_fisher", "filtered_historical"], ...
    ] = Field(min_length=1)

    @property
    def var_label(self) -> str:
        """The `confidence` label value of the VaR series (``0.99``)."""
        return confidence_label(self.var_confidence)

    @property
    def expected_shortfall_label(self) -> str:
        """The `confidence` label value of the ES series (``0.975``)."""
        return confidence_label(self.expected_shortfall_confidence)


class TradingModelPolicy(_Strict):
    """How much record a trading model's figures need before they count."""

    min_scored_predictions: int = Field(ge=1)
    """Scored predictions in the model's window before the reference model reports an
    accuracy, and a confidence other than 0.5 (riskwatch.agents.model.MomentumModel)."""


def confidence_label(confidence: float) -> str:
    """A confidence as the agents label it: the shortest exact form, ``0.99``."""
    return f"{confidence:g}"


class Crowding(_Strict):
    """Factor-crowding thresholds: the levels the agents publish, and the alerts'."""

    hhi_medium: float = Field(ge=0, le=1)
    hhi_high: float = Field(ge=0, le=1)
    gini_medium: float = Field(ge=0, le=1)
    gini_high: float = Field(ge=0, le=1)
    absorption_top_k: int = Field(ge=1)
    high_level: int = Field(ge=1, le=2)
    """crowding_level (0 low, 1 medium, 2 high) from which FactorCrowdingHigh fires."""
    rising_level: int = Field(ge=1, le=2)
    """...and from which FactorCrowdingRising fires."""

    @model_validator(mode="after")
    def _ordered(self) -> Crowding:
        if self.rising_level > self.high_level:
            raise ValueError("crowding: rising_level must not exceed high_level")
        if self.hhi_medium > self.hhi_high or self.gini_medium > self.gini_high:
            raise ValueError("crowding: a medium threshold must not exceed its high one")
        return self


class Validation(_Strict):
    """The nightly model validation (`riskwatch validate`): its windows and its gates.

    A run fails a gate, and ValidationGateFailed fires, when fewer than
    `min_complete_windows` of the model backtest's rolling windows are complete, the
    data completeness is below `min_data_completeness`, a daily return's magnitude
    reaches `max_abs_return` (a bad print, not a market move), or there are fewer than
    `min_windows` windows.
    """

    backtest_days: int = Field(ge=20)
    """Exchange days of forecasts and realised returns each VaR/ES backtest covers."""
    var_window_days: int = Field(ge=20)
    """Returns each rolling VaR/ES forecast is estimated from."""
    model_window_days: int = Field(ge=5)
    """Length of each rolling window of the trading-model backtest, in exchange days."""
    model_window_step_days: int = Field(ge=1)
    """Exchange days between the starts of consecutive model-backtest windows."""
    min_complete_windows: Ratio
    min_data_completeness: Ratio
    max_abs_return: float = Field(gt=0, allow_inf_nan=False)
    min_windows: int = Field(ge=1)
    zone_yellow_probability: Ratio
    """Basel: yellow from this binomial probability of the exception count (0.95)."""
    zone_red_probability: Ratio
    """...and red from this one (0.9999)."""
    es_z2_critical: float = Field(lt=0, allow_inf_nan=False)
    """The Acerbi-Szekely Z2 critical value below which the ES forecasts are rejected."""
    job_stale: Duration
    """ValidationJobMissing: the market traded at least this long ago and the nightly
    run has not succeeded since (or never has). Trading is what makes a run due, so a
    weekend or a holiday never pages."""

    @model_validator(mode="after")
    def _ordered(self) -> Validation:
        if self.zone_yellow_probability >= self.zone_red_probability:
            raise ValueError(
                "validation: zone_yellow_probability must be below zone_red_probability"
            )
        return self


LinkedLimit = Literal["var", "market_data_stale_seconds"]


RuleUnit = Literal["usd", "percent", "seconds", "count"]


class ComplianceRule(_Strict):
    """One compliance rule: what it checks, how severe a breach is, and its limit."""

    title: str = Field(min_length=1)
    """What the rule limits, as a report's reader says it ("Largest sector")."""
    description: str = Field(min_length=1)
    unit: RuleUnit
    """How its value and limit read: dollars, a share, seconds or a count."""
    severity: RuleSeverity
    limit: float | None = Field(None, ge=0, allow_inf_nan=False)
    limit_from: LinkedLimit | None = None
    """The rule's limit is another policy number: `var` (per portfolio) or
    `market_data_stale_seconds`. Exactly one of `limit` and `limit_from` is set."""

    @model_validator(mode="after")
    def _one_limit(self) -> ComplianceRule:
        if (self.limit is None) == (self.limit_from is None):
            raise ValueError("set exactly one of limit and limit_from")
        return self


class Compliance(_Strict):
    """The compliance rules, their per-portfolio overrides, and alert severities."""

    severity: dict[RuleSeverity, AlertSeverity]
    """The alert severity of each rule severity (compliance_violation_active{severity})."""
    rules: dict[Annotated[str, Field(pattern=_RULE_ID)], ComplianceRule] = Field(min_length=1)
    overrides: dict[PortfolioName, dict[str, float]] = {}

    @model_validator(mode="after")
    def _overrides_known(self) -> Compliance:
        for portfolio, limits in self.overrides.items():
            for rule, value in limits.items():
                where = f"compliance.overrides.{portfolio}.{rule}"
                if rule not in self.rules:
                    raise ValueError(f"{where}: no such rule; have {', '.join(self.rules)}")
                linked = self.rules[rule].limit_from
                if linked is not None:
                    raise ValueError(
                        f"{where}: {rule} is the {linked} limit; override that instead"
                    )
                if not value >= 0:
                    raise ValueError(f"{where}: a limit must be >= 0, got {value!r}")
        missing = set(RuleSeverity.__args__) - set(self.severity)  # type: ignore[attr-defined]
        if missing:
            raise ValueError(f"compliance.severity: missing {', '.join(sorted(missing))}")
        return self


class Ops(_Strict):
    """Staleness, liveness and self-monitoring limits, and the selectors of the jobs
    they watch."""

    market_data_stale_seconds: float = Field(gt=0, allow_inf_nan=False)
    agent_push_stale_seconds: Seconds
    agent_success_stale_seconds: Seconds
    task_failure_window: Duration
    task_failure_ratio: Ratio
    task_failure_min_runs: int = Field(ge=1)
    notification_failure_window: Duration
    reconciliation_max_breaks: int = Field(ge=0)
    disk_min_free_ratio: Ratio
    """DiskSpaceLow: a filesystem with less than this share free (riskwatch_disk_free_ratio)."""
    trading_task_window: Duration
    """BrokerDisconnected counts the market as trading while some agent's portfolio
    task (trading phases only) ran within this window."""
    self_monitoring_window: Duration
    """The window of Prometheus's and Alertmanager's own failure counters and
    reload gauges (kube-prometheus mixins: 5m)."""
    compaction_failure_window: Duration
    startup_grace: Duration
    """How long after Prometheus starts its dropped notifications are not counted: it
    drops the alerts it evaluates before it has found Alertmanager, and re-sends them."""
    min_alertmanagers: int = Field(ge=1)
    agent_job: str = Field(pattern=_JOB_MATCHER)
    agent_scrape_job: str = Field(pattern=_JOB_MATCHER)
    """The job of agents Prometheus scrapes directly (agent.metrics_listen), whose
    targets carry the `agent` label (docs/scaling.md)."""
    pushgateway_job: str = Field(pattern=_JOB_MATCHER)
    alertmanager_job: str = Field(pattern=_JOB_MATCHER)
    prometheus_job: str = Field(pattern=_JOB_MATCHER)
    receiver_job: str = Field(pattern=_JOB_MATCHER)


AgentId = Annotated[str, Field(pattern=_LABEL_VALUE)]


class ExpectedAgent(_Strict):
    """An agent that must be pushing: its kind and, for a trading agent, its portfolios."""

    kind: Literal["trading", "health"]
    portfolios: tuple[PortfolioName, ...] = ()

    @model_validator(mode="after")
    def _portfolios_fit_kind(self) -> ExpectedAgent:
        if self.kind == "trading" and not self.portfolios:
            raise ValueError("a trading agent publishes at least one portfolio")
        if self.kind == "health" and self.portfolios:
            raise ValueError("a health agent publishes no portfolio")
        return self


class Inventory(_Strict):
    """What must exist, so that its absence alerts: the agents that must be pushing
    (AgentMissing) and the scrape jobs Prometheus must have (ExporterDown). Empty
    means nothing is expected: the alerts on absence have nothing to watch."""

    agents: dict[AgentId, ExpectedAgent] = {}
    scrape_jobs: tuple[Annotated[str, Field(pattern=_LABEL_VALUE)], ...] = ()

    @field_validator("scrape_jobs")
    @classmethod
    def _once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({job for job in value if value.count(job) > 1})
        if twice:
            raise ValueError(f"scrape job {twice[0]!r} is listed twice")
        return value


class Market(_Strict):
    """The exchange whose calendar the desk follows, its time zone and trading hours.

    Regular sessions (holidays, half days) come from the exchange calendar
    (exchange-calendars' `exchange` code). The desk also trades the extended hours:
    from `extended_open` to `extended_close`, or `half_day_extended_close` after a
    half day. Outside them the market counts as closed: agents run only their
    every-phase tasks, and low-severity ops alerts are muted on Slack. `riskwatch
    alerts render` writes that into Alertmanager's `market-closed` interval from the
    exchange calendar, for `mute_horizon_days` from the day it runs, plus the
    `desk_closures` (whole days the desk is closed although the exchange is open).
    """

    exchange: str = Field(min_length=1)
    timezone: Annotated[str, AfterValidator(_check_zone)]
    extended_open: ClockTime
    extended_close: ClockTime
    half_day_extended_close: ClockTime
    mute_horizon_days: int = Field(400, ge=30, le=3660)
    """How many days from the render's day the `market-closed` interval lists the
    exchange's holidays and half days for."""
    desk_closures: tuple[date, ...] = ()
    """Whole weekdays the desk is closed on although the exchange is open: never the
    exchange's own holidays, which come from its calendar."""

    @model_validator(mode="before")
    @classmethod
    def _no_hand_kept_holidays(cls, data: Any) -> Any:
        # The exchange's holidays come from its calendar now: a list kept by hand would
        # silently go stale, so an old policy file is refused, not half-read.
        if isinstance(data, dict) and "holidays" in data:
            raise ValueError(
                "market.holidays has been removed: the exchange's holidays and half days "
                "now come from its calendar (market.exchange); list only days the desk "
                "closes while the exchange is open under market.desk_closures"
            )
        return data

    @model_validator(mode="after")
    def _sane(self) -> Market:
        if self.extended_open >= self.extended_close:
            raise ValueError(
                f"extended_open ({self.extended_open}) must be before "
                f"extended_close ({self.extended_close})"
            )
        if not self.extended_open < self.half_day_extended_close <= self.extended_close:
            raise ValueError("half_day_extended_close must lie within the extended hours")
        for day in self.desk_closures:
            if day.weekday() >= 5:
                raise ValueError(f"desk closure {day} is a weekend day; list weekday closures only")
        if len(set(self.desk_closures)) != len(self.desk_closures):
            raise ValueError("a desk closure is listed twice")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        """The market's time zone."""
        return ZoneInfo(self.timezone)


class Policy(_Strict):
    """The whole of policy.yaml."""

    links: Links
    defaults: PortfolioLimits
    portfolios: dict[PortfolioName, dict[PortfolioLimitName, Ratio]] = {}
    tail_risk: TailRisk
    trading_model: TradingModelPolicy
    crowding: Crowding
    compliance: Compliance
    ops: Ops
    inventory: Inventory
    validation: Validation
    for_: dict[str, Duration] = Field(alias="for")
    keep_firing_for: dict[str, Duration] = {}
    """Per alert, how long it keeps firing after its condition clears (Prometheus's
    `keep_firing_for`); alerts not listed stop at once."""
    market: Market

    @field_validator("portfolios")
    @classmethod
    def _known_limits(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        known = set(PortfolioLimits.model_fields)
        for portfolio, overrides in value.items():
            for name in overrides:
                if name not in known:
                    raise ValueError(
                        f"portfolios.{portfolio}.{name}: not a portfolio limit; "
                        f"expected one of {', '.join(sorted(known))}"
                    )
        return value

    @model_validator(mode="after")
    def _warning_below_critical(self) -> Policy:
        for portfolio in ("", *self.portfolios):
            warning = self.limit("drawdown_warning", portfolio)
            critical = self.limit("drawdown_critical", portfolio)
            if warning >= critical:
                where = f"portfolios.{portfolio}" if portfolio else "defaults"
                raise ValueError(
                    f"{where}: drawdown_warning ({warning}) must be below "
                    f"drawdown_critical ({critical})"
                )
        return self

    def limit(self, name: PortfolioLimitName, portfolio: str = "") -> float:
        """The limit `name` in force for `portfolio` ("" for the default)."""
        override = self.portfolios.get(portfolio, {}).get(name)
        if override is not None:
            return override
        value: float = getattr(self.defaults, name)
        return value

    def overrides(self, name: PortfolioLimitName) -> dict[str, float]:
        """Portfolios whose limit `name` differs from the default, sorted by portfolio."""
        return {
            portfolio: values[name]
            for portfolio, values in sorted(self.portfolios.items())
            if name in values
        }

    def compliance_limit(self, rule: str, portfolio: str = "") -> float:
        """The limit of compliance rule `rule` in force for `portfolio`."""
        spec = self.compliance.rules[rule]
        if spec.limit_from == "var":
            return self.limit("var", portfolio)
        if spec.limit_from == "market_data_stale_seconds":
            return float(self.ops.market_data_stale_seconds)
        override = self.compliance.overrides.get(portfolio, {}).get(rule)
        if override is not None:
            return override
        assert spec.limit is not None  # the model's validator guarantees one of the two
        return spec.limit

    def compliance_specs(self) -> list[tuple[str, str, RuleSeverity, float]]:
        """Each rule as `(id, description, severity, default limit)`, in file order:
        what `riskwatch.analytics.rules_from` builds the evaluated rules from."""
        return [
            (rule, spec.description, spec.severity, self.compliance_limit(rule))
            for rule, spec in self.compliance.rules.items()
        ]

    def compliance_overrides(self) -> dict[str, dict[str, float]]:
        """Per portfolio, the rule limits that differ from the defaults, linked limits
        included (a portfolio's own `var` is its RISK_002 limit)."""
        defaults = {rule: self.compliance_limit(rule) for rule in self.compliance.rules}
        overrides: dict[str, dict[str, float]] = {}
        for portfolio in sorted({*self.compliance.overrides, *self.portfolios}):
            mine = {rule: self.compliance_limit(rule, portfolio) for rule in defaults}
            differ = {rule: limit for rule, limit in mine.items() if limit != defaults[rule]}
            if differ:
                overrides[portfolio] = differ
        return overrides


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        loc = ".".join(str(p) for p in problem["loc"]) or "policy"
        message = problem["msg"].removeprefix("Value error, ")
        given = problem.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
        # Validators that know a finer location than pydantic's put it first themselves.
        where = "" if message.startswith(f"{loc}.") or loc == "policy" else f"{loc}{shown}: "
        parts.append(f"{where}{message}")
    return "; ".join(parts)


def parse_policy(data: Any, source: str = POLICY_FILE) -> Policy:
    """Validate already-loaded YAML data; PolicyError names the field in one line."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: not a YAML mapping")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_describe(exc)}") from None


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; PolicyError names the field in one line."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    return parse_policy(data, str(path))


def _scaled(text: str, factor: float, floor: int) -> str:
    seconds = duration_seconds(text)
    if seconds == 0:
        return "0s"
    return f"{max(floor, round(seconds / factor))}s"


# Scrapes every 5 s and evaluations every 5 s make anything shorter than this a coin
# toss: a compressed age or window never goes below it.
_AGE_FLOOR_SECONDS = 20
_WINDOW_FLOOR_SECONDS = 30


def time_compressed(policy: Policy, factor: float) -> Policy:
    """`policy` with every duration divided by `factor`, for the demo's simulated clock.

    At `riskwatch demo --speed X` the market and the agents run X times faster than
    the wall clock; rendering the rules with the same factor keeps a `for: 10m` meaning
    ten simulated minutes. Ages and windows are divided by a smaller factor where
    needed, so that the shortest stays one the 5 s scrape can resolve and their order
    is kept (an agent counts as down before its market data counts as stale, so
    AgentDown inhibits the rest as it does in production). Thresholds that are not
    durations are unchanged, and so are the windows of Prometheus's and
    Alertmanager's own counters and the trading-task window: those run on the wall
    clock whatever the demo's speed.
    """
    if factor < 1:
        raise ValueError(f"time compression factor must be >= 1, got {factor!r}")
    if factor == 1:
        return policy
    o = policy.ops
    ages = {
        "market_data_stale_seconds": o.market_data_stale_seconds,
        "agent_push_stale_seconds": o.agent_push_stale_seconds,
        "agent_success_stale_seconds": o.agent_success_stale_seconds,
    }
    age_factor = min(factor, min(ages.values()) / _AGE_FLOOR_SECONDS)
    windows = {
        "task_failure_window": o.task_failure_window,
        "notification_failure_window": o.notification_failure_window,
    }
    shortest_window = min(duration_seconds(w) for w in windows.values())
    window_factor = min(factor, shortest_window / _WINDOW_FLOOR_SECONDS)
    update: dict[str, object] = {k: round(v / age_factor) for k, v in ages.items()}
    update.update({k: _scaled(v, window_factor, _WINDOW_FLOOR_SECONDS) for k, v in windows.items()})
    for_ = {name: _scaled(value, factor, 0) for name, value in policy.for_.items()}
    # An alert held on so that others resolve first must outlast their evaluations,
    # which run on the wall clock: the same floor as the ages.
    keep = {
        name: _scaled(value, factor, _AGE_FLOOR_SECONDS)
        for name, value in policy.keep_firing_for.items()
    }
    return policy.model_copy(
        update={"ops": o.model_copy(update=update), "for_": for_, "keep_firing_for": keep}
    )
