"""Forged bytes: a valid event with one field written in a byte layout of the test's choosing.

fastavro's writer will not write what the Avro specification forbids, so a test that needs a negative enum index or
a boolean ``02`` writes the field with another schema (``layout``) whose encoding is exactly those bytes - a ``long``
-1 is the bytes of an enum index -1 - and keeps the event's own fingerprint in the header.
"""

from __future__ import annotations

import io
from itertools import count
from typing import Any

import fastavro

from schakel.schemas import EventType, event_schema, fingerprint
from schakel.schemas._convert import plain

__all__ = ["forged", "lax_read", "layout"]

_names = count()


def layout(*types: Any) -> dict[str, Any]:
    """A record schema whose fields have ``types`` in order: its encoding is theirs, back to back."""
    return {
        "type": "record",
        "name": f"Forged{next(_names)}",
        "fields": [{"name": f"f{i}", "type": kind} for i, kind in enumerate(types)],
    }


def _event_type(data: bytes) -> EventType:
    return next(t for t in EventType if fingerprint(event_schema(t)) == data[2:10])


def lax_read(data: bytes) -> dict[str, Any]:
    """What fastavro itself reads from single-object ``data`` (no strictness of schakel's)."""
    schema = fastavro.parse_schema(plain(event_schema(_event_type(data))))
    record: Any = fastavro.schemaless_reader(io.BytesIO(data[10:]), schema)
    return dict(record)


def forged(data: bytes, path: tuple[str, ...], kind: Any, value: Any) -> bytes:
    """``data`` (single-object bytes of a valid event) with the field at ``path`` written as ``value`` of schema
    ``kind`` instead of its own type, under the event's own fingerprint."""
    schema = plain(event_schema(_event_type(data)))
    record = lax_read(data)
    where: Any = schema
    value_of: Any = record
    for name in path[:-1]:
        where = next(field for field in where["fields"] if field["name"] == name)["type"]
        value_of = value_of[name]
    field = next(field for field in where["fields"] if field["name"] == path[-1])
    field["type"] = kind
    field.pop("default", None)
    value_of[path[-1]] = value
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return data[:10] + out.getvalue()
