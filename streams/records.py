"""The shape of the hub's Kafka records: what a connector writes to ingress, what the hub writes to egress and dlq.

Ingress: key = the hub-wide subject pseudonym (UTF-8), value = the event in Avro single-object encoding, headers =
CloudEvents (``ce_*``) plus W3C ``traceparent``. Egress: key = the recipient's own pseudonym of the subject, value =
the projected copy (withheld fields null) in the same encoding, headers = CloudEvents plus ``traceparent`` plus
``schakel-recipient``, ``schakel-subject-ref`` (an opaque per-copy reference to the person's hub pseudonym, sealed
with the pseudonym key, for delivery receipts - the hub pseudonym itself never leaves the hub),
``schakel-subject-key`` (``bsn`` or ``case``: what the person's pseudonym derives from) and ``schakel-outcome``. The
course of action travels in the copy itself, the envelope field ``course_of_action`` (chosen on the projected copy
alone: :mod:`schakel.guidance.choice`). The hub's internal steps (``hub-link``, ``hub-person``) carry the ingress
record with ``schakel-origin-*`` headers.
Dead letters (the hub's): key = the hub pseudonym of the subject when the event could be read, otherwise none - never
the original key, where a raw BSN or a name has been seen; value = the original bytes, kept for a resend until the
``dlq`` topic's retention removes them (``SCHAKEL_DLQ_RETENTION_DAYS``), or empty when the record was larger than
:data:`schakel.schemas.MAX_EVENT_BYTES`; headers that say why (fixed reasons and positions, never a value from the
record).

The schemas' :data:`~schakel.schemas.MAX_EVENT_BYTES` (512 KiB, refused by the codec before it parses) bounds every
ingress record; it is about half the hub producer's request limit (:data:`MAX_REQUEST_BYTES`), so a projected copy of
an accepted event (never larger than the event plus its headers), a forwarded record (the event plus its origin
headers and, once, the case's state) and its dead letter always fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate

from schakel.consent import Pseudonymizer, subject_key
from schakel.guidance import copy_reference
from schakel.lineage import event_key
from schakel.retention import Opener, SealError, is_sealed
from schakel.schemas import Codec, Event, Organisation, cloudevent_headers
from schakel.settings import Settings
from schakel.streams.topics import HubTopics

__all__ = [
    "DEAD_LETTER_HEADERS",
    "MAX_REQUEST_BYTES",
    "ORIGIN_HEADERS",
    "RECIPIENT_HEADER",
    "SETTLED_HEADER",
    "SUBJECT_KEY_HEADER",
    "SUBJECT_REF_HEADER",
    "THROUGH_HEADER",
    "DeadLetter",
    "EgressCopy",
    "Headers",
    "Message",
    "header",
    "ingress_message",
    "trace_headers",
]

Headers = list[tuple[str, bytes]]

MAX_REQUEST_BYTES = 1_000_000
"""The hub producer's request limit (Faust's default, set explicitly): no output record may be larger."""

RECIPIENT_HEADER = "schakel-recipient"
SUBJECT_REF_HEADER = "schakel-subject-ref"
SUBJECT_KEY_HEADER = "schakel-subject-key"
ORIGIN_HEADERS = ("schakel-origin-topic", "schakel-origin-partition", "schakel-origin-offset", "schakel-origin-key")
OUTCOME_HEADER = "schakel-outcome"
SETTLED_HEADER = "schakel-settled"
"""Marks a settled notice (``schakel.streams.shortpath``): no event, only the origin position to remove from pending."""
THROUGH_HEADER = "schakel-through-to"
"""Marks a ``hub-link`` record passing through to the person it names (``schakel.streams.shortpath``)."""


@dataclass(frozen=True)
class Message:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=list)

    def size(self) -> int:
        """An upper bound of the bytes this record takes in a produce request (key, value, headers, framing)."""
        size = 64 + len(self.key or b"") + len(self.value)  # framing, key and value
        for name, value in self.headers:  # a loop, not sum() of a generator: ten records per event pass here
            size += 8 + len(name) + len(value)
        return size


def header(headers: Sequence[tuple[str, bytes]] | Mapping[str, bytes] | None, name: str) -> str | None:
    """The value of one header as text, or None."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if key == name:
            return value.decode("utf-8", errors="replace") if value is not None else None
    return None


def trace_headers() -> Headers:
    """The current OpenTelemetry context as W3C ``traceparent`` (and ``tracestate``) headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()]


def ingress_message(event: Event, settings: Settings, *, codec: Codec | None = None) -> Message:
    """The record a connector (or ``schakel send``) writes for ``event`` on its sender's ingress topic."""
    pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
    return Message(
        topic=HubTopics.of(settings).ingress(event.source),
        key=pseudonymizer.subject(subject_key(event)).encode(),
        value=(codec or Codec()).encode(event),
        headers=[*cloudevent_headers(event, settings.source_urns), *trace_headers()],
    )


@dataclass(frozen=True)
class EgressCopy:
    """A projected copy as a sink connector receives it from ``egress.<org>``."""

    event_id: str
    recipient: Organisation
    form: dict[str, Any]
    subject_reference: str | None
    """The opaque per-copy reference to the person's hub pseudonym (:meth:`Pseudonymizer.unseal` recovers it)."""
    outcome: str | None
    traceparent: str | None
    headers: Headers
    guidance: str | None = None
    """The reference (``id@version``) of the course of action the copy carries (its ``course_of_action``)."""

    @property
    def recipient_pseudonym(self) -> str | None:
        """The recipient's own pseudonym of the person, as the projected copy carries it (never the hub's)."""
        subject = self.form.get("subject") or {}
        pseudonym = subject.get("pseudonym") if isinstance(subject, dict) else None
        return str(pseudonym) if pseudonym else None

    @property
    def event_key(self) -> str:
        """The event as a sink tells events apart: sender, id and the subject - here the recipient's own pseudonym,
        the only one a copy carries (one sink, one recipient: it names the person as the hub's would)."""
        return event_key(str(self.form.get("source")), self.event_id, self.recipient_pseudonym or "-")

    @classmethod
    def from_record(
        cls,
        topic: str,
        key: bytes | None,  # noqa: ARG003 - the record's fields in Kafka's order; the key is the form's pseudonym
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
        *,
        codec: Codec,
        opener: Opener | None = None,
    ) -> EgressCopy:
        """The copy in ``value``, opened with its person's data key (``opener``; :class:`SealError` when the key is
        destroyed, or when a sealed copy comes without an opener)."""
        if opener is not None:
            value = opener.open_copy(value, headers)
        elif is_sealed(value):
            raise SealError("a sealed copy, and no key store to open it with")
        form = codec.decode_json(value)
        recipient = header(headers, RECIPIENT_HEADER)
        return cls(
            event_id=str(form["id"]),
            recipient=Organisation(recipient) if recipient else Organisation(topic.rsplit(".", 1)[-1]),
            form=form,
            subject_reference=header(headers, SUBJECT_REF_HEADER),
            outcome=header(headers, OUTCOME_HEADER),
            traceparent=header(headers, "traceparent"),
            headers=list(headers),
            guidance=copy_reference(form),
        )


DEAD_LETTER_HEADERS = frozenset(
    {
        "schakel-error-class",
        "schakel-reason",
        "schakel-original-topic",
        "schakel-original-partition",
        "schakel-original-offset",
        "schakel-dead-lettered-at",
        "schakel-event-id",
    }
)
"""The headers :meth:`DeadLetter.headers` writes."""


@dataclass(frozen=True)
class DeadLetter:
    """Why a record went to the dead-letter queue. Its headers name the reason, never a value from the record."""

    error_class: str
    reason: str
    topic: str
    partition: int
    offset: int
    event_id: str | None = None
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = field(default=None, compare=False)
    """The subject's hub pseudonym when the event could be read: the dead letter's key (not a header)."""

    def headers(self) -> Headers:
        pairs = {
            "schakel-error-class": self.error_class,
            "schakel-reason": self.reason,
            "schakel-original-topic": self.topic,
            "schakel-original-partition": str(self.partition),
            "schakel-original-offset": str(self.offset),
            "schakel-dead-lettered-at": self.time.isoformat(),
        }
        if self.event_id:
            pairs["schakel-event-id"] = self.event_id
        return [(name, value.encode()) for name, value in pairs.items()]

    def message(
        self, topic: str, key: bytes | None, value: bytes, original_headers: Sequence[tuple[str, bytes]] = ()
    ) -> Message:
        """The dead-letter record: the original key and value as they came, ``original_headers`` less any earlier
        dead-letter headers, and this letter's headers."""
        kept = [(name, data) for name, data in original_headers if name not in DEAD_LETTER_HEADERS]
        return Message(topic, key, value, [*kept, *self.headers()])

    @classmethod
    def from_headers(cls, headers: Sequence[tuple[str, bytes]]) -> DeadLetter:
        def need(name: str) -> str:
            return header(headers, name) or ""

        return cls(
            error_class=need("schakel-error-class"),
            reason=need("schakel-reason"),
            topic=need("schakel-original-topic"),
            partition=int(need("schakel-original-partition") or -1),
            offset=int(need("schakel-original-offset") or -1),
            event_id=header(headers, "schakel-event-id"),
            time=datetime.fromisoformat(need("schakel-dead-lettered-at") or datetime.now(UTC).isoformat()),
        )
