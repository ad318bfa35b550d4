"""The event catalogue (Avro schema files) and its codec. Pure: no Kafka, no I/O beyond reading its own files.

- The catalogue: ``avro/*.avsc`` (the envelope and one payload record per type), the enums of the domain
  (:class:`Organisation`, :class:`EventType`, :class:`Theme`, :class:`Sensitivity`) and
  :func:`field_sensitivities`, which the consent processor reads.
- The typed models: :class:`Event` (one subclass per type, e.g. :class:`SignalEvent`), a payload model per type
  (:class:`SignalPayload`, ...), :func:`parse_event` for the JSON form, and :meth:`Event.to_json` back.
- The codec: :class:`Codec` (Avro single-object encoding by default, the Confluent wire format with a
  :class:`SchemaRegistryClient`), ``encode``/``decode`` for models and ``encode_json``/``decode_json`` for the
  JSON form (the hub's hot path).
- Limits: :data:`MAX_EVENT_BYTES` (the largest record any entry point accepts) and the models' bounds.
- :func:`read_binary`: the codec's strict Avro reader, for any schema (raises :class:`DecodeError`).
- The CloudEvents Kafka binding: :func:`cloudevent_headers` and :func:`read_cloudevent_headers`.
- :mod:`schakel.schemas.examples`: realistic example events with synthetic BSNs.
- Errors: :class:`SchemaError` and below it :class:`EventInvalid`, :class:`DecodeError` (:class:`UnknownSchema`),
  :class:`RegistryError`, :class:`CompatibilityError`.
"""

from schakel.schemas._catalogue import (
    NAMESPACE,
    EventType,
    Organisation,
    SchemaVersion,
    Sensitivity,
    Theme,
    catalogue,
    event_schema,
    field_sensitivities,
    fingerprint,
    released_versions,
)
from schakel.schemas._cloudevents import (
    CONTENT_TYPE_CONFLUENT,
    CONTENT_TYPE_SINGLE_OBJECT,
    DEFAULT_SOURCE_URN_PREFIX,
    CloudEventAttributes,
    cloudevent_headers,
    read_cloudevent_headers,
    source_urn,
)
from schakel.schemas._codec import SINGLE_OBJECT_MAGIC, Codec, WireFormat, record_name_strategy
from schakel.schemas._errors import (
    CompatibilityError,
    DecodeError,
    EventInvalid,
    RegistryError,
    SchemaError,
    UnknownSchema,
)
from schakel.schemas._limits import LONG_TEXT_MAX, MAX_ACTIONS, MAX_EVENT_BYTES, SHORT_TEXT_MAX
from schakel.schemas._models import (
    EVENT_CLASSES,
    MAX_CLOCK_SKEW,
    PAYLOAD_MODELS,
    Action,
    ActionStatus,
    CaseClosedEvent,
    CaseClosedPayload,
    ConsentChangeEvent,
    ConsentChangeKind,
    ConsentChangePayload,
    ConsultationOutcomeEvent,
    ConsultationOutcomePayload,
    Event,
    FeedbackEvent,
    FeedbackPayload,
    FraudType,
    InformationContributionEvent,
    InformationContributionPayload,
    Payload,
    ReferralEvent,
    ReferralPayload,
    SecrecyGround,
    SignalEvent,
    SignalPayload,
    Subject,
    SubjectRequestEvent,
    SubjectRequestKind,
    SubjectRequestPayload,
    TriageDecisionEvent,
    TriageDecisionPayload,
    TriageOutcome,
    Urgency,
    format_time,
    parse_event,
)
from schakel.schemas._registry import HttpSchemaRegistry, InMemorySchemaRegistry, SchemaRegistryClient
from schakel.schemas._strict import read_binary

__all__ = [
    "CONTENT_TYPE_CONFLUENT",
    "CONTENT_TYPE_SINGLE_OBJECT",
    "DEFAULT_SOURCE_URN_PREFIX",
    "EVENT_CLASSES",
    "LONG_TEXT_MAX",
    "MAX_ACTIONS",
    "MAX_CLOCK_SKEW",
    "MAX_EVENT_BYTES",
    "NAMESPACE",
    "PAYLOAD_MODELS",
    "SHORT_TEXT_MAX",
    "SINGLE_OBJECT_MAGIC",
    "Action",
    "ActionStatus",
    "CaseClosedEvent",
    "CaseClosedPayload",
    "CloudEventAttributes",
    "Codec",
    "CompatibilityError",
    "ConsentChangeEvent",
    "ConsentChangeKind",
    "ConsentChangePayload",
    "ConsultationOutcomeEvent",
    "ConsultationOutcomePayload",
    "DecodeError",
    "Event",
    "EventInvalid",
    "EventType",
    "FeedbackEvent",
    "FeedbackPayload",
    "FraudType",
    "HttpSchemaRegistry",
    "InMemorySchemaRegistry",
    "InformationContributionEvent",
    "InformationContributionPayload",
    "Organisation",
    "Payload",
    "ReferralEvent",
    "ReferralPayload",
    "RegistryError",
    "SchemaError",
    "SchemaRegistryClient",
    "SchemaVersion",
    "SecrecyGround",
    "Sensitivity",
    "SignalEvent",
    "SignalPayload",
    "Subject",
    "SubjectRequestEvent",
    "SubjectRequestKind",
    "SubjectRequestPayload",
    "Theme",
    "TriageDecisionEvent",
    "TriageDecisionPayload",
    "TriageOutcome",
    "UnknownSchema",
    "Urgency",
    "WireFormat",
    "catalogue",
    "cloudevent_headers",
    "event_schema",
    "field_sensitivities",
    "fingerprint",
    "format_time",
    "parse_event",
    "read_binary",
    "read_cloudevent_headers",
    "record_name_strategy",
    "released_versions",
    "source_urn",
]
