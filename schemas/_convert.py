"""Between the JSON form and fastavro's records, compiled once per schema, and the explanation of a bad record.

The codec hands fastavro a copy of each schema with the logical types removed (``_plain``): the bytes are the same
(a logical type only annotates a primitive) and the fingerprint too (the Parsing Canonical Form drops logical types),
but fastavro then neither builds ``datetime``/``UUID`` objects that the JSON form would turn back into strings nor
checks them twice. The converters compiled here do the only work left: ISO-8601 times <-> microseconds since the
epoch and ISO dates <-> days since the epoch, on exactly the fields that hold them.

:func:`explain` runs only after a failure: it walks a record against its schema and names each field that breaks it
and the rule, without the value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

__all__ = ["Converter", "compile_converter", "explain", "plain"]

Converter = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LOGICAL = {"timestamp-micros", "timestamp-millis", "date", "uuid", "time-micros", "time-millis"}


def plain(schema: Any) -> Any:
    """``schema`` without logical types (JSON form of a schema in, JSON form out)."""
    if isinstance(schema, list):
        return [plain(branch) for branch in schema]
    if isinstance(schema, dict):
        if schema.get("logicalType") in _LOGICAL and isinstance(schema.get("type"), str):
            return schema["type"]
        return {key: plain(value) if key in ("type", "fields", "items", "values") else value
                for key, value in schema.items()}  # fmt: skip
    return schema


def _time_to_micros(value: str) -> int:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive time")
    return (parsed - _EPOCH) // _MICROSECOND


def _micros_to_time(value: int) -> str:
    return (_EPOCH_NAIVE + timedelta(microseconds=value)).isoformat() + "Z"


def _millis_to_time(value: int) -> str:
    return (_EPOCH_NAIVE + timedelta(milliseconds=value)).isoformat() + "Z"


def _time_to_millis(value: str) -> int:
    return _time_to_micros(value) // 1000


def _date_to_days(value: str) -> int:
    return date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL


def _days_to_date(value: int) -> str:
    return date.fromordinal(value + _EPOCH_ORDINAL).isoformat()


def _uuid(value: str) -> str:
    UUID(value)
    return value


_ENCODERS: Mapping[str, Converter] = {
    "timestamp-micros": _time_to_micros,
    "timestamp-millis": _time_to_millis,
    "date": _date_to_days,
    "uuid": _uuid,
}
_DECODERS: Mapping[str, Converter] = {
    "timestamp-micros": _micros_to_time,
    "timestamp-millis": _millis_to_time,
    "date": _days_to_date,
}


def compile_converter(schema: Any, encode: bool, named: dict[str, Converter | None] | None = None) -> Converter | None:
    """A function converting a datum of ``schema`` from the JSON form to fastavro's record (``encode``) or back, or
    None where nothing needs converting. Encoding copies what it changes; decoding changes fastavro's fresh record in
    place."""
    named = {} if named is None else named
    if isinstance(schema, str):
        return named.get(schema) or named.get(schema.rsplit(".", 1)[-1])
    if isinstance(schema, list):
        converters = [(branch, compile_converter(branch, encode, named)) for branch in schema]
        active = [(branch, c) for branch, c in converters if c is not None]
        if not active:
            return None
        if len(schema) == 2 and "null" in schema and len(active) == 1:
            inner = active[0][1]
            return lambda value: None if value is None else inner(value)
        raise ValueError("a union with more than one branch needing conversion is not supported")
    kind = schema["type"]
    logical = schema.get("logicalType")
    if isinstance(kind, str) and logical is not None:
        return (_ENCODERS if encode else _DECODERS).get(logical)
    if kind == "record":
        fields: list[tuple[str, Converter]] = []
        full_name = _full_name(schema)
        named[full_name] = None  # a recursive reference converts nothing further
        for field in schema["fields"]:
            converter = compile_converter(field["type"], encode, named)
            if converter is not None:
                fields.append((field["name"], converter))
        result = _record_converter(tuple(fields), encode) if fields else None
        named[full_name] = result
        named[schema["name"]] = result
        return result
    if kind == "array":
        item = compile_converter(schema["items"], encode, named)
        return None if item is None else (lambda value: [item(entry) for entry in value])
    if kind == "map":
        entry = compile_converter(schema["values"], encode, named)
        return None if entry is None else (lambda value: {k: entry(v) for k, v in value.items()})
    if isinstance(kind, (dict, list)):
        return compile_converter(kind, encode, named)
    return None


def _full_name(schema: Mapping[str, Any]) -> str:
    name: str = schema["name"]
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def _record_converter(fields: tuple[tuple[str, Converter], ...], encode: bool) -> Converter:
    if encode:

        def encode_record(value: Any) -> Any:
            out = dict(value)
            for name, converter in fields:
                if name in out:
                    out[name] = converter(out[name])
            return out

        return encode_record

    def decode_record(value: Any) -> Any:
        for name, converter in fields:
            value[name] = converter(value[name])
        return value

    return decode_record


# ---- explanations (slow path, after a failure) ---------------------------------------------------------------------

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def explain(schema: Any, datum: Any, path: str = "", named: dict[str, Any] | None = None) -> list[str]:
    """What is wrong with a JSON-form ``datum`` for ``schema``: one ``<path>: <rule>`` per problem, no values."""
    named = {} if named is None else named
    where = path or "event"
    if isinstance(schema, str) and schema in named:
        return explain(named[schema], datum, path, named)
    if isinstance(schema, str) and "." in schema and schema.rsplit(".", 1)[-1] in named:
        return explain(named[schema.rsplit(".", 1)[-1]], datum, path, named)
    if isinstance(schema, list):
        non_null = [branch for branch in schema if branch != "null"]
        if datum is None:
            return [] if "null" in schema else [f"{where}: must not be null"]
        if len(non_null) == 1:
            return explain(non_null[0], datum, path, named)
        if any(not explain(branch, datum, path, named) for branch in non_null):
            return []
        return [f"{where}: matches none of the union's types"]
    if isinstance(schema, dict):
        kind = schema["type"]
        if isinstance(kind, (dict, list)):
            return explain(kind, datum, path, named)
        logical = schema.get("logicalType")
        if logical is not None and kind in ("int", "long", "string"):
            return _explain_logical(logical, kind, datum, where)
        if kind == "record":
            return _explain_record(schema, datum, path, named)
        if kind == "enum":
            named[schema["name"]] = schema
            named[_full_name(schema)] = schema
            if not isinstance(datum, str) or datum not in schema["symbols"]:
                return [f"{where}: must be one of {', '.join(schema['symbols'])}"]
            return []
        if kind == "array":
            if not isinstance(datum, (list, tuple)):
                return [f"{where}: must be an array"]
            return [r for i, item in enumerate(datum) for r in explain(schema["items"], item, f"{path}.{i}", named)]
        if kind == "map":
            if not isinstance(datum, Mapping):
                return [f"{where}: must be an object"]
            return [r for k, v in datum.items() for r in explain(schema["values"], v, f"{path}.{k}", named)]
        if kind == "fixed":
            named[schema["name"]] = schema
            ok = isinstance(datum, bytes) and len(datum) == schema["size"]
            return [] if ok else [f"{where}: must be {schema['size']} bytes"]
        return explain(kind, datum, path, named)
    return _explain_primitive(schema, datum, where)


def _explain_record(schema: Mapping[str, Any], datum: Any, path: str, named: dict[str, Any]) -> list[str]:
    named[schema["name"]] = schema
    named[_full_name(schema)] = schema
    where = path or "event"
    if not isinstance(datum, Mapping):
        return [f"{where}: must be an object"]
    reasons = []
    names = {field["name"] for field in schema["fields"]}
    reasons += [f"{path + '.' if path else ''}{key}: unknown field" for key in datum if key not in names]
    for field in schema["fields"]:
        sub = f"{path}.{field['name']}" if path else field["name"]
        if field["name"] not in datum:
            nullable = isinstance(field["type"], list) and "null" in field["type"]
            if "default" not in field and not nullable:
                reasons.append(f"{sub}: required")
            continue
        reasons += explain(field["type"], datum[field["name"]], sub, named)
    return reasons


def _explain_logical(logical: str, kind: str, datum: Any, where: str) -> list[str]:
    if logical == "uuid":
        try:
            UUID(datum)
        except (TypeError, ValueError, AttributeError):
            return [f"{where}: must be a UUID"]
        return []
    encoder = _ENCODERS.get(logical)
    if encoder is None:
        return _explain_primitive(kind, datum, where)
    rule = "an ISO-8601 date" if logical == "date" else "an ISO-8601 time with a timezone"
    try:
        encoded = encoder(datum)
    except (TypeError, ValueError, OverflowError):
        return [f"{where}: must be {rule}"]
    return _explain_primitive(kind, encoded, where)


def _explain_primitive(kind: Any, datum: Any, where: str) -> list[str]:
    if kind == "null":
        return [] if datum is None else [f"{where}: must be null"]
    if kind == "boolean":
        return [] if isinstance(datum, bool) else [f"{where}: must be a boolean"]
    if kind in _INT_RANGE:
        low, high = _INT_RANGE[kind]
        if not isinstance(datum, int) or isinstance(datum, bool):
            return [f"{where}: must be an integer"]
        return [] if low <= datum <= high else [f"{where}: is out of range for {kind}"]
    if kind in ("float", "double"):
        ok = isinstance(datum, (int, float)) and not isinstance(datum, bool)
        return [] if ok else [f"{where}: must be a number"]
    if kind == "string":
        return [] if isinstance(datum, str) else [f"{where}: must be a string"]
    if kind == "bytes":
        return [] if isinstance(datum, (bytes, bytearray)) else [f"{where}: must be bytes"]
    return [f"{where}: has an unknown schema type"]
