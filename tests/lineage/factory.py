"""Lineage records for tests, built the way the hub and the sink connectors build them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from schakel.lineage import REQUEST_RECORD_NAME, LineageRecord, RecordKind, hub_record, record_id

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
SUBJECT_A = "a" * 64
SUBJECT_B = "b" * 64


def decision(
    *,
    event_id: UUID | None = None,
    recipient: str = "politie",
    subject: str = SUBJECT_A,
    outcome: str = "permit",
    fields_sent: tuple[str, ...] = ("urgency", "observed_behaviour"),
    fields_withheld: tuple[str, ...] = (),
    event_type: str = "Signal",
    sender: str = "gemeente-veiligheid",
    purpose: str = "cter-person-centred",
    legal_basis: tuple[str, ...] = ("AVG 6(1)(e)", "AVG 10"),
    at: datetime = T0,
    reasons: tuple[str, ...] = (),
    trace_id: str | None = None,
    subject_key: str = "bsn",
) -> LineageRecord:
    """One consent decision about one recipient."""
    event_id = event_id or uuid4()
    return LineageRecord(
        record_id=record_id(sender, event_id, subject, recipient, RecordKind.DECISION),
        kind=RecordKind.DECISION,
        trace_id=trace_id or event_id.hex,
        span_id=uuid4().hex[:16],
        parent_span_id=None,
        name="schakel.consent.decide",
        status="ok",
        start_time=at,
        end_time=at + timedelta(milliseconds=3),
        event_id=event_id,
        event_type=event_type,
        sender=sender,
        recipient=recipient,
        outcome=outcome,
        fields_sent=() if outcome == "deny" else fields_sent,
        fields_withheld=fields_withheld,
        purpose=purpose,
        legal_basis=legal_basis,
        covenant_id="cter-noord-holland",
        covenant_version="2025.1",
        rule="cter-signal-to-police",
        reasons=reasons,
        processing_activity_id="urn:nl:zvh-noord-holland:avg30:verwerking:persoonsgerichte-aanpak-cter",
        data_subject_id=subject,
        data_subject_key=subject_key,
        source_topic="schakel.internal.accepted",
        source_partition=1,
        source_offset=42,
    )


def receipt(of: LineageRecord, *, outcome: str = "delivered", after: timedelta = timedelta(seconds=1)) -> LineageRecord:
    """The sink connector's delivery receipt for a decision."""
    return of.model_copy(
        update={
            "record_id": record_id(of.sender, of.event_id, of.data_subject_id, of.recipient, RecordKind.RECEIPT),
            "kind": RecordKind.RECEIPT,
            "name": "schakel.delivery.receipt",
            "outcome": outcome,
            "span_id": uuid4().hex[:16],
            "parent_span_id": of.span_id,
            "start_time": of.end_time + after,
            "end_time": of.end_time + after + timedelta(milliseconds=20),
        }
    )


def link(*, subject: str, case_subject: str, event_id: UUID | None = None, at: datetime = T0) -> LineageRecord:
    """The hub's link record: an event carried both a BSN (``subject``) and a case id (``case_subject``)."""
    event_id = event_id or uuid4()
    return LineageRecord(
        record_id=record_id("gemeente-veiligheid", event_id, subject, "gemeente-veiligheid", RecordKind.LINK),
        kind=RecordKind.LINK,
        name="schakel.subject.link",
        status="ok",
        start_time=at,
        end_time=at,
        event_id=event_id,
        event_type="Signal",
        sender="gemeente-veiligheid",
        recipient="gemeente-veiligheid",
        outcome=None,
        purpose="cter-person-centred",
        processing_activity_id="urn:nl:zvh-noord-holland:avg30:verwerking:persoonsgerichte-aanpak-cter",
        data_subject_id=subject,
        data_subject_key="bsn",
        linked_subject_id=case_subject,
        linked_subject_key="case",
    )


def bundle(*sources: LineageRecord, at: datetime = T0 + timedelta(minutes=5)) -> LineageRecord:
    """The decision record of a ``SignalBundle`` the hub made for the ZVH from the signals ``sources`` decided."""
    bundle_id = uuid4()
    subject = sources[0].data_subject_id
    return LineageRecord(
        record_id=record_id("zvh", bundle_id, subject, "zvh", RecordKind.DECISION),
        kind=RecordKind.DECISION,
        name="schakel.agenda.bundle",
        status="ok",
        start_time=at,
        end_time=at + timedelta(milliseconds=1),
        event_id=bundle_id,
        event_type="SignalBundle",
        sender="zvh",
        recipient="zvh",
        outcome="permit",
        fields_sent=("reason", "signals"),
        purpose="case-consultation",
        rule="signal-agenda",
        reasons=("several_partners",),
        data_subject_id=subject,
        data_subject_key="bsn",
        derived_from=tuple(f"{source.sender}/{source.event_id}" for source in sources),
    )


def request_received(request: UUID, at: datetime, asked: str = "erasure", subject: str = SUBJECT_A) -> LineageRecord:
    """The contact point's record of a subject request it received (``asked``: its kind), as the hub writes it."""
    return hub_record(
        kind=RecordKind.DECISION,
        name=REQUEST_RECORD_NAME,
        event_id=request,
        event_type="SubjectRequest",
        sender="zvh",
        recipient="zvh",
        outcome=None,
        purpose="case-consultation",
        reasons=(asked,),
        data_subject_id=subject,
        data_subject_key="bsn",
        at=at,
    )
