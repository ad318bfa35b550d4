"""A strict Avro binary reader: the bytes a schema allows, in their one canonical form, or a rejection naming the
field and the rule - never a value.

fastavro reads what the Avro specification forbids and returns plausible values: a negative enum or union index picks
a symbol or branch from the end of the list (``secrecy_ground`` -1 reads as the last ground), any non-zero byte is a
true boolean, a varint runs on past 10 bytes, an ``int`` is not checked against 32 bits, and an array of 2**31 nulls
is built in memory. A corrupted or forged record would then decode into a *different* event than its sender wrote.
So the codec reads with this module instead (:func:`compile_reader`, once per schema), which rejects:

1. enum and union indexes outside ``0..n-1`` (negative included);
2. booleans other than ``00`` / ``01``;
3. negative lengths of ``bytes`` and ``string``;
4. varints that do not terminate within 10 bytes (``long``) or 5 bytes (``int``), and ``int`` values outside 32 bits;
5. strings that are not valid UTF-8 (Python's strict decoder: no surrogates, no over-long forms);
6. arrays and maps that claim more items than bytes remain (a memory bomb, or plain truncation);
7. a truncated record, and bytes left after it (:func:`read_binary`; the codec checks the same);
8. **non-canonical encodings**: a varint longer than its value needs (``82 00`` for 1), arrays or maps written
   in more than one block or with a negative block count and byte size, and a map that repeats a key;
9. values nested deeper than Python's recursion allows (a recursive schema), instead of crashing.

*Why 8, although the specification allows those forms:* one value has exactly one encoding, so every accepted record
re-encodes to the very bytes that arrived (the property ``tests/schemas/test_strict.py`` proves with hypothesis), a
content hash of the bytes is a hash of the event, and a forger cannot smuggle a second byte form of the same event
past a byte-level comparison. Every writer the hub's partners use writes this form (fastavro, Java's
``BinaryEncoder``, the schakel codec); Java's ``BlockingBinaryEncoder`` and writers that split long arrays into blocks
do not, and are refused with a rule that says so. The bounded lists of the models (``_models``) keep every array of
an event far below the block sizes such writers split at.

*Why not fastavro plus a re-encode-and-compare:* the measured cost of fastavro's writer is about that of its reader,
which would halve the decoding rate against the codec's budget (``decode_json`` >= 0.85x raw fastavro, ``make bench``);
this reader replaces fastavro's on the hot path instead of adding a pass. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from struct import Struct
from typing import Any

from schakel.schemas._errors import DecodeError

__all__ = ["MalformedError", "Reader", "compile_reader", "read_all", "read_binary"]

Reader = Callable[[bytes, int], tuple[Any, int]]
"""Reads one value from ``data`` at ``pos``: ``(value, position after it)``; raises :class:`MalformedError`."""

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_FLOAT = Struct("<f").unpack_from
_DOUBLE = Struct("<d").unpack_from


class MalformedError(ValueError):
    """The bytes break a rule. ``path`` holds the field names and positions from the top down to the value, ``rule``
    what is wrong with it - neither ever holds a value."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule
        self.path: list[str] = []

    @property
    def reason(self) -> str:
        """``<field path>: <rule>`` (``body`` when the value is the whole record)."""
        return f"{'.'.join(self.path) or 'body'}: {self.rule}"


# ---- varints -------------------------------------------------------------------------------------------------------


def _varint(data: bytes, pos: int, limit: int, what: str) -> tuple[int, int]:
    """A zig-zag varint of at most ``limit`` bytes (10 for a long, 5 for an int), in its shortest form."""
    raw = 0
    shift = 0
    for count in range(limit):
        try:
            byte = data[pos + count]
        except IndexError:
            raise MalformedError("truncated, the data ends inside the record") from None
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            if byte == 0 and count:
                raise MalformedError(f"{what} varint is longer than its value needs (not canonical)")
            if raw >> (64 if limit == 10 else 32):
                raise MalformedError(f"{what} is out of the {64 if limit == 10 else 32}-bit range")
            return (raw >> 1) ^ -(raw & 1), pos + count + 1
        shift += 7
    raise MalformedError(f"{what} varint does not end within {limit} bytes")


def _long(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    return _varint(data, pos, 10, "long")


def _int(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    return _varint(data, pos, 5, "int")


def _length(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """A non-negative length of ``bytes`` or a ``string`` that the remaining bytes can hold."""
    byte = data[pos]
    if byte < 0x80:
        if byte & 1:
            raise MalformedError(f"negative {what}")
        size, end = byte >> 1, pos + 1
    else:
        size, end = _varint(data, pos, 10, "length")
        if size < 0:
            raise MalformedError(f"negative {what}")
    if size > len(data) - end:
        raise MalformedError(f"truncated, the {what} runs past the end of the data")
    return size, end


# ---- readers per schema type ---------------------------------------------------------------------------------------


def _null(_data: bytes, pos: int) -> tuple[None, int]:
    return None, pos


def _boolean(data: bytes, pos: int) -> tuple[bool, int]:
    byte = data[pos]
    if byte > 1:
        raise MalformedError("boolean is neither 00 nor 01")
    return byte == 1, pos + 1


def _float(data: bytes, pos: int) -> tuple[float, int]:
    if pos + 4 > len(data):
        raise IndexError
    return _FLOAT(data, pos)[0], pos + 4


def _double(data: bytes, pos: int) -> tuple[float, int]:
    if pos + 8 > len(data):
        raise IndexError
    return _DOUBLE(data, pos)[0], pos + 8


def _bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = _length(data, pos, "length of bytes")
    return data[pos : pos + size], pos + size


def _string(data: bytes, pos: int) -> tuple[str, int]:
    byte = data[pos]
    if byte < 0x80 and not byte & 1:
        end = pos + 1 + (byte >> 1)
        if end > len(data):
            raise MalformedError("truncated, the length of a string runs past the end of the data")
        return data[pos + 1 : end].decode(), end
    size, pos = _length(data, pos, "length of a string")
    return data[pos : pos + size].decode(), pos + size


_PRIMITIVE_READERS: Mapping[str, Reader] = {
    "null": _null,
    "boolean": _boolean,
    "int": _int,
    "long": _long,
    "float": _float,
    "double": _double,
    "bytes": _bytes,
    "string": _string,
}


def _index(data: bytes, pos: int, count: int, what: str) -> tuple[int, int]:
    index, end = _long(data, pos)
    if not 0 <= index < count:
        raise MalformedError(f"{what} index is out of range 0..{count - 1}")
    return index, end


def _enum(symbols: tuple[str, ...]) -> Reader:
    count = len(symbols)

    def read_enum(data: bytes, pos: int) -> tuple[str, int]:
        byte = data[pos]
        if byte < 0x80 and not byte & 1 and byte >> 1 < count:
            return symbols[byte >> 1], pos + 1
        index, end = _index(data, pos, count, "enum symbol")
        return symbols[index], end

    return read_enum


def _union(branches: tuple[Reader, ...]) -> Reader:
    count = len(branches)
    if count == 2 and branches[0] is _null:  # ["null", T]: most of the catalogue's fields
        other = branches[1]

        def read_optional(data: bytes, pos: int) -> tuple[Any, int]:
            byte = data[pos]
            if byte == 0:
                return None, pos + 1
            if byte == 2:
                return other(data, pos + 1)
            index, end = _index(data, pos, 2, "union branch")  # rejects: 00 and 02 are the only forms of 0 and 1
            return (None, end) if index == 0 else other(data, end)

        return read_optional

    def read_union(data: bytes, pos: int) -> tuple[Any, int]:
        index, pos = _index(data, pos, count, "union branch")
        return branches[index](data, pos)

    return read_union


def _blocks(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """The item count of an array or map in canonical form: one block of a positive count, then ``00``."""
    byte = data[pos]
    if byte == 0:
        return 0, pos + 1
    count, end = ((byte >> 1) ^ -(byte & 1), pos + 1) if byte < 0x80 else _long(data, pos)
    if count < 0:
        raise MalformedError(f"{what} has a negative block count (blocks with a byte size are not canonical)")
    if count > len(data) - end:
        raise MalformedError(f"truncated, {what} claims more items than bytes remain")
    return count, end


def _end_of_blocks(data: bytes, pos: int, what: str) -> int:
    if data[pos] != 0:
        raise MalformedError(f"{what} is written in more than one block (not canonical)")
    return pos + 1


def _array(items: Reader) -> Reader:
    def read_array(data: bytes, pos: int) -> tuple[list[Any], int]:
        count, pos = _blocks(data, pos, "an array")
        if not count:
            return [], pos
        out = []
        try:
            for index in range(count):  # noqa: B007 - the rejection names it
                value, pos = items(data, pos)
                out.append(value)
        except MalformedError as rejected:
            rejected.path.insert(0, str(index))
            raise
        except (IndexError, UnicodeDecodeError) as error:
            raise _rejection(error, str(index)) from None
        return out, _end_of_blocks(data, pos, "an array")

    return read_array


def _map(values: Reader) -> Reader:
    def read_map(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        count, pos = _blocks(data, pos, "a map")
        if not count:
            return {}, pos
        out = {}
        try:
            for index in range(count):  # noqa: B007 - the rejection names it
                key, pos = _string(data, pos)
                out[key], pos = values(data, pos)
        except MalformedError as rejected:
            rejected.path.insert(0, str(index))
            raise
        except (IndexError, UnicodeDecodeError) as error:
            raise _rejection(error, str(index)) from None
        if len(out) != count:
            raise MalformedError("a map repeats a key")
        return out, _end_of_blocks(data, pos, "a map")

    return read_map


def _fixed(size: int) -> Reader:
    def read_fixed(data: bytes, pos: int) -> tuple[bytes, int]:
        end = pos + size
        if end > len(data):
            raise IndexError
        return data[pos:end], end

    return read_fixed


def _record(fields: tuple[tuple[str, Reader], ...]) -> Reader:
    def read_record(data: bytes, pos: int) -> tuple[dict[str, Any], int]:
        out = {}
        try:
            for name, read in fields:
                out[name], pos = read(data, pos)
        except MalformedError as rejected:
            rejected.path.insert(0, name)
            raise
        except (IndexError, UnicodeDecodeError) as error:
            raise _rejection(error, name) from None
        return out, pos

    return read_record


def _rejection(error: Exception, where: str) -> MalformedError:
    rejected = MalformedError(
        "string is not valid UTF-8"
        if isinstance(error, UnicodeDecodeError)
        else "truncated, the data ends inside the record"
    )
    rejected.path.append(where)
    return rejected


# ---- compiling a schema --------------------------------------------------------------------------------------------


def compile_reader(schema: Any) -> Reader:
    """A strict reader for ``schema`` (an Avro schema in its JSON form, logical types are read as their primitive).
    Raises ``ValueError`` for a schema it cannot read."""
    return _compile(schema, {}, None)


def _compile(schema: Any, named: dict[str, Reader], namespace: str | None) -> Reader:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVE_READERS[schema]
        full = schema if "." in schema or namespace is None else f"{namespace}.{schema}"
        found = named.get(full) or named.get(schema)
        if found is None:
            raise ValueError(f"unknown type name {schema!r}")
        return found
    if isinstance(schema, list):
        return _union(tuple(_compile(branch, named, namespace) for branch in schema))
    if not isinstance(schema, Mapping):
        raise ValueError("a schema must be a name, a list or an object")
    kind = schema.get("type")
    if isinstance(kind, (list, Mapping)):
        return _compile(kind, named, namespace)
    if kind in _PRIMITIVES:
        return _PRIMITIVE_READERS[kind]
    if kind not in ("record", "error", "enum", "fixed", "array", "map"):
        return _compile(kind, named, namespace)
    if kind == "array":
        return _array(_compile(schema["items"], named, namespace))
    if kind == "map":
        return _map(_compile(schema["values"], named, namespace))
    name: str = schema["name"]
    inner = schema.get("namespace", namespace) if "." not in name else name.rsplit(".", 1)[0]
    full = name if "." in name or not inner else f"{inner}.{name}"
    if kind == "enum":
        reader = named[full] = _enum(tuple(schema["symbols"]))
        return reader
    if kind == "fixed":
        reader = named[full] = _fixed(int(schema["size"]))
        return reader
    fields: list[tuple[str, Reader]] = []
    late: list[Reader] = []

    def recursive(data: bytes, pos: int) -> tuple[Any, int]:  # a record that refers to itself
        return late[0](data, pos)

    named[full] = recursive
    for field in schema["fields"]:
        fields.append((field["name"], _compile(field["type"], named, inner)))
    reader = _record(tuple(fields))
    late.append(reader)
    named[full] = reader
    return reader


def read_binary(schema: Any, body: bytes) -> Any:
    """The value of ``body`` (Avro binary encoding, nothing before or after it) for ``schema`` (JSON form), read as
    strictly as the codec reads events. Raises :class:`DecodeError` naming the field and the rule. The generic entry
    point, for any schema; the codec compiles each schema once instead."""
    try:
        return read_all(compile_reader(schema), body)
    except MalformedError as malformed:
        raise DecodeError("cannot decode", [malformed.reason]) from None


def read_all(reader: Reader, body: bytes) -> Any:
    """Run a compiled reader over the whole of ``body``: truncation and bytes left after the value are rejected."""
    try:
        value, end = reader(body, 0)
    except (IndexError, UnicodeDecodeError) as error:
        rejected = _rejection(error, "")
        rejected.path.clear()
        raise rejected from None
    except RecursionError:
        raise MalformedError("values are nested too deeply") from None
    if end != len(body):
        raise MalformedError(f"{len(body) - end} bytes left after the record")
    return value
