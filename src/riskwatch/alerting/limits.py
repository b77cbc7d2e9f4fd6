"""The alert limits config (`alerts/limits.yaml`), validated.

Every threshold and `for` duration of every alert lives in that one file, with a
default per limit and optional per-portfolio overrides. `riskwatch alerts render`
turns it into the rule files; nothing else holds a threshold. An invalid file is
reported as one line that names the field (`LimitsError`).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

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

LIMITS_FILE = "alerts/limits.yaml"

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (3600, 60, 1)
# Portfolio names are spliced into PromQL regex matchers (`portfolio!~"a|b"`), so they
# may not hold regex or quoting metacharacters.
_PORTFOLIO = r"^[A-Za-z0-9_-]+$"
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

AlertSeverity = Literal["critical", "warning", "info"]


class LimitsError(Exception):
    """An invalid limits file, already phrased as one line."""


def duration_seconds(text: str) -> int:
    """Seconds in a Prometheus duration such as `10m` or `1h30m` (h, m and s only)."""
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration like 0s, 30s, 10m or 1h30m")
    return sum(int(part or 0) * unit for part, unit in zip(match.groups(), _UNITS, strict=True))


def _check_duration(text: str) -> str:
    duration_seconds(text)
    return text


def _check_clock(text: str) -> str:
    if not _CLOCK.match(text) or (text.startswith("24") and text != "24:00"):
        raise ValueError(f"{text!r} is not a time of day like 09:30")
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]
Ratio = Annotated[float, Field(gt=0, lt=1)]
Seconds = Annotated[int, Field(gt=0)]
Clock = Annotated[str, AfterValidator(_check_clock)]
PortfolioName = Annotated[str, Field(pattern=_PORTFOLIO)]


class _Strict(BaseModel):
    # An unknown key is a typo that would silently keep a default: reject it.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Links(_Strict):
    """Where an alert's runbook and dashboard live."""

    runbook_url: str = Field(pattern=r"\{alertname\}")
    grafana_url: str = Field(pattern=r"^https?://")
    portfolio_dashboard: str = Field(pattern=r"^/")
    firm_dashboard: str = Field(pattern=r"^/")

    def runbook(self, alertname: str) -> str:
        """The runbook URL of `alertname`."""
        return self.runbook_url.replace("{alertname}", alertname)

    def dashboard(self, per_portfolio: bool) -> str:
        """The dashboard URL: on the alert's portfolio, or the firm view."""
        path = self.portfolio_dashboard if per_portfolio else self.firm_dashboard
        return self.grafana_url.rstrip("/") + path


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
    """Which published VaR and ES series the tail-risk limits apply to."""

    var_confidence: str = Field(pattern=r"^0\.\d+$")
    expected_shortfall_confidence: str = Field(pattern=r"^0\.\d+$")
    methods: tuple[Literal["historical", "gaussian", "cornish_fisher"], ...] = Field(min_length=1)


class Crowding(_Strict):
    """crowding_level values (0 low, 1 medium, 2 high) that raise the crowding alerts."""

    high_level: int = Field(ge=1, le=2)
    rising_level: int = Field(ge=1, le=2)

    @model_validator(mode="after")
    def _rising_below_high(self) -> Crowding:
        if self.rising_level > self.high_level:
            raise ValueError("rising_level must not exceed high_level")
        return self


class Compliance(_Strict):
    """Alert severity of each compliance rule severity the agents publish."""

    severity: dict[str, AlertSeverity] = Field(min_length=1)


class Ops(_Strict):
    """Staleness and liveness limits, and the selectors of the jobs they watch."""

    market_data_stale_seconds: Seconds
    agent_push_stale_seconds: Seconds
    agent_success_stale_seconds: Seconds
    task_failure_window: Duration
    task_failure_ratio: Ratio
    task_failure_min_runs: int = Field(ge=1)
    notification_failure_window: Duration
    reconciliation_max_breaks: int = Field(ge=0)
    agent_job: str = Field(pattern=r'^[a-z_]+="[^"]+"$')
    pushgateway_job: str = Field(pattern=r'^[a-z_]+="[^"]+"$')
    alertmanager_job: str = Field(pattern=r'^[a-z_]+="[^"]+"$')


class MarketCalendar(_Strict):
    """When the market counts as open, for muting low-severity ops alerts."""

    timezone: str = Field(min_length=1)
    open: Clock
    close: Clock
    holidays: tuple[date, ...]

    @model_validator(mode="after")
    def _sane(self) -> MarketCalendar:
        if self.open >= self.close:
            raise ValueError(f"open ({self.open}) must be before close ({self.close})")
        for day in self.holidays:
            if day.weekday() >= 5:
                raise ValueError(f"holiday {day} is a weekend day; list exchange closures only")
        if len(set(self.holidays)) != len(self.holidays):
            raise ValueError("a holiday is listed twice")
        return self


class Limits(_Strict):
    """The whole of alerts/limits.yaml."""

    links: Links
    defaults: PortfolioLimits
    portfolios: dict[PortfolioName, dict[PortfolioLimitName, Ratio]] = {}
    tail_risk: TailRisk
    crowding: Crowding
    compliance: Compliance
    ops: Ops
    for_: dict[str, Duration] = Field(alias="for")
    market_calendar: MarketCalendar

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
    def _warning_below_critical(self) -> Limits:
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


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        loc = ".".join(str(p) for p in problem["loc"]) or "limits"
        message = problem["msg"].removeprefix("Value error, ")
        given = problem.get("input")
        shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
        # Validators that know a finer location than pydantic's put it first themselves.
        where = "" if message.startswith(f"{loc}.") or loc == "limits" else f"{loc}{shown}: "
        parts.append(f"{where}{message}")
    return "; ".join(parts)


def parse_limits(data: Any, source: str = LIMITS_FILE) -> Limits:
    """Validate already-loaded YAML data; LimitsError names the field in one line."""
    if not isinstance(data, dict):
        raise LimitsError(f"{source}: not a YAML mapping")
    try:
        return Limits.model_validate(data)
    except ValidationError as exc:
        raise LimitsError(f"{source}: {_describe(exc)}") from None


def load_limits(path: Path) -> Limits:
    """Read and validate a limits file; LimitsError names the field in one line."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LimitsError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    return parse_limits(data, str(path))


def _scaled(text: str, factor: float, floor: int) -> str:
    seconds = duration_seconds(text)
    if seconds == 0:
        return "0s"
    return f"{max(floor, round(seconds / factor))}s"


# Scrapes every 5 s and evaluations every 5 s make anything shorter than this a coin
# toss: a compressed age or window never goes below it.
_AGE_FLOOR_SECONDS = 20
_WINDOW_FLOOR_SECONDS = 30


def time_compressed(limits: Limits, factor: float) -> Limits:
    """`limits` with every duration divided by `factor`, for the demo's simulated clock.

    At `riskwatch demo --speed X` the market and the agents run X times faster than
    the wall clock; rendering the rules with the same factor keeps a `for: 10m` meaning
    ten simulated minutes. Ages and windows are divided by a smaller factor where
    needed, so that the shortest stays one the 5 s scrape can resolve and their order
    is kept (an agent counts as down before its market data counts as stale, so
    AgentDown inhibits the rest as it does in production). Thresholds that are not
    durations are unchanged.
    """
    if factor < 1:
        raise ValueError(f"time compression factor must be >= 1, got {factor!r}")
    if factor == 1:
        return limits
    o = limits.ops
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
    for_ = {name: _scaled(value, factor, 0) for name, value in limits.for_.items()}
    return limits.model_copy(update={"ops": o.model_copy(update=update), "for_": for_})
