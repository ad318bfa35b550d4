"""Tracing and metrics for the hub.

Business code uses only the OpenTelemetry API (``tracer``); :func:`configure_tracing` sets up the SDK once at the
entry point: an OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, otherwise none (tests pass their own
in-memory exporter). Span attributes follow the messaging semantic conventions and carry ids, organisation codes
and field *names* only - never a BSN, a name or a payload value; the Kafka key (a pseudonym) is not recorded either.

Metrics are Prometheus counters labelled by organisation code, served by :func:`serve_metrics`.
"""

from __future__ import annotations

import os
from functools import cache
from wsgiref.simple_server import WSGIServer

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
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
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
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
