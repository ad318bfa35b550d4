"""The typed models of the catalogue: one pydantic model per payload, one event class per type, and ``parse_event``.

The Avro files are the source of truth for structure (field names, order, types, nullability); these models add the
rules a user expects on ingress, which Avro cannot state: which payload fields an ingress event must carry, the BSN
11-test, known organisation codes, UUIDs, a ``time`` not in the future, bounded texts, the IBAN checksum of a money-mule
signal. ``tests/schemas/test_models_agree.py`` proves models and schemas agree field by field.

Judgement calls, written down here so that they can be revisited:

- ``time`` may lie at most :data:`MAX_CLOCK_SKEW` (5 minutes) in the future, and not before 2000: anything else is a
  broken clock or a typo. Times are normalised to UTC (Avro ``timestamp-micros`` keeps the instant, not the offset).
- Texts: short texts (names, ids, references) at most 200 characters, free texts at most 4,000; a consultation
  outcome at most 24 actions; a list of organisations names each at most once (so at most eight). With these bounds
  the largest valid event stays below :data:`~schakel.schemas.MAX_EVENT_BYTES` (``_limits``).
- An IBAN is accepted with spaces and in lower case and kept in its electronic form (``NL91ABNA0417164300``).
- The partition key: an event needs ``subject.bsn`` or ``case_id``. A projected copy (``subject.pseudonym`` set by
  the consent processor) may carry neither.
- A referral that says the person was not informed must say why (``informing_deferred_reason``); a triage decision
  that redirects must say where to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializeAsAny,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)

from schakel.schemas._catalogue import EventType, Organisation, Theme
from schakel.schemas._errors import EventInvalid, field_label
from schakel.schemas._limits import LONG_TEXT_MAX, MAX_ACTIONS, MAX_BUNDLED_SIGNALS, SHORT_TEXT_MAX
from schakel.schemas._rules import is_valid_bsn, is_valid_iban, normalise_iban

__all__ = [
    "EVENT_CLASSES",
    "MAX_CLOCK_SKEW",
    "PAYLOAD_MODELS",
    "SUBJECT_REQUEST_CODES",
    "Action",
    "ActionStatus",
    "BundleReason",
    "BundledSignal",
    "CaseClosedEvent",
    "CaseClosedPayload",
    "ConsentChangeEvent",
    "ConsentChangeKind",
    "ConsentChangePayload",
    "ConsultationOutcomeEvent",
    "ConsultationOutcomePayload",
    "Event",
    "FeedbackEvent",
    "FeedbackPayload",
    "FraudType",
    "InformationContributionEvent",
    "InformationContributionPayload",
    "Payload",
    "ReferralEvent",
    "ReferralPayload",
    "RestrictionChange",
    "SecrecyGround",
    "SignalBundleEvent",
    "SignalBundlePayload",
    "SignalEvent",
    "SignalPayload",
    "Subject",
    "SubjectRequestEvent",
    "SubjectRequestKind",
    "SubjectRequestPayload",
    "TriageDecisionEvent",
    "TriageDecisionPayload",
    "TriageOutcome",
    "Urgency",
    "event_id_label",
    "format_time",
    "parse_event",
    "validation_reasons",
]

MAX_CLOCK_SKEW = timedelta(minutes=5)
_EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
_EARLIEST_BIRTH = date(1900, 1, 1)


class Urgency(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    ACUTE = "acute"


class FraudType(StrEnum):
    PURCHASE_FRAUD = "purchase_fraud"
    PHISHING = "phishing"
    RANSOMWARE = "ransomware"
    FRIEND_IN_NEED = "friend_in_need"
    OTHER = "other"


class TriageOutcome(StrEnum):
    ACCEPTED = "accepted"
    REDIRECTED = "redirected"
    REJECTED = "rejected"


class SecrecyGround(StrEnum):
    CONSENT = "consent"
    LEGAL_DUTY = "legal_duty"
    CONFLICT_OF_DUTIES = "conflict_of_duties"


class ActionStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    NOT_DONE = "not_done"


class ConsentChangeKind(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


class SubjectRequestKind(StrEnum):
    ACCESS = "access"
    ERASURE = "erasure"
    OBJECTION = "objection"
    RECTIFICATION = "rectification"


class RestrictionChange(StrEnum):
    RESTRICT = "restrict"
    LIFT = "lift"


SUBJECT_REQUEST_CODES = frozenset({*(kind.value for kind in SubjectRequestKind), "restriction", "restriction-lifted"})
"""What a subject request asks, as one code (:attr:`SubjectRequestPayload.request`)."""


def format_time(value: datetime) -> str:
    """The JSON form of a time: ISO-8601 in UTC with a ``Z``, microseconds when there are any."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _bsn(value: str) -> str:
    if not is_valid_bsn(value):
        raise ValueError("must be nine digits that pass the 11-test")
    return value


def _iban(value: str) -> str:
    if not is_valid_iban(value):
        raise ValueError("must be an IBAN with valid check digits")
    return value


def _event_time(value: datetime) -> datetime:
    if value > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError(f"lies more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes in the future")
    if value < _EARLIEST_EVENT:
        raise ValueError("lies before 2000")
    return value


def _birth_date(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise ValueError("lies in the future")
    if value < _EARLIEST_BIRTH:
        raise ValueError("lies before 1900")
    return value


def _unique(value: tuple[Organisation, ...]) -> tuple[Organisation, ...]:
    if len(set(value)) != len(value):
        raise ValueError("names an organisation more than once")
    return value


def _normalise_iban(value: Any) -> Any:
    return normalise_iban(value) if isinstance(value, str) else value


ShortText = Annotated[str, StringConstraints(min_length=1, max_length=SHORT_TEXT_MAX)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=LONG_TEXT_MAX)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
CaseId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")]
Bsn = Annotated[str, AfterValidator(_bsn)]
Iban = Annotated[str, BeforeValidator(_normalise_iban), AfterValidator(_iban)]
UtcTime = Annotated[
    AwareDatetime, AfterValidator(_to_utc), PlainSerializer(format_time, return_type=str, when_used="json")
]
EventTime = Annotated[UtcTime, AfterValidator(_event_time)]
BirthDate = Annotated[date, AfterValidator(_birth_date)]
Organisations = Annotated[tuple[Organisation, ...], Field(max_length=len(Organisation)), AfterValidator(_unique)]
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,128}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Subject(_Model):
    """The person an event is about."""

    bsn: Bsn | None = None
    name: ShortText | None = None
    birth_date: BirthDate | None = None
    pseudonym: Pseudonym | None = None


class Payload(_Model):
    """Base class of the payload models; each event type has its own."""


class SignalPayload(Payload):
    observed_behaviour: LongText | None = None
    ideology: LongText | None = None
    lvb_indication: LongText | None = None
    iban: Iban | None = None
    fraud_type: FraudType | None = None
    urgency: Urgency
    youth_context: LongText | None = None
    description: LongText | None = None


class ReferralPayload(Payload):
    reason: LongText
    goal: LongText | None = None
    invited_partners: Organisations | None = None
    subject_informed: StrictBool | None = None
    informing_deferred_reason: LongText | None = None

    @model_validator(mode="after")
    def _deferral_explained(self) -> Self:
        if self.subject_informed is False and self.informing_deferred_reason is None:
            raise ValueError("informing_deferred_reason is required when subject_informed is false")
        return self


class TriageDecisionPayload(Payload):
    outcome: TriageOutcome
    process_director: ShortText | None = None
    feedback: LongText | None = None
    redirected_to: ShortText | None = None

    @model_validator(mode="after")
    def _redirect_named(self) -> Self:
        if self.outcome is TriageOutcome.REDIRECTED and self.redirected_to is None:
            raise ValueError("redirected_to is required when outcome is redirected")
        return self


class InformationContributionPayload(Payload):
    contribution: LongText | None = None
    police_record: LongText | None = None
    prosecution_status: LongText | None = None
    probation_supervision: LongText | None = None
    youth_protection_measure: LongText | None = None
    diagnosis: LongText | None = None
    in_care: StrictBool | None = None
    secrecy_ground: SecrecyGround | None = None
    deliberation_ref: ShortText | None = None


class Action(_Model):
    """One agreed action for one partner."""

    action_id: ShortText
    partner: Organisation
    description: LongText
    due_date: date | None = None


class ConsultationOutcomePayload(Payload):
    plan: LongText
    actions: Annotated[tuple[Action, ...], Field(max_length=MAX_ACTIONS)] | None = None
    lead_partner: Organisation | None = None
    review_date: date | None = None


class FeedbackPayload(Payload):
    action_id: ShortText
    status: ActionStatus
    note: LongText | None = None


class ConsentChangePayload(Payload):
    change: ConsentChangeKind
    grantees: Annotated[Organisations, Field(min_length=1)]
    grantor: Organisation | None = None
    valid_until: UtcTime | None = None


class CaseClosedPayload(Payload):
    closed_reason: LongText


class SubjectRequestPayload(Payload):
    """A request (``kind`` or ``restriction``), or - with ``confirms`` - a partner's confirmation that it carried
    out the forwarded request with that id (see ``schakel.streams.requests``)."""

    kind: SubjectRequestKind | None = None
    restriction: RestrictionChange | None = None
    confirms: UUID | None = None

    @model_validator(mode="after")
    def _one_request(self) -> Self:
        if (self.kind is None) == (self.restriction is None):
            raise ValueError("a subject request carries either kind or restriction")
        return self

    @property
    def request(self) -> str:
        """The request as one code: the kind, ``restriction`` or ``restriction-lifted``
        (:data:`SUBJECT_REQUEST_CODES`)."""
        if self.restriction is RestrictionChange.LIFT:
            return "restriction-lifted"
        if self.restriction is RestrictionChange.RESTRICT:
            return "restriction"
        assert self.kind is not None  # the validator: one of the two is set
        return self.kind.value


class BundleReason(StrEnum):
    SEVERAL_PARTNERS = "several_partners"
    URGENT_OPEN_CASE = "urgent_open_case"


class BundledSignal(_Model):
    """One signal in a :class:`SignalBundlePayload`: identity and metadata, nothing of the signal's contents."""

    event_id: UUID
    source: Organisation
    theme: Theme
    urgency: Urgency | None = None
    time: UtcTime


class SignalBundlePayload(Payload):
    reason: BundleReason
    signals: Annotated[tuple[BundledSignal, ...], Field(min_length=1, max_length=MAX_BUNDLED_SIGNALS)]


PAYLOAD_MODELS: Mapping[EventType, type[Payload]] = {
    EventType.SIGNAL: SignalPayload,
    EventType.REFERRAL: ReferralPayload,
    EventType.TRIAGE_DECISION: TriageDecisionPayload,
    EventType.INFORMATION_CONTRIBUTION: InformationContributionPayload,
    EventType.CONSULTATION_OUTCOME: ConsultationOutcomePayload,
    EventType.FEEDBACK: FeedbackPayload,
    EventType.CONSENT_CHANGE: ConsentChangePayload,
    EventType.CASE_CLOSED: CaseClosedPayload,
    EventType.SUBJECT_REQUEST: SubjectRequestPayload,
    EventType.SIGNAL_BUNDLE: SignalBundlePayload,
}


class Event(_Model):
    """An event: the envelope and the type's payload.

    Build one from its JSON form with :func:`parse_event` (which returns the type's own class, e.g.
    :class:`SignalEvent`), or construct the type's class or this class with a payload model instance.
    """

    id: UUID
    type: EventType
    source: Organisation
    time: EventTime
    subject: Subject
    case_id: CaseId | None = None
    case_issuer: Organisation | None = None
    purpose: Slug
    theme: Theme
    addressees: Organisations = ()
    payload: SerializeAsAny[Payload]

    @model_validator(mode="after")
    def _envelope_rules(self) -> Self:
        expected = PAYLOAD_MODELS[self.type]
        if type(self.payload) is not expected:
            raise ValueError(f"payload must be a {expected.__name__} for type {self.type.value}")
        if self.subject.bsn is None and self.case_id is None and self.subject.pseudonym is None:
            raise ValueError("subject.bsn or case_id is required (the partition key)")
        return self

    def to_json(self) -> dict[str, Any]:
        """The JSON form: envelope fields at the top level, the type's own fields under ``payload``.

        Every field is present (absent optional ones as null); times are ISO-8601 UTC strings, dates ``YYYY-MM-DD``.
        """
        return self.model_dump(mode="json")


class SignalEvent(Event):
    type: Literal[EventType.SIGNAL] = EventType.SIGNAL
    payload: SignalPayload

    @model_validator(mode="after")
    def _money_mule_iban(self) -> Self:
        if self.theme is Theme.MONEY_MULE and self.payload.iban is None:
            raise ValueError("payload.iban is required when theme is MONEY_MULE")
        return self


class ReferralEvent(Event):
    type: Literal[EventType.REFERRAL] = EventType.REFERRAL
    payload: ReferralPayload


class TriageDecisionEvent(Event):
    type: Literal[EventType.TRIAGE_DECISION] = EventType.TRIAGE_DECISION
    payload: TriageDecisionPayload


class InformationContributionEvent(Event):
    type: Literal[EventType.INFORMATION_CONTRIBUTION] = EventType.INFORMATION_CONTRIBUTION
    payload: InformationContributionPayload


class ConsultationOutcomeEvent(Event):
    type: Literal[EventType.CONSULTATION_OUTCOME] = EventType.CONSULTATION_OUTCOME
    payload: ConsultationOutcomePayload


class FeedbackEvent(Event):
    type: Literal[EventType.FEEDBACK] = EventType.FEEDBACK
    payload: FeedbackPayload


class ConsentChangeEvent(Event):
    type: Literal[EventType.CONSENT_CHANGE] = EventType.CONSENT_CHANGE
    payload: ConsentChangePayload


class CaseClosedEvent(Event):
    type: Literal[EventType.CASE_CLOSED] = EventType.CASE_CLOSED
    payload: CaseClosedPayload


class SubjectRequestEvent(Event):
    type: Literal[EventType.SUBJECT_REQUEST] = EventType.SUBJECT_REQUEST
    payload: SubjectRequestPayload


class SignalBundleEvent(Event):
    """Made by the hub for the ZVH only (see ``schakel.streams.agenda``); a partner never sends one."""

    type: Literal[EventType.SIGNAL_BUNDLE] = EventType.SIGNAL_BUNDLE
    payload: SignalBundlePayload


EVENT_CLASSES: Mapping[EventType, type[Event]] = {
    EventType.SIGNAL: SignalEvent,
    EventType.REFERRAL: ReferralEvent,
    EventType.TRIAGE_DECISION: TriageDecisionEvent,
    EventType.INFORMATION_CONTRIBUTION: InformationContributionEvent,
    EventType.CONSULTATION_OUTCOME: ConsultationOutcomeEvent,
    EventType.FEEDBACK: FeedbackEvent,
    EventType.CONSENT_CHANGE: ConsentChangeEvent,
    EventType.CASE_CLOSED: CaseClosedEvent,
    EventType.SUBJECT_REQUEST: SubjectRequestEvent,
    EventType.SIGNAL_BUNDLE: SignalBundleEvent,
}

_CLASS_BY_NAME: Mapping[str, type[Event]] = {t.value: c for t, c in EVENT_CLASSES.items()}

# pydantic error types whose message quotes part of the input; they get a fixed message instead.
_QUOTING_ERRORS: Mapping[str, str] = {
    "uuid_parsing": "must be a UUID",
    "uuid_type": "must be a UUID",
    "uuid_version": "must be a UUID",
}


def validation_reasons(error: ValidationError) -> list[str]:
    """One ``<field path>: <rule>`` per problem, without the offending values."""
    reasons = []
    for problem in error.errors(include_input=False, include_url=False):
        path = ".".join(field_label(part) for part in problem["loc"]) or "event"
        message = _QUOTING_ERRORS.get(problem["type"], problem["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        reasons.append(f"{path}: {message}")
    return reasons


def parse_event(data: Mapping[str, Any]) -> Event:
    """Validate an event in its JSON form and return it as the type's own class (``SignalEvent``, ...).

    Raises :class:`EventInvalid` naming every problem (field path and rule, never a value).
    """
    if not isinstance(data, Mapping):
        raise EventInvalid("event is invalid", ["event: must be a JSON object"])
    raw_type = data.get("type")
    event_class = _CLASS_BY_NAME.get(raw_type) if isinstance(raw_type, str) else None
    if event_class is None:
        known = ", ".join(t.value for t in EventType)
        raise EventInvalid(f"event{event_id_label(data)} is invalid", [f"type: must be one of {known}"])
    try:
        return event_class.model_validate(data)
    except ValidationError as error:
        raise EventInvalid(f"{raw_type} event{event_id_label(data)} is invalid", validation_reasons(error)) from None


def event_id_label(data: Mapping[str, Any]) -> str:
    """`` <uuid>`` when the event carries a well-formed id (event ids are not personal data), else empty."""
    raw = data.get("id")
    if isinstance(raw, str):
        try:
            return f" {UUID(raw)}"
        except ValueError:
            return ""
    return f" {raw}" if isinstance(raw, UUID) else ""
