"""What the hub does with one ingress record, apart from Kafka: accept or dead-letter it, then decide and project.

:meth:`Processor.accept` decodes and validates the record and checks that the sender is who the topic says and that
the record is keyed by the subject's pseudonym; anything else becomes a :class:`DeadLetter`. :meth:`Processor.decide`
asks the consent policy for one decision per candidate recipient and turns them into records to produce: a projected
copy for each permitted recipient - with the reference of its course of action (:mod:`schakel.guidance`) where one
applies - and one lineage record per decision, denials included, all of the event's lineage records packed into one
value on the lineage topic (:func:`schakel.lineage.pack_records`: one producer send, not one per decision). The
Faust wiring in ``schakel.streams.hub`` only moves these records; this module is where the hub's behaviour is.

Entry and exit are bounded: a record larger than :data:`schakel.schemas.MAX_EVENT_BYTES` is refused by the codec
before it is parsed and dead-lettered without its value, and :meth:`Processor.unproducible` refuses a set of outputs
of which one would exceed the producer's request limit - the input is dead-lettered instead, before any of them is
sent, so nothing is partly delivered. What a dead letter keeps is said in ``schakel.streams.records``; its reasons are
this module's fixed texts or the codec's (field and rule), never a value the partner supplied. It keeps the event id -
from the event, or from the ``ce_id`` header when the bytes could not be decoded and the header holds a UUID - so a
partner can match it.

Decisions are taken at processing time (the clock passed in), not at the event's own time: a covenant that has
expired, or consent withdrawn, by the time the hub delivers stops the delivery.

What a sender says is a claim: an event whose ``purpose`` its sender may not claim for its type and theme
(:meth:`schakel.consent.Policy.claim`) is dead-lettered with the reason code, never decided under whichever rule
its label would select.

One person, several identifiers (BSN, case ids of a named issuer): :meth:`Processor.link` says which person an event
with a case id belongs to, given what the hub's link table holds for the case (the wiring and why it is
co-partitioned: ``schakel.streams.hub``). Decisions and lineage use the *person's* pseudonym; a delivered copy
carries none of the hub's pseudonyms - only the recipient's own (``subject.pseudonym`` and the record key) and an
opaque per-copy reference (``schakel-subject-ref``, :meth:`schakel.consent.Pseudonymizer.seal`) from which the
connector runtime recovers the person's pseudonym for the delivery receipt.

An event that carries both a BSN and a case id tells the hub that the two identifiers are one person: beside its
decisions it gets one lineage ``link`` record with the two hub pseudonyms (the BSN's and the namespaced case's), so
that the compliance answers find the person's case-keyed records too.

Tracing: :meth:`Processor.decide` makes one span per event, ``<ingress topic> process`` (consumer kind), a child of
the sender's span that the record's ``traceparent`` names. It carries the ids of the event (never a value), the number
of candidates, of copies and the recipients, and it is every copy's ``traceparent``: each recipient's sink continues
the event's trace from it. Every lineage record of the event names it as ``span_id``, with the sender's span as
``parent_span_id`` (None when the record came without a traceparent); a delivery receipt's parent is therefore the
span its decision record names. *Judgement call*: until December 2026 the hub made three spans per event - this one,
a ``schakel.consent.decide`` child (the denials' records named it) and an ``egress publish`` child (the copies'
traceparent and the permits' records) - at about a sixth of the CPU of a decision; the two children said nothing the
one span and the lineage records do not. Where no span processor listens (no OTLP endpoint), the span is only its
identity, made without the SDK's span (``schakel.streams.telemetry.span``): the same ids, nothing recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from schakel.consent import Decision, Outcome, Policy, Pseudonymizer, SubjectState, case_key, project, subject_key
from schakel.guidance import Guidance, load_guidance
from schakel.lineage import LineageRecord, RecordKind, pack_records, processing_activity, record_id, recordable_purpose
from schakel.schemas import MAX_EVENT_BYTES, Codec, Event, SchemaError, SubjectRequestEvent, cloudevent_headers
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.identity import content_digest, index_key
from schakel.streams.records import (
    MAX_REQUEST_BYTES,
    ORIGIN_HEADERS,
    OUTCOME_HEADER,
    RECIPIENT_HEADER,
    SETTLED_HEADER,
    SUBJECT_KEY_HEADER,
    SUBJECT_REF_HEADER,
    THROUGH_HEADER,
    DeadLetter,
    Headers,
    Message,
    header,
    trace_headers,
)
from schakel.streams.topics import HubTopics, ingress_sender

__all__ = ["Accepted", "Processor", "Record", "Routed"]

_DECIDE_SPAN = "schakel.consent.decide"
_MERGE_HEADER = "schakel-merge-state"
_ORIGIN_TOPIC, _ORIGIN_PARTITION, _ORIGIN_OFFSET, _ORIGIN_KEY = ORIGIN_HEADERS
_INTERNAL_HEADERS = frozenset({*ORIGIN_HEADERS, _MERGE_HEADER, THROUGH_HEADER, SETTLED_HEADER})
"""The hub's own headers between its steps: never taken over from an ingress record (a sender's record naming a
person to pass through to would reach that person's decisions without a link check; one marked as a settled notice
was taken for one at the link step, acknowledged there and neither decided nor dead-lettered)."""
_LINK_NAME = "schakel.subject.link"
_DECODED = 4096
"""Events the processor keeps decoded for its next steps (:meth:`Processor._decode`): about as many as are in flight."""
_DECODED_BYTES = 16 * 1024
"""Only events up to this size are kept decoded (a typical one is about 1 KiB): the memory stays bounded."""


@dataclass(frozen=True)
class Record:
    """An ingress record as read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Accepted:
    """A valid event from the sender its topic belongs to, with the subject's hub pseudonym."""

    record: Record
    event: Event
    pseudonym: str
    subject_key_kind: str
    case: str | None = None
    """The pseudonym of the event's case key (``case:<issuer>:<id>``): the link table's key; None without a case."""


@dataclass(frozen=True)
class Routed:
    """The decisions taken for one event, and the records that carry them out."""

    decisions: Sequence[Decision]
    messages: list[Message]
    state: SubjectState
    """The person's state once the event is taken into account."""


class Processor:
    """Accepts ingress records and turns accepted events into egress copies and lineage records."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        *,
        codec: Codec | None = None,
        guidance: Guidance | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.codec = codec or Codec()
        self.guidance = guidance if guidance is not None else load_guidance(settings.guidance_dir)
        self.topics = HubTopics.of(settings)
        self.pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
        self.clock = clock
        self._decoded: dict[bytes, Event] = {}

    def _decode(self, value: bytes) -> Event:
        """The event in ``value``, decoded and validated - or, when these very bytes were accepted a moment ago (the
        hub's next step reads the ingress bytes again), the event they gave then: decoding is a function of the bytes
        (the clock-dependent rules only ever admit more as time passes), and only a successful decode is kept. At
        most :data:`_DECODED` events of at most :data:`_DECODED_BYTES`, oldest out first; in memory only, like every
        record the worker holds."""
        event = self._decoded.get(value)
        if event is None:
            event = self.codec.decode(value)
            if len(value) <= _DECODED_BYTES:
                self._decoded[value] = event
                if len(self._decoded) > _DECODED:
                    del self._decoded[next(iter(self._decoded))]
        return event

    # -- accept --------------------------------------------------------------------------------------------------

    def accept(self, record: Record) -> Accepted | DeadLetter:
        """Decode and check one ingress record; a record that fails any check becomes a dead letter."""
        sender = ingress_sender(record.topic, self.topics.prefix)
        if sender is None:
            return self.dead_letter(record, "UnknownTopic", "the record is not on a partner's ingress topic")
        try:
            event = self._decode(record.value)
        except SchemaError as error:
            return self.dead_letter(record, type(error).__name__, str(error))
        if event.source != sender:
            return self.dead_letter(
                record,
                "SpoofedSource",
                f"event source {event.source} differs from the sender of ingress topic {record.topic}",
                event,
            )
        if not _keyed(event):
            return self.dead_letter(
                record,
                "EventInvalid",
                "the event carries neither subject.bsn nor case_id: the hub cannot key its person",
                event,
            )
        if not recordable_purpose(event.purpose):
            # Fail closed: a decision that lineage would refuse to record must not be taken.
            return self.dead_letter(record, "EventInvalid", "the purpose is not a code lineage can record", event)
        key_kind = "bsn" if event.subject.bsn else "case"
        pseudonym = self.pseudonymizer.subject(subject_key(event))
        if record.key != pseudonym.encode():
            return self.dead_letter(
                record,
                "WrongPartitionKey",
                "the record key is not the subject's pseudonym, so its partition cannot keep the subject's order",
                event,
            )
        # A partner's confirmation of a subject request is decided for no one (schakel.streams.requests_wiring):
        # it claims no purpose to be checked against the covenants.
        refused = None if _confirms_a_request(event) else self.policy.claim(event)
        if refused is not None:
            return self.dead_letter(
                record,
                "PurposeNotClaimable",
                f"{refused}: sender {event.source} may not claim purpose {event.purpose} for a {event.type} "
                f"with theme {event.theme}",
                event,
            )
        case = case_key(event)
        return Accepted(record, event, pseudonym, key_kind, self.pseudonymizer.subject(case) if case else None)

    def dead_letter(self, record: Record, error_class: str, reason: str, event: Event | None = None) -> DeadLetter:
        """Why ``record`` goes to the dead-letter queue (a reason, never a value from the record)."""
        return DeadLetter(
            error_class=error_class,
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event_id=str(event.id) if event is not None else _cloudevent_id(record.headers),
            time=self.clock(),
            subject=self.pseudonymizer.subject(subject_key(event)) if event is not None and _keyed(event) else None,
        )

    def dead_letter_message(self, record: Record, dead: DeadLetter, *, keep_value: bool = True) -> Message:
        """The dead-letter record: keyed by the subject's hub pseudonym (or not at all - never the original key),
        the original value while it fits (``keep_value=False``: positions and reason only), the reason in headers."""
        value = record.value if keep_value and len(record.value) <= MAX_EVENT_BYTES else b""
        key = dead.subject.encode() if dead.subject else None
        return dead.message(self.topics.dlq, key, value)

    # -- identity and output -------------------------------------------------------------------------------------

    def id_conflict(self, accepted: Accepted, known: str | None, digest: str) -> DeadLetter | None:
        """A dead letter when the sender used this event's id for this subject before (``known``, the digest then)
        with other content than now (``digest``)."""
        if known is None or known == digest:
            return None
        return self.dead_letter(
            accepted.record,
            "EventIdConflict",
            "the sender used this event id before for an event with other content",
            accepted.event,
        )

    def index_entry(self, accepted: Accepted) -> tuple[bytes, str]:
        """The ``event-ids`` table key and value for an accepted event (see ``schakel.streams.identity``)."""
        return index_key(accepted.pseudonym, accepted.event), content_digest(accepted.event)

    def unproducible(self, accepted: Accepted, messages: Sequence[Message]) -> DeadLetter | None:
        """A dead letter when one of the outputs could not be produced (larger than the producer's request limit)."""
        for message in messages:
            if message.size() > MAX_REQUEST_BYTES:
                return self.output_failed(accepted.record, "OutputTooLarge", accepted.event)
        return None

    def output_failed(self, record: Record, error_class: str, event: Event | None = None) -> DeadLetter:
        """The input's dead letter when the hub could not produce what it decided (a copy or a lineage record)."""
        reason = "the hub could not produce all copies and lineage records of this record"
        return self.dead_letter(record, error_class, reason, event)

    # -- one person, several identifiers -------------------------------------------------------------------------

    def link(self, accepted: Accepted, linked: str | None) -> str | DeadLetter:
        """The pseudonym of the person an event with a case id is about, given the person the link table holds for
        its case (``linked``, None: no link yet). A case id that arrives with a different BSN than the one it is
        linked to is a conflict: dead-lettered, never merged. Without a BSN and a link the case is its own person."""
        if accepted.case is None:
            raise ValueError("only an event with a case id is linked")
        if not accepted.event.subject.bsn:
            return linked if linked is not None else accepted.case
        if linked is not None and linked != accepted.pseudonym:
            return self.dead_letter(
                accepted.record,
                "IdentifierConflict",
                "the event's case id is linked to another BSN; the two are not merged",
                accepted.event,
            )
        return accepted.pseudonym

    def forward(
        self,
        accepted: Accepted,
        topic: str,
        key: str,
        merge: SubjectState | None = None,
        through: str | None = None,
    ) -> Message:
        """The record that carries an accepted event to the hub's next step (keyed by ``key``), with where it came
        from - and, when a new link makes two identifiers one person, the state kept under the case until then;
        ``through``: the person a ``hub-link`` record passes through to (``schakel.streams.shortpath.long_path``)."""
        record = accepted.record
        headers: Headers = [(name, value) for name, value in record.headers if name not in _INTERNAL_HEADERS]
        headers += [
            (_ORIGIN_TOPIC, record.topic.encode()),
            (_ORIGIN_PARTITION, str(record.partition).encode()),
            (_ORIGIN_OFFSET, str(record.offset).encode()),
            (_ORIGIN_KEY, record.key or b""),
        ]
        if merge is not None:
            headers.append((_MERGE_HEADER, json.dumps(merge.to_json()).encode()))
        if through is not None:
            headers.append((THROUGH_HEADER, through.encode()))
        return Message(topic, key.encode(), record.value, headers)

    @staticmethod
    def forwarded(record: Record) -> tuple[Record, SubjectState | None]:
        """The ingress record a :meth:`forward` record carries (its own topic, partition, offset and key), and the
        state to merge into the person's, if any."""
        values = {name: value for name, value in record.headers if name in _INTERNAL_HEADERS}
        try:
            origin = Record(
                topic=values[_ORIGIN_TOPIC].decode(),
                partition=int(values[_ORIGIN_PARTITION]),
                offset=int(values[_ORIGIN_OFFSET]),
                key=values[_ORIGIN_KEY] or None,
                value=record.value,
                headers=[(name, value) for name, value in record.headers if name not in _INTERNAL_HEADERS],
            )
        except (KeyError, ValueError) as error:
            raise ValueError("a forwarded record without its origin headers") from error
        merge = values.get(_MERGE_HEADER)
        return origin, SubjectState.from_json(json.loads(merge)) if merge else None

    # -- decide --------------------------------------------------------------------------------------------------

    def decide(
        self,
        accepted: Accepted,
        state: SubjectState,
        person: str | None = None,
        adjust: Callable[[Sequence[Decision]], Sequence[Decision]] | None = None,
    ) -> Routed:
        """One decision per candidate recipient on the person's state; a copy for each permitted one, a lineage
        record for each. ``person`` is the person's pseudonym (default: the event's own subject pseudonym).
        ``adjust`` changes the policy's decisions before they are acted on (the person's requests: a restriction,
        a request's recipients - ``schakel.streams.requests_wiring``)."""
        event = accepted.event
        now = self.clock()
        person = person if person is not None else accepted.pseudonym
        parent = propagate.extract(_carrier(accepted.record.headers))
        # The sender's span (from the record's traceparent), the parent of the one span the hub makes per event.
        upstream = trace.NonRecordingSpan(trace.get_current_span(parent).get_span_context())
        messages: list[Message] = []
        lineage: list[bytes] = []  # the event's lineage records, sent packed as one value (module docstring)
        with telemetry.span(
            f"{accepted.record.topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": accepted.record.topic,
                "messaging.destination.partition.id": str(accepted.record.partition),
                "messaging.kafka.offset": accepted.record.offset,
                "messaging.message.id": str(event.id),
                "schakel.event_type": str(event.type),
                "schakel.sender": str(event.source),
            },
        ) as processing:
            decisions, after = state.decide_all(self.policy, event, now, self.pseudonymizer.subject)
            if adjust is not None:
                decisions = tuple(adjust(decisions))
            form = event.to_json()
            envelope = cloudevent_headers(form, self.settings.source_urns)
            permitted = [decision for decision in decisions if decision.outcome is not Outcome.DENY]
            if processing.is_recording():
                processing.set_attributes(
                    {
                        "schakel.candidates": len(decisions),
                        "messaging.batch.message_count": len(permitted),
                        "schakel.recipients": [str(decision.recipient) for decision in permitted],
                    }
                )
            shared = self._shared(accepted, person, processing, upstream, now)  # every decision record's
            for decision in decisions:
                if decision.outcome is Outcome.DENY:
                    lineage.append(self._lineage(shared, decision))
            if permitted:
                # The event's span is every copy's traceparent, so each recipient's sink continues the same trace.
                traced = [*envelope, *trace_headers()]  # one context for every copy: injected once
                for decision in permitted:
                    messages.append(self._copy(accepted, person, decision, form, traced))
                    lineage.append(self._lineage(shared, decision))
            if event.subject.bsn and event.case_id:
                lineage.append(self._link(accepted, processing, now))
        if lineage:
            messages.append(Message(self.topics.lineage, person.encode(), pack_records(lineage)))
        return Routed(decisions, messages, after)

    def person_kind(self, accepted: Accepted, person: str) -> str:
        """What the person's pseudonym derives from: ``bsn``, or ``case`` for a case not (yet) linked to a BSN."""
        return "case" if person == accepted.case else "bsn"

    def _link(self, accepted: Accepted, span: trace.Span, now: datetime) -> bytes:
        """The lineage record that says the event's BSN and case id are one person (pseudonyms only); the event's
        person is the BSN's pseudonym, so it shares the pack (one person per pack) with the decisions."""
        event = accepted.event
        context = span.get_span_context()
        return LineageRecord.trusted_bytes(
            record_id=record_id(str(event.source), event.id, accepted.pseudonym, str(event.source), RecordKind.LINK),
            kind=RecordKind.LINK,
            trace_id=f"{context.trace_id:032x}" if context.is_valid else None,
            span_id=f"{context.span_id:016x}" if context.is_valid else None,
            parent_span_id=None,
            name=_LINK_NAME,
            status="ok",
            start_time=now,
            end_time=now,
            event_id=event.id,
            event_type=str(event.type),
            sender=str(event.source),
            recipient=str(event.source),
            outcome=None,
            fields_sent=(),
            fields_withheld=(),
            purpose=event.purpose,
            legal_basis=(),
            covenant_id=None,
            covenant_version=None,
            rule=None,
            reasons=(),
            processing_activity_id=processing_activity(event.purpose),
            data_subject_id=accepted.pseudonym,
            data_subject_key=accepted.subject_key_kind,
            linked_subject_id=accepted.case,
            linked_subject_key="case",
            source_topic=accepted.record.topic,
            source_partition=accepted.record.partition,
            source_offset=accepted.record.offset,
        )

    def _copy(
        self, accepted: Accepted, person: str, decision: Decision, form: dict[str, Any], envelope: Headers
    ) -> Message:
        projected = project(accepted.event, decision, self.pseudonymizer, form)
        reference = self.pseudonymizer.seal(person, f"{accepted.event.id}/{decision.recipient}")
        headers: Headers = [
            *envelope,
            (RECIPIENT_HEADER, str(decision.recipient).encode()),
            (SUBJECT_REF_HEADER, reference.encode()),
            (SUBJECT_KEY_HEADER, self.person_kind(accepted, person).encode()),
            (OUTCOME_HEADER, str(decision.outcome).encode()),
        ]
        # Chosen on the projected copy, never on the event: the reference must not hint at a withheld field. Set on
        # every copy - null where none applies - so that a sender's own value never travels.
        course = self.guidance.choose(decision.recipient, projected)
        projected["course_of_action"] = (
            {"reference": course.id, "version": course.version} if course is not None else None
        )
        key = str(projected["subject"]["pseudonym"]).encode()
        return Message(self.topics.egress(decision.recipient), key, self.codec.encode_json(projected), headers)

    def _shared(
        self, accepted: Accepted, person: str, span: trace.Span, parent: trace.Span, now: datetime
    ) -> dict[str, Any]:
        """What the lineage records of one event's decisions have in common, computed once per event; ``span``
        carried the decisions out, ``parent`` is the sender's."""
        event = accepted.event
        span_context = span.get_span_context()
        parent_context = parent.get_span_context()
        return {
            "kind": RecordKind.DECISION,
            "trace_id": f"{span_context.trace_id:032x}" if span_context.is_valid else None,
            "span_id": f"{span_context.span_id:016x}" if span_context.is_valid else None,
            "parent_span_id": f"{parent_context.span_id:016x}" if parent_context.is_valid else None,
            "name": _DECIDE_SPAN,
            "status": "ok",
            "start_time": now,
            "event_id": str(event.id),  # the same JSON as the UUID's, made once (record_id needs the text too)
            "event_type": str(event.type),
            "sender": str(event.source),
            "purpose": event.purpose,
            "processing_activity_id": processing_activity(event.purpose),
            "data_subject_id": person,
            "data_subject_key": self.person_kind(accepted, person),
            "source_topic": accepted.record.topic,
            "source_partition": accepted.record.partition,
            "source_offset": accepted.record.offset,
        }

    def _lineage(self, shared: dict[str, Any], decision: Decision) -> bytes:
        """The lineage record of one decision (its wire form, to be packed): what the event's records share
        (:meth:`_shared`) and the decision's own facts.

        Built without re-validation: every value comes from the typed decision and event, on the hot path. The
        record's own checks (no BSN-like subject id, field names only) still run wherever it is read back - the
        lineage store validates every record it ingests, and tests/streams checks the hub's records that way.
        """
        recipient = str(decision.recipient)
        return LineageRecord.trusted_bytes(
            **shared,
            record_id=record_id(
                shared["sender"], shared["event_id"], shared["data_subject_id"], recipient, RecordKind.DECISION
            ),
            end_time=self.clock(),
            recipient=recipient,
            outcome=str(decision.outcome),
            fields_sent=decision.fields_sent,
            fields_withheld=decision.fields_withheld,
            legal_basis=decision.legal_basis,
            covenant_id=decision.covenant_id,
            covenant_version=decision.covenant_version,
            rule=decision.rule,
            reasons=tuple(str(reason) for reason in decision.reasons),
        )


def _cloudevent_id(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The ``ce_id`` header when it holds a UUID (anything else could be partner text, and is not repeated)."""
    value = header(headers, "ce_id")
    if value is None or len(value) > 64:
        return None
    try:
        return str(UUID(value))
    except ValueError:
        return None


def _confirms_a_request(event: Event) -> bool:
    return isinstance(event, SubjectRequestEvent) and event.payload.confirms is not None


def _keyed(event: Event) -> bool:
    """Whether the event names its person by an identifier the hub keys by (a BSN or a case id)."""
    return bool(event.subject.bsn or event.case_id)


def _carrier(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    return {name: value.decode("latin-1") for name, value in headers if name in ("traceparent", "tracestate")}
