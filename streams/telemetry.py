"""Tracing and metrics for the hub.

Business code uses only the OpenTelemetry API (``tracer``); :func:`configure_tracing` sets up the SDK once at the
entry point: an OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, otherwise none (tests pass their own
in-memory exporter). Span attributes follow the messaging semantic conventions and carry ids, organisation codes
and field *names* only - never a BSN, a name or a payload value; the Kafka key (a pseudonym) is not recorded either.

Spans where nothing listens: a provider that :func:`configure_tracing` installed without a span processor (no OTLP
endpoint, no test exporter) exports nothing, yet the SDK would still build every span in full - attributes cleaned,
sampler asked, start and end times taken - only for it to be dropped. :func:`span` then makes only what the span is
used for: its identity (a new span id in the parent's trace, or a new trace; the flags and trace state the SDK's
sampler gives it, asked without the span's attributes), current for its duration, so that the W3C ``traceparent``
injected into outgoing records and the trace and span ids of lineage records and of log lines are what they would
have been. A processor added to that provider later turns full spans back on. A provider installed any other way is
always used as it is.

Metrics are Prometheus counters labelled by organisation code, served by :func:`serve_metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from wsgiref.simple_server import WSGIServer

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import Attributes
from prometheus_client import Counter, Gauge, start_http_server

__all__ = [
    "DEAD_LETTERED",
    "DELIVERED",
    "DENIED",
    "EVENTS_IN",
    "LAG",
    "WITHHELD",
    "configure_tracing",
    "for_org",
    "serve_metrics",
    "span",
    "tracer",
]

tracer = trace.get_tracer("schakel.streams")

EVENTS_IN = Counter("schakel_events_in", "Events read from a partner's ingress topic.", ["org"])
DELIVERED = Counter("schakel_delivered", "Projected copies written to a recipient's egress topic.", ["org"])
WITHHELD = Counter(
    "schakel_withheld", "Copies delivered with at least one field withheld (partial decisions).", ["org"]
)
DENIED = Counter("schakel_denied", "Candidate recipients denied an event.", ["org"])
DEAD_LETTERED = Counter("schakel_dead_lettered", "Ingress records sent to the dead-letter queue.", ["org"])
LAG = Gauge("schakel_consumer_lag", "Records behind the end of the partition.", ["topic", "partition"])

_configured = False
_RANDOM_TRACE_ID = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))
"""W3C Trace Context level 2's random-trace-id flag, where the installed SDK sets it (0: an SDK that does not)."""


class _Provider(TracerProvider):
    """The SDK's provider, knowing whether a span processor listens (one added after configuration too)."""

    listened = False

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.listened = True

    def identity(self, name: str, parent: Context | None, kind: SpanKind) -> trace.Span:
        """A span that is only an identity: the ids, flags and trace state the SDK's own ``start_span`` would give a
        span of ``name`` under ``parent`` (what ``tests/streams/test_telemetry.py`` compares), nothing recorded."""
        upstream = trace.get_current_span(parent).get_span_context()
        if upstream.is_valid:
            trace_id = upstream.trace_id
            random_id = upstream.trace_flags & _RANDOM_TRACE_ID
        else:
            trace_id = self.id_generator.generate_trace_id()
            is_random = getattr(self.id_generator, "is_trace_id_random", None)
            random_id = _RANDOM_TRACE_ID if is_random is not None and is_random() else 0
        sampled = self.sampler.should_sample(parent, trace_id, name, kind)
        is_sampled = sampled.decision is Decision.RECORD_AND_SAMPLE
        flags = (TraceFlags.SAMPLED if is_sampled else TraceFlags.DEFAULT) | random_id
        return NonRecordingSpan(
            SpanContext(
                trace_id,
                self.id_generator.generate_span_id(),
                is_remote=False,
                trace_flags=TraceFlags(flags),
                trace_state=sampled.trace_state,
            )
        )


@contextmanager
def span(
    name: str,
    *,
    context: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes = None,
) -> Iterator[trace.Span]:
    """``tracer.start_as_current_span(...)`` - or, under a provider of :func:`configure_tracing` that no span
    processor listens to, the span's identity alone, current for the block (see the module docstring)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, _Provider) and not provider.listened:
        identity = provider.identity(name, context, kind)
        token = otel_context.attach(trace.set_span_in_context(identity, context))
        try:
            yield identity
        finally:
            otel_context.detach(token)
        return
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as started:
        yield started


@cache
def for_org(metric: Counter, org: str) -> Counter:
    """``metric.labels(org=org)``, looked up once per organisation: ``labels()`` takes a lock and builds a key on
    every call, several times per event on the hot path. Bounded: organisation codes (and ``None``) only."""
    return metric.labels(org=org)


def configure_tracing(service_name: str = "schakel-hub", *processors: SpanProcessor) -> TracerProvider | None:
    """Install the SDK's tracer provider once per process; returns it, or None when already configured."""
    global _configured
    if _configured:
        return None
    provider = _Provider(resource=Resource.create({"service.name": service_name}))
    for processor in processors:
        provider.add_span_processor(processor)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


def serve_metrics(port: int, host: str = "127.0.0.1") -> WSGIServer | None:
    """Serve the Prometheus metrics on ``host``:``port`` (0: do not serve) in a daemon thread; the host is the
    ``metrics_host`` setting, loopback unless a deployment sets the pod's address. Returns the server (a test
    shuts it down), or None."""
    if not port:
        return None
    server, _ = start_http_server(port, addr=host)
    return server
