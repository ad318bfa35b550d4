"""Declarative mapping between a partner system's records and the event catalogue, in both directions.

A partner record is a flat object in the partner's own words (the police's ``registratie`` with ``bsn``,
``gedragsomschrijving``, ``urgentie``). A :class:`RecordMapping` names, per partner record type, which partner field
becomes which catalogue field, and how coded values translate (``urgentie: hoog`` -> ``urgency: high``). The same
table renders an egress copy back into the partner's words for the sink.

Judgement calls:

- **Deterministic event ids**: ``uuid5(org/type/reference)`` from the partner's own record reference, so a record
  offered twice (a webhook retry, a file re-read after a crash, an outbox row re-polled) is the same event twice and
  is deduplicated downstream. A record without its reference is refused.
- **Unknown fields carrying a value are refused** (``invalid-record``), so a partner never loses data silently
  through a typo; empty ones (a CSV's other columns) are ignored.
- **Rejections never echo values**: reasons name fields and rules (the catalogue's ``EventInvalid`` reasons), never
  what the partner sent - not even its field names, unless they look like identifiers (``partner_label``: a column
  named after a person is ``<field name withheld>``).
- **Outbound**, a type the partner's table does not name travels under catalogue names; payload fields the table does
  not name travel under ``aanvullend`` (catalogue names), so a copy always carries everything the hub decided to send.
- **Subject requests**: only the contact point (the ZVH) files one (its ``verzoek`` records); every other partner
  receives the requests forwarded to it as ``verzoek`` (outbound only: a partner's own ``verzoek`` is refused at the
  source, before the hub would dead-letter it) and confirms one it carried out with a ``verzoek_uitgevoerd`` record
  naming the request's ``event_id`` as ``verzoek_id`` (:data:`PARTNER_REQUESTS`).
- **The course of action** the hub attached travels as ``handelingskader`` (reference, title, steps, whom to involve,
  the public source), in every partner's document: see :mod:`schakel.connectors.guidance`.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from schakel.connectors.contract import Delivery, governed_fields_with_value
from schakel.connectors.errors import RecordRejected
from schakel.connectors.guidance import course_document
from schakel.connectors.intake import partner_label
from schakel.schemas import Event, EventInvalid, EventType, Organisation, Theme, parse_event
from schakel.schemas.examples import PURPOSES, synthetic_bsn

__all__ = [
    "DEFAULT_ENVELOPE",
    "EVENT_ID_NAMESPACE",
    "PARTNER_REQUESTS",
    "REQUEST_CONFIRMATION",
    "REQUEST_FOR_PARTNER",
    "REQUEST_VALUES",
    "THEME_WORDS",
    "Direction",
    "RecordMapping",
    "TypeMapping",
]

EVENT_ID_NAMESPACE = uuid.UUID("6f1c1d7e-3a51-4b8e-9a4c-5c6b7a2f0d10")

DEFAULT_ENVELOPE: Mapping[str, str] = {
    "bsn": "subject.bsn",
    "naam": "subject.name",
    "geboortedatum": "subject.birth_date",
    "zaaknummer": "case_id",
    "zaakuitgever": "case_issuer",
    "doel": "purpose",
    "thema": "theme",
    "tijdstip": "time",
    "aan": "addressees",
}

THEME_WORDS: Mapping[str, str] = {"cter": "CTER", "lvb": "LVB", "geldezel": "MONEY_MULE", "overig": "OTHER"}
YES_NO: Mapping[str, Any] = {"ja": True, "nee": False}
FEEDBACK_STATUS: Mapping[str, str] = {
    "gepland": "planned",
    "bezig": "in_progress",
    "gereed": "done",
    "niet_uitgevoerd": "not_done",
}
URGENCY: Mapping[str, str] = {"laag": "low", "normaal": "normal", "hoog": "high", "acuut": "acute"}
CONSENT_CHANGE: Mapping[str, str] = {"gegeven": "given", "ingetrokken": "withdrawn"}
REQUEST_KIND: Mapping[str, str] = {
    "inzage": "access",
    "verwijdering": "erasure",
    "bezwaar": "objection",
    "correctie": "rectification",
}
RESTRICTION: Mapping[str, str] = {"beperken": "restrict", "opheffen": "lift"}
REQUEST_VALUES: Mapping[str, Mapping[str, str]] = {"soort_verzoek": REQUEST_KIND, "beperking": RESTRICTION}
"""The coded values of a subject request's fields, in every partner's words."""

Direction = Literal["both", "in", "out"]
"""Which way a partner record type travels: both, only from the partner (``in``) or only to it (``out``)."""


@dataclass(frozen=True)
class TypeMapping:
    """One partner record type: the catalogue type, partner field -> payload field, an example record, and which way
    it travels (a request forwarded to a partner only comes in from the hub; its confirmation only goes out)."""

    event_type: EventType
    fields: Mapping[str, str]
    example: Mapping[str, Any] = field(default_factory=dict)
    direction: Direction = "both"


REQUEST_FOR_PARTNER = TypeMapping(
    EventType.SUBJECT_REQUEST, {"soort_verzoek": "kind", "beperking": "restriction"}, direction="out"
)
"""A subject request the contact point forwarded to the partner (``verzoek``): delivered, never sent - only the
contact point (the ZVH) files requests. Its ``event_id`` is what the partner's confirmation names."""

REQUEST_CONFIRMATION = TypeMapping(
    EventType.SUBJECT_REQUEST,
    {"verzoek_id": "confirms", "soort_verzoek": "kind", "beperking": "restriction"},
    example={"verzoek_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "soort_verzoek": "verwijdering"},
    direction="in",
)
"""The partner's confirmation that it carried out a forwarded request (``verzoek_uitgevoerd``): ``verzoek_id`` is the
request's ``event_id``, and ``soort_verzoek`` or ``beperking`` repeats what it asked."""

PARTNER_REQUESTS: Mapping[str, TypeMapping] = {
    "verzoek": REQUEST_FOR_PARTNER,
    "verzoek_uitgevoerd": REQUEST_CONFIRMATION,
}
"""The subject-request record types of every partner but the contact point (each partner's mapping names them)."""


@dataclass(frozen=True)
class RecordMapping:
    """A partner's record types and field names, and the translation of its coded values."""

    organisation: Organisation
    type_field: str
    reference_field: str
    types: Mapping[str, TypeMapping]
    envelope: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ENVELOPE))
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lists: frozenset[str] = frozenset({"aan"})
    default_theme: Theme = Theme.OTHER

    # -- inbound ---------------------------------------------------------------------------------------------------

    def event_id(self, word: str, reference: str) -> uuid.UUID:
        """The deterministic event id of the partner's record ``reference`` of type ``word``."""
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{self.organisation}/{word}/{reference}")

    def to_event(self, data: Mapping[str, Any], *, default_theme: Theme | None = None) -> Event:
        """The event for one partner record; RecordRejected (unknown-event-type / invalid-record) for bad input."""
        word = data.get(self.type_field)
        if word is None:
            raise RecordRejected("unknown-event-type", f"the field {self.type_field} is missing")
        mapping = self.types.get(str(word))
        if mapping is None or mapping.direction == "out":
            inbound = sorted(w for w, m in self.types.items() if m.direction != "out")
            raise RecordRejected("unknown-event-type", f"{self.type_field} must be one of: {', '.join(inbound)}")
        reference = data.get(self.reference_field)
        if reference in (None, ""):
            raise RecordRejected("invalid-record", f"the field {self.reference_field} is missing")
        if isinstance(reference, bool) or not isinstance(reference, str | int):
            raise RecordRejected("invalid-record", f"the field {self.reference_field} must be a text or a number")
        known = {self.type_field, self.reference_field, *self.envelope, *mapping.fields}
        unknown = sorted({partner_label(k) for k, v in data.items() if k not in known and v not in (None, "")})
        if unknown:
            raise RecordRejected("invalid-record", f"unknown fields for {word}: {', '.join(unknown[:10])}")
        form: dict[str, Any] = {
            "id": str(self.event_id(str(word), str(reference))),
            "type": mapping.event_type.value,
            "source": self.organisation.value,
            "time": datetime.now(UTC).isoformat(),
            "subject": {},
            "addressees": [],
            "payload": {},
        }
        for partner_field, path in self.envelope.items():
            value = self._inbound_value(partner_field, data.get(partner_field))
            if value is not None:
                _put(form, path, value)
        for partner_field, payload_field in mapping.fields.items():
            value = self._inbound_value(partner_field, data.get(partner_field))
            if value is not None:
                form["payload"][payload_field] = value
        if mapping.event_type is EventType.CONSENT_CHANGE:
            # A partner system records the consents the person gave to that partner: the grantor is the partner.
            form["payload"].setdefault("grantor", self.organisation.value)
        theme = Theme(form.get("theme") or (default_theme or self.default_theme))
        form["theme"] = theme.value
        form.setdefault("purpose", PURPOSES[theme])
        try:
            return parse_event(form)
        except EventInvalid as error:
            reasons = "; ".join(error.reasons) or "the record does not make a valid event"
            raise RecordRejected("invalid-record", reasons) from None

    def _inbound_value(self, partner_field: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        if partner_field in self.lists and isinstance(value, str):
            value = [part.strip() for part in value.split(";") if part.strip()]
        table = self.values.get(partner_field)
        if table is None and partner_field == "thema":
            table = THEME_WORDS
        if table is not None:
            if isinstance(value, list):
                return [table.get(str(v).lower(), v) for v in value]
            if isinstance(value, str) and value.lower() in table:
                return table[value.lower()]
        return value

    # -- outbound --------------------------------------------------------------------------------------------------

    def render(self, delivery: Delivery) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The copy in the partner's words, and the governed fields it carries (for the receipt)."""
        form = delivery.form
        word, mapping = self._type_for(str(form.get("type")))
        document: dict[str, Any] = {
            self.type_field: word,
            "event_id": delivery.event_id,
            "bron": form.get("source"),
            "pseudoniem": (form.get("subject") or {}).get("pseudonym"),
        }
        for partner_field, path in self.envelope.items():
            document[partner_field] = self._outbound_value(partner_field, _get(form, path))
        payload = dict(form.get("payload") or {})
        named = mapping.fields if mapping else {}
        for partner_field, payload_field in named.items():
            document[partner_field] = self._outbound_value(partner_field, payload.pop(payload_field, None))
        extra = {name: value for name, value in payload.items() if value is not None}
        if extra:
            document["aanvullend"] = extra
        if delivery.guidance:
            document["handelingskader"] = course_document(delivery.guidance)
        return document, governed_fields_with_value(form)

    def _type_for(self, event_type: str) -> tuple[str, TypeMapping | None]:
        for word, mapping in self.types.items():
            if mapping.event_type.value == event_type and mapping.direction != "in":
                return word, mapping
        return event_type, None

    def _outbound_value(self, partner_field: str, value: Any) -> Any:
        table = self.values.get(partner_field) or (THEME_WORDS if partner_field == "thema" else None)
        if table is None or value is None:
            return value
        reverse = {v: k for k, v in table.items()}
        if isinstance(value, list):
            return [reverse.get(v, v) for v in value]
        return reverse.get(value, value)

    # -- examples --------------------------------------------------------------------------------------------------

    def example(self, word: str | None = None, *, rng: random.Random | None = None, **overrides: Any) -> dict[str, Any]:
        """A plausible record of type ``word`` (default: the first), with a fresh reference and a synthetic BSN."""
        rng = rng or random.Random()
        word = word or next(iter(self.types))
        record: dict[str, Any] = {self.type_field: word, self.reference_field: f"{rng.getrandbits(48):012x}"}
        record.update(self.types[word].example)
        if "bsn" in self.envelope and "bsn" not in record:
            record["bsn"] = synthetic_bsn(rng)
        record.update(overrides)
        return record


def _put(form: dict[str, Any], path: str, value: Any) -> None:
    head, _, tail = path.partition(".")
    if tail:
        form.setdefault(head, {})[tail] = value
    else:
        form[head] = value


def _get(form: Mapping[str, Any], path: str) -> Any:
    head, _, tail = path.partition(".")
    value = form.get(head)
    if tail:
        return (value or {}).get(tail) if isinstance(value, Mapping) else None
    return value
