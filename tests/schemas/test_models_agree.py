"""The typed models and the Avro schemas are one contract: this proves they agree field by field.

For every event type the model's fields have the schema's names in the schema's order, and each field's type agrees:
strings (organisation codes are strings in Avro and :class:`Organisation` in the model), enums with the same symbols,
booleans, UUIDs, ``timestamp-micros`` times, ``date`` dates, arrays, nested records - and a field the schema does not
make nullable is not optional in the model.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import pytest
from pydantic import AwareDatetime, BaseModel

from schakel.schemas import EVENT_CLASSES, EventType, Organisation, event_schema

Kind = tuple[Any, ...]


_NAMED: dict[str, Any] = {}
"""Named types (enums, records) seen so far in the schema being compared, so that a later reference resolves."""


def avro_kind(schema: Any) -> tuple[bool, Kind]:
    """(nullable, kind) of an Avro type."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        assert len(branches) == 1, schema
        return True, avro_kind(branches[0])[1]
    if isinstance(schema, str):
        return (False, avro_kind(_NAMED[schema])[1]) if schema in _NAMED else (False, (schema,))
    if schema.get("type") in ("enum", "record") and "name" in schema:
        _NAMED[schema["name"]] = schema
    logical = schema.get("logicalType")
    if logical == "uuid":
        return False, ("uuid",)
    if logical == "timestamp-micros":
        return False, ("timestamp",)
    if logical == "date":
        return False, ("date",)
    if schema["type"] == "enum":
        return False, ("enum", tuple(schema["symbols"]))
    if schema["type"] == "array":
        return False, ("array", avro_kind(schema["items"]))
    if schema["type"] == "record":
        return False, ("record", tuple((f["name"], avro_kind(f["type"])) for f in schema["fields"]))
    return avro_kind(schema["type"])


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def model_kind(annotation: Any) -> tuple[bool, Kind]:
    """(nullable, kind) of a model field's annotation, in the same terms as :func:`avro_kind`."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1
        return True, model_kind(args[0])[1]
    if origin is typing.Literal:
        return False, ("string",)  # the per-type `type` field: a fixed string
    if origin is tuple:
        item, _ellipsis = typing.get_args(annotation)
        return False, ("array", model_kind(item))
    if annotation is AwareDatetime:
        return False, ("timestamp",)
    if isinstance(annotation, type):
        if issubclass(annotation, Organisation):
            return False, ("string",)
        if issubclass(annotation, StrEnum):
            return False, ("enum", tuple(member.value for member in annotation))
        if issubclass(annotation, bool):
            return False, ("boolean",)
        if issubclass(annotation, str):
            return False, ("string",)
        if issubclass(annotation, UUID):
            return False, ("uuid",)
        if issubclass(annotation, datetime):
            return False, ("timestamp",)
        if issubclass(annotation, date):
            return False, ("date",)
        if issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            return False, ("record", tuple((name, model_field_kind(annotation, name)) for name in fields))
    raise AssertionError(f"unexpected annotation {annotation!r}")


def model_field_kind(model: type[BaseModel], name: str) -> tuple[bool, Kind]:
    field = model.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:  # pydantic moves Annotated metadata out of the annotation
        annotation = typing.Annotated[annotation, *field.metadata]
    return model_kind(annotation)


@pytest.mark.parametrize("event_type", list(EventType))
def test_model_and_schema_agree_field_by_field(event_type: EventType) -> None:
    schema = event_schema(event_type)
    model = EVENT_CLASSES[event_type]
    _NAMED.clear()
    assert list(model.model_fields) == [f["name"] for f in schema["fields"]]
    for avro_field in schema["fields"]:
        name = avro_field["name"]
        avro_nullable, avro = avro_kind(avro_field["type"])
        model_nullable, modelled = model_field_kind(model, name)
        assert modelled == strip_nullability(avro, modelled), f"{event_type.value}.{name}"
        if not avro_nullable:
            assert not model_nullable, f"{event_type.value}.{name} is optional in the model but not in Avro"


def strip_nullability(avro: Kind, modelled: Kind) -> Kind:
    """The Avro kind with the nullability of nested record fields taken from the model wherever Avro is nullable.

    Payload fields are nullable in Avro (projected copies null withheld fields) while the model may require them on
    ingress; the reverse - optional in the model, required in Avro - must never happen.
    """
    if avro[0] == "record" and modelled[0] == "record":
        fields = []
        for (name, (nullable, kind)), (model_name, (model_nullable, model_kind_)) in zip(
            avro[1], modelled[1], strict=True
        ):
            assert name == model_name
            assert nullable or not model_nullable, f"{name} is optional in the model but not in Avro"
            fields.append((name, (model_nullable if nullable else nullable, strip_nullability(kind, model_kind_))))
        return ("record", tuple(fields))
    if avro[0] == "array" and modelled[0] == "array":
        return ("array", (avro[1][0], strip_nullability(avro[1][1], modelled[1][1])))
    return avro


def test_the_agreement_check_can_fail() -> None:
    schema = event_schema(EventType.SIGNAL)
    payload = schema["fields"][-1]["type"]
    payload["fields"][5]["type"][1]["symbols"].append("whenever")  # urgency gains a symbol the model lacks
    _, avro = avro_kind(schema["fields"][-1]["type"])
    _, modelled = model_field_kind(EVENT_CLASSES[EventType.SIGNAL], "payload")
    assert strip_nullability(avro, modelled) != modelled
