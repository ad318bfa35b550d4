"""The compatibility checker, rule by rule (Avro specification, "Schema Resolution"), and against fastavro."""

from __future__ import annotations

import copy
import io
from typing import Any

import fastavro
import pytest

from schakel.schemas import EventType, event_schema
from schakel.schemas._compatibility import check_compatibility, resolution_problems


def record(*fields: dict[str, Any], name: str = "R") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


def field(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def can_read(reader: Any, writer: Any) -> bool:
    return not resolution_problems(reader, writer)


def test_identical_schemas_are_compatible() -> None:
    for event_type in EventType:
        assert check_compatibility(event_schema(event_type), event_schema(event_type)) == []


@pytest.mark.parametrize(
    ("writer", "reader"),
    [("int", "long"), ("int", "float"), ("int", "double"), ("long", "float"), ("long", "double"),
     ("float", "double"), ("string", "bytes"), ("bytes", "string")],
)  # fmt: skip
def test_promotions_are_readable_one_way(writer: str, reader: str) -> None:
    assert can_read(reader, writer)
    if {writer, reader} != {"string", "bytes"}:
        assert not can_read(writer, reader)


@pytest.mark.parametrize(
    ("writer", "reader"), [("string", "int"), ("boolean", "int"), ("long", "int"), ("null", "string")]
)
def test_type_changes_that_do_not_promote(writer: str, reader: str) -> None:
    problems = resolution_problems(record(field("a", reader)), record(field("a", writer)))
    assert problems == [("a", f"type changed from {writer} to {reader}, which does not promote")]


def test_field_added_without_default_breaks_backward() -> None:
    old = record(field("a", "string"))
    new = record(field("a", "string"), field("b", "string"))
    problems = check_compatibility(new, old)
    assert [(p.direction, p.path) for p in problems] == [("backward", "b")]
    assert "no default" in problems[0].problem


def test_field_added_with_default_is_fully_compatible() -> None:
    old = record(field("a", "string"))
    new = record(field("a", "string"), field("b", ["null", "string"], default=None))
    assert check_compatibility(new, old) == []


def test_field_removed_without_default_breaks_forward() -> None:
    old = record(field("a", "string"), field("b", "string"))
    new = record(field("a", "string"))
    problems = check_compatibility(new, old)
    assert [(p.direction, p.path) for p in problems] == [("forward", "b")]


def test_field_removed_that_had_a_default_is_fully_compatible() -> None:
    old = record(field("a", "string"), field("b", ["null", "string"], default=None))
    new = record(field("a", "string"))
    assert check_compatibility(new, old) == []


def test_renamed_field_with_alias_reads_old_data() -> None:
    old = record(field("a", "string"))
    new = record(field("b", "string", aliases=["a"]))
    assert can_read(new, old)
    assert not can_read(old, new)


def test_enum_symbol_added_without_default_breaks_forward() -> None:
    old = record(field("e", {"type": "enum", "name": "E", "symbols": ["A", "B"]}))
    new = record(field("e", {"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}))
    problems = check_compatibility(new, old)
    assert [(p.direction, p.path) for p in problems] == [("forward", "e")]
    assert "C" in problems[0].problem


def test_enum_symbol_added_is_fine_when_the_old_reader_has_a_default() -> None:
    old = record(field("e", {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "A"}))
    new = record(field("e", {"type": "enum", "name": "E", "symbols": ["A", "B", "C"], "default": "A"}))
    assert check_compatibility(new, old) == []


def test_enum_symbol_removed_breaks_backward() -> None:
    old = record(field("e", {"type": "enum", "name": "E", "symbols": ["A", "B"]}))
    new = record(field("e", {"type": "enum", "name": "E", "symbols": ["A"]}))
    assert [p.direction for p in check_compatibility(new, old)] == ["backward"]


def test_named_type_renamed_breaks_both_ways() -> None:
    old = record(field("e", {"type": "enum", "name": "E", "symbols": ["A"]}))
    new = record(field("e", {"type": "enum", "name": "F", "symbols": ["A"]}))
    assert sorted(p.direction for p in check_compatibility(new, old)) == ["backward", "forward"]
    aliased = record(field("e", {"type": "enum", "name": "F", "aliases": ["E"], "symbols": ["A"]}))
    assert can_read(aliased, old)


def test_union_gaining_a_branch_breaks_forward_only() -> None:
    old = record(field("u", ["null", "string"], default=None))
    new = record(field("u", ["null", "string", "int"], default=None))
    problems = check_compatibility(new, old)
    assert [(p.direction, p.path) for p in problems] == [("forward", "u")]
    assert "int" in problems[0].problem


def test_writer_union_to_reader_non_union() -> None:
    assert not can_read(record(field("u", "string")), record(field("u", ["null", "string"])))
    assert can_read(record(field("u", ["null", "string"])), record(field("u", "string")))
    assert can_read(record(field("u", ["null", "long"])), record(field("u", "int")))  # promotion into a union


def test_nested_records_are_checked_with_paths() -> None:
    inner_old = record(field("x", "int"), name="Inner")
    inner_new = record(field("x", "int"), field("y", "int"), name="Inner")
    old = record(field("inner", inner_old))
    new = record(field("inner", inner_new))
    assert [(p.direction, p.path) for p in check_compatibility(new, old)] == [("backward", "inner.y")]


def test_arrays_and_maps_resolve_their_items() -> None:
    old = record(field("a", {"type": "array", "items": "int"}), field("m", {"type": "map", "values": "int"}))
    new = record(field("a", {"type": "array", "items": "long"}), field("m", {"type": "map", "values": "string"}))
    problems = check_compatibility(new, old)
    paths = sorted((p.direction, p.path) for p in problems)
    assert paths == [("backward", "m{}"), ("forward", "a[]"), ("forward", "m{}")]


def test_fixed_size_change() -> None:
    old = record(field("f", {"type": "fixed", "name": "F", "size": 4}))
    new = record(field("f", {"type": "fixed", "name": "F", "size": 8}))
    assert len(check_compatibility(new, old)) == 2


def test_named_type_references_are_resolved() -> None:
    enum = {"type": "enum", "name": "E", "symbols": ["A", "B"]}
    old = record(field("first", enum), field("second", "E"))
    new = record(field("first", {**enum, "symbols": ["A"]}), field("second", "t.E"))
    problems = resolution_problems(new, old)
    assert [path for path, _ in problems] == ["first", "second"]


def test_logical_type_change_is_reported() -> None:
    old = record(field("t", {"type": "long", "logicalType": "timestamp-millis"}))
    new = record(field("t", {"type": "long", "logicalType": "timestamp-micros"}))
    assert len(check_compatibility(new, old)) == 2
    assert "logical type" in str(check_compatibility(new, old)[0])


def test_a_realistic_catalogue_change() -> None:
    """A new optional payload field and a new theme with the enum's default keep the catalogue compatible; a new
    required field does not."""
    old = event_schema(EventType.SIGNAL)
    new = copy.deepcopy(old)
    new["fields"][-1]["type"]["fields"].append(field("school", ["null", "string"], default=None, sensitivity="youth"))
    next(f for f in new["fields"] if f["name"] == "theme")["type"]["symbols"].append("CYBER")
    assert check_compatibility(new, old) == []
    new["fields"][-1]["type"]["fields"].append(field("mandatory", "string", sensitivity="plain"))
    problems = check_compatibility(new, old)
    assert [(p.direction, p.path) for p in problems] == [("backward", "payload.mandatory")]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (record(field("a", "int")), record(field("a", "long"))),
        (record(field("a", "int")), record(field("a", "int"), field("b", "string", default="x"))),
        (record(field("e", {"type": "enum", "name": "E", "symbols": ["A", "B"]})),
         record(field("e", {"type": "enum", "name": "E", "symbols": ["A"]}))),
        (record(field("a", "string")), record(field("a", "int"))),
    ],
)  # fmt: skip
def test_checker_agrees_with_fastavro_resolution(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Backward verdicts agree with what fastavro actually does when a new reader reads old data."""
    datum = {"a": 1} if old["fields"][0]["type"] == "int" else {"a": "x"}
    if old["fields"][0]["name"] == "e":
        datum = {"e": "B"}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(old), datum)
    try:
        fastavro.schemaless_reader(io.BytesIO(body.getvalue()), fastavro.parse_schema(old), fastavro.parse_schema(new))
        fastavro_reads = True
    except Exception:
        fastavro_reads = False
    assert can_read(new, old) == fastavro_reads
