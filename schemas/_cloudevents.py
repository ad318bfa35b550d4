"""The CloudEvents Kafka protocol binding (binary content mode) for schakel's events.

The event's bytes are the Kafka value; these headers carry the CloudEvents attributes: ``ce_specversion`` (1.0),
``ce_id``, ``ce_type``, ``ce_source``, ``ce_time`` and ``content-type``. ``ce_subject`` is deliberately not set: the
subject of our events is a person, and personal identifiers never go into Kafka headers.

``ce_type`` is the record's full name (``nl.zorgveiligheid.schakel.Signal``), reverse-DNS as the NL GOV CloudEvents
profile recommends. ``ce_source`` is a URN, as that profile asks. Its recommended form names the organisation by its
OIN (``urn:nld:oin:<OIN>:systeem:<system>``); OINs differ per municipality and region, so the defaults here are
``urn:nld:zorg-en-veiligheid:<organisation code>`` (e.g. ``urn:nld:zorg-en-veiligheid:politie``) and a deployment
sets the real ones in ``Settings.source_urns`` (``SCHAKEL_SOURCE_URNS='{"politie": "urn:nld:oin:...:systeem:..."}'``)
or passes ``source_urns`` explicitly. Reading maps a URN back to its organisation code with the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from schakel.schemas._catalogue import NAMESPACE, EventType, Organisation
from schakel.schemas._errors import DecodeError, EventInvalid
from schakel.schemas._models import Event

__all__ = [
    "CONTENT_TYPE_CONFLUENT",
    "CONTENT_TYPE_SINGLE_OBJECT",
    "DEFAULT_SOURCE_URN_PREFIX",
    "CloudEventAttributes",
    "cloudevent_headers",
    "read_cloudevent_headers",
    "source_urn",
]

SPEC_VERSION = "1.0"
DEFAULT_SOURCE_URN_PREFIX = "urn:nld:zorg-en-veiligheid:"
CONTENT_TYPE_SINGLE_OBJECT = "application/avro; encoding=single-object"
CONTENT_TYPE_CONFLUENT = "application/vnd.confluent.avro"
_TYPE_PREFIX = f"{NAMESPACE}."
_TYPES = {_TYPE_PREFIX + t.value: t for t in EventType}
_ORGANISATIONS = {o.value: o for o in Organisation}
_BY_NAME = {t.value: t for t in EventType}


def _configured_urns() -> Mapping[str, str]:
    from schakel.settings import settings

    return settings().source_urns


def source_urn(organisation: Organisation | str, source_urns: Mapping[str, str] | None = None) -> str:
    """The CloudEvents ``source`` URN of an organisation: an override from ``source_urns`` (default:
    ``Settings.source_urns``), else ``urn:nld:zorg-en-veiligheid:<code>``."""
    code = Organisation(organisation).value
    urns = _configured_urns() if source_urns is None else source_urns
    return urns.get(code) or DEFAULT_SOURCE_URN_PREFIX + code


def cloudevent_headers(
    event_or_form: Event | Mapping[str, Any],
    source_urns: Mapping[str, str] | None = None,
    content_type: str = CONTENT_TYPE_SINGLE_OBJECT,
) -> list[tuple[str, bytes]]:
    """The Kafka headers of the CloudEvents binary binding for an event (model or JSON form)."""
    form = event_or_form.to_json() if isinstance(event_or_form, Event) else event_or_form
    reasons = [
        f"{name}: {rule}"
        for name, rule, ok in (
            ("id", "required", bool(form.get("id"))),
            ("time", "required", bool(form.get("time"))),
            ("type", "must be an event type of the catalogue", form.get("type") in _BY_NAME),
            ("source", "must be an organisation code", form.get("source") in _ORGANISATIONS),
        )
        if not ok
    ]
    if reasons:
        raise EventInvalid("cannot make CloudEvents headers", reasons)
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(form["id"]).encode()),
        ("ce_type", (_TYPE_PREFIX + EventType(form["type"]).value).encode()),
        ("ce_source", source_urn(form["source"], source_urns).encode()),
        ("ce_time", str(form["time"]).encode()),
        ("content-type", content_type.encode()),
    ]


@dataclass(frozen=True)
class CloudEventAttributes:
    """The CloudEvents attributes read back from Kafka headers."""

    specversion: str
    id: UUID
    type: EventType
    source: str
    organisation: Organisation | None  # None when the source URN is not in the table
    time: datetime
    content_type: str | None


def read_cloudevent_headers(
    headers: Iterable[tuple[str, bytes | None]], source_urns: Mapping[str, str] | None = None
) -> CloudEventAttributes:
    """Read the CloudEvents attributes back from Kafka headers. Raises :class:`DecodeError` naming each missing or
    malformed header."""
    found: dict[str, str] = {}
    reasons: list[str] = []
    for key, value in headers:
        if key in ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"):
            try:
                found[key] = (value or b"").decode("utf-8")
            except UnicodeDecodeError:
                reasons.append(f"{key}: not UTF-8")
    for key in ("ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time"):
        if not found.get(key):
            reasons.append(f"{key}: missing")
    if found.get("ce_specversion", SPEC_VERSION) != SPEC_VERSION:
        reasons.append(f"ce_specversion: must be {SPEC_VERSION}")
    event_id = time = event_type = None
    try:
        event_id = UUID(found.get("ce_id", ""))
    except ValueError:
        if found.get("ce_id"):
            reasons.append("ce_id: must be a UUID")
    raw_type = found.get("ce_type", "")
    if raw_type:
        event_type = _TYPES.get(raw_type)
        if event_type is None:
            reasons.append("ce_type: not an event type of the catalogue")
    try:
        time = datetime.fromisoformat(found.get("ce_time", ""))
        if time.tzinfo is None:
            reasons.append("ce_time: must have a timezone")
    except ValueError:
        if found.get("ce_time"):
            reasons.append("ce_time: must be an RFC 3339 time")
    if reasons or event_id is None or event_type is None or time is None:
        raise DecodeError("CloudEvents headers are invalid", reasons)
    urns = _configured_urns() if source_urns is None else source_urns
    by_urn = {DEFAULT_SOURCE_URN_PREFIX + o.value: o for o in Organisation}
    by_urn |= {urn: _ORGANISATIONS[code] for code, urn in urns.items() if code in _ORGANISATIONS}
    source = found["ce_source"]
    return CloudEventAttributes(
        SPEC_VERSION, event_id, event_type, source, by_urn.get(source), time, found.get("content-type")
    )
