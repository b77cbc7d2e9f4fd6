"""Each agent cycle is a trace: one span for the cycle, one per task, with attributes."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from riskwatch.agents.cli import build_runtime
from riskwatch.agents.tracing import make_tracer
from riskwatch.runtime import AgentRuntime
from riskwatch.settings import load_settings


def test_a_cycle_is_one_trace_with_a_span_per_task() -> None:
    settings = load_settings(
        agent={"id": "traced", "pushgateway_url": "http://127.0.0.1:1"},
        trading={"portfolios": [{"name": "solo", "positions": 5}]},
    )
    runtime, _ = build_runtime("trading", settings)
    exporter = InMemorySpanExporter()
    tracer, provider = make_tracer("trading", "traced", settings.agent, exporter=exporter)
    assert provider is not None
    traced = AgentRuntime("trading", runtime.publisher, runtime.tasks, runtime.calendar, tracer)
    ran, failed = traced.cycle(force=True)
    assert failed == 0
    spans = exporter.get_finished_spans()
    cycle = [s for s in spans if s.name == "trading cycle"]
    tasks = [s for s in spans if s.name.startswith("task ")]
    assert len(cycle) == 1 and len(tasks) == ran
    assert {s.name for s in tasks} >= {"task portfolio", "task risk", "task compliance"}
    assert all(s.parent is not None and s.parent.span_id == cycle[0].context.span_id for s in tasks)
    assert all(s.context.trace_id == cycle[0].context.trace_id for s in tasks)
    attributes = dict(tasks[0].attributes or {})
    assert attributes["riskwatch.agent"] == "traced"
    assert attributes["riskwatch.market_phase"] in {
        "PRE_MARKET",
        "REGULAR",
        "AFTER_HOURS",
        "CLOSED",
    }
    assert attributes["riskwatch.duration_seconds"] >= 0
    assert provider.resource.attributes["service.name"] == "riskwatch-agent-trading"
    runtime.publisher.close()


def test_tracing_is_off_unless_configured() -> None:
    settings = load_settings()
    _, provider = make_tracer("health", "quiet", settings.agent)
    assert provider is None
