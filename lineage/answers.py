"""The answers compliance needs, built from lineage records: a trace, the art. 15 report, the disclosure register.

Pure functions over records, so that the SQLite and PostgreSQL stores give the same answers and the answers are
tested without a database. The answers name fields and organisations, never values: there are no values in lineage.

Judgement calls:

- A *disclosure* is a decision that sent at least one field (``permit`` or ``partial``). Its delivery state comes from
  the matching receipt: ``delivered``, ``dead-lettered`` (decided, but never reached the partner) or ``pending`` (no
  receipt yet). The art. 15 report counts a field as *shared* unless its delivery was dead-lettered: what was decided
  and possibly delivered is what a citizen must be told about; a dead-lettered delivery is shown, marked as such.
- A receipt without a decision (the decision record lost or not yet ingested) is still a disclosure: the partner got
  the data, so the citizen must see it. So is a delivered receipt whose stored decision is a ``deny`` (the hub
  re-emitted a decision that came out differently, and the first one stored is kept): a delivery is a fact.
- A copy may have several receipts: dead-lettered, resent (``schakel connectors resend``), delivered. A delivered
  receipt counts over any dead letter, and of dead letters alone the last one.
- The register ``--since`` lists disclosures *decided* at or after that time, each with its receipt, whenever that
  came.
- ``link`` records (two pseudonyms of one person) are no disclosures; the report counts how many records it read per
  kind of identifier (``bsn``, ``case``) and how many pseudonyms of each kind it followed - never their values.
- A ``deny`` shares nothing; its withheld fields are listed so the citizen sees what was refused and why.
- A ``SignalBundle`` (the hub's agenda proposal to the ZVH) is a disclosure to the ZVH like any other, and names the
  events it was derived from (``derived_from``): the art. 15 report shows that the person was put on the ZVH's
  agenda, and on which partners' signals. A trace of an event lists the bundles derived from it (``derived``), with
  the provenance relation ``derived-from``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from schakel.lineage.record import (
    REQUEST_ANSWER_RECORD_NAME,
    REQUEST_CONFIRM_RECORD_NAME,
    REQUEST_RECORD_NAME,
    LineageRecord,
    RecordKind,
    event_key,
)
from schakel.lineage.wording import wording

__all__ = [
    "REQUEST_STEPS",
    "Disclosure",
    "DisclosureRegister",
    "Hop",
    "PartnerSection",
    "RequestStep",
    "SubjectReport",
    "TraceReport",
    "build_disclosure_register",
    "build_subject_report",
    "build_trace",
    "organisation_name",
]


def organisation_name(code: str) -> str:
    """The organisation's name from the report's translation table ("De politie"), or its code without one."""
    found = wording().organisations.get(code)
    return code if found is None else found.nl[:1].upper() + found.nl[1:]


_SENT = frozenset({"permit", "partial"})


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class Hop(_Answer):
    """One step of an event's way through the hub: a decision about one recipient, or one delivery receipt."""

    record_id: str
    kind: RecordKind
    event_id: UUID
    sender: str
    event_type: str
    name: str
    status: str
    recipient: str
    outcome: str | None
    start_time: datetime
    end_time: datetime
    trace_id: str | None
    span_id: str | None
    parent_span_id: str | None
    fields_sent: tuple[str, ...]
    fields_withheld: tuple[str, ...]
    purpose: str
    legal_basis: tuple[str, ...]
    policy: str | None
    rule: str | None
    reasons: tuple[str, ...]
    processing_activity_id: str | None
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    derived_from: tuple[str, ...] = ()
    """A bundle's sources, ``{sender}/{event_id}`` (PROV wasDerivedFrom)."""


class TraceReport(_Answer):
    """``schakel lineage trace EVENT_ID``: every hop of one event, in time order."""

    event_id: UUID
    event_type: str | None
    sender: str | None
    """The sender when one sender used this id; None when several did (each hop names its own)."""
    senders: tuple[str, ...]
    data_subject_key: str | None
    trace_ids: tuple[str, ...]
    hops: tuple[Hop, ...]
    derived: tuple[Hop, ...] = ()
    """The decision records of the events derived from this one (the ZVH's bundles): each ``derived-from`` it."""

    @property
    def found(self) -> bool:
        return bool(self.hops)


class Disclosure(_Answer):
    """One decision to share (part of) an event with a partner, with what became of the delivery."""

    event_id: UUID
    event_type: str
    sender: str
    recipient: str
    decided_at: datetime
    outcome: str | None
    fields_sent: tuple[str, ...]
    fields_withheld: tuple[str, ...]
    purpose: str
    legal_basis: tuple[str, ...]
    policy: str | None
    rule: str | None
    reasons: tuple[str, ...]
    processing_activity_id: str | None
    delivery: str
    """``delivered``, ``dead-lettered``, ``pending`` (no receipt yet) or ``none`` (nothing was to be sent)."""
    delivered_at: datetime | None
    trace_id: str | None
    derived_from: tuple[str, ...] = ()
    """For a bundle: the events it combines, ``{sender}/{event_id}``."""


class PartnerSection(_Answer):
    """What one partner received about the person (and what it was refused)."""

    recipient: str
    recipient_name: str
    event_types: tuple[str, ...]
    fields_shared: tuple[str, ...]
    fields_withheld: tuple[str, ...]
    """Fields withheld from the partner that it received in no message (a field shared in one message and withheld
    from another is shared; each decision names its own withheld fields)."""
    purposes: tuple[str, ...]
    legal_bases: tuple[str, ...]
    first_shared: datetime | None
    last_shared: datetime | None
    decisions: tuple[Disclosure, ...]


class RequestStep(_Answer):
    """One step of a request the person made at the contact point: it arrived, a partner confirmed it carried it out,
    or the contact point answered it (the art. 15 report was made)."""

    request_id: UUID
    request: str
    """What was asked (``access``, ``erasure``, ...); ``unknown`` when the request's arrival is not in the records."""
    step: str
    """``received``, ``confirmed`` or ``answered``."""
    organisation: str
    """Who took the step: the contact point, or the confirming partner."""
    at: datetime


class SubjectReport(_Answer):
    """The AVG art. 15 report: per partner, which event types and fields were shared, when, why, on which basis."""

    data_subject_id: str
    data_subject_ids: tuple[str, ...]
    """Every pseudonym of the person that was looked up (the first is ``data_subject_id``), links followed."""
    generated_at: datetime
    partners: tuple[PartnerSection, ...]
    records: int
    """How many decision and receipt records the report was built from."""
    records_by_identifier: dict[str, int]
    """Of those, how many were keyed by each kind of identifier (``bsn``, ``case``)."""
    pseudonyms_by_identifier: dict[str, int]
    """How many of the person's pseudonyms derive from each kind of identifier."""
    links: int
    """How many link records joined the person's pseudonyms."""
    requests: tuple[RequestStep, ...] = ()
    """The person's requests and what became of them, in time order."""


class DisclosureRegister(_Answer):
    """``schakel lineage disclosures --to ORG --since DATE``: what one partner was given."""

    recipient: str
    since: datetime | None
    disclosures: tuple[Disclosure, ...]


def _hop(record: LineageRecord) -> Hop:
    return Hop(
        record_id=record.record_id,
        kind=record.kind,
        event_id=record.event_id,
        sender=record.sender,
        event_type=record.event_type,
        name=record.name,
        status=record.status,
        recipient=record.recipient,
        outcome=record.outcome,
        start_time=record.start_time,
        end_time=record.end_time,
        trace_id=record.trace_id,
        span_id=record.span_id,
        parent_span_id=record.parent_span_id,
        fields_sent=record.fields_sent,
        fields_withheld=record.fields_withheld,
        purpose=record.purpose,
        legal_basis=record.legal_basis,
        policy=record.policy_reference,
        rule=record.rule,
        reasons=record.reasons,
        processing_activity_id=record.processing_activity_id,
        source_topic=record.source_topic,
        source_partition=record.source_partition,
        source_offset=record.source_offset,
        derived_from=record.derived_from,
    )


def _order(record: LineageRecord) -> tuple[datetime, int, str]:
    return (record.start_time, 0 if record.kind is RecordKind.DECISION else 1, record.recipient)


def build_trace(event_id: UUID, records: Iterable[LineageRecord], derived: Iterable[LineageRecord] = ()) -> TraceReport:
    """The trace of one event from its lineage records (others are ignored), with the records of the events
    derived from it (those of ``derived`` that name it in ``derived_from``)."""
    mine = sorted((r for r in records if r.event_id == event_id and r.kind is not RecordKind.LINK), key=_order)
    suffix = f"/{event_id}"
    made = sorted((r for r in derived if any(key.endswith(suffix) for key in r.derived_from)), key=_order)
    first = mine[0] if mine else None
    senders = tuple(dict.fromkeys(r.sender for r in mine))
    one = first is not None and len(senders) == 1
    return TraceReport(
        event_id=event_id,
        event_type=first.event_type if first is not None and one else None,
        sender=first.sender if first is not None and one else None,
        senders=senders,
        data_subject_key=first.data_subject_key if first else None,
        trace_ids=tuple(dict.fromkeys(r.trace_id for r in mine if r.trace_id)),
        hops=tuple(_hop(r) for r in mine),
        derived=tuple(_hop(r) for r in made),
    )


REQUEST_STEPS = {
    REQUEST_RECORD_NAME: "received",
    REQUEST_CONFIRM_RECORD_NAME: "confirmed",
    REQUEST_ANSWER_RECORD_NAME: "answered",
}


def _request_steps(records: Iterable[LineageRecord]) -> tuple[RequestStep, ...]:
    """The steps of the person's requests (the request records of :mod:`schakel.lineage.requests`)."""
    steps = [r for r in records if r.name in REQUEST_STEPS]
    asked = {r.event_id: r.reasons[0] for r in steps if r.name == REQUEST_RECORD_NAME and r.reasons}
    found = [
        RequestStep(
            request_id=r.event_id,
            request=asked.get(r.event_id, "unknown"),
            step=REQUEST_STEPS[r.name],
            organisation=r.sender,
            at=r.end_time,
        )
        for r in steps
    ]
    return tuple(sorted(found, key=lambda s: (s.at, str(s.request_id), s.organisation)))


def _disclosures(records: Iterable[LineageRecord], *, sent_only: bool) -> list[Disclosure]:
    decisions: dict[tuple[str, str], LineageRecord] = {}
    receipts: dict[tuple[str, str], LineageRecord] = {}
    for record in records:  # one event is its sender and its id (and, for the hub, its subject): see record_id
        if record.kind is RecordKind.LINK or record.name in REQUEST_STEPS:  # steps of a request, not disclosures
            continue
        key = (event_key(record.sender, record.event_id, record.data_subject_id), record.recipient)
        if record.kind is RecordKind.DECISION:
            decisions[key] = record
        elif key not in receipts or _later_receipt(record, receipts[key]):
            receipts[key] = record
    result: list[Disclosure] = []
    for key in decisions.keys() | receipts.keys():
        decision, receipt = decisions.get(key), receipts.get(key)
        base = decision or receipt
        assert base is not None
        delivered = receipt is not None and receipt.outcome == "delivered"
        sends = decision.outcome in _SENT if decision is not None else True
        # Delivered all the same (a re-emitted decision came out otherwise): what the receipt says went out counts.
        fields_sent = receipt.fields_sent if receipt is not None and delivered and not sends else base.fields_sent
        if sent_only and not (sends or delivered):
            continue
        if not (sends or delivered):
            delivery = "none"
        elif receipt is None:
            delivery = "pending"
        else:
            delivery = receipt.outcome or "delivered"
        result.append(
            Disclosure(
                event_id=base.event_id,
                event_type=base.event_type,
                sender=base.sender,
                recipient=base.recipient,
                decided_at=base.end_time,
                outcome=decision.outcome if decision is not None else None,
                fields_sent=fields_sent,
                fields_withheld=base.fields_withheld,
                purpose=base.purpose,
                legal_basis=base.legal_basis,
                policy=base.policy_reference,
                rule=base.rule,
                reasons=base.reasons,
                processing_activity_id=base.processing_activity_id,
                delivery=delivery,
                delivered_at=receipt.end_time if receipt is not None and delivery == "delivered" else None,
                trace_id=base.trace_id,
                derived_from=base.derived_from,
            )
        )
    result.sort(key=lambda d: (d.decided_at, d.recipient, str(d.event_id)))
    return result


def _later_receipt(record: LineageRecord, kept: LineageRecord) -> bool:
    """Whether ``record`` says more about a copy than the receipt ``kept``: a delivery is a fact whatever dead
    letters came before it (a copy resent after its dead letter); of two dead letters the later one counts."""
    if (record.outcome == "delivered") != (kept.outcome == "delivered"):
        return record.outcome == "delivered"
    return record.end_time > kept.end_time


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def build_subject_report(
    data_subject_id: str | Sequence[str], records: Iterable[LineageRecord], *, now: datetime | None = None
) -> SubjectReport:
    """The art. 15 report for one person, named by one pseudonym or by all the pseudonyms of that one person (see
    :func:`schakel.lineage.pseudonym.subject_pseudonyms`); records about anyone else are ignored."""
    ids = (data_subject_id,) if isinstance(data_subject_id, str) else tuple(data_subject_id)
    read = [r for r in records if r.data_subject_id in ids]
    mine = [r for r in read if r.kind is not RecordKind.LINK]
    kinds: dict[str, str] = {}
    for record in read:
        kinds.setdefault(record.data_subject_id, record.data_subject_key)
        if record.linked_subject_id is not None and record.linked_subject_key is not None:
            kinds.setdefault(record.linked_subject_id, record.linked_subject_key)
    per_partner: dict[str, list[Disclosure]] = defaultdict(list)
    for disclosure in _disclosures(mine, sent_only=False):
        per_partner[disclosure.recipient].append(disclosure)
    sections = []
    for recipient in sorted(per_partner):
        decisions = per_partner[recipient]
        shared = [d for d in decisions if d.delivery in {"delivered", "pending"}]
        sent = {f for d in shared for f in d.fields_sent}
        sections.append(
            PartnerSection(
                recipient=recipient,
                recipient_name=organisation_name(recipient),
                event_types=_unique(d.event_type for d in shared),
                fields_shared=_unique(f for d in shared for f in d.fields_sent),
                fields_withheld=_unique(f for d in decisions for f in d.fields_withheld if f not in sent),
                purposes=_unique(d.purpose for d in shared),
                legal_bases=_unique(b for d in shared for b in d.legal_basis),
                first_shared=min((d.decided_at for d in shared), default=None),
                last_shared=max((d.decided_at for d in shared), default=None),
                decisions=tuple(decisions),
            )
        )
    return SubjectReport(
        data_subject_id=ids[0],
        data_subject_ids=ids,
        generated_at=now or datetime.now(UTC),
        partners=tuple(sections),
        records=len(mine),
        records_by_identifier=_counts(r.data_subject_key for r in mine),
        pseudonyms_by_identifier=_counts(kinds[i] for i in ids if i in kinds),
        links=len(read) - len(mine),
        requests=_request_steps(mine),
    )


def _counts(kinds: Iterable[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for kind in kinds:
        counted[kind] = counted.get(kind, 0) + 1
    return dict(sorted(counted.items()))


def build_disclosure_register(
    recipient: str, since: datetime | None, records: Iterable[LineageRecord]
) -> DisclosureRegister:
    """Every disclosure to ``recipient`` decided at or after ``since`` (with its receipt, whenever that came)."""
    mine = [r for r in records if r.recipient == recipient]
    found = [d for d in _disclosures(mine, sent_only=True) if since is None or d.decided_at >= since]
    return DisclosureRegister(recipient=recipient, since=since, disclosures=tuple(found))
