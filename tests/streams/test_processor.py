"""The hub's processing without Kafka: checks on ingress records, and what decide() produces and traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from schakel.consent import Outcome, SubjectState, load_policy
from schakel.lineage import RecordKind, records_from_bytes, subject_pseudonym
from schakel.schemas import MAX_EVENT_BYTES, Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import (
    MAX_REQUEST_BYTES,
    DeadLetter,
    Message,
    header,
    ingress_message,
)
from schakel.streams.topics import HubTopics
from tests.schemas.forged import forged, layout
from tests.streams.conftest import SPANS

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"

_exporter = SPANS  # one exporter for the area: the SDK is configured once per process


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

    packed = [m for m in routed.messages if m.topic == "unit.lineage"]
    assert [m.key for m in packed] == [accepted.pseudonym.encode()], "one lineage message per event, by its person"
    records = records_from_bytes(packed[0].value)
    lineage = [record for record in records if record.kind is RecordKind.DECISION]
    copies = [m for m in routed.messages if m.topic.startswith("unit.egress.")]
    assert len(lineage) == len(routed.decisions)
    assert {record.recipient for record in lineage} == {str(d.recipient) for d in routed.decisions}
    permitted = [d for d in routed.decisions if d.outcome is not Outcome.DENY]
    assert {m.topic for m in copies} == {f"unit.egress.{d.recipient}" for d in permitted}
    (processing,) = spans.get_finished_spans()  # one span per event, whatever the number of recipients
    assert processing.name == "unit.ingress.politie process"
    for record in lineage:
        assert record.trace_id == TRACE_ID, "lineage names the trace the source connector started"
        assert record.source_offset == 7
        assert record.span_id == f"{processing.context.span_id:016x}", "the hub's span of the event"
        assert record.parent_span_id == PARENT_SPAN_ID, "... whose parent is the sender's span"

    for copy in copies:
        traceparent = header(copy.headers, "traceparent")
        assert traceparent is not None
        assert traceparent.split("-")[1] == TRACE_ID, "the trace continues to the sink connector"
        assert traceparent.split("-")[2] == f"{processing.context.span_id:016x}", "... from the hub's span"
        # the hub pseudonym never leaves the hub: an opaque per-copy reference that the connector runtime opens
        assert accepted.pseudonym.encode() not in b" ".join(v for _, v in copy.headers) + (copy.key or b"")
        assert header(copy.headers, "schakel-subject") is None
        reference = header(copy.headers, "schakel-subject-ref")
        assert reference is not None
        assert processor.pseudonymizer.unseal(reference) == accepted.pseudonym
        assert header(copy.headers, "schakel-subject-key") == "bsn"
        assert header(copy.headers, "ce_id") == str(event.id)

    assert processing.context.trace_id == int(TRACE_ID, 16)
    assert processing.parent is not None
    assert f"{processing.parent.span_id:016x}" == PARENT_SPAN_ID
    attributes = dict(processing.attributes or {})
    assert attributes["schakel.candidates"] == len(routed.decisions)
    assert attributes["messaging.batch.message_count"] == len(copies)
    assert set(attributes["schakel.recipients"]) == {str(d.recipient) for d in permitted}  # type: ignore[arg-type]
    assert attributes["messaging.message.id"] == str(event.id)


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


def test_an_event_with_a_bsn_and_a_case_id_links_the_two_pseudonyms(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    assert event.subject.bsn is not None
    assert event.case_id is not None
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    records = [
        record
        for m in processor.decide(accepted, SubjectState()).messages
        if m.topic == "unit.lineage"
        for record in records_from_bytes(m.value)
    ]
    (link,) = [record for record in records if record.kind is RecordKind.LINK]
    key = processor.settings.pseudonym_key.get_secret_value()
    assert (link.data_subject_id, link.data_subject_key) == (subject_pseudonym(event.subject.bsn, key), "bsn")
    case_only = processor.accept(_record(processor, example_event(EventType.SIGNAL, case_id=event.case_id, subject={})))
    assert isinstance(case_only, Accepted)
    assert (link.linked_subject_id, link.linked_subject_key) == (case_only.pseudonym, "case")
    lineage_text = b" ".join(r.to_bytes() for r in records).decode()
    assert event.case_id not in lineage_text
    assert event.subject.bsn not in lineage_text


def test_the_next_steps_read_the_same_event_from_the_forwarded_bytes_and_a_refusal_is_never_remembered(
    processor: Processor,
) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    first = processor.accept(_record(processor, event))
    assert isinstance(first, Accepted)
    assert first.case is not None
    step = processor.forward(first, processor.topics.link, first.case)
    origin, _ = processor.forwarded(Record(step.topic, 3, 11, step.key, step.value, step.headers))
    again = processor.accept(origin)
    assert isinstance(again, Accepted)
    assert (again.event, again.pseudonym, again.case, again.record.offset) == (
        event,
        first.pseudonym,
        first.case,
        7,
    )
    # The same bytes on another sender's ingress topic are still refused, and bytes that failed stay refused.
    spoofed = processor.accept(_record(processor, event, topic=HubTopics("unit.").ingress(Organisation.OM)))
    assert isinstance(spoofed, DeadLetter)
    assert spoofed.error_class == "SpoofedSource"
    broken = _record(processor, event, value=b"\xc3\x01 too short")
    assert isinstance(processor.accept(broken), DeadLetter)
    assert isinstance(processor.accept(broken), DeadLetter)


def test_an_event_with_one_identifier_links_nothing(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER, case_id=None)
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    kinds = {
        record.kind
        for m in processor.decide(accepted, SubjectState()).messages
        if m.topic == "unit.lineage"
        for record in records_from_bytes(m.value)
    }
    assert RecordKind.LINK not in kinds


def test_an_event_with_only_a_subject_pseudonym_is_a_validation_failure(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER, case_id=None, subject={"pseudonym": "p" * 32})
    record = Record(processor.topics.ingress(event.source), 0, 7, b"anything", processor.codec.encode(event), [])
    dead = processor.accept(record)
    assert isinstance(dead, DeadLetter)
    assert dead.error_class == "EventInvalid"
    assert "neither" in dead.reason


def test_a_purpose_lineage_cannot_record_is_a_validation_failure(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER, purpose="jan-jansen-111222333")
    dead = processor.accept(_record(processor, event))
    assert isinstance(dead, DeadLetter)
    assert dead.error_class == "EventInvalid"
    assert "111222333" not in dead.reason


# -- the entry's size bound, dead letters without personal data, id conflicts, outputs that cannot be produced --


def test_a_record_larger_than_the_maximum_is_dead_lettered_without_its_value_or_key(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    record = _record(processor, event, value=b"\xc3\x01" + b"\x00" * MAX_EVENT_BYTES)
    dead = processor.accept(record)
    assert isinstance(dead, DeadLetter)
    assert "record too large" in dead.reason
    message = processor.dead_letter_message(record, dead)
    assert message.value == b"", "a value too large to accept is too large to keep"
    assert message.key is None, "the original key is never kept"
    assert message.size() < 2000


def test_a_record_of_exactly_the_maximum_is_not_refused_for_its_size(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    dead = processor.accept(_record(processor, event, value=b"\xc3\x01" + b"\x00" * (MAX_EVENT_BYTES - 2)))
    assert isinstance(dead, DeadLetter)
    assert "record too large" not in dead.reason


def test_a_dead_letter_is_keyed_by_the_hub_pseudonym_never_by_the_original_key(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    assert event.subject.bsn is not None
    assert event.subject.name is not None
    for original_key in (event.subject.bsn.encode(), event.subject.name.encode()):
        record = _record(processor, event, key=original_key)
        dead = processor.accept(record)
        assert isinstance(dead, DeadLetter)
        assert dead.error_class == "WrongPartitionKey"
        message = processor.dead_letter_message(record, dead)
        assert message.key == ingress_message(event, processor.settings).key
        assert message.value == record.value, "the value stays until the dlq's retention removes it, for a resend"
        assert original_key not in b"".join(value for _, value in message.headers)


def test_an_undecodable_record_keeps_the_cloudevents_id_only_when_it_is_a_uuid(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    assert event.subject.name is not None
    headers = [("ce_id", str(event.id).encode())]
    dead = processor.accept(_record(processor, event, value=b"garbage", headers=headers))
    assert isinstance(dead, DeadLetter)
    assert dead.event_id == str(event.id)
    assert processor.dead_letter_message(_record(processor, event, value=b"garbage"), dead).key is None
    named = processor.accept(
        _record(processor, event, value=b"garbage", headers=[("ce_id", event.subject.name.encode())])
    )
    assert isinstance(named, DeadLetter)
    assert named.event_id is None, "a ce_id that is not a UUID may be partner text, and is not repeated"


def test_the_same_id_with_other_content_is_a_conflict_and_with_the_same_content_a_resend(
    processor: Processor,
) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    first = processor.accept(_record(processor, event))
    assert isinstance(first, Accepted)
    key, digest = processor.index_entry(first)
    assert key.startswith(first.pseudonym.encode()), "the index is keyed on the subject's partition"
    assert processor.id_conflict(first, None, digest) is None
    assert processor.id_conflict(first, digest, digest) is None

    other = event.model_copy(update={"payload": event.payload.model_copy(update={"description": "Another text."})})
    second = processor.accept(_record(processor, other))
    assert isinstance(second, Accepted)
    second_key, second_digest = processor.index_entry(second)
    assert second_key == key
    conflict = processor.id_conflict(second, digest, second_digest)
    assert conflict is not None
    assert conflict.error_class == "EventIdConflict"
    assert conflict.event_id == str(event.id)


def test_outputs_larger_than_the_producer_accepts_dead_letter_the_input_before_anything_is_sent(
    processor: Processor,
) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    routed = processor.decide(accepted, SubjectState())
    assert processor.unproducible(accepted, routed.messages) is None
    huge = Message("unit.egress.om", b"k", b"x" * MAX_REQUEST_BYTES)
    dead = processor.unproducible(accepted, [*routed.messages, huge])
    assert dead is not None
    assert dead.error_class == "OutputTooLarge"
    assert dead.event_id == str(event.id)
    assert dead.subject == accepted.pseudonym


def test_lineage_record_ids_name_the_sender_the_event_and_the_subject(processor: Processor) -> None:
    event = example_event(EventType.SIGNAL, theme=Theme.CTER)
    accepted = processor.accept(_record(processor, event))
    assert isinstance(accepted, Accepted)
    routed = processor.decide(accepted, SubjectState())
    for message in routed.messages:
        for record in records_from_bytes(message.value) if message.topic == "unit.lineage" else ():
            assert record.record_id == f"politie/{event.id}/{accepted.pseudonym}/{record.recipient}/{record.kind}"
