"""The records the hub writes about its own steps, not about a decision on a partner's event: a ``RetentionExpired``
notice (``schakel.retention.job``), a subject request's arrival and a partner's confirmation of it
(``schakel.streams.requests_wiring``), the contact point's answer (:func:`schakel.lineage.requests.answer_record`).

:func:`hub_record` builds all of them, so that what they share is said once: such a step happens at one instant
(start and end time are the same), is never an error (``ok``), carries no trace or span (there is no partner event's
trace to join), names no covenant or rule (the hub acts on its own obligation, not on a covenant's permission),
withholds nothing and names no second pseudonym; its record id is derived as every record's is
(:func:`~schakel.lineage.record.record_id`), and its processing activity is the register's for its purpose unless it
carries one of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from schakel.lineage.activities import processing_activity
from schakel.lineage.record import LineageRecord, RecordKind, record_id

__all__ = ["SourceRecord", "hub_record"]


class SourceRecord(Protocol):
    """Where the event the step is about was read: an ingress record's topic, partition and offset."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


def hub_record(
    *,
    kind: RecordKind,
    name: str,
    event_id: UUID | str,
    event_type: str,
    sender: str,
    recipient: str,
    outcome: str | None,
    purpose: str,
    data_subject_id: str,
    data_subject_key: str,
    at: datetime,
    fields_sent: tuple[str, ...] = (),
    legal_basis: tuple[str, ...] = (),
    reasons: tuple[str, ...] = (),
    processing_activity_id: str | None = None,
    source: SourceRecord | None = None,
) -> LineageRecord:
    """The lineage record of one of the hub's own steps, taken ``at`` that time (the module docstring says what is
    fixed); ``processing_activity_id`` when given, else the register's for ``purpose``; ``source``: where the event
    was read, when the step followed one."""
    return LineageRecord(
        record_id=record_id(sender, event_id, data_subject_id, recipient, kind),
        kind=kind,
        name=name,
        status="ok",
        start_time=at,
        end_time=at,
        event_id=event_id,
        event_type=event_type,
        sender=sender,
        recipient=recipient,
        outcome=outcome,
        fields_sent=fields_sent,
        purpose=purpose,
        legal_basis=legal_basis,
        reasons=reasons,
        processing_activity_id=processing_activity_id or processing_activity(purpose),
        data_subject_id=data_subject_id,
        data_subject_key=data_subject_key,
        source_topic=None if source is None else source.topic,
        source_partition=None if source is None else source.partition,
        source_offset=None if source is None else source.offset,
    )
