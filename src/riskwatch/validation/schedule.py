"""The nightly validation as an agent task: each exchange day validated once, the
morning after.

`validation_task(settings)` is a `riskwatch.runtime.Task` named "validate" that the
health agent runs every minute in every market phase. Each run asks one question: is
there an exchange day, the last one to have closed, that has not been validated, and
is it past its due time? The run for day D is due at the first `schedule_time` (in
the market's zone) after D's close: with 01:00, the next morning, which makes the
runs Tuesday to Saturday; a Monday holiday makes no run due on Tuesday, since Friday
was validated on Saturday. The last day validated is kept in
`<out_dir>/<dataset>/.last-validated`, so a restarted agent does not run it twice.

Checking every minute rather than waiting for 01:00 is what makes it robust: an agent
that was down then catches up when it starts. A failed run raises (the runtime
counts it, AgentTaskFailing says so) and is tried again after `retry_seconds`, so a
market source that is down is not asked every minute. A run whose gates fail has
results, pushed and written: it is logged as a warning, not raised, and the day is
done (ValidationGateFailed carries it).

The task reads no clock of its own: "now" is the runtime's (`TaskContext.now`).
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from riskwatch.calendar import MarketCalendar
from riskwatch.runtime import DayMarker, Task, TaskContext
from riskwatch.settings import ALL_PHASES, Settings, TaskSchedule
from riskwatch.sources.base import MarketDataSource
from riskwatch.validation.job import describe, load_dataset, run_validation
from riskwatch.validation.span import last_completed_session

log = logging.getLogger("riskwatch.validation.schedule")

STATE_FILE = ".last-validated"
# Once a minute: the run starts within a minute of its time, and a check that finds
# nothing to do costs a calendar lookup.
CHECK_INTERVAL_SECONDS = 60.0


class ValidationFailedError(Exception):
    """A scheduled run could not produce or push its results."""


class NightlyValidation:
    """Decides when an exchange day's validation is due, runs it, and remembers it."""

    def __init__(self, settings: Settings, *, market: MarketDataSource | None = None) -> None:
        self.settings = settings
        self.market = market
        self.dataset = settings.validation.dataset
        hour, minute = settings.validation.schedule_time.split(":")
        self.at = timedelta(hours=int(hour), minutes=int(minute))
        self.calendar = MarketCalendar(settings.policy.market)
        self.state = DayMarker(
            Path(settings.validation.out_dir) / self.dataset / STATE_FILE, "validation"
        )
        self.retry_at: datetime | None = None

    def due_at(self, day: date) -> datetime:
        """When the run for exchange day `day` becomes due: the first `schedule_time`
        (market zone) at or after its close."""
        session = self.calendar.session_times(day)
        if session is None:
            raise ValueError(f"{day} is not an exchange day")
        close = session[1]
        midnight = datetime.combine(day, datetime.min.time(), self.calendar.zone)
        at = midnight + self.at  # wall-clock arithmetic: the same local time on DST days
        while at < close:
            at = datetime.combine(at.date() + timedelta(days=1), datetime.min.time(),
                                  self.calendar.zone) + self.at  # fmt: skip
        return at

    def due(self, now: datetime) -> date | None:
        """The exchange day whose validation should run at `now`, or None."""
        if not self.settings.validation.enabled:
            return None
        if self.retry_at is not None and now < self.retry_at:
            return None
        day = last_completed_session(self.calendar, now)
        if self.state.done(day):
            return None
        return day if now >= self.due_at(day) else None

    def run(self, ctx: TaskContext) -> None:
        """The task body: validate the due day, if any; raise if the run failed."""
        day = self.due(ctx.now)
        if day is None:
            return
        ctx.span.set_attribute("riskwatch.validation_date", day.isoformat())
        started = time.perf_counter()
        try:
            dataset = load_dataset(
                self.settings, self.dataset, now=ctx.now, as_of=day, market=self.market
            )
            outcome = run_validation(self.settings, dataset, now=ctx.now, started=started)
        except Exception:
            self.retry_at = ctx.now + timedelta(seconds=self.settings.validation.retry_seconds)
            raise
        if outcome.push_error is not None:
            self.retry_at = ctx.now + timedelta(seconds=self.settings.validation.retry_seconds)
            raise ValidationFailedError(outcome.push_error)
        self.retry_at = None
        self.state.remember(day)
        findings = outcome.findings
        details = {
            "date": day.isoformat(),
            "dataset": self.dataset,
            "path": str(outcome.artifacts.folder),
            "summary": list(describe(outcome)),
        }
        if findings.passed:
            log.info("validation done", extra=details)
        else:
            log.warning("validation done, gates failed: %s", ", ".join(findings.failed_gates),
                        extra=details)  # fmt: skip


def validation_task(settings: Settings, *, market: MarketDataSource | None = None) -> Task:
    """The "validate" task for the agent runtime: every minute, in every phase."""
    job = NightlyValidation(settings, market=market)
    schedule = TaskSchedule(interval_seconds=CHECK_INTERVAL_SECONDS, phases=ALL_PHASES)
    return Task("validate", job.run, schedule)
