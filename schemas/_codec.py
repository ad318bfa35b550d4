"""The codec: events to bytes and back, with fastavro's schemaless records.

Wire formats, told apart by their first byte when reading:

- **Avro single-object encoding** (the default): ``C3 01``, the writer schema's 8-byte CRC-64-AVRO fingerprint
  (little-endian), the Avro body. The reader finds the writer schema by fingerprint among the current catalogue and
  every released version, and resolves it to the current version (Avro schema resolution), so a reader on a newer
  catalogue reads older events.
- **Confluent wire format**: ``00``, the registry's 4-byte big-endian schema id, the Avro body. Needs a
  :class:`SchemaRegistryClient`; subjects follow the RecordNameStrategy.

Hot path: :meth:`Codec.encode_json` and :meth:`Codec.decode_json` work on the JSON form and check only what the schema
says (types, enum symbols, required fields, no unknown fields, UUID and time syntax); :meth:`Codec.encode` and
:meth:`Codec.decode` add the typed models' rules. Schemas are parsed once per process and looked up by fingerprint.
A failure never returns a part of an event: it raises :class:`EventInvalid` (encoding) or :class:`DecodeError`
(decoding), naming fields and rules, never values.

Decoding is strict (``_strict``): bytes the Avro specification forbids, and encodings other than the canonical one, are
rejected instead of read as plausible values - fastavro's own reader is too lax for a trust boundary. Input larger than
:data:`MAX_EVENT_BYTES` is refused before it is parsed. A record written with an older schema is checked strictly
against its writer schema first and then resolved to the current version by fastavro.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import Any, Literal

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schakel.schemas._catalogue import NAMESPACE, EventType, SchemaVersion, catalogue, fingerprint, schema_versions
from schakel.schemas._convert import (
    ConversionError,
    Converter,
    array_paths,
    compile_decoder,
    conversion_path,
    explain,
    json_schema,
    plain,
)
from schakel.schemas._errors import DecodeError, EventInvalid, RegistryError, SchemaError, UnknownSchema
from schakel.schemas._limits import MAX_EVENT_BYTES
from schakel.schemas._models import Event, event_id_label, parse_event
from schakel.schemas._registry import SchemaRegistryClient
from schakel.schemas._strict import MalformedError, Reader, compile_reader

__all__ = ["SINGLE_OBJECT_MAGIC", "Codec", "WireFormat", "record_name_strategy"]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
_CONFLUENT_MAGIC = 0
_NOT_ARRAYS = (str, bytes, dict)
WireFormat = Literal["single-object", "confluent"]


def record_name_strategy(event_type: EventType) -> str:
    """The registry subject of an event type: the record's full name (Confluent's RecordNameStrategy)."""
    return f"{NAMESPACE}.{event_type.value}"


def _parse(schema: Any) -> dict[str, Any]:
    parsed: Any = parse_schema(schema)
    assert isinstance(parsed, dict)
    return parsed


@dataclass(frozen=True)
class _Writer:
    """Everything needed to write the current version of one type."""

    event_type: EventType
    version: SchemaVersion
    parsed: dict[str, Any]  # the internal schema: JSON-form logical types, see _convert
    header: bytes
    arrays: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (record path, its array fields), see array_paths


def _identity(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Reader:
    """Everything needed to read one writer schema into the current version of its type."""

    event_type: EventType
    schema: Mapping[str, Any]  # the writer schema as published
    writer: dict[str, Any]  # the writer schema without logical types
    reader: dict[str, Any] | None  # the current schema without logical types; None when it is the writer schema
    to_json: Converter  # the current schema's logical types to the JSON form, in place
    strict: Reader  # the strict reader of the writer schema without logical types, see _strict

    def explain_conversion(self, body: bytes, error: ConversionError) -> str:
        """Slow path after a value that its logical type cannot hold: which field, and what is wrong."""
        current = _writers()[self.event_type].version.schema
        try:
            record = schemaless_reader(BytesIO(body), self.writer, self.reader)
        except Exception:  # cannot happen after a successful first read; kept so the slow path never raises
            return f"body: a value {error.rule}"
        problem = conversion_path(dict(current), record)
        return f"body: a value {error.rule}" if problem is None else f"{'.'.join(problem.path)}: {problem.rule}"


@cache
def _writers() -> Mapping[EventType, _Writer]:
    return {
        event_type: _Writer(
            event_type,
            version,
            _parse(json_schema(dict(version.schema))),
            SINGLE_OBJECT_MAGIC + version.fingerprint,
            array_paths(version.schema),
        )
        for event_type, version in catalogue().items()
    }


@cache
def _current_plain(event_type: EventType) -> tuple[dict[str, Any], Converter]:
    schema = dict(_writers()[event_type].version.schema)
    return _parse(plain(schema)), compile_decoder(schema) or _identity


def _reader_for(event_type: EventType, writer_schema: Mapping[str, Any]) -> _Reader:
    current, to_json = _current_plain(event_type)
    strict = compile_reader(plain(dict(writer_schema)))
    if fingerprint(writer_schema) == _writers()[event_type].version.fingerprint:
        return _Reader(event_type, writer_schema, current, None, to_json, strict)
    return _Reader(event_type, writer_schema, _parse(plain(dict(writer_schema))), current, to_json, strict)


@cache
def _readers() -> Mapping[bytes, _Reader]:
    readers: dict[bytes, _Reader] = {}
    for version in schema_versions():
        if version.fingerprint not in readers:
            readers[version.fingerprint] = _reader_for(version.event_type, version.schema)
    return readers


_BY_NAME: Mapping[str, EventType] = {t.value: t for t in EventType}


class Codec:
    """Encodes events to Avro bytes and decodes them back.

    ``Codec()`` writes Avro single-object encoding. ``Codec("confluent", registry=...)`` writes the Confluent wire
    format, registering each type's current schema on first use. Either reads both formats (the Confluent one only
    with a registry). ``writer_schemas`` adds full schemas (JSON form) that single-object data may have been written
    with, beyond the catalogue's released versions. Safe to share between threads; build one per process.
    """

    def __init__(
        self,
        wire_format: WireFormat = "single-object",
        registry: SchemaRegistryClient | None = None,
        subject_name: Callable[[EventType], str] = record_name_strategy,
        writer_schemas: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        if wire_format not in ("single-object", "confluent"):
            raise SchemaError(f"unknown wire format {wire_format!r}: use single-object or confluent")
        if wire_format == "confluent" and registry is None:
            raise SchemaError("the confluent wire format needs a schema registry client")
        self.wire_format: WireFormat = wire_format
        self.registry = registry
        self.subject_name = subject_name
        self._writers = _writers()
        self._readers = _readers()
        if writer_schemas:
            self._readers = dict(self._readers)
            for schema in writer_schemas:
                self._readers[fingerprint(schema)] = _reader_for(_event_type_of(schema), schema)
        self._confluent_headers: dict[EventType, bytes] = {}
        self._confluent_readers: dict[int, _Reader] = {}
        self._lock = threading.Lock()

    # ---- encoding ---------------------------------------------------------------------------------------------------

    def encode(self, event: Event) -> bytes:
        """The event's bytes in this codec's wire format."""
        return self.encode_json(event.to_json())

    def encode_json(self, form: Mapping[str, Any]) -> bytes:
        """An event's JSON form to bytes, checked against the schema only (not the model rules).

        Used for projected copies on egress, whose withheld fields are null. Raises :class:`EventInvalid`.
        """
        try:
            writer = self._writers[form["type"]]
        except (KeyError, TypeError):
            raise EventInvalid("event cannot be encoded", [_type_reason(form)]) from None
        header = writer.header if self.wire_format == "single-object" else self._confluent_header(writer)
        out = BytesIO()
        out.write(header)
        try:
            for parent, names in writer.arrays:  # fastavro would write a string as an array of its characters
                value: Any = form
                for key in parent:
                    value = value.get(key) if isinstance(value, dict) else None
                if isinstance(value, dict):
                    for name in names:
                        if isinstance(value.get(name), _NOT_ARRAYS):
                            raise TypeError("not an array")
            schemaless_writer(out, writer.parsed, form, strict_allow_default=True)
        except Exception:  # fastavro raises many kinds; each becomes one typed error below
            reasons = explain(dict(writer.version.schema), form) or ["record does not match the schema"]
            raise EventInvalid(
                f"{writer.event_type.value} event{event_id_label(form)} cannot be encoded", reasons
            ) from None
        return out.getvalue()

    def _confluent_header(self, writer: _Writer) -> bytes:
        header = self._confluent_headers.get(writer.event_type)
        if header is None:
            assert self.registry is not None
            schema_text = json.dumps(dict(writer.version.schema))
            schema_id = self.registry.register(self.subject_name(writer.event_type), schema_text)
            header = bytes([_CONFLUENT_MAGIC]) + schema_id.to_bytes(4, "big")
            with self._lock:
                self._confluent_headers[writer.event_type] = header
                self._confluent_readers.setdefault(schema_id, _reader_for(writer.event_type, writer.version.schema))
        return header

    # ---- decoding ---------------------------------------------------------------------------------------------------

    def decode(self, data: bytes | bytearray | memoryview) -> Event:
        """Bytes to a validated :class:`Event` (the type's own class). Raises :class:`DecodeError`."""
        form = self.decode_json(data)
        try:
            return parse_event(form)
        except EventInvalid as invalid:
            raise DecodeError(
                f"{form['type']} event{event_id_label(form)} breaks the event rules", invalid.reasons
            ) from None

    def decode_json(self, data: bytes | bytearray | memoryview) -> dict[str, Any]:
        """Bytes to the event's JSON form, checked against the schema only. Raises :class:`DecodeError`, or
        :class:`RegistryError` when Confluent-format data needs a schema from a registry that cannot answer now."""
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise DecodeError("cannot decode", ["data: must be bytes"])
            data = bytes(data)
        if len(data) > MAX_EVENT_BYTES:
            raise DecodeError(
                "cannot decode", [f"data: record too large ({len(data)} bytes, at most {MAX_EVENT_BYTES})"]
            )
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise DecodeError("cannot decode", ["header: truncated single-object header"])
            reader = self._readers.get(data[2:10])
            if reader is None:
                raise UnknownSchema("cannot decode", [f"header: unknown schema fingerprint {data[2:10].hex()}"])
            offset = 10
        elif data[:1] == b"\x00":
            if len(data) < 5:
                raise DecodeError("cannot decode", ["header: truncated Confluent header"])
            reader = self._confluent_reader(int.from_bytes(data[1:5], "big"))
            offset = 5
        elif not data:
            raise DecodeError("cannot decode", ["data: empty"])
        else:
            raise DecodeError(
                "cannot decode", ["header: neither Avro single-object (C3 01) nor Confluent (00) encoding"]
            )
        try:
            record, end = reader.strict(data, offset)
        except MalformedError as malformed:
            raise DecodeError(f"{reader.event_type.value} event cannot be decoded", [malformed.reason]) from None
        if end != len(data):
            left = f"body: {len(data) - end} bytes left after the record"
            raise DecodeError(f"{reader.event_type.value} event cannot be decoded", [left])
        if reader.reader is not None:  # an older writer schema: its bytes are checked, now resolve them
            try:
                record = schemaless_reader(BytesIO(data[offset:]), reader.writer, reader.reader)
            except Exception as error:  # fastavro raises many kinds; each becomes one typed error
                raise DecodeError(
                    f"{reader.event_type.value} event cannot be decoded",
                    [f"body: cannot be resolved to the current schema ({type(error).__name__})"],
                ) from None
        if record["type"] != reader.event_type.value:
            raise DecodeError(f"{reader.event_type.value} event cannot be decoded", ["type: does not match the schema"])
        try:
            form: dict[str, Any] = reader.to_json(record)
        except ConversionError as error:
            raise DecodeError(
                f"{reader.event_type.value} event cannot be decoded", [reader.explain_conversion(data[offset:], error)]
            ) from None
        return form

    def _confluent_reader(self, schema_id: int) -> _Reader:
        reader = self._confluent_readers.get(schema_id)
        if reader is not None:
            return reader
        if self.registry is None:
            raise UnknownSchema("cannot decode", ["header: Confluent wire format, but this codec has no registry"])
        try:
            schema = json.loads(self.registry.schema(schema_id))
        except RegistryError as error:
            if error.status != 404:
                raise  # the registry cannot answer now: a retry may succeed, so this is no decoding error
            raise UnknownSchema("cannot decode", [f"header: schema id {schema_id} is not in the registry"]) from None
        except ValueError:
            raise UnknownSchema("cannot decode", [f"header: schema id {schema_id} is not JSON"]) from None
        try:
            event_type = _event_type_of(schema) if isinstance(schema, dict) else None
        except SchemaError:
            event_type = None
        if event_type is None:
            raise UnknownSchema(
                "cannot decode", [f"header: schema id {schema_id} is not an event type of the catalogue"]
            )
        try:
            reader = _reader_for(event_type, schema)
        except Exception:  # an unparseable registry schema
            raise UnknownSchema(
                "cannot decode", [f"header: schema id {schema_id} is not a valid Avro schema"]
            ) from None
        with self._lock:
            self._confluent_readers[schema_id] = reader
        return reader


def _event_type_of(schema: Mapping[str, Any]) -> EventType:
    name = schema.get("name")
    event_type = _BY_NAME.get(name.rsplit(".", 1)[-1]) if isinstance(name, str) else None
    if event_type is None:
        raise SchemaError("a writer schema must be a record named after an event type of the catalogue")
    return event_type


def _type_reason(form: Any) -> str:
    if not isinstance(form, Mapping):
        return "event: must be a JSON object"
    return f"type: must be one of {', '.join(t.value for t in EventType)}"
