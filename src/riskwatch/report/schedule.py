"""The daily report as an agent task: built and emailed once per exchange day.

`report_task(settings)` is a `riskwatch.runtime.Task` named "report" that runs
every minute in every market phase. Each run asks one question: is it past
`settings.report.schedule_time` (in the market's zone, the policy's
`market.timezone`) on an exchange day whose report has
not gone out yet? If so it builds that day's report into `settings.report.out_dir`
and emails it. The date of the last report sent is kept in
`<out_dir>/.last-sent`, so an agent restarted at 16:45 does not send it twice.

Running every minute rather than once at `schedule_time` is what makes it robust:
an agent that was down then, or an SMTP relay that refused the first try, is caught
up by the next run. A failed run raises, so the runtime counts it and AgentTaskFailing
tells operations that the CRO's report is stuck.

The task reads no clock of its own: "now" is the runtime's (`TaskContext.now`), and
the report is built as of that same instant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

from riskwatch.calendar import MarketCalendar
from riskwatch.report.build import BuiltReport, build_report, send_report
from riskwatch.runtime import DayMarker, Task, TaskContext
from riskwatch.settings import ALL_PHASES, Settings, TaskSchedule

log = logging.getLogger("riskwatch.report.schedule")

STATE_FILE = ".last-sent"
# Once a minute: the report goes out within a minute of schedule_time, and a check
# that finds nothing to do costs one comparison.
CHECK_INTERVAL_SECONDS = 60.0

Builder = Callable[..., BuiltReport]
Sender = Callable[[Settings, BuiltReport], object]


class DailyReport:
    """Decides when the day's report is due, sends it, and remembers that it did."""

    def __init__(
        self, settings: Settings, *, build: Builder = build_report, send: Sender = send_report
    ) -> None:
        self.settings = settings
        self.build = build
        self.send = send
        hour, minute = settings.report.schedule_time.split(":")
        self.at = time(int(hour), int(minute))
        self.calendar = MarketCalendar(settings.policy.market)
        self.state = DayMarker(Path(settings.report.out_dir) / STATE_FILE, "report")

    def due(self, now: datetime) -> date | None:
        """The date (in the market's zone) whose report should go out at `now`, or None."""
        if not self.settings.report.enabled:
            return None
        local = now.astimezone(self.calendar.zone)
        day = local.date()
        if local.time() < self.at:
            return None
        if self.state.done(day):
            return None
        if self.calendar.session_times(day) is None:
            return None  # weekend or exchange holiday: no trading day to report on
        return day

    def run(self, ctx: TaskContext) -> None:
        """The task body: build and send the report if it is due; raise if that fails."""
        day = self.due(ctx.now)
        if day is None:
            return
        ctx.span.set_attribute("riskwatch.report_date", day.isoformat())
        report = self.build(self.settings, day, Path(self.settings.report.out_dir), now=ctx.now)
        self.send(self.settings, report)
        self.state.remember(day)
        log.info(
            "daily report sent",
            extra={"date": day.isoformat(), "path": str(report.html_path),
                   "recipients": list(self.settings.report.recipients)},
        )  # fmt: skip


def report_task(settings: Settings) -> Task:
    """The "report" task for the agent runtime: every minute, in every phase."""
    job = DailyReport(settings)
    schedule = TaskSchedule(interval_seconds=CHECK_INTERVAL_SECONDS, phases=ALL_PHASES)
    return Task("report", job.run, schedule)
