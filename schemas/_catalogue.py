"""The catalogue: the enums of the domain, each event type's full Avro schema, its fingerprint and its versions.

Each event type's full schema is composed from two files in ``avro/``: ``Envelope.avsc`` (the fields every event
shares, including the ``Subject`` record and the ``Theme`` enum) and ``<Type>.avsc`` (the type's payload record). The
full record is named after the type (``nl.zorgveiligheid.schakel.Signal``) and holds the envelope's fields followed by
``payload``. Composition keeps one copy of the envelope; the released files in ``released/`` keep the composed result,
so a released version never changes when the envelope file does.

Every payload field is nullable with default null: a projected copy for a recipient nulls the fields it withholds,
and fields can be added and removed without breaking readers. The typed models (``_models``) say which fields an
ingress event must carry.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from fastavro.schema import to_parsing_canonical_form

__all__ = [
    "NAMESPACE",
    "EventType",
    "Organisation",
    "SchemaVersion",
    "Sensitivity",
    "Theme",
    "catalogue",
    "crc64_avro",
    "current_versions",
    "event_schema",
    "field_sensitivities",
    "fingerprint",
    "load_released",
    "released_versions",
    "schema_versions",
]

NAMESPACE = "nl.zorgveiligheid.schakel"


class Organisation(StrEnum):
    """The partners' organisation codes, used everywhere (``source``, ``addressees``, grantees, covenants)."""

    GEMEENTE_SOCIAAL = "gemeente-sociaal"
    GEMEENTE_VEILIGHEID = "gemeente-veiligheid"
    POLITIE = "politie"
    OM = "om"
    RECLASSERING = "reclassering"
    RVDK = "rvdk"
    GGZ = "ggz"
    ZVH = "zvh"


class EventType(StrEnum):
    """The event types of the catalogue; each value is the name of the type's Avro record."""

    SIGNAL = "Signal"
    REFERRAL = "Referral"
    TRIAGE_DECISION = "TriageDecision"
    INFORMATION_CONTRIBUTION = "InformationContribution"
    CONSULTATION_OUTCOME = "ConsultationOutcome"
    FEEDBACK = "Feedback"
    CONSENT_CHANGE = "ConsentChange"
    CASE_CLOSED = "CaseClosed"
    SUBJECT_REQUEST = "SubjectRequest"
    SIGNAL_BUNDLE = "SignalBundle"
    RETENTION_EXPIRED = "RetentionExpired"


class Theme(StrEnum):
    """The Zorg & Veiligheid themes."""

    CTER = "CTER"
    LVB = "LVB"
    MONEY_MULE = "MONEY_MULE"
    OTHER = "OTHER"


class Sensitivity(StrEnum):
    """The sensitivity label of a field, read by the consent processor."""

    PLAIN = "plain"
    BSN = "bsn"
    HEALTH = "health"  # AVG art. 9
    BELIEF = "belief"  # AVG art. 9
    CRIMINAL = "criminal"  # AVG art. 10, Wpg, Wjsg
    YOUTH = "youth"


def _read(package: str, name: str) -> dict[str, Any]:
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _composed(event_type: EventType) -> dict[str, Any]:
    envelope = _read("schakel.schemas.avro", "Envelope.avsc")
    payload = _read("schakel.schemas.avro", f"{event_type.value}.avsc")
    payload_doc = payload.get("doc", "")
    return {
        "type": "record",
        "name": event_type.value,
        "namespace": NAMESPACE,
        "doc": f"{event_type.value} event: {payload_doc}",
        "fields": [*envelope["fields"], {"name": "payload", "type": payload, "doc": "The type's own fields."}],
    }


def event_schema(event_type: EventType | str) -> dict[str, Any]:
    """The full Avro schema (JSON form, a fresh copy) of the current catalogue version of ``event_type``."""
    return copy.deepcopy(_composed(EventType(event_type)))


@cache
def _sensitivities(event_type: EventType) -> Mapping[str, Sensitivity]:
    schema = _composed(event_type)
    labels: dict[str, Sensitivity] = {}
    for field in schema["fields"]:
        if field["name"] == "subject":
            for sub in field["type"]["fields"]:
                if "sensitivity" in sub:
                    labels[f"subject.{sub['name']}"] = Sensitivity(sub["sensitivity"])
        elif field["name"] == "payload":
            for sub in field["type"]["fields"]:
                labels[sub["name"]] = Sensitivity(sub["sensitivity"])
    return MappingProxyType(labels)


def field_sensitivities(event_type: EventType | str) -> Mapping[str, Sensitivity]:
    """Every field the consent processor governs for ``event_type``, with its sensitivity label.

    Read from the ``sensitivity`` attributes in the schema files: ``subject.bsn``, ``subject.name``,
    ``subject.birth_date``, then each payload field by its bare name (``observed_behaviour``, ...). Envelope metadata
    (``id``, ``type``, ``source``, ``time``, ``case_id``, ``purpose``, ``theme``, ``addressees``,
    ``subject.pseudonym``) is not governed: it always travels.
    """
    return _sensitivities(EventType(event_type))


# CRC-64-AVRO (the Rabin fingerprint of the Avro spec): the table-driven form given in the specification.
_EMPTY = 0xC15D213AA4D7A795


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO of ``data``, as the Avro specification defines it."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(schema: Mapping[str, Any] | str) -> bytes:
    """The 8-byte fingerprint of a schema as single-object encoding writes it: CRC-64-AVRO of the Parsing
    Canonical Form, little-endian."""
    return _fingerprint(to_parsing_canonical_form(schema if isinstance(schema, str) else dict(schema)))


def _fingerprint(canonical: str) -> bytes:
    return crc64_avro(canonical.encode("utf-8")).to_bytes(8, "little")


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one event type's full schema."""

    event_type: EventType
    version: int
    schema: Mapping[str, Any]
    canonical: str
    fingerprint: bytes
    released: bool

    @property
    def name(self) -> str:
        """The record's full name, e.g. ``nl.zorgveiligheid.schakel.Signal``."""
        return f"{NAMESPACE}.{self.event_type.value}"


_TYPE_NAMES = frozenset(t.value for t in EventType)
_RELEASED = re.compile(r"^(?P<type>[A-Za-z]+)\.v(?P<version>[1-9][0-9]*)\.avsc$")


def _version(event_type: EventType, version: int, schema: dict[str, Any], released: bool) -> SchemaVersion:
    canonical = to_parsing_canonical_form(schema)
    return SchemaVersion(event_type, version, MappingProxyType(schema), canonical, _fingerprint(canonical), released)


def load_released(folder: Traversable | Path) -> Mapping[EventType, tuple[SchemaVersion, ...]]:
    """Every released version per event type in ``folder`` (files ``<Type>.v<N>.avsc``), oldest first."""
    found: dict[EventType, list[SchemaVersion]] = {t: [] for t in EventType}
    for entry in folder.iterdir():
        match = _RELEASED.match(entry.name)
        if match is None or match["type"] not in _TYPE_NAMES:
            continue
        event_type = EventType(match["type"])
        schema = json.loads(entry.read_text(encoding="utf-8"))
        found[event_type].append(_version(event_type, int(match["version"]), schema, released=True))
    return MappingProxyType({t: tuple(sorted(v, key=lambda s: s.version)) for t, v in found.items()})


@cache
def released_versions() -> Mapping[EventType, tuple[SchemaVersion, ...]]:
    """Every released version per event type, oldest first, from the package's ``released/<Type>.v<N>.avsc``."""
    return load_released(resources.files("schakel.schemas.released"))


def current_versions(released: Mapping[EventType, tuple[SchemaVersion, ...]]) -> Mapping[EventType, SchemaVersion]:
    """The catalogue's current schema per type, numbered against ``released`` (see :func:`catalogue`)."""
    current: dict[EventType, SchemaVersion] = {}
    for event_type in EventType:
        schema = _composed(event_type)
        history = released[event_type]
        newest = history[-1] if history else None
        if newest is not None and newest.canonical == to_parsing_canonical_form(schema):
            current[event_type] = _version(event_type, newest.version, copy.deepcopy(schema), released=True)
        else:
            latest = newest.version if newest is not None else 0
            current[event_type] = _version(event_type, latest + 1, copy.deepcopy(schema), released=False)
    return MappingProxyType(current)


@cache
def catalogue() -> Mapping[EventType, SchemaVersion]:
    """The current version of each event type's schema.

    Its version number is that of the newest released file when their canonical forms are equal, or - while the
    catalogue holds changes not yet released - one more, with ``released`` false.
    """
    return current_versions(released_versions())


def schema_versions() -> Iterator[SchemaVersion]:
    """Every schema the codec can read: the current catalogue and every released version."""
    yield from catalogue().values()
    for history in released_versions().values():
        yield from history
