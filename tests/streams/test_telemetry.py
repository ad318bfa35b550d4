"""Spans where nothing listens: the hub's span of an event is then only its identity, the one the SDK would give it."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from schakel.consent import SubjectState, load_policy
from schakel.lineage import records_from_bytes
from schakel.schemas import EventType, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import header, ingress_message
from tests.streams.conftest import SPANS

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> None:
    telemetry.configure_tracing("schakel-test", SimpleSpanProcessor(SPANS))


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> telemetry._Provider:
    """A provider as ``schakel run`` installs it without an OTLP endpoint: no span processor."""
    provider = telemetry._Provider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    return provider


def _parent(flags: str = "01", state: str | None = None) -> dict[str, str]:
    carrier = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-{flags}"}
    if state is not None:
        carrier["tracestate"] = state
    return carrier


@pytest.mark.parametrize(
    "carrier",
    [_parent(), _parent("00"), _parent("01", "vendor=abc,other=1"), {}],
    ids=["sampled", "not-sampled", "trace-state", "no-parent"],
)
def test_a_silent_span_has_the_identity_the_sdk_gives_a_span(
    silent: telemetry._Provider, carrier: dict[str, str]
) -> None:
    parent = propagate.extract(carrier)
    real = silent.get_tracer("test").start_span("ingress process", context=parent, kind=SpanKind.CONSUMER)
    real.end()
    made = real.get_span_context()
    identity = silent.identity("ingress process", parent, SpanKind.CONSUMER).get_span_context()
    assert identity.is_valid
    assert identity.trace_flags == made.trace_flags
    assert identity.trace_state == made.trace_state
    assert identity.is_remote is made.is_remote is False
    if carrier:
        assert identity.trace_id == made.trace_id == int(TRACE_ID, 16)
    assert f"{identity.span_id:016x}" != PARENT_SPAN_ID
    assert identity.span_id != made.span_id, "a span id of its own"


def test_a_silent_span_is_current_for_its_block_and_records_nothing(silent: telemetry._Provider) -> None:
    SPANS.clear()
    with telemetry.span("ingress process", context=propagate.extract(_parent()), kind=SpanKind.CONSUMER) as span:
        assert not span.is_recording()
        assert trace.get_current_span() is span
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    context = span.get_span_context()
    assert carrier["traceparent"] == f"00-{TRACE_ID}-{context.span_id:016x}-01", "the trace continues from it"
    assert trace.get_current_span() is not span
    assert SPANS.get_finished_spans() == ()


def test_a_processor_added_later_turns_recorded_spans_on() -> None:
    provider = telemetry._Provider()
    assert not provider.listened
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert provider.listened


def test_the_configured_provider_with_an_exporter_records_the_span() -> None:
    SPANS.clear()
    with telemetry.span("ingress process", context=propagate.extract(_parent()), attributes={"a": 1}) as span:
        assert span.is_recording()
    (finished,) = SPANS.get_finished_spans()
    assert finished.context.span_id == span.get_span_context().span_id
    assert dict(finished.attributes or {}) == {"a": 1}


def test_the_hub_without_an_exporter_keeps_its_copies_and_lineage_on_the_event_trace(
    silent: telemetry._Provider, tmp_path: Path
) -> None:
    processor = Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), load_policy())
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    message = ingress_message(event, processor.settings)
    headers = [(name, value) for name, value in message.headers if name != "traceparent"]
    traceparent = _parent()["traceparent"].encode()
    record = Record(message.topic, 0, 7, message.key, message.value, [*headers, ("traceparent", traceparent)])
    accepted = processor.accept(record)
    assert isinstance(accepted, Accepted)
    SPANS.clear()
    routed = processor.decide(accepted, SubjectState())

    copies = [m for m in routed.messages if m.topic.startswith("unit.egress.")]
    lineage = [r for m in routed.messages if m.topic == "unit.lineage" for r in records_from_bytes(m.value)]
    assert copies
    assert lineage
    parents = {header(copy.headers, "traceparent") for copy in copies}
    (copied,) = parents  # one context for every copy of the event
    assert copied is not None
    _, trace_id, span_id, flags = copied.split("-")
    assert (trace_id, flags) == (TRACE_ID, "01")
    assert span_id != PARENT_SPAN_ID, "the hub's own span id, not the sender's"
    for line in lineage:
        assert line.trace_id == TRACE_ID
        assert line.span_id == span_id, "lineage names the span the copies continue from"
    assert {line.parent_span_id for line in lineage if line.parent_span_id} == {PARENT_SPAN_ID}
    assert SPANS.get_finished_spans() == (), "nothing was recorded"
