"""Strict decoding: what the Avro specification forbids (and encodings other than the canonical one) is rejected with
one DecodeError naming the field and the rule - never read as a plausible value, as fastavro's own reader does.

Peers: Apache Avro's cross-SDK rejection vectors (``data/binary-rejections.json``, see ``data/README.md``), run
through the generic strict entry point :func:`schakel.schemas.read_binary`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.schemas import (
    MAX_EVENT_BYTES,
    SINGLE_OBJECT_MAGIC,
    Codec,
    DecodeError,
    EventType,
    SchemaError,
    Theme,
    UnknownSchema,
    read_binary,
)
from schakel.schemas.examples import example_form
from tests.schemas.forged import forged, lax_read, layout
from tests.schemas.strategies import event_forms

CODEC = Codec()
VECTORS = json.loads((Path(__file__).parent / "data" / "binary-rejections.json").read_text(encoding="utf-8"))["vectors"]
NAME = "Jan Geheim"
BSN = "111222333"

# what each category of the Avro vectors must be rejected for
_CATEGORY_RULES = {
    "overlong_varint": "varint does not end within",
    "negative_block_count": "negative block count",
    "negative_length": "negative length",
    "union_index_out_of_range": "union branch index is out of range",
    "enum_index_out_of_range": "enum symbol index is out of range",
}


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_apache_avro_rejection_vectors_are_rejected(vector: dict[str, str]) -> None:
    with pytest.raises(DecodeError) as raised:
        read_binary(json.loads(vector["schema"]), bytes.fromhex(vector["bytesHex"]))
    assert _CATEGORY_RULES[vector["category"]] in str(raised.value)


def test_every_vector_category_has_an_expected_rule() -> None:
    assert {vector["category"] for vector in VECTORS} <= _CATEGORY_RULES.keys()
    assert len(VECTORS) >= 9


def _good(event_type: EventType = EventType.SIGNAL, **payload: Any) -> bytes:
    form = example_form(event_type, Theme.CTER, seed=3)
    form["subject"] = {"bsn": BSN, "name": NAME, "birth_date": "2001-02-03", "pseudonym": None}
    form["payload"].update(payload)
    return CODEC.encode_json(form)


def _contribution() -> bytes:
    return _good(EventType.INFORMATION_CONTRIBUTION, secrecy_ground="consent", in_care=True)


# (case, forged bytes, what fastavro alone reads there (None: it fails too), the reason the codec gives)
FORGED: list[tuple[str, Any, Any, str]] = [
    (
        "negative enum index in a union (secrecy ground -1)",
        lambda: forged(_contribution(), ("payload", "secrecy_ground"), layout("long", "long"), {"f0": 1, "f1": -1}),
        ("payload", "secrecy_ground", "conflict_of_duties"),
        "payload.secrecy_ground: enum symbol index is out of range 0..2",
    ),
    (
        "negative enum index (theme -1)",
        lambda: forged(_good(), ("theme",), "long", -1),
        ("theme", "OTHER"),
        "theme: enum symbol index is out of range 0..3",
    ),
    (
        "negative union index (case_id -1 picks the string)",
        lambda: forged(_good(), ("case_id",), layout("long", "string"), {"f0": -1, "f1": "C-1"}),
        ("case_id", "C-1"),
        "case_id: union branch index is out of range 0..1",
    ),
    (
        "negative union index (-2 picks null)",
        lambda: forged(_good(), ("payload", "urgency"), "long", -2),
        ("payload", "urgency", None),
        "payload.urgency: union branch index is out of range 0..1",
    ),
    (
        "boolean 02",
        lambda: forged(_contribution(), ("payload", "in_care"), layout("long", "long"), {"f0": 1, "f1": 1}),
        ("payload", "in_care", True),
        "payload.in_care: boolean is neither 00 nor 01",
    ),
    (
        "boolean ff",
        lambda: forged(
            _contribution(),
            ("payload", "in_care"),
            layout("long", {"type": "fixed", "name": "B", "size": 1}),
            {"f0": 1, "f1": b"\xff"},
        ),
        ("payload", "in_care", True),
        "payload.in_care: boolean is neither 00 nor 01",
    ),
    (
        "long varint of 11 bytes",
        lambda: forged(_good(), ("time",), {"type": "fixed", "name": "T", "size": 11}, b"\x80" * 10 + b"\x01"),
        None,
        "time: long varint does not end within 10 bytes",
    ),
    (
        "long varint whose tenth byte overflows 64 bits",
        lambda: forged(_good(), ("time",), {"type": "fixed", "name": "T", "size": 10}, b"\x80" * 9 + b"\x02"),
        ("time", 0),
        "time: long is out of the 64-bit range",
    ),
    (
        "varint longer than its value needs (82 00 for 1)",
        lambda: forged(_good(), ("time",), {"type": "fixed", "name": "T", "size": 2}, b"\x82\x00"),
        ("time", 1),
        "time: long varint is longer than its value needs (not canonical)",
    ),
    (
        "int out of the 32-bit range (birth date)",
        lambda: forged(_good(), ("subject", "birth_date"), layout("long", "long"), {"f0": 1, "f1": 2**31}),
        ("subject", "birth_date", 2**31),
        "subject.birth_date: int is out of the 32-bit range",
    ),
    (
        "negative string length",
        lambda: forged(_good(), ("purpose",), "long", -3),
        None,
        "purpose: negative length of a string",
    ),
    (
        "array with a negative block count and a byte size",
        lambda: forged(
            _good(), ("addressees",), layout("long", "long", "string", "long"), {"f0": -1, "f1": 3, "f2": "om", "f3": 0}
        ),
        ("addressees", ["om"]),
        "addressees: an array has a negative block count",
    ),
    (
        "array in two blocks",
        lambda: forged(
            _good(),
            ("addressees",),
            layout("long", "string", "long", "string", "long"),
            {"f0": 1, "f1": "om", "f2": 1, "f3": "ggz", "f4": 0},
        ),
        ("addressees", ["om", "ggz"]),
        "addressees: an array is written in more than one block (not canonical)",
    ),
    (
        "array claiming 2**31 items",
        lambda: forged(_good(), ("addressees",), layout("long", "string"), {"f0": 2**31, "f1": "om"}),
        None,
        "addressees: truncated, an array claims more items than bytes remain",
    ),
    (
        "invalid UTF-8 (a surrogate)",
        lambda: forged(_good(), ("purpose",), "bytes", b"\xed\xa0\x80"),
        None,
        "purpose: string is not valid UTF-8",
    ),
    ("a byte after the record", lambda: _good() + b"\x00", None, "body: 1 bytes left after the record"),
]


@pytest.mark.parametrize(("case", "make", "lax", "reason"), FORGED, ids=[case[0] for case in FORGED])
def test_forbidden_bytes_are_rejected_naming_field_and_rule(case: str, make: Any, lax: Any, reason: str) -> None:
    data = make()
    if lax is not None:  # the bytes are meaningful: fastavro alone turns them into a plausible value
        *path, expected = lax
        value: Any = lax_read(data)
        for name in path:
            value = value[name]
        assert value == expected
    for decode in (CODEC.decode_json, CODEC.decode):
        with pytest.raises(DecodeError) as raised:
            decode(data)
        message = str(raised.value)
        assert reason in message
        assert NAME not in message
        assert BSN not in message


def test_input_larger_than_the_maximum_is_refused_before_parsing() -> None:
    at_limit = SINGLE_OBJECT_MAGIC + bytes(MAX_EVENT_BYTES - 2)  # an unknown fingerprint, which parsing reports
    with pytest.raises(UnknownSchema):
        CODEC.decode_json(at_limit)
    for decode in (CODEC.decode_json, CODEC.decode):
        with pytest.raises(DecodeError, match=f"record too large \\({MAX_EVENT_BYTES + 1} bytes") as raised:
            decode(at_limit + b"\x00")
        assert "fingerprint" not in str(raised.value)


def test_the_generic_entry_point_reads_every_schema_kind() -> None:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "m", "type": {"type": "map", "values": ["null", "double"]}},
            {"name": "f", "type": "float"},
            {"name": "x", "type": {"type": "fixed", "name": "X", "size": 2}},
            {"name": "b", "type": "bytes"},
            {"name": "next", "type": ["null", "R"]},
        ],
    }
    value = {
        "m": {"k": 1.0, "l": None},
        "f": 1.5,
        "x": b"cd",
        "b": b"y",
        "next": {"m": {}, "f": -2.0, "x": b"ab", "b": b"", "next": None},
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    assert read_binary(schema, out.getvalue()) == value
    with pytest.raises(DecodeError, match="a map repeats a key"):
        read_binary({"type": "map", "values": "null"}, b"\x04\x02k\x02k\x00")


def test_deep_nesting_of_a_recursive_schema_is_rejected_not_a_crash() -> None:
    schema = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}
    assert read_binary(schema, b"\x02\x02\x00") == {"next": {"next": {"next": None}}}
    with pytest.raises(DecodeError, match="nested too deeply"):
        read_binary(schema, b"\x02" * 100_000 + b"\x00")


@st.composite
def _mutated(draw: st.DrawFn, event_type: EventType) -> tuple[bytes, bytes]:
    data = CODEC.encode_json(draw(event_forms(event_type)))
    position = draw(st.integers(0, len(data) - 1))
    how = draw(st.sampled_from(["flip", "insert", "delete"]))
    if how == "flip":
        byte = data[position] ^ draw(st.integers(1, 255))
        return data, data[:position] + bytes([byte]) + data[position + 1 :]
    if how == "insert":
        return data, data[:position] + bytes([draw(st.integers(0, 255))]) + data[position:]
    return data, data[:position] + data[position + 1 :]


@pytest.mark.parametrize("event_type", list(EventType))
def test_one_changed_byte_is_rejected_or_reads_back_to_exactly_those_bytes(event_type: EventType) -> None:
    @given(_mutated(event_type))
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def check(pair: tuple[bytes, bytes]) -> None:
        _, mutated = pair
        try:
            form = CODEC.decode_json(mutated)
        except SchemaError:
            return
        assert CODEC.encode_json(form) == mutated

    check()
