"""The data subject's requests as lineage tells them: open requests, deadlines, who has not confirmed. Pure.

The hub writes every step of a request to lineage (``schakel.streams.requests``):

- ``schakel.subject.request``: the request arrived at the contact point (the ZVH): a decision record of the request
  event from ``zvh`` to ``zvh``, without an outcome, whose reason is what was asked (``access``, ``erasure``,
  ``objection``, ``rectification``, ``restriction``, ``restriction-lifted``);
- the policy's decision records for the request, one per partner: a permit is the request forwarded to a partner that
  received data about the person, a denial with ``no-data-received`` one that did not (AVG art. 19);
- ``schakel.subject.request.confirm``: a partner confirmed it carried the request out: a receipt of the request
  event (its id) from that partner to ``zvh``, outcome ``confirmed``;
- ``schakel.subject.request.answer``: the contact point answered the request with the art. 15 report
  (``schakel subject report``, :func:`answer_record`): a receipt of the request from ``zvh`` to ``zvh``, outcome
  ``answered``. One per request: the record id is the request's, so a report made again for the same request is
  not recorded twice (the first answer is the one the deadline asks about).

:func:`request_statuses` reads them back. The deadline is one month after the request arrived (AVG art. 12(3)), in
calendar months (:func:`request_deadline`: 31 January -> 28 or 29 February). *Judgement call:* the extension of
art. 12(3) (two more months for complex requests) is the contact point's decision and not recorded by the hub, so
``schakel subject requests`` shows the one-month deadline; a request is *closed* once every partner it went to
confirmed, *overdue* when it is open after its deadline.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schakel.lineage.hub_records import hub_record
from schakel.lineage.record import (
    REQUEST_ANSWER_RECORD_NAME,
    REQUEST_CONFIRM_RECORD_NAME,
    REQUEST_RECORD_NAME,
    LineageRecord,
    RecordKind,
)

__all__ = ["RequestState", "RequestStatus", "answer_record", "request_deadline", "request_statuses"]

_CONTACT_POINT = "zvh"


def request_deadline(received: datetime) -> datetime:
    """One calendar month after ``received`` (the same day of the next month, or its last day when shorter)."""
    year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    day = min(received.day, calendar.monthrange(year, month)[1])
    return received.replace(year=year, month=month, day=day)


class RequestState(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    CLOSED = "closed"


class RequestStatus(BaseModel):
    """One request: what was asked, when, until when, whom it went to and who confirmed."""

    model_config = ConfigDict(frozen=True)

    request_id: UUID
    request: str
    data_subject_id: str
    received: datetime
    deadline: datetime
    forwarded_to: tuple[str, ...]
    confirmed: tuple[str, ...]
    not_confirmed: tuple[str, ...]
    state: RequestState


def request_statuses(records: Iterable[LineageRecord], now: datetime) -> list[RequestStatus]:
    """Every request the records tell of, oldest first (records of other events are ignored)."""
    received: dict[UUID, LineageRecord] = {}
    forwarded: dict[UUID, set[str]] = {}
    confirmed: dict[UUID, set[str]] = {}
    for record in records:
        if record.name == REQUEST_RECORD_NAME:
            received[record.event_id] = record
        elif record.name == REQUEST_CONFIRM_RECORD_NAME:
            confirmed.setdefault(record.event_id, set()).add(record.sender)
        elif record.kind is RecordKind.DECISION and record.outcome in ("permit", "partial"):
            forwarded.setdefault(record.event_id, set()).add(record.recipient)
    statuses = []
    for request_id, record in received.items():
        sent = forwarded.get(request_id, set())
        done = confirmed.get(request_id, set()) & sent
        missing = sent - done
        deadline = request_deadline(record.start_time)
        state = RequestState.CLOSED if not missing else RequestState.OVERDUE if now > deadline else RequestState.OPEN
        statuses.append(
            RequestStatus(
                request_id=request_id,
                request=record.reasons[0] if record.reasons else "unknown",
                data_subject_id=record.data_subject_id,
                received=record.start_time,
                deadline=deadline,
                forwarded_to=tuple(sorted(sent)),
                confirmed=tuple(sorted(done)),
                not_confirmed=tuple(sorted(missing)),
                state=state,
            )
        )
    return sorted(statuses, key=lambda status: (status.received, str(status.request_id)))


def answer_record(received: LineageRecord, now: datetime) -> LineageRecord:
    """The record that the contact point answered the request whose arrival is ``received`` (its request record)."""
    if received.name != REQUEST_RECORD_NAME:
        raise ValueError("an answer is recorded against the request's own record")
    return hub_record(
        kind=RecordKind.RECEIPT,
        name=REQUEST_ANSWER_RECORD_NAME,
        event_id=received.event_id,
        event_type=received.event_type,
        sender=_CONTACT_POINT,
        recipient=_CONTACT_POINT,
        outcome="answered",
        purpose=received.purpose,
        processing_activity_id=received.processing_activity_id,
        data_subject_id=received.data_subject_id,
        data_subject_key=received.data_subject_key,
        at=now,
    )
