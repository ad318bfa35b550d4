"""A corpus of malformed inputs: each gives the one typed error, with a reason that says what was wrong, and never
a value of the event (the corpus events carry a recognisable name and BSN, which must not appear in any message)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import fastavro
import pytest

from schakel.schemas import (
    SINGLE_OBJECT_MAGIC,
    Codec,
    DecodeError,
    EventInvalid,
    EventType,
    InMemorySchemaRegistry,
    SchemaError,
    Theme,
    UnknownSchema,
    event_schema,
    fingerprint,
    parse_event,
)
from schakel.schemas._convert import plain
from schakel.schemas.examples import example_form

NAME = "Jan Geheim"
BSN = "111222333"
CODEC = Codec(registry=InMemorySchemaRegistry())


def form(event_type: EventType = EventType.SIGNAL, theme: Theme = Theme.MONEY_MULE, **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("subject", {"bsn": BSN, "name": NAME, "birth_date": "2001-02-03", "pseudonym": None})
    return example_form(event_type, theme, seed=7, **overrides)


def good(event_type: EventType = EventType.SIGNAL, **overrides: Any) -> bytes:
    return CODEC.encode_json(form(event_type, **overrides))


def plain_record(event_type: EventType = EventType.SIGNAL, **overrides: Any) -> dict[str, Any]:
    """A record as fastavro reads it without logical types: times and dates as numbers, ready to be spoiled."""
    schema = fastavro.parse_schema(plain(event_schema(event_type)))
    record: Any = fastavro.schemaless_reader(io.BytesIO(good(event_type, **overrides)[10:]), schema)
    return dict(record)


def written(record: dict[str, Any], schema: Any = None, event_type: EventType = EventType.SIGNAL) -> bytes:
    """Single-object bytes of ``record`` written with ``schema`` (default: the type's schema without logical types)
    under the *catalogue's* fingerprint of the type."""
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema or plain(event_schema(event_type))), record)
    return SINGLE_OBJECT_MAGIC + fingerprint(event_schema(event_type)) + body.getvalue()


def with_enum_index(index: int) -> bytes:
    schema = plain(event_schema(EventType.SIGNAL))
    theme = next(f for f in schema["fields"] if f["name"] == "theme")["type"]
    theme["symbols"] = [*theme["symbols"], *(f"X{i}" for i in range(index + 1 - len(theme["symbols"])))]
    return written({**plain_record(), "theme": theme["symbols"][index]}, schema)


def with_union_index(index: int) -> bytes:
    schema = plain(event_schema(EventType.SIGNAL))
    case_id = next(f for f in schema["fields"] if f["name"] == "case_id")
    extra: list[Any] = ["int", "boolean", "double", {"type": "array", "items": "int"}, "bytes", "float"]
    case_id["type"] = ["null", "string", *extra[: index - 1]]
    values: list[Any] = [None, "x", 1, True, 1.5, [1], b"x", 2.5]
    return written({**plain_record(), "case_id": values[index]}, schema)


def spoiled(part: str, event_type: EventType = EventType.SIGNAL, **values: Any) -> bytes:
    record = plain_record(event_type)
    return written({**record, part: {**record[part], **values}}, event_type=event_type)


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new, 1)


def spoiled_utf8() -> bytes:
    data = good(subject={"bsn": BSN, "name": "Jan Geheim-MARK", "birth_date": None, "pseudonym": None})
    return replace_once(data, b"MARK", b"\xff\xfe\xfd\xfc")


def length_of_purpose(new_length: bytes) -> bytes:
    data = good()
    purpose = b"money-mule-prevention"
    return replace_once(data, bytes([len(purpose) * 2]) + purpose, new_length + purpose)


def huge_array() -> bytes:
    data = good(addressees=["ggz"])
    return replace_once(data, b"\x02\x06ggz", b"\xfe\xff\xff\xff\x0f\x06ggz")


def other_types_body() -> bytes:
    return SINGLE_OBJECT_MAGIC + fingerprint(event_schema(EventType.SIGNAL)) + good(EventType.CASE_CLOSED)[10:]


def random_bytes(seed: int, size: int, magic: bytes = b"") -> bytes:
    return magic + random.Random(seed).randbytes(size)


def confluent(schema_id: int) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + good()[10:]


# (case, bytes, expected error class, expected words in the reason)
BYTES_CORPUS: list[tuple[str, Callable[[], Any], type[SchemaError], str]] = [
    ("empty", lambda: b"", DecodeError, "data: empty"),
    ("one byte of the magic", lambda: b"\xc3", DecodeError, "neither Avro single-object"),
    ("magic only", lambda: SINGLE_OBJECT_MAGIC, DecodeError, "truncated single-object header"),
    (
        "magic and half a fingerprint",
        lambda: SINGLE_OBJECT_MAGIC + b"\x01\x02\x03\x04",
        DecodeError,
        "truncated single-object header",
    ),
    (
        "unknown fingerprint (zeros)",
        lambda: SINGLE_OBJECT_MAGIC + bytes(8) + b"\x00",
        UnknownSchema,
        "unknown schema fingerprint",
    ),
    (
        "unknown fingerprint (random)",
        lambda: random_bytes(1, 40, SINGLE_OBJECT_MAGIC),
        UnknownSchema,
        "unknown schema fingerprint",
    ),
    ("known fingerprint, empty body", lambda: good()[:10], DecodeError, "truncated"),
    *[
        (f"truncated to {n} bytes", (lambda n=n: good()[:n]), DecodeError, "truncated")
        for n in (11, 12, 20, 40, 60, 80, 100, 150)
    ],
    ("truncated by one byte", lambda: good()[:-1], DecodeError, "truncated"),
    ("truncated inside the payload", lambda: good()[: len(good()) - 30], DecodeError, "truncated"),
    ("one trailing byte", lambda: good() + b"\x00", DecodeError, "1 bytes left after the record"),
    ("a hundred trailing bytes", lambda: good() + bytes(100), DecodeError, "100 bytes left after the record"),
    ("two events back to back", lambda: good() + good(), DecodeError, "bytes left after the record"),
    ("ASCII text", lambda: b"hello, world", DecodeError, "neither Avro single-object"),
    (
        "a JSON event instead of Avro",
        lambda: b'{"type": "Signal", "subject": {"bsn": "111222333"}}',
        DecodeError,
        "neither Avro single-object",
    ),
    ("an Avro object container file", lambda: b"Obj\x01" + bytes(20), DecodeError, "neither Avro single-object"),
    ("Confluent header, 2 bytes", lambda: b"\x00\x00", DecodeError, "truncated Confluent header"),
    ("Confluent, unknown schema id", lambda: confluent(424242), UnknownSchema, "schema id 424242"),
    ("Confluent id without registry", lambda: Codec().decode_json(confluent(1)), UnknownSchema, "no registry"),
    ("another type's body under Signal's fingerprint", other_types_body, DecodeError, "Signal event cannot be decoded"),
    ("invalid UTF-8 in a string", spoiled_utf8, DecodeError, "not valid UTF-8"),
    ("enum index out of range", lambda: with_enum_index(9), DecodeError, "out of range"),
    ("enum index just past the end", lambda: with_enum_index(4), DecodeError, "out of range"),
    ("union index out of range", lambda: with_union_index(5), DecodeError, "out of range"),
    ("union index 2 of 2", lambda: with_union_index(2), DecodeError, "Signal event cannot be decoded"),
    ("negative string length", lambda: length_of_purpose(b"\x01"), DecodeError, "Signal event cannot be decoded"),
    ("huge string length", lambda: length_of_purpose(b"\xfe\xff\xff\xff\x0f"), DecodeError, "truncated"),
    ("huge array block count", huge_array, DecodeError, "Signal event cannot be decoded"),
    (
        "time out of range",
        lambda: written({**plain_record(), "time": 2**62}),
        DecodeError,
        "time: is out of range for a time",
    ),
    (
        "birth date out of range",
        lambda: spoiled("subject", birth_date=2**30),
        DecodeError,
        "subject.birth_date: is out of range for a date",
    ),
    (
        "review date out of range",
        lambda: spoiled("payload", EventType.CONSULTATION_OUTCOME, review_date=-(2**30)),
        DecodeError,
        "payload.review_date: is out of range for a date",
    ),
    (
        "action due date out of range",
        lambda: spoiled(
            "payload",
            EventType.CONSULTATION_OUTCOME,
            actions=[{"action_id": "A", "partner": "ggz", "description": "d", "due_date": 2**30}],
        ),
        DecodeError,
        "payload.actions.0.due_date: is out of range for a date",
    ),
    ("id not a UUID", lambda: written({**plain_record(), "id": "not-a-uuid"}), DecodeError, "id: is not a UUID"),
    (
        "type field names another type",
        lambda: written({**plain_record(), "type": "Referral"}),
        DecodeError,
        "type: does not match the schema",
    ),
    *[(f"random bytes #{seed}", (lambda seed=seed: random_bytes(seed, 64)), DecodeError, "") for seed in range(2, 7)],
    *[
        (
            f"random body #{seed}",
            (lambda seed=seed: good()[:10] + random_bytes(seed, 200)),
            DecodeError,
            "Signal event cannot be decoded",
        )
        for seed in range(7, 11)
    ],
    ("not bytes: str", lambda: "C301...", DecodeError, "data: must be bytes"),
    ("not bytes: None", lambda: None, DecodeError, "data: must be bytes"),
]

# JSON forms that are valid Avro but break the event rules: decode() (with the model) refuses them.
RULE_CORPUS: list[tuple[str, dict[str, Any], str]] = [
    ("BSN fails the 11-test", form(subject={"bsn": "123456789", "name": NAME}), "subject.bsn: must be nine digits"),
    ("BSN of eight digits", form(subject={"bsn": "11122233", "name": NAME}), "subject.bsn"),
    ("unknown sender", form(source="nasa"), "source: Input should be"),
    ("unknown addressee", form(addressees=["ggz", "fbi"]), "addressees.1"),
    ("duplicate addressees", form(addressees=["ggz", "ggz"]), "addressees: names an organisation more than once"),
    ("time far in the future", form(time="2999-01-01T00:00:00Z"), "time: lies more than 5 minutes in the future"),
    ("time before 2000", form(time="1990-01-01T00:00:00Z"), "time: lies before 2000"),
    (
        "birth date in the future",
        form(subject={"bsn": BSN, "name": NAME, "birth_date": "2999-01-01"}),
        "subject.birth_date: lies in the future",
    ),
    ("required payload field withheld", form(payload={"urgency": None}), "payload.urgency"),
    ("money mule without IBAN", form(payload={"iban": None}), "payload.iban is required when theme is MONEY_MULE"),
    (
        "IBAN checksum wrong",
        form(payload={"iban": "NL00ABNA0417164300"}),
        "payload.iban: must be an IBAN with valid check digits",
    ),
    ("neither BSN nor case id", form(subject={"name": NAME}, case_id=None), "subject.bsn or case_id is required"),
    (
        "text too long",
        form(payload={"description": NAME * 500}),
        "payload.description: String should have at most 4000 characters",
    ),
    (
        "name too long",
        form(subject={"bsn": BSN, "name": NAME * 30}),
        "subject.name: String should have at most 200 characters",
    ),
    ("empty text", form(payload={"description": ""}), "payload.description: String should have at least 1 character"),
    ("purpose not a slug", form(purpose="Alles Mag"), "purpose: String should match pattern"),
    ("case id with spaces", form(case_id="case of Jan Geheim"), "case_id: String should match pattern"),
    ("consent for nobody", form(EventType.CONSENT_CHANGE, payload={"grantees": []}), "payload.grantees"),
    (
        "redirect without target",
        form(EventType.TRIAGE_DECISION, payload={"outcome": "redirected"}),
        "redirected_to is required",
    ),
    (
        "not informed, no reason",
        form(EventType.REFERRAL, payload={"subject_informed": False}),
        "informing_deferred_reason is required",
    ),
    (
        "unknown action partner",
        form(
            EventType.CONSULTATION_OUTCOME,
            payload={"actions": [{"action_id": "A", "partner": "fbi", "description": "d", "due_date": None}]},
        ),
        "payload.actions.0.partner",
    ),
    (
        "pseudonym malformed",
        form(subject={"bsn": BSN, "name": NAME, "pseudonym": "x"}),
        "subject.pseudonym: String should match pattern",
    ),
]


def assert_no_personal_data(message: str) -> None:
    assert NAME not in message
    assert "Geheim" not in message
    assert BSN not in message
    assert "123456789" not in message


@pytest.mark.parametrize(("case", "make", "error", "reason"), BYTES_CORPUS, ids=[c[0] for c in BYTES_CORPUS])
def test_malformed_bytes(case: str, make: Callable[[], Any], error: type[SchemaError], reason: str) -> None:
    try:
        data = make()
    except SchemaError as raised:  # the case decodes inside its own factory (a codec without registry)
        caught: SchemaError = raised
    else:
        with pytest.raises(DecodeError) as info:
            CODEC.decode_json(data)
        caught = info.value
        with pytest.raises(DecodeError):
            CODEC.decode(data)
    assert isinstance(caught, error), f"{case}: {type(caught).__name__}: {caught}"
    assert reason in str(caught), f"{case}: {caught}"
    assert caught.reasons, case
    assert_no_personal_data(str(caught))


@pytest.mark.parametrize(("case", "json_form", "reason"), RULE_CORPUS, ids=[c[0] for c in RULE_CORPUS])
def test_rule_breaking_events(case: str, json_form: dict[str, Any], reason: str) -> None:
    with pytest.raises(EventInvalid) as parsed:
        parse_event(json_form)
    assert reason in str(parsed.value), f"{case}: {parsed.value}"
    assert_no_personal_data(str(parsed.value))
    data = CODEC.encode_json(json_form)  # valid for the schema ...
    with pytest.raises(DecodeError) as decoded:  # ... but decode() applies the event rules
        CODEC.decode(data)
    assert reason in str(decoded.value), f"{case}: {decoded.value}"
    assert_no_personal_data(str(decoded.value))


def test_the_corpus_is_large_enough() -> None:
    assert len(BYTES_CORPUS) + len(RULE_CORPUS) >= 50


def test_encode_json_refuses_what_the_schema_refuses_without_echoing() -> None:
    cases = [
        ({**form(), "payload": {**form()["payload"], "urgency": NAME}}, "payload.urgency: must be one of"),
        ({**form(), "subject": {"bsn": 111222333}}, "subject.bsn: must be a string"),
        ({**form(), "time": NAME}, "time: must be an ISO-8601 time with a timezone"),
        ({**form(), "id": NAME}, "id: must be a UUID"),
        ({**form(), "theme": "GEHEIM"}, "theme: must be one of CTER, LVB, MONEY_MULE, OTHER"),
        ({**form(), "addressees": "ggz"}, "addressees: must be an array"),
        ({**form(), "purpose": None}, "purpose: must be a string"),
        ({k: v for k, v in form().items() if k != "purpose"}, "purpose: required"),
        ({**form(), "payload": {**form()["payload"], NAME: 1}}, "payload.<field name withheld>: unknown field"),
        ({**form(), "payload": {**form()["payload"], "grantees": "ggz"}}, "payload.grantees: unknown field"),
        (
            {**form(EventType.CONSENT_CHANGE), "payload": {"change": "given", "grantees": "ggz"}},
            "payload.grantees: must be an array",
        ),
        ({**form(), "addressees": {"ggz": 1}}, "addressees: must be an array"),
        ({**form(), "payload": None}, "payload: must be an object"),
        ({**form(), "type": NAME}, "type: must be one of"),
    ]
    for json_form, reason in cases:
        with pytest.raises(EventInvalid) as caught:
            CODEC.encode_json(json_form)
        assert reason in str(caught.value), str(caught.value)
        assert_no_personal_data(str(caught.value))
