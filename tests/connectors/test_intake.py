"""Reading a partner's bytes (pure): everything a hostile input can make a parser raise becomes a RecordRejected with
a reason that names a rule, never a value; field names that are not identifiers are withheld from reasons."""

from __future__ import annotations

import codecs
import json

import pytest

from schakel.connectors.errors import RecordRejected
from schakel.connectors.intake import (
    MAX_DEPTH,
    load_csv_records,
    load_json_object,
    load_json_records,
    partner_label,
)
from schakel.connectors.partners import om, politie

GOOD = {"soort": "registratie", "nummer": "1"}

JSON_POISON: list[tuple[str, bytes]] = [
    ("deep lists", b"[" * 50_000 + b"]" * 50_000),
    ("deep objects", b'{"a":' * 5_000 + b"1" + b"}" * 5_000),
    ("one level too deep", b'{"a":' * MAX_DEPTH + b"[1]" + b"}" * MAX_DEPTH),
    ("lone surrogate document", b'"\\ud800"'),
    ("lone surrogate value", b'{"soort": "\\ud800"}'),
    ("lone surrogate key", b'{"\\udfff": 1}'),
    ("escaped NUL", b'{"soort": "a\\u0000b"}'),
    ("raw NUL", b'{"soort": "a\x00b"}'),
    ("invalid UTF-8", b'{"soort": "\xff\xfe\xfd"}'),
    ("UTF-16 LE with BOM", codecs.BOM_UTF16_LE + json.dumps(GOOD).encode("utf-16-le")),
    ("UTF-16 BE with BOM", codecs.BOM_UTF16_BE + json.dumps(GOOD).encode("utf-16-be")),
    ("UTF-16 without BOM", json.dumps(GOOD).encode("utf-16-le")),
    ("UTF-32", json.dumps(GOOD).encode("utf-32")),
    ("two BOMs", codecs.BOM_UTF8 * 2 + json.dumps(GOOD).encode()),
    ("NaN", b'{"n": NaN}'),
    ("Infinity", b'{"n": -Infinity}'),
    ("float overflow", b'{"n": 1e999999}'),
    ("int above 64 bits", b'{"n": 9223372036854775808}'),
    ("int below 64 bits", b'{"n": -9223372036854775809}'),
    ("int of 5000 digits", b'{"n": ' + b"7" * 5000 + b"}"),
    ("duplicate key", b'{"soort": "registratie", "soort": "signaal"}'),
    ("empty", b""),
    ("whitespace", b" \n\t "),
    ("BOM only", codecs.BOM_UTF8),
    ("truncated", b'{"soort": "registratie", '),
    ("null", b"null"),
    ("a number", b"42"),
    ("a string", b'"registratie"'),
    ("an empty list", b"[]"),
    ("a list of numbers", b"[1, 2, 3]"),
    ("a list with a nested list", b'[{"a": 1}, [2]]'),
    ("trailing garbage", b'{"a": 1} {"b": 2}'),
    ("single quotes", b"{'a': 1}"),
]


@pytest.mark.parametrize(("label", "raw"), JSON_POISON, ids=[label for label, _ in JSON_POISON])
def test_json_poison_is_refused_with_a_reason(label: str, raw: bytes) -> None:
    for load in (load_json_object, load_json_records):
        with pytest.raises(RecordRejected) as refused:
            load(raw)
        assert refused.value.code == "malformed-json", label
        assert refused.value.reason


def test_a_utf8_bom_and_the_allowed_depth_are_read() -> None:
    assert load_json_object(codecs.BOM_UTF8 + json.dumps(GOOD).encode()) == GOOD
    nested = b'{"a":' * (MAX_DEPTH - 1) + b"1" + b"}" * (MAX_DEPTH - 1)
    assert load_json_object(nested)
    assert load_json_records(b'[{"a": "[[[[[[[[[[[[[[[[[[[[[[[["}]') == [{"a": "[" * 24}]  # brackets in strings


def test_reasons_never_repeat_values_or_names() -> None:
    raw = b'{"Sara Meijer (BSN 999990019)": "x", "Sara Meijer (BSN 999990019)": "y"}'  # a duplicate key
    with pytest.raises(RecordRejected) as refused:
        load_json_object(raw)
    assert "Sara" not in str(refused.value)
    assert "999990019" not in str(refused.value)


CSV_POISON: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("header only", b"soort;nummer\n"),
    ("NUL byte", b"soort;nummer\nsignaal;1\x00\n"),
    ("UTF-16", "soort;nummer\nsignaal;1\n".encode("utf-16")),
    ("invalid UTF-8", b"soort;nummer\nsignaal;\xff\xfe\n"),
    ("unterminated quote", b'soort;nummer\nsignaal;"open\n'),
    ("too many fields", b"soort;nummer\nsignaal;1;2;3\n"),
    ("too few fields", b"soort;nummer;bsn\nsignaal\n"),
    ("repeated column", b"soort;soort\na;b\n"),
    ("empty column name", b"soort;;nummer\na;b;c\n"),
    ("field over the csv limit", b"soort;nummer\nsignaal;" + b"x" * 200_000 + b"\n"),
    ("header with a newline in a name", b'"Sara Meijer\n(BSN 999990019)";soort\n1;signaal\n2\n'),
]


@pytest.mark.parametrize(("label", "raw"), CSV_POISON, ids=[label for label, _ in CSV_POISON])
def test_csv_poison_is_refused_with_a_reason(label: str, raw: bytes) -> None:
    with pytest.raises(RecordRejected) as refused:
        load_csv_records(raw)
    assert refused.value.code == "malformed-csv", label
    assert "Sara" not in refused.value.reason
    assert "\n" not in refused.value.reason


def test_a_column_named_after_a_person_is_not_repeated_in_the_reason() -> None:
    """Issue 10 item 7: an OM column named "Sara Meijer (BSN ...)" appeared verbatim in the reason."""
    header = "soort;berichtnummer;bsn;parketnummer;Sara Meijer (BSN 999990019)\n"
    rows = load_csv_records((header + "signaal;OM-9;999990019;15-000001-26;ja\n").encode())
    with pytest.raises(RecordRejected) as refused:
        om.MAPPING.to_event(rows[0])
    assert refused.value.code == "invalid-record"
    assert "Sara" not in refused.value.reason
    assert "999990019" not in refused.value.reason
    assert "<field name withheld>" in refused.value.reason


def test_a_reference_that_is_not_text_or_a_number_is_refused() -> None:
    record = politie.MAPPING.example("registratie")
    record[politie.MAPPING.reference_field] = {"nested": "999990019"}
    with pytest.raises(RecordRejected) as refused:
        politie.MAPPING.to_event(record)
    assert refused.value.code == "invalid-record"
    assert "999990019" not in refused.value.reason


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("bsn", "bsn"),
        ("gedrags_omschrijving", "gedrags_omschrijving"),
        ("Sara Meijer", None),
        ("a\nb", None),
        (3, None),
    ],
)
def test_partner_labels(key: object, shown: str | None) -> None:
    assert partner_label(key) == (shown or "<field name withheld>")


def test_the_depth_scan_cannot_be_made_quadratic() -> None:
    """An unterminated string of escaped quotes made a backtracking scan try every quote as a new start (20,000 of
    them took 28 s); the possessive scan reads it once. A regression shows as the test run's timeout, not a timer."""
    with pytest.raises(RecordRejected) as refused:
        load_json_object(b'{"a": "' + b'\\"' * 100_000)
    assert refused.value.code == "malformed-json"
