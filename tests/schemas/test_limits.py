"""The size limit: every text and list of the models is bounded, and the largest valid event of every type - every
text and list at its bound, every optional field set - encodes below MAX_EVENT_BYTES, whatever its characters."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schakel.schemas import EVENT_CLASSES, MAX_ACTIONS, MAX_EVENT_BYTES, Codec, EventInvalid, EventType, parse_event

CODEC = Codec()
KAFKA_DEFAULT_MAX_MESSAGE = 1024 * 1024
# strings the models bound by a validator rather than a length: nine digits, an IBAN (34 characters at most)
_VALIDATED = {"bsn": "111222333", "iban": "NL20" + "A" * 30}
# pattern-bound strings at their longest
_BY_PATTERN = {
    "^[a-z][a-z0-9-]{1,63}$": "a" * 64,
    "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$": "A" * 64,
    "^[A-Za-z0-9_-]{8,128}$": "p" * 128,
}
_BY_FORMAT = {
    "uuid": "0b7e5c1a-6a43-4d0c-9b7c-2f1d3c4e5a6b",
    "date-time": "2026-01-02T03:04:05.123456Z",
    "date": "2001-02-03",
}


def _largest(schema: dict[str, Any], defs: dict[str, Any], name: str, char: str) -> Any:
    if "$ref" in schema:
        return _largest(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name, char)
    if "anyOf" in schema:
        return _largest(next(branch for branch in schema["anyOf"] if branch.get("type") != "null"), defs, name, char)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return max(schema["enum"], key=len)
    kind = schema.get("type")
    if kind == "object":
        return {key: _largest(value, defs, key, char) for key, value in schema["properties"].items()}
    if kind == "array":
        items = schema["items"]
        assert "maxItems" in schema, f"{name}: an unbounded list"
        resolved = defs[items["$ref"].rsplit("/", 1)[-1]] if "$ref" in items else items
        if "enum" in resolved:  # lists of organisations name each at most once
            return sorted(resolved["enum"], key=len, reverse=True)[: schema["maxItems"]]
        return [_largest(items, defs, name, char) for _ in range(schema["maxItems"])]
    if kind == "boolean":
        return True
    assert kind == "string", f"{name}: unexpected type {kind}"
    if "maxLength" in schema:
        return char * schema["maxLength"]
    if "pattern" in schema:
        return _BY_PATTERN[schema["pattern"]]
    if "format" in schema:
        return _BY_FORMAT[schema["format"]]
    assert name in _VALIDATED, f"{name}: an unbounded text"
    return _VALIDATED[name]


def largest_form(event_type: EventType, char: str) -> dict[str, Any]:
    schema = EVENT_CLASSES[event_type].model_json_schema()
    form: dict[str, Any] = _largest(schema, schema["$defs"], "event", char)
    form["theme"] = "MONEY_MULE"
    form["subject"]["pseudonym"] = None  # an ingress event; a copy carries a pseudonym instead of a BSN and name
    if event_type is EventType.SUBJECT_REQUEST:
        form["payload"]["restriction"] = None  # a request carries a kind or a restriction, not both
    return form


@pytest.mark.parametrize("event_type", list(EventType))
def test_the_largest_valid_event_encodes_below_the_maximum(event_type: EventType) -> None:
    @given(st.characters(exclude_categories=["Cs"]))
    @settings(max_examples=10, deadline=None)
    def check(char: str) -> None:
        event = parse_event(largest_form(event_type, char))  # valid: every rule of the models holds
        assert len(CODEC.encode(event)) < MAX_EVENT_BYTES

    check()
    four_byte = parse_event(largest_form(event_type, "\U0001d11e"))  # the worst case: 4 bytes a character
    assert len(CODEC.encode(four_byte)) < MAX_EVENT_BYTES


def test_the_maximum_leaves_room_below_kafkas_default_message_size() -> None:
    assert MAX_EVENT_BYTES <= KAFKA_DEFAULT_MAX_MESSAGE // 2


def test_one_action_more_than_the_bound_is_refused() -> None:
    form = largest_form(EventType.CONSULTATION_OUTCOME, "a")
    actions = form["payload"]["actions"]
    assert len(actions) == MAX_ACTIONS
    parse_event(form)
    form["payload"]["actions"] = [*actions, actions[0]]
    with pytest.raises(EventInvalid, match=f"payload.actions: Tuple should have at most {MAX_ACTIONS} items"):
        parse_event(form)
