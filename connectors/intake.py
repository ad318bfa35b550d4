"""Reading a partner's bytes: JSON and CSV parsing that turns *anything* a hostile or broken input can raise into a
:class:`~schakel.connectors.errors.RecordRejected` with a code and a reason. Pure: no I/O.

What a partner sends is read in this order, and each step refuses with a reason that names a rule, never a value:

1. **Size first** (the transports check it before reading; :func:`check_size` for bytes already in hand).
2. **UTF-8 only.** A UTF-8 byte-order mark is tolerated (Windows tools write one); UTF-16/32 and invalid bytes are
   refused - ``json.loads(bytes)`` would otherwise guess UTF-16 and read something the partner did not mean.
3. **Nesting depth** is measured on the text before parsing (strings stripped), so no parser recursion is ever
   reached: deeper than :data:`MAX_DEPTH` is refused.
4. **Values that cannot travel**: ``NaN`` / ``Infinity``, numbers outside the 64-bit range (Avro's ``long``) or
   beyond float range, a key that appears twice in one object (two readers would disagree on its value), lone
   surrogates (``"\\ud800"``: valid JSON, but no valid Unicode - the encoder downstream would crash), NUL characters.

Judgement call: *field names* the partner chose are shown in reasons only through :func:`partner_label` - as the
catalogue's own ``field_label`` does - because a partner may put data where a name belongs (an OM CSV column named
``Sara Meijer (BSN ...)``). Names that do not look like identifiers become ``<field name withheld>``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from schakel.connectors.errors import RecordRejected

__all__ = [
    "MAX_DEPTH",
    "check_size",
    "load_csv_records",
    "load_json_object",
    "load_json_records",
    "partner_label",
]

MAX_DEPTH = 16
"""Nesting depth a partner record may have (a flat record uses 2: a list of objects, or an object with a list)."""

_INT_RANGE = (-(2**63), 2**63 - 1)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)  # a string, or an unterminated one to the end
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _STEP)


def partner_label(key: object) -> str:
    """A partner's field name for a reason: shown when it looks like a field name, else withheld."""
    return key if isinstance(key, str) and _IDENTIFIER.match(key) else "<field name withheld>"


def check_size(raw: bytes, limit: int, code: str = "oversized-body") -> None:
    if len(raw) > limit:
        raise RecordRejected(code, f"the input is larger than {limit} bytes")


def _text(raw: bytes, code: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RecordRejected(code, "the input is UTF-16 or UTF-32; send UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecordRejected(code, "the input is not valid UTF-8") from None


def _deeper_than(raw: bytes, limit: int) -> bool:
    """Whether a JSON text nests brackets deeper than ``limit``, strings ignored. Linear time (possessive matching:
    no input can make the scan backtrack), never recursive, and without a Python step per character."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _RuleBrokenError(f"the key {partner_label(key)} appears twice in one object")
        result[key] = value
    return result


class _RuleBrokenError(ValueError):
    """A rule the parser hooks enforce; its message is safe to show (no values)."""


def _check_values(value: Any, code: str) -> None:
    """Lone surrogates, NUL characters and out-of-range numbers, anywhere in a parsed document (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_string(item, code)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not _INT_RANGE[0] <= item <= _INT_RANGE[1]:
                raise RecordRejected(code, "a number is outside the 64-bit range")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise RecordRejected(code, "a number is outside the range of a double")
        elif isinstance(item, Mapping):
            for key, member in item.items():
                _check_string(key, code)
                stack.append(member)
        elif isinstance(item, list):
            stack.extend(item)


def _check_string(text: str, code: str) -> None:
    if "\x00" in text:
        raise RecordRejected(code, "a text holds a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordRejected(code, "a text holds a lone surrogate (not valid Unicode)") from None


def _load_json(raw: bytes, code: str, max_depth: int) -> Any:
    text = _text(raw, code)
    if not text.strip():
        raise RecordRejected(code, "the input is empty")
    if _deeper_than(raw, max_depth):
        raise RecordRejected(code, f"the JSON is nested deeper than {max_depth} levels")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_pairs)
    except _RuleBrokenError as refused:
        raise RecordRejected(code, str(refused)) from None
    except (ValueError, RecursionError, MemoryError):  # int digit limits and syntax included
        raise RecordRejected(code, "the input is not valid JSON") from None
    _check_values(data, code)
    return data


def load_json_object(raw: bytes, *, max_depth: int = MAX_DEPTH, code: str = "malformed-json") -> dict[str, Any]:
    """One JSON object (a webhook body, an outbox row)."""
    data = _load_json(raw, code, max_depth)
    if not isinstance(data, dict):
        raise RecordRejected(code, "the input must be one JSON object")
    return data


def load_json_records(raw: bytes, *, max_depth: int = MAX_DEPTH, code: str = "malformed-json") -> list[dict[str, Any]]:
    """One JSON object or a non-empty list of objects (a dropped file)."""
    data = _load_json(raw, code, max_depth)
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise RecordRejected(code, "the file must hold a JSON object or a list of objects")
    return items


def load_csv_records(raw: bytes, *, code: str = "malformed-csv") -> list[dict[str, Any]]:
    """The rows of a CSV file with a header row, ``,`` or ``;`` separated; empty cells become None. A cell over the
    csv module's field limit (128 KiB) is refused as invalid CSV."""
    text = _text(raw, code)
    if "\x00" in text:
        raise RecordRejected(code, "the file holds a NUL character")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = [row for row in reader if row]
    except (csv.Error, ValueError, MemoryError):
        raise RecordRejected(code, f"the file is not valid CSV (line {reader.line_num})") from None
    if len(rows) < 2:
        raise RecordRejected(code, "the file needs a header row and at least one record")
    header = [column.strip() for column in rows[0]]
    if len(set(header)) != len(header) or any(not column for column in header):
        raise RecordRejected(code, "the header row has empty or repeated column names")
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RecordRejected(code, f"record {number - 1} has {len(row)} fields, the header {len(header)}")
        records.append({column: (value if value != "" else None) for column, value in zip(header, row, strict=True)})
    return records
