"""The agent runtime: tasks scheduled per market phase, traced, timed and pushed.

Each task records `riskwatch_agent_last_success_timestamp_seconds{agent,task}`, its duration
and its runs and failures. A failing task is logged and counted, never fatal: the
others keep running and the agent keeps pushing, which is what lets AgentTaskFailing
say which task broke rather than AgentDown saying nothing more than silence.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

from opentelemetry import trace

from riskwatch.calendar import MarketCalendar, MarketPhase
from riskwatch.publish import Publisher
from riskwatch.settings import TaskSchedule

log = logging.getLogger("riskwatch.runtime")


@dataclass(frozen=True)
class TaskContext:
    """What a task is told about the moment it runs in."""

    now: datetime
    phase: MarketPhase
    span: trace.Span


@dataclass
class Task:
    """A named unit of work on a schedule."""

    name: str
    run: Callable[[TaskContext], None]
    schedule: TaskSchedule
    next_due: float = field(default=0.0)
    once: bool = True
    """Whether `--once` runs it: not for tasks with effects beyond metrics (the emailed
    daily report), which a health check from cron must not trigger."""

    def runs_in(self, phase: MarketPhase) -> bool:
        return phase.value in self.schedule.phases


class AgentRuntime:
    """Runs an agent's tasks on their schedules and publishes after each cycle."""

    def __init__(
        self,
        kind: str,
        publisher: Publisher,
        tasks: Sequence[Task],
        calendar: MarketCalendar,
        tracer: trace.Tracer,
        *,
        tick_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        delete_on_exit: bool = False,
        min_push_interval_seconds: float = 0.0,
    ) -> None:
        self.kind = kind
        self.publisher = publisher
        self.tasks = list(tasks)
        self.calendar = calendar
        self.tracer = tracer
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.stop_event = threading.Event()
        self.delete_on_exit = delete_on_exit
        self.min_push_interval_seconds = min_push_interval_seconds
        self._last_push = float("-inf")
        self._aborted = False
        self._failing: set[str] = set()
        # Held for each cycle: whoever changes what the tasks read (the demo's incidents)
        # takes it, so a cycle never sees half a change.
        self.cycle_lock = threading.Lock()
        agent = publisher.agent
        self._last_success = publisher.gauge("riskwatch_agent_last_success_timestamp_seconds")
        self._duration = publisher.gauge("riskwatch_agent_task_duration_seconds")
        self._runs = publisher.counter("riskwatch_agent_task_runs_total")
        self._failures = publisher.counter("riskwatch_agent_task_failures_total")
        for task in self.tasks:  # every series exists from the first push
            self._runs.labels(agent, task.name)
            self._failures.labels(agent, task.name)

    def _run_task(self, task: Task, now: datetime, phase: MarketPhase) -> bool:
        agent = self.publisher.agent
        with self.tracer.start_as_current_span(f"task {task.name}") as span:
            span.set_attribute("riskwatch.agent", agent)
            span.set_attribute("riskwatch.task", task.name)
            span.set_attribute("riskwatch.market_phase", phase.value)
            started = time.perf_counter()
            self._runs.labels(agent, task.name).inc()
            try:
                task.run(TaskContext(now, phase, span))
            except Exception as exc:
                # A task's failure is data (AgentTaskFailing), not a reason to stop.
                self._failures.labels(agent, task.name).inc()
                span.record_exception(exc)
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                details = {"agent": agent, "task": task.name, "error": str(exc)}
                # The traceback once per streak of failures: a feed that is down for an
                # hour must not write a traceback every 15 seconds.
                if task.name in self._failing:
                    log.warning("task still failing", extra=details)
                else:
                    log.exception("task failed", extra=details)
                self._failing.add(task.name)
                return False
            finally:
                elapsed = time.perf_counter() - started
                self._duration.labels(agent, task.name).set(elapsed)
                span.set_attribute("riskwatch.duration_seconds", elapsed)
            # Wall-clock time even when `clock` is simulated (the demo): Prometheus
            # compares it with its own time() for AgentDown.
            self._last_success.labels(agent, task.name).set(time.time())
            if task.name in self._failing:
                self._failing.discard(task.name)
                log.info("task recovered", extra={"agent": agent, "task": task.name})
            return True

    def cycle(self, *, force: bool = False) -> tuple[int, int]:
        """Run the tasks that are due (all of them with `force`); returns (ran, failed)."""
        wall = self.clock()
        now = datetime.fromtimestamp(wall, UTC)
        phase = self.calendar.phase_at(now)
        due = [
            t for t in self.tasks if (t.once if force else t.next_due <= wall and t.runs_in(phase))
        ]
        if not due:
            return 0, 0
        failed = 0
        with self.tracer.start_as_current_span(f"{self.kind} cycle") as span:
            span.set_attribute("riskwatch.agent", self.publisher.agent)
            span.set_attribute("riskwatch.market_phase", phase.value)
            span.set_attribute("riskwatch.tasks", [t.name for t in due])
            for task in due:
                task.next_due = wall + task.schedule.interval_seconds
                if not self._run_task(task, now, phase):
                    failed += 1
            span.set_attribute("riskwatch.failed_tasks", failed)
        return len(due), failed

    def run_once(self) -> bool:
        """Every task once, whatever the phase, then one push awaited. True if all passed."""
        _, failed = self.cycle(force=True)
        pushed = self.publisher.push(wait=True) if self.publisher.pushgateway_url else True
        if not pushed:
            log.error("could not push to %s", self.publisher.pushgateway_url)
        return failed == 0 and pushed

    def run_forever(self) -> None:
        """Until SIGTERM/SIGINT or `stop_event`: run due tasks, push, sleep a tick."""
        self._install_signal_handlers()
        log.info("agent started", extra={"agent": self.publisher.agent, "kind": self.kind})
        while not self.stop_event.is_set():
            with self.cycle_lock:
                ran, _ = self.cycle()
            if self.stop_event.is_set():
                break
            due = time.monotonic() - self._last_push >= self.min_push_interval_seconds
            if ran and self.publisher.pushgateway_url and due:
                self._last_push = time.monotonic()
                self.publisher.push()
            self.stop_event.wait(self.tick_seconds)
        if self.publisher.pushgateway_url and not self._aborted:
            self._leave_gateway()
        self.publisher.close()
        log.info("agent stopped", extra={"agent": self.publisher.agent, "kind": self.kind})

    def abort(self) -> None:
        """Stop as a crash would: no final push and no goodbye to the Pushgateway, so
        the agent's last values stay there, frozen, and AgentDown has to notice."""
        self._aborted = True
        self.stop_event.set()

    def _leave_gateway(self) -> None:
        """On a stop, push the final state and leave the group behind: a SIGTERM may be
        `docker stop` or a supervisor ending a hung agent, and nobody is watching those
        portfolios once it is gone, so AgentDown must page. Retiring an agent is an
        explicit act (`riskwatch agent retire`); only `delete_on_exit` (ephemeral test
        agents, the demo's worlds) removes the group here."""
        if not self.delete_on_exit:
            self.publisher.push(wait=True)
            return
        try:
            self.publisher.delete()
        except OSError as exc:
            log.warning("could not remove the agent's Pushgateway group: %s", exc)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping after this cycle", signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


class DayMarker:
    """The last day a daily task finished, kept in a one-line file beside its output.

    The daily report and the nightly validation check every minute whether their day
    is due; this is what stops an agent restarted later that day from doing it twice.
    The day is remembered in memory first, so this process never repeats it even if
    the file cannot be written.
    """

    def __init__(self, path: Path, what: str) -> None:
        """`what` names the job in log lines ("report", "validation")."""
        self.path = path
        self.what = what
        self.last: date | None = self._read()

    def _read(self) -> date | None:
        try:
            return date.fromisoformat(self.path.read_text().strip())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # Unreadable state costs one extra run; refusing to run costs the job.
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return None

    def done(self, day: date) -> bool:
        """Whether `day` (or a later one) was already done."""
        return self.last is not None and self.last >= day

    def remember(self, day: date) -> None:
        """Record `day` as done: in memory, then atomically in the file."""
        self.last = day
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(day.isoformat() + "\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("%s for %s done, but %s could not be written: %s; a restart would "
                      "do it again", self.what, day, self.path, exc)  # fmt: skip
