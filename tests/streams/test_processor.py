"""The hub's processing without Kafka: checks on ingress records, and what decide() produces and traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from schakel.consent import Outcome, SubjectState, load_policy
from schakel.lineage import LineageRecord
from schakel.schemas import MAX_EVENT_BYTES, Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import DeadLetter, header, ingress_message
from schakel.streams.topics import HubTopics
from tests.schemas.forged import forged, layout

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> None:
    telemetry.configure_tracing("schakel-test", SimpleSpanProcessor(_exporter))


@pytest.fixture
def spans() -> InMemorySpanExporter:
    _exporter.clear()
    return _exporter


@pytest.fixture
def processor(tmp_path: Path) -> Processor:
    return Processor(Settings(topic_prefix="unit.", data_dir=tmp_path), load_policy())


def _record(processor: Processor, event: Event, **changes: object) -> Record:
    message = ingress_message(event, processor.settings)
    headers = [(name, value) for name, value in message.headers if name != "traceparent"]
    fields: dict[str, object] = {
        "topic": message.topic,
        "partition": 0,
        "offset": 7,
        "key": message.key,
        "value": message.value,
        "headers": [*headers, ("traceparent", TRACEPARENT.encode())],
    }
    fields.update(changes)
    return Record(**fields)  # type: ignore[arg-type]


def test_a_valid_event_is_accepted_with_the_subjects_pseudonym(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    assert accepted.event.id == event.id
    assert event.subject.bsn is not None
    assert event.subject.bsn not in accepted.pseudonym
    assert accepted.subject_key_kind == "bsn"


@pytest.mark.parametrize(
    ("change", "error_class"),
    [
        ({"topic": "unit.somewhere-else"}, "UnknownTopic"),
        ({"topic": HubTopics("unit.").egress(Organisation.POLITIE)}, "UnknownTopic"),
        ({"topic": HubTopics("unit.").ingress(Organisation.OM)}, "SpoofedSource"),
        ({"key": b"not-the-pseudonym"}, "WrongPartitionKey"),
        ({"value": b"\xc3\x01 too short"}, None),
    ],
)
def test_records_that_fail_a_check_become_dead_letters(
    processor: Processor, change: dict[str, object], error_class: str | None
) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    dead = processor.accept(_record(processor, event, **change))
    assert isinstance(dead, DeadLetter)
    assert dead.reason
    if error_class is not None:
        assert dead.error_class == error_class
    assert event.subject.bsn is not None
    assert event.subject.bsn not in dead.reason
    message = processor.dead_letter_message(_record(processor, event, **change), dead)
    assert message.topic == "unit.dlq"
    assert header(message.headers, "schakel-original-offset") == "7"


# Bytes that fastavro alone would read as a plausible event (see tests/schemas/test_strict.py): the hub must not.
_FORGED: list[tuple[str, tuple[str, ...], Any, Any, str]] = [
    (
        "secrecy ground index -1",
        ("payload", "secrecy_ground"),
        layout("long", "long"),
        {"f0": 1, "f1": -1},
        "payload.secrecy_ground: enum symbol index is out of range 0..2",
    ),
    ("boolean 02", ("payload", "in_care"), layout("long", "long"), {"f0": 1, "f1": 1}, "boolean is neither 00 nor 01"),
    ("theme index -1", ("theme",), "long", -1, "theme: enum symbol index is out of range 0..3"),
    (
        "varint of 11 bytes",
        ("time",),
        {"type": "fixed", "name": "T", "size": 11},
        b"\x80" * 10 + b"\x01",
        "time: long varint does not end within 10 bytes",
    ),
    (
        "array in blocks with a byte size",
        ("addressees",),
        layout("long", "long", "string", "long"),
        {"f0": -1, "f1": 3, "f2": "om", "f3": 0},
        "addressees: an array has a negative block count",
    ),
]


@pytest.mark.parametrize(("case", "path", "kind", "value", "rule"), _FORGED, ids=[case[0] for case in _FORGED])
def test_records_the_strict_decoder_rejects_are_dead_lettered_with_the_rule(
    processor: Processor, case: str, path: tuple[str, ...], kind: Any, value: Any, rule: str
) -> None:
    event = example_event(EventType.INFORMATION_CONTRIBUTION, theme=Theme.CTER, source=Organisation.GGZ)
    good = _record(processor, event)
    assert isinstance(processor.accept(good), Accepted)
    dead = processor.accept(_record(processor, event, value=forged(good.value, path, kind, value)))
    assert isinstance(dead, DeadLetter)
    assert dead.error_class == "DecodeError"
    assert rule in dead.reason
    assert event.subject.bsn is not None
    assert event.subject.bsn not in dead.reason


def test_a_record_larger_than_the_maximum_is_dead_lettered_unparsed(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    good = _record(processor, event)
    dead = processor.accept(_record(processor, event, value=good.value + bytes(MAX_EVENT_BYTES)))
    assert isinstance(dead, DeadLetter)
    assert dead.error_class == "DecodeError"
    assert "record too large" in dead.reason


def test_decide_makes_a_copy_per_permit_and_a_lineage_record_per_candidate(
    processor: Processor, spans: InMemorySpanExporter
) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    routed = processor.decide(accepted, SubjectState())

    lineage = [LineageRecord.from_bytes(m.value) for m in routed.messages if m.topic == "unit.lineage"]
    copies = [m for m in routed.messages if m.topic.startswith("unit.egress.")]
    assert {record.recipient for record in lineage} == {str(d.recipient) for d in routed.decisions}
    permitted = [d for d in routed.decisions if d.outcome is not Outcome.DENY]
    assert {m.topic for m in copies} == {f"unit.egress.{d.recipient}" for d in permitted}
    spans_by_id = {f"{span.context.span_id:016x}": span for span in spans.get_finished_spans()}
    for record in lineage:
        assert record.trace_id == TRACE_ID, "lineage names the trace the source connector started"
        assert record.source_offset == 7
        assert record.span_id in spans_by_id
        assert record.parent_span_id in spans_by_id
        assert spans_by_id[record.parent_span_id].name.endswith(" process")

    for copy in copies:
        traceparent = header(copy.headers, "traceparent")
        assert traceparent is not None
        assert traceparent.split("-")[1] == TRACE_ID, "the trace continues to the sink connector"
        # the hub pseudonym never leaves the hub: an opaque per-copy reference that the connector runtime opens
        assert accepted.pseudonym.encode() not in b" ".join(v for _, v in copy.headers) + (copy.key or b"")
        assert header(copy.headers, "schakel-subject") is None
        reference = header(copy.headers, "schakel-subject-ref")
        assert reference is not None
        assert processor.pseudonymizer.unseal(reference) == accepted.pseudonym
        assert header(copy.headers, "schakel-subject-key") == "bsn"
        assert header(copy.headers, "ce_id") == str(event.id)

    finished = spans.get_finished_spans()
    assert {span.context.trace_id for span in finished} == {int(TRACE_ID, 16)}
    names = {span.name for span in finished}
    assert "schakel.consent.decide" in names
    assert any(name.endswith(" process") for name in names)
    assert any(name.endswith(" publish") for name in names)


def test_no_personal_data_in_spans_keys_or_lineage(processor: Processor, spans: InMemorySpanExporter) -> None:
    event = example_event(EventType.INFORMATION_CONTRIBUTION, theme=Theme.CTER)
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    routed = processor.decide(accepted, SubjectState())
    personal = [
        event.subject.bsn,
        event.subject.name,
        *(v for v in event.payload.model_dump().values() if isinstance(v, str) and len(v) > 12),
    ]
    telemetry_text = " ".join(f"{span.name} {dict(span.attributes or {})}" for span in spans.get_finished_spans())
    lineage_text = b" ".join(m.value for m in routed.messages if m.topic == "unit.lineage").decode()
    keys = b" ".join(m.key or b"" for m in routed.messages).decode()
    for value in personal:
        assert value is not None
        assert value not in telemetry_text
        assert value not in lineage_text
        assert value not in keys
