"""The hub's own lineage records - a retention notice, a subject request's arrival and a partner's confirmation of
it, the contact point's answer - pinned byte for byte: the hash chain is computed over these bytes, and a compliance
user's trace and art. 15 report read them. Built from fixed inputs, so any change to what the hub writes shows here.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from schakel.consent import Pseudonymizer, SubjectState, load_policy
from schakel.lineage import LineageRecord
from schakel.lineage.requests import answer_record
from schakel.retention.job import notice_record
from schakel.schemas import Event, EventType, RetentionReason, Theme
from schakel.schemas.examples import example_event
from schakel.settings import Settings
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import Message, ingress_message
from schakel.streams.requests_wiring import RequestDesk
from tests.lineage.factory import SUBJECT_A, T0

BSN = "999990019"
REQUEST_ID = UUID("cd613e30-d8f1-4adf-91b7-584a2265b1f5")
CASE_CONSULTATION = "urn:nl:zvh-noord-holland:avg30:verwerking:casusoverleg-zorg-en-veiligheid"

_HUB_OWN: dict[str, Any] = {
    "covenant_id": None,
    "covenant_version": None,
    "fields_withheld": [],
    "linked_subject_id": None,
    "linked_subject_key": None,
    "parent_span_id": None,
    "rule": None,
    "span_id": None,
    "status": "ok",
    "trace_id": None,
}
"""What every record the hub writes about its own steps has in common: no trace or span of a partner's event, no
covenant or rule (the hub's own obligation, not a covenant's permission), nothing withheld, no second pseudonym."""


def _canonical(fields: dict[str, Any]) -> bytes:
    """The record's wire form as the module docstring of ``schakel.lineage.record`` defines it."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_a_retention_notice_record_is_pinned() -> None:
    message = notice_record(
        Settings(topic_prefix="pin."), SUBJECT_A, "om", RetentionReason.ERASURE, T0, T0 + timedelta(days=1)
    )
    notice = "e25af7b3-c9d3-5545-93d8-199e49ed5cc3"
    assert (message.topic, message.key) == ("pin.lineage", SUBJECT_A.encode())
    assert message.value == _canonical(
        {
            **_HUB_OWN,
            "data_subject_id": SUBJECT_A,
            "data_subject_key": "bsn",
            "end_time": "2026-11-03T09:30:00Z",
            "event_id": notice,
            "event_type": "RetentionExpired",
            "fields_sent": ["reason", "expired_at"],
            "kind": "decision",
            "legal_basis": ["AVG 6(1)(c)"],
            "name": "schakel.retention.notice",
            "outcome": "permit",
            "processing_activity_id": None,  # the shipped register has no entry for storage-limitation
            "purpose": "storage-limitation",
            "reasons": ["erasure"],
            "recipient": "om",
            "record_id": f"zvh/{notice}/{SUBJECT_A}/om/decision",
            "sender": "zvh",
            "source_offset": None,
            "source_partition": None,
            "source_topic": None,
            "start_time": "2026-11-03T09:30:00Z",
        }
    )


def _request_steps(tmp_path: Path) -> tuple[Message, Message]:
    """The hub's records of an erasure request from the contact point (offset 7) and of the police's confirmation of
    it (offset 8), both on partition 2, decided at ``T0``."""
    settings = Settings(topic_prefix="pin.", data_dir=tmp_path)
    processor = Processor(settings, load_policy(), clock=lambda: T0)
    desk = RequestDesk(processor, recipients=lambda _person: {"politie"})

    def accept(event: Event, offset: int) -> Accepted:
        message = ingress_message(event, settings)
        accepted = processor.accept(Record(message.topic, 2, offset, message.key, message.value, message.headers))
        assert isinstance(accepted, Accepted)
        return accepted

    person: dict[str, Any] = {
        "subject": {"bsn": BSN, "name": "J. Jansen", "birth_date": "2006-03-14", "pseudonym": None}
    }
    payload = {"kind": "erasure", "restriction": None, "confirms": None}
    request = accept(
        example_event(
            EventType.SUBJECT_REQUEST,
            Theme.LVB,
            id=str(REQUEST_ID),
            source="zvh",
            purpose="case-consultation",
            payload=payload,
            **person,
        ),
        7,
    )
    adjust = desk.adjustment(request, request.pseudonym, None)
    routed = processor.decide(request, SubjectState(), request.pseudonym, adjust)
    book, (received,) = desk.after(request, request.pseudonym, None, routed.decisions)
    confirmation = accept(
        example_event(
            EventType.SUBJECT_REQUEST,
            Theme.LVB,
            source="politie",
            purpose="case-consultation",
            payload={**payload, "confirms": str(REQUEST_ID)},
            **person,
        ),
        8,
    )
    confirmed, *_ = desk.confirmation(confirmation, confirmation.pseudonym, book).messages
    return received, confirmed


def _request_record(
    person: str,
    *,
    at: str,
    sender: str,
    kind: str,
    name: str,
    outcome: str | None,
    reasons: tuple[str, ...] = (),
    source: tuple[str, int] | None = None,
) -> bytes:
    """A step of the request of ``REQUEST_ID`` about ``person``, to the contact point, with what differs between the
    steps; ``source``: the ingress topic and offset (partition 2) of the event the step followed."""
    return _canonical(
        {
            **_HUB_OWN,
            "data_subject_id": person,
            "data_subject_key": "bsn",
            "end_time": at,
            "event_id": str(REQUEST_ID),
            "event_type": "SubjectRequest",
            "fields_sent": [],
            "kind": kind,
            "legal_basis": [],
            "name": name,
            "outcome": outcome,
            "processing_activity_id": CASE_CONSULTATION,
            "purpose": "case-consultation",
            "reasons": list(reasons),
            "recipient": "zvh",
            "record_id": f"{sender}/{REQUEST_ID}/{person}/zvh/{kind}",
            "sender": sender,
            "source_offset": None if source is None else source[1],
            "source_partition": None if source is None else 2,
            "source_topic": None if source is None else source[0],
            "start_time": at,
        }
    )


def test_a_subject_requests_own_records_are_pinned(tmp_path: Path) -> None:
    person = Pseudonymizer(Settings().pseudonym_key.get_secret_value().encode()).subject(f"bsn:{BSN}")
    received, confirmed = _request_steps(tmp_path)
    assert {(m.topic, m.key) for m in (received, confirmed)} == {("pin.lineage", person.encode())}
    at = "2026-11-02T09:30:00Z"
    assert received.value == _request_record(
        person,
        at=at,
        sender="zvh",
        kind="decision",
        name="schakel.subject.request",
        outcome=None,
        reasons=("erasure",),
        source=("pin.ingress.zvh", 7),
    )
    assert confirmed.value == _request_record(
        person,
        at=at,
        sender="politie",
        kind="receipt",
        name="schakel.subject.request.confirm",
        outcome="confirmed",
        source=("pin.ingress.politie", 8),
    )

    received_record = LineageRecord.from_bytes(received.value)
    answered = _request_record(
        person,
        at="2026-11-04T09:30:00Z",
        sender="zvh",
        kind="receipt",
        name="schakel.subject.request.answer",
        outcome="answered",
    )
    assert answer_record(received_record, T0 + timedelta(days=2)).to_bytes() == answered
    without_activity = received_record.model_copy(update={"processing_activity_id": None})
    assert answer_record(without_activity, T0 + timedelta(days=2)).to_bytes() == answered, "the purpose's activity"
