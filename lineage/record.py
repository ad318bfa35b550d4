"""The lineage record: one per (event, candidate recipient) decision and one per delivery receipt.

The hub writes these to the ``lineage`` topic as UTF-8 JSON (:meth:`LineageRecord.to_bytes`); the lineage store reads
them back with :meth:`LineageRecord.from_bytes`. A record names fields, never their values, and carries the subject's
keyed pseudonym, never a BSN. Two guards make that hard to get wrong by accident: field names must look like
identifiers, and a ``data_subject_id`` that looks like a BSN (nine digits) is refused. Validation errors never echo
the input (``hide_input_in_errors``), so a refused record cannot leak into a log through its error message.

The fields map onto two Logius standards:

- *Logboek Dataverwerkingen*: ``trace_id``, ``span_id``, ``parent_span_id``, ``name``, ``status``, ``start_time``,
  ``end_time`` and the attributes ``dpl.core.processing_activity_id`` (a URI into the AVG art. 30 register),
  ``dpl.core.data_subject_id`` and ``dpl.core.data_subject_id_type`` - see :meth:`LineageRecord.to_logboek`.
- *Authorization Decision Log*: one record per decision, a denial is a normal outcome (``status`` stays ``ok``), and
  the policy reference is versioned (``covenant_id`` @ ``covenant_version``, ``rule``) - see
  :meth:`LineageRecord.to_decision_log`.

Lineage carries codes, never partner text. Every text field has a tight shape: organisation codes for sender and
recipient, the catalogue's type names, the consent processor's reason codes (decisions; a ``SignalBundle``'s record,
``schakel.agenda.bundle``, the bundle's reason code instead) or an error class name (receipts), the legal bases the
covenants may cite, slugs for purposes, covenants and rules, a URI for the processing activity. Purposes are lower-case
words joined by hyphens, without digits, so no number (a BSN, a case id) fits; a name spelled as a slug still would,
which is why ``schakel lineage scan`` also looks for listed names in slugs. Integers are bounded to what both stores
hold (64-bit), times to what converts to UTC, the wire form to 64 KiB.

A bundle's record (``schakel.agenda.bundle``) also says which events the bundle was derived from (data provenance,
W3C PROV's *wasDerivedFrom*): ``derived_from`` holds their event keys without the subject, ``{sender}/{event_id}``
(an event is its source and its id), and no other record may carry any. So ``lineage trace`` of a signal leads to
the bundles made from it, and a bundle's trace names its signals. The wire form leaves ``derived_from`` out when it
is empty, so every other record's bytes are what they were before the field existed.

A third kind of record, ``link``, says that two hub pseudonyms are one person: the hub writes one when an accepted
event carries both a BSN and a case id. It names the two pseudonyms and what each derives from (``bsn``/``case``),
never the identifiers themselves; the compliance answers follow links to find every record about a person.

An event is its ``source`` and its ``id`` (CloudEvents): the record id is ``{sender}/{event_id}/{data_subject_id}/
{recipient}/{kind}`` (:func:`record_id`), so two partners that choose the same id never share a record. The subject's
pseudonym is part of it because the hub detects a source reusing an id for different content only within one
subject's partition (``schakel.streams.identity``): a source that reuses an id for another person still gets two
distinct sets of records, and nothing is merged or suppressed. A delivery receipt's id adds its outcome, and a dead
letter's the egress record's position (:func:`receipt_id`): a copy dead-lettered, resent and then delivered has a
receipt of each, so the delivery is never dropped as a duplicate of the dead letter; receipts stored before, without
them, stay valid.

**One Kafka record per event: the packed form.** The hub writes all lineage records of one decided event - its
decisions and its ``link`` - as one value on the ``lineage`` topic (:func:`pack_records`, read back by
:func:`records_from_bytes`), keyed as before by the person's pseudonym: a producer send per decision was most of the
hub's send cost (issue 14). The wire form is a JSON object ``{"records": [<record>, ...], "schakel_lineage_batch":
1}``: each element is exactly a single record's wire form, so the hub assembles a packed value by joining the bytes
it already makes (no second serialisation), and the whole is canonical JSON too (sorted keys, no spaces). *Why this
form:* JSON like the single record, so anyone who can read a record can read a pack; the ``schakel_lineage_batch``
key is the version (an integer, today 1) and the marker at once - no field of a record has that name, so a value is
a pack exactly when its top-level object has the key, and a later layout gets a new number that this code refuses
rather than misreads. *Why not a header or a Kafka batch:* the value alone must say what it holds, since the topic is
the independent copy anyone can recompute the store's chains from (:mod:`schakel.lineage.chain`). Other producers
(the connectors' receipts, retention notices, subject-request records, bundles) keep writing single records; every
reader takes both.

A pack is as strict as a record: it is read whole or rejected whole, with the reason (``records[3]: outcome: ...``).
It must hold 1 to :data:`MAX_PACKED_RECORDS` records, each record id once, all about one person (one
``data_subject_id``, the Kafka key's); its bytes at most :data:`MAX_PACKED_BYTES` - the hub producer's request
limit, so whatever the hub could produce is read (the hub dead-letters an event whose outputs do not fit,
``Processor.unproducible``). *Judgement call:* one person, not one event, because a pack is about one partition's
key, and later steps (a bundle, a request's record) may join the event's pack without a new version.

Judgement calls: times are normalised to UTC on the way in (the record's meaning does not change, and one
canonical form keeps the hash chain reproducible); a record without a W3C trace id still exports with one, derived
from the event id (a UUID is exactly 16 bytes), so a partner's logbook never receives an empty required field.
:class:`InvalidRecordError` names the fields that failed (only the record's own field names, never a key the bytes
brought along) and pydantic's error type, never a value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import from_json, to_json

from schakel.consent import LEGAL_BASES, Reason
from schakel.errors import SchakelError
from schakel.schemas import SUBJECT_REQUEST_CODES, BundleReason, EventType, Organisation, RetentionReason

__all__ = [
    "BUNDLE_RECORD_NAME",
    "DELIVERY_OUTCOMES",
    "DELIVERY_RECEIPT_NAME",
    "MAX_PACKED_BYTES",
    "MAX_PACKED_RECORDS",
    "PACK_VERSION",
    "REQUEST_ANSWER_RECORD_NAME",
    "REQUEST_CONFIRM_RECORD_NAME",
    "REQUEST_RECORD_NAME",
    "RETENTION_NOTICE_RECORD_NAME",
    "InvalidRecordError",
    "LineageError",
    "LineageRecord",
    "RecordKind",
    "event_key",
    "pack_records",
    "receipt_id",
    "record_id",
    "recordable_purpose",
    "records_from_bytes",
]

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]-]{0,127}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_BSN_LIKE = re.compile(r"^\d{8,9}$")
_PURPOSE = r"^[a-z]+(-[a-z]+){0,7}$"
_SLUG = r"^[a-z0-9][a-z0-9._-]{0,127}$"
_VERSION = r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$"
_URI = r"^[a-z][a-z0-9+.-]{0,31}:[!#-~]{1,480}$"
_TOPIC = r"^[A-Za-z0-9._-]{1,249}$"
_PSEUDONYM = r"^[A-Za-z0-9_-]{1,128}$"
_ERROR_CLASS = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")
_DERIVED_FROM = re.compile(r"^([a-z-]{1,32})/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_MAX_BYTES = 64 * 1024
PACK_VERSION = 1
"""The version of the packed form this code writes and reads (the value of its ``schakel_lineage_batch`` key)."""
_PACK_KEY = "schakel_lineage_batch"
MAX_PACKED_RECORDS = 256
"""At most this many records in one packed value (an event has one decision per organisation, and a link)."""
MAX_PACKED_BYTES = 1_000_000
"""A packed value's size limit: the hub producer's request limit (``schakel.streams.records.MAX_REQUEST_BYTES``)."""
_INT64 = 2**63 - 1

DECISION_OUTCOMES = frozenset({"permit", "partial", "deny"})
RECEIPT_OUTCOMES = frozenset({"delivered", "dead-lettered", "confirmed", "answered"})
DELIVERY_RECEIPT_NAME = "schakel.delivery.receipt"
"""A sink's receipt of one copy: delivered to its partner system, or dead-lettered (:func:`receipt_id`)."""
DELIVERY_OUTCOMES = frozenset({"delivered", "dead-lettered"})
BUNDLE_RECORD_NAME = "schakel.agenda.bundle"
"""The name of the decision record of a ``SignalBundle`` the hub proposes to the ZVH (issue 15)."""
REQUEST_RECORD_NAME = "schakel.subject.request"
"""A subject request arrived at the contact point (issue 16; see :mod:`schakel.lineage.requests`)."""
REQUEST_CONFIRM_RECORD_NAME = "schakel.subject.request.confirm"
"""A partner confirmed it carried out a forwarded subject request."""
REQUEST_ANSWER_RECORD_NAME = "schakel.subject.request.answer"
"""The contact point answered an access request: the art. 15 report was made for the person (``schakel subject
report``); a receipt of the request from the contact point to itself, outcome ``answered``."""
RETENTION_NOTICE_RECORD_NAME = "schakel.retention.notice"
"""The hub told a partner that the retention of the data about a person ended (a ``RetentionExpired`` notice): the
hub's decision record of the notice, outcome ``permit``, the reason of the retention's end as its reason."""
RECORD_NAMES = frozenset(
    {
        "schakel.consent.decide",
        DELIVERY_RECEIPT_NAME,
        "schakel.subject.link",
        BUNDLE_RECORD_NAME,
        REQUEST_RECORD_NAME,
        REQUEST_CONFIRM_RECORD_NAME,
        REQUEST_ANSWER_RECORD_NAME,
        RETENTION_NOTICE_RECORD_NAME,
    }
)
_EVENT_TYPES = frozenset(t.value for t in EventType)
_ORGANISATIONS = frozenset(o.value for o in Organisation)
_REASON_CODES = frozenset(r.value for r in Reason)
_BUNDLE_REASONS = frozenset(r.value for r in BundleReason)
_RETENTION_REASONS = frozenset(r.value for r in RetentionReason)
_CONTACT_POINT = Organisation.ZVH.value


class LineageError(SchakelError):
    """Base class of the lineage package's errors."""


class InvalidRecordError(LineageError):
    """Bytes on a lineage topic are not a valid lineage record, or not one that topic may carry (a partner's receipts
    topic: :mod:`schakel.lineage.ingest`); the message names where, never what."""


class RecordKind(StrEnum):
    """What a lineage record is about."""

    DECISION = "decision"
    RECEIPT = "receipt"
    LINK = "link"


def recordable_purpose(purpose: str) -> bool:
    """Whether a lineage record can carry this purpose (a code: lower-case words joined by hyphens, no digits)."""
    return len(purpose) <= 64 and re.fullmatch(_PURPOSE, purpose) is not None


def event_key(sender: str, event_id: UUID | str, data_subject_id: str) -> str:
    """One event as the hub and its sinks tell events apart: ``{sender}/{event_id}/{data_subject_id}``."""
    return f"{sender}/{event_id}/{data_subject_id}"


def record_id(sender: str, event_id: UUID | str, data_subject_id: str, recipient: str, kind: RecordKind) -> str:
    """The deterministic id (the idempotency key) of the lineage record of one event, recipient and kind."""
    return f"{event_key(sender, event_id, data_subject_id)}/{recipient}/{kind.value}"


def receipt_id(
    sender: str,
    event_id: UUID | str,
    data_subject_id: str,
    recipient: str,
    outcome: str,
    source: tuple[int, int] | None = None,
) -> str:
    """The deterministic id of a delivery receipt (``schakel.delivery.receipt``): the event's :func:`record_id` of
    kind ``receipt``, then the outcome, and for a dead letter the egress record it was (``{partition}-{offset}``).

    *Why the outcome:* a copy may be dead-lettered, resent (``schakel connectors resend``) and then delivered; the
    store keeps the first record of an id, so one id for both receipts dropped the delivery and the person's report
    kept saying "dead-lettered". A copy is delivered at most once (the sink's idempotency store), so the delivered
    receipt needs nothing more and a re-emitted one is still a duplicate; every resend is a new egress record, so its
    position tells the dead letters of one copy apart, and the same record read again gives the same id. Receipts
    stored before this (``.../receipt``) stay valid (:meth:`LineageRecord._consistent`)."""
    base = record_id(sender, event_id, data_subject_id, recipient, RecordKind.RECEIPT)
    if outcome == "dead-lettered" and source is not None:
        return f"{base}/{outcome}/{source[0]}-{source[1]}"
    return f"{base}/{outcome}"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must carry a time zone")
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("time is out of range") from None


class LineageRecord(BaseModel):
    """One decision of the consent processor about one candidate recipient, or one delivery receipt."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    record_id: str = Field(
        max_length=256,
        description='Deterministic "{sender}/{event_id}/{data_subject_id}/{recipient}/{kind}" (a delivery receipt: '
        "and its outcome, see receipt_id): the idempotency key.",
    )
    kind: RecordKind
    trace_id: str | None = Field(default=None, description="W3C trace id, 32 lowercase hex digits.")
    span_id: str | None = Field(default=None, description="W3C span id, 16 lowercase hex digits.")
    parent_span_id: str | None = None
    name: str = Field(description='The action, e.g. "schakel.consent.decide" or "schakel.delivery.receipt".')
    status: str = Field(pattern=r"^(ok|error)$", description="A denial is a normal outcome: status ok.")
    start_time: datetime
    end_time: datetime
    event_id: UUID
    event_type: str
    sender: str
    recipient: str
    outcome: str | None = Field(description="permit|partial|deny (decisions); delivered|dead-lettered (receipts).")
    fields_sent: tuple[str, ...] = Field(default=(), max_length=512)
    fields_withheld: tuple[str, ...] = Field(default=(), max_length=512)
    purpose: str = Field(pattern=_PURPOSE, max_length=64)
    legal_basis: tuple[str, ...] = Field(default=(), max_length=32)
    covenant_id: str | None = Field(default=None, pattern=_SLUG)
    covenant_version: str | None = Field(default=None, pattern=_VERSION)
    rule: str | None = Field(default=None, pattern=_SLUG)
    reasons: tuple[str, ...] = Field(default=(), max_length=32)
    processing_activity_id: str | None = Field(
        default=None, pattern=_URI, description="dpl.core.processing_activity_id"
    )
    data_subject_id: str = Field(pattern=_PSEUDONYM, description="The hub-wide subject pseudonym, never a BSN.")
    data_subject_key: str = Field(pattern=r"^(bsn|case)$", description="What the pseudonym was derived from.")
    linked_subject_id: str | None = Field(
        default=None, pattern=_PSEUDONYM, description="A link's second pseudonym of the same person."
    )
    linked_subject_key: str | None = Field(default=None, pattern=r"^(bsn|case)$")
    source_topic: str | None = Field(default=None, pattern=_TOPIC)
    source_partition: int | None = Field(default=None, ge=0, le=2**31 - 1)
    source_offset: int | None = Field(default=None, ge=0, le=_INT64)
    derived_from: tuple[str, ...] = Field(
        default=(),
        max_length=64,
        description='A bundle\'s sources (PROV wasDerivedFrom): "{sender}/{event_id}" of each event it derives from.',
    )

    @field_validator("start_time", "end_time")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("trace_id")
    @classmethod
    def _trace_id(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 32 or not _HEX.match(value)):
            raise ValueError("trace_id must be 32 lowercase hex digits")
        return value

    @field_validator("span_id", "parent_span_id")
    @classmethod
    def _span_id(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 16 or not _HEX.match(value)):
            raise ValueError("span ids must be 16 lowercase hex digits")
        return value

    @field_validator("fields_sent", "fields_withheld")
    @classmethod
    def _field_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _FIELD_NAME.match(name):
                raise ValueError("fields_sent and fields_withheld hold field names (identifiers), never values")
        return value

    @field_validator("data_subject_id", "linked_subject_id")
    @classmethod
    def _not_a_bsn(cls, value: str | None) -> str | None:
        if value is not None and _BSN_LIKE.match(value):
            raise ValueError("subject ids must be pseudonyms, never a BSN")
        return value

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        if value not in RECORD_NAMES:
            raise ValueError("name must be one of the hub's action names")
        return value

    @field_validator("event_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in _EVENT_TYPES:
            raise ValueError("event_type must be a type of the catalogue")
        return value

    @field_validator("sender", "recipient")
    @classmethod
    def _organisation(cls, value: str) -> str:
        if value not in _ORGANISATIONS:
            raise ValueError("sender and recipient must be organisation codes")
        return value

    @field_validator("derived_from")
    @classmethod
    def _event_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            found = _DERIVED_FROM.match(key)
            if found is None or found.group(1) not in _ORGANISATIONS:
                raise ValueError('derived_from holds "{sender}/{event_id}" keys: an organisation code and a UUID')
        if len(set(value)) != len(value):
            raise ValueError("derived_from names each event once")
        return value

    @field_validator("legal_basis")
    @classmethod
    def _known_bases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(basis not in LEGAL_BASES for basis in value):
            raise ValueError("legal_basis holds citations the covenants may use")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LineageRecord:
        expected = record_id(self.sender, self.event_id, self.data_subject_id, self.recipient, self.kind)
        if self.record_id != expected and self.record_id != self._receipt_id():
            raise ValueError('record_id must be "{sender}/{event_id}/{data_subject_id}/{recipient}/{kind}"')
        if self.kind is RecordKind.LINK:
            if self.outcome is not None or self.linked_subject_id is None or self.linked_subject_key is None:
                raise ValueError("a link names a second pseudonym and its key, and has no outcome")
            if self.recipient != self.sender:
                raise ValueError("a link is the sender's: its recipient is the sender")
        else:
            allowed = DECISION_OUTCOMES if self.kind is RecordKind.DECISION else RECEIPT_OUTCOMES
            if self.outcome is not None and self.outcome not in allowed:
                raise ValueError(f"outcome of a {self.kind.value} must be one of {sorted(allowed)}")
            if self.linked_subject_id is not None or self.linked_subject_key is not None:
                raise ValueError("only a link names a second pseudonym")
        bundle = self.name == BUNDLE_RECORD_NAME
        if bundle and (self.kind is not RecordKind.DECISION or self.event_type != EventType.SIGNAL_BUNDLE.value):
            raise ValueError("a bundle record is the decision record of a SignalBundle")
        request = self.name == REQUEST_RECORD_NAME
        self._check_request_records(request)
        notice = self.name == RETENTION_NOTICE_RECORD_NAME
        if notice and (
            self.kind is not RecordKind.DECISION
            or self.event_type != EventType.RETENTION_EXPIRED.value
            or self.sender != _CONTACT_POINT
            or self.outcome != "permit"
        ):
            raise ValueError(
                "a retention notice record is the hub's permit of a RetentionExpired from the contact point"
            )
        if self.derived_from and not bundle:
            raise ValueError("only a bundle record names the events it derives from")
        for reason in self.reasons:
            if request:
                known = reason in SUBJECT_REQUEST_CODES
            elif notice:
                known = reason in _RETENTION_REASONS
            elif self.kind is RecordKind.DECISION:
                known = reason in (_BUNDLE_REASONS if bundle else _REASON_CODES)
            else:
                known = _ERROR_CLASS.match(reason) is not None
            if not known:
                raise ValueError(
                    "reasons are the consent processor's reason codes, a bundle's reason or an error class name"
                )
        if self.end_time < self.start_time:
            raise ValueError("end_time is before start_time")
        return self

    def _receipt_id(self) -> str | None:
        """A delivery receipt's id with its outcome (:func:`receipt_id`); None for every other record."""
        if self.kind is not RecordKind.RECEIPT or self.name != DELIVERY_RECEIPT_NAME or self.outcome is None:
            return None
        source = None
        if self.source_partition is not None and self.source_offset is not None:
            source = (self.source_partition, self.source_offset)
        return receipt_id(self.sender, self.event_id, self.data_subject_id, self.recipient, self.outcome, source)

    def _check_request_records(self, request: bool) -> None:
        """A request record is the contact point's own decision record of a SubjectRequest, without an outcome; a
        confirmation is a receipt of one from a partner to the contact point, outcome ``confirmed`` (and only it)."""
        confirm = self.name == REQUEST_CONFIRM_RECORD_NAME
        answer = self.name == REQUEST_ANSWER_RECORD_NAME
        if (request or confirm or answer) and self.event_type != EventType.SUBJECT_REQUEST.value:
            raise ValueError("a subject request's records are about a SubjectRequest")
        if request and (
            self.kind is not RecordKind.DECISION
            or self.outcome is not None
            or self.sender != _CONTACT_POINT
            or self.recipient != _CONTACT_POINT
        ):
            raise ValueError("a request record is the contact point's decision record without an outcome")
        if confirm and (self.kind is not RecordKind.RECEIPT or self.outcome != "confirmed"):
            raise ValueError("a confirmation record is a receipt with outcome confirmed")
        if confirm and self.recipient != _CONTACT_POINT:
            raise ValueError("a confirmation goes to the contact point")
        if not confirm and self.outcome == "confirmed":
            raise ValueError("only a confirmation record has the outcome confirmed")
        if answer and (
            self.kind is not RecordKind.RECEIPT
            or self.outcome != "answered"
            or self.sender != _CONTACT_POINT
            or self.recipient != _CONTACT_POINT
        ):
            raise ValueError("an answer record is the contact point's receipt with outcome answered")
        if not answer and self.outcome == "answered":
            raise ValueError("only an answer record has the outcome answered")

    # -- wire form -------------------------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The value written to the ``lineage`` topic: canonical UTF-8 JSON (sorted keys, no spaces)."""
        return self.canonical_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> LineageRecord:
        """Parse a value from the ``lineage`` topic; :class:`InvalidRecordError` when it is not a valid record."""
        if len(data) > _MAX_BYTES:
            raise InvalidRecordError(f"not a lineage record (larger than {_MAX_BYTES} bytes)")
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            problems = "; ".join(dict.fromkeys(_problem(e["loc"], e["type"], e["msg"]) for e in error.errors()))
            raise InvalidRecordError(f"not a lineage record ({problems})") from None
        except Exception as error:  # anything else the parser or a validator raised: still a rejected record
            raise InvalidRecordError(f"not a lineage record ({type(error).__name__})") from None

    @classmethod
    def trusted_bytes(cls, **values: Any) -> bytes:
        """``LineageRecord.model_construct(**values).to_bytes()`` without building the model: the hub's hot path
        writes several records per event from typed decisions (no validation there either, see
        ``schakel.streams.processor``), and the model's construction and dump were a third of its CPU per event.

        The same canonical bytes (pydantic-core serialises a datetime, UUID, enum and tuple as the model's JSON
        mode does; ``tests/lineage`` checks the equality), with the model's defaults for the fields not given. A
        field the model does not have, or a required one missing, is a defect: :class:`TypeError`.
        """
        unknown = values.keys() - _WIRE_FIELDS.keys()
        missing = _REQUIRED - values.keys()
        if unknown or missing:
            raise TypeError(f"lineage record fields: unknown {sorted(unknown)}, missing {sorted(missing)}")
        data = {**_WIRE_DEFAULTS, **values}
        return to_json({name: data[name] for name in _WIRE_FIELDS if name != "derived_from" or data[name]})

    def canonical_json(self) -> str:
        """The one text form the hash chain is computed over: JSON with sorted keys and no insignificant spaces.

        Byte for byte what ``json.dumps(record.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
        ensure_ascii=False)`` gives (so any JSON library can recompute it) - less an empty ``derived_from`` -,
        serialised by pydantic-core for speed.
        """
        data = self.model_dump(mode="json")
        if not data["derived_from"]:  # absent unless there is one: other records keep their bytes (module docstring)
            del data["derived_from"]
        return to_json({key: data[key] for key in sorted(data)}).decode("utf-8")

    # -- standards -------------------------------------------------------------------------------------------------

    @property
    def export_trace_id(self) -> str:
        """The trace id, or one derived from the event id when the hub had none (a UUID is 16 bytes)."""
        return self.trace_id or self.event_id.hex

    @property
    def export_span_id(self) -> str:
        """The span id, or a stable one derived from the record id when the hub had none."""
        return self.span_id or hashlib.sha256(self.record_id.encode()).hexdigest()[:16]

    @property
    def policy_reference(self) -> str | None:
        """``covenant@version`` - the versioned policy the decision applied."""
        if self.covenant_id is None:
            return None
        return f"{self.covenant_id}@{self.covenant_version}" if self.covenant_version else self.covenant_id

    def to_logboek(self, processing_activity_id: str | None = None) -> dict[str, Any]:
        """This record in the Logius *Logboek Dataverwerkingen* shape (one JSON object per line on export).

        The standard's ``attributes`` carry the reserved ``dpl.core.*`` keys; everything schakel adds lives under the
        ``schakel.`` prefix so that a partner's logbook can keep or drop it. ``status`` uses the standard's enum
        (``Ok`` / ``Error``): a denial is a correctly handled processing, so it is ``Ok``. ``processing_activity_id``
        stands in when the record has none of its own (a receipt: the activity of the decision it belongs to).
        """
        attributes: dict[str, Any] = {
            "dpl.core.processing_activity_id": self.processing_activity_id or processing_activity_id,
            "dpl.core.data_subject_id": self.data_subject_id,
            "dpl.core.data_subject_id_type": f"schakel-pseudonym:{self.data_subject_key}",
            "schakel.record_id": self.record_id,
            "schakel.kind": self.kind.value,
            "schakel.event.id": str(self.event_id),
            "schakel.event.type": self.event_type,
            "schakel.sender": self.sender,
            "schakel.recipient": self.recipient,
            "schakel.outcome": self.outcome,
            "schakel.fields_sent": list(self.fields_sent),
            "schakel.fields_withheld": list(self.fields_withheld),
            "schakel.purpose": self.purpose,
            "schakel.legal_basis": list(self.legal_basis),
            "schakel.policy": self.policy_reference,
            "schakel.rule": self.rule,
            "schakel.reasons": list(self.reasons),
        }
        if self.kind is RecordKind.LINK:
            attributes["schakel.linked_subject_id"] = self.linked_subject_id
            attributes["schakel.linked_subject_id_type"] = f"schakel-pseudonym:{self.linked_subject_key}"
        if self.derived_from:
            attributes["schakel.derived_from"] = list(self.derived_from)
        if self.source_topic is not None:
            attributes["schakel.source.topic"] = self.source_topic
            attributes["schakel.source.partition"] = self.source_partition
            attributes["schakel.source.offset"] = self.source_offset
        return {
            "trace_id": self.export_trace_id,
            "span_id": self.export_span_id,
            "parent_span_id": self.parent_span_id,
            "name": self.name,
            "status": "Ok" if self.status == "ok" else "Error",
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "resource": {"attributes": {"service.name": "schakel", "schakel.component": _component(self)}},
            "attributes": attributes,
        }

    def to_decision_log(self) -> dict[str, Any] | None:
        """A decision in the Logius *Authorization Decision Log* shape (AuthZEN request/response); None for receipts.

        The request names the subject by its pseudonym and the resource by event type and id - never the event's
        values - which the standard allows ("portions of the request MAY be omitted for privacy reasons").
        """
        if self.kind is not RecordKind.DECISION:
            return None
        return {
            "trace_id": self.export_trace_id,
            "span_id": self.export_span_id,
            "timestamp": _iso(self.end_time),
            "request_type": "evaluation",
            "request": {
                "subject": {"type": "organisation", "id": self.recipient},
                "action": {"name": "receive", "properties": {"purpose": self.purpose}},
                "resource": {
                    "type": self.event_type,
                    "id": str(self.event_id),
                    "properties": {"sender": self.sender, "data_subject_id": self.data_subject_id},
                },
            },
            "response": {
                "decision": self.outcome in {"permit", "partial"},
                "context": {
                    "outcome": self.outcome,
                    "fields_sent": list(self.fields_sent),
                    "fields_withheld": list(self.fields_withheld),
                    "reasons": list(self.reasons),
                    "legal_basis": list(self.legal_basis),
                },
            },
            "policies": [{"id": self.covenant_id, "version": self.covenant_version, "rule": self.rule}],
        }


_WIRE_FIELDS = {name: None for name in sorted(LineageRecord.model_fields)}
_REQUIRED = frozenset(name for name, info in LineageRecord.model_fields.items() if info.is_required())
_WIRE_DEFAULTS = {
    name: info.get_default(call_default_factory=True)
    for name, info in LineageRecord.model_fields.items()
    if not info.is_required()
}


class _Packed(BaseModel):
    """The packed form (module docstring): the records of one step about one person, read whole or not at all."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    records: tuple[LineageRecord, ...] = Field(min_length=1, max_length=MAX_PACKED_RECORDS)
    schakel_lineage_batch: Literal[1]

    @model_validator(mode="after")
    def _one_person(self) -> _Packed:
        if len({record.record_id for record in self.records}) != len(self.records):
            raise ValueError("a packed record holds each record id once")
        if len({record.data_subject_id for record in self.records}) != 1:
            raise ValueError("a packed record is about one person: one data_subject_id")
        return self


def pack_records(values: Sequence[bytes]) -> bytes:
    """One value for the ``lineage`` topic holding these records' wire forms (:meth:`LineageRecord.to_bytes` or
    :meth:`LineageRecord.trusted_bytes`), in their order: the bytes joined, nothing serialised again. Canonical JSON
    when they are (sorted keys: ``records`` before ``schakel_lineage_batch``). The limits are the reader's
    (:func:`records_from_bytes`); the hub checks the size with its other outputs."""
    return b'{"records":[' + b",".join(values) + b'],"schakel_lineage_batch":%d}' % PACK_VERSION


def records_from_bytes(data: bytes) -> tuple[LineageRecord, ...]:
    """Every lineage record in one value of the ``lineage`` topic - a single record, or a packed value's records in
    their order; :class:`InvalidRecordError` (naming where, never what) when it is neither, or when any record of a
    pack is invalid: a pack is read whole or not at all."""
    if len(data) > MAX_PACKED_BYTES:
        raise InvalidRecordError(f"not a lineage record (larger than {MAX_PACKED_BYTES} bytes)")
    try:
        parsed = from_json(data)
    except ValueError:
        raise InvalidRecordError("not a lineage record (json_invalid)") from None
    except Exception as error:  # anything else the parser raised (a recursion limit): still a rejected record
        raise InvalidRecordError(f"not a lineage record ({type(error).__name__})") from None
    if not isinstance(parsed, dict) or _PACK_KEY not in parsed:
        return (LineageRecord.from_bytes(data),)
    try:
        return _Packed.model_validate_json(data).records
    except ValidationError as error:
        problems = "; ".join(
            dict.fromkeys(_problem(e["loc"], e["type"], e["msg"], packed=True) for e in error.errors())
        )
        raise InvalidRecordError(f"not a packed lineage record ({problems})") from None
    except Exception as error:
        raise InvalidRecordError(f"not a packed lineage record ({type(error).__name__})") from None


def _problem(loc: tuple[int | str, ...], kind: str, message: str, *, packed: bool = False) -> str:
    """Where and what, in the record's own words: a key the bytes brought along is never repeated, and only the
    messages of this module's own checks (``value_error``) are, since pydantic's may quote a character of the input.
    In a pack (``packed``), where also names the record by its place: ``records[3]: outcome: ...``."""
    what = message.removeprefix("Value error, ") if kind == "value_error" else kind
    if packed:
        if not loc:
            return f"pack: {what}"
        if loc[0] == _PACK_KEY:
            return f"{_PACK_KEY}: this schakel reads version {PACK_VERSION}"
        if loc[0] != "records":
            return f"an unknown field of the pack: {what}"
        if len(loc) < 2 or not isinstance(loc[1], int):
            return f"records: {what}"
        return f"records[{loc[1]}]: {_problem(loc[2:], kind, message)}"
    if not loc:
        return f"record: {what}"
    field = loc[0]
    if not isinstance(field, str) or field not in LineageRecord.model_fields:
        return f"an unknown field: {what}"
    return f"{field}: {what}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _component(record: LineageRecord) -> str:
    if record.name == REQUEST_ANSWER_RECORD_NAME:
        return "contact-point"
    if record.name == RETENTION_NOTICE_RECORD_NAME:
        return "retention-job"
    if record.kind is RecordKind.RECEIPT:
        return f"sink-connector:{record.recipient}"
    return "consent-processor"
