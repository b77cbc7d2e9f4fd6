"""OpenTelemetry tracing for agent cycles: one span per cycle, one child per task.

Spans go over OTLP/HTTP when `agent.otlp_endpoint` is set, to stderr when
`agent.trace_console` is, and nowhere otherwise (a no-op tracer costs nothing).
"""

from __future__ import annotations

import socket

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from riskwatch import __version__
from riskwatch.settings import AgentSettings


def make_tracer(
    kind: str, agent_id: str, settings: AgentSettings, exporter: SpanExporter | None = None
) -> tuple[trace.Tracer, TracerProvider | None]:
    """A tracer for one agent, and its provider to shut down (None when tracing is off).

    `exporter` lets a caller (a test, or an embedding application) collect spans itself.
    """
    processor: SpanProcessor
    if exporter is None and settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        processor = BatchSpanProcessor(exporter)
    elif exporter is None and settings.trace_console:
        processor = SimpleSpanProcessor(ConsoleSpanExporter())
    elif exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        return trace.NoOpTracer(), None
    resource = Resource.create(
        {
            "service.name": f"riskwatch-agent-{kind}",
            "service.version": __version__,
            "service.instance.id": agent_id,
            "host.name": socket.gethostname(),
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    return provider.get_tracer("riskwatch.agents"), provider
