"""The codec: wire formats, JSON form, schema resolution from older versions, and CloudEvents headers."""

from __future__ import annotations

import copy
import io
import json
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
    Organisation,
    SchemaError,
    Theme,
    catalogue,
    cloudevent_headers,
    event_schema,
    fingerprint,
    read_cloudevent_headers,
    source_urn,
)
from schakel.schemas.examples import example_event, example_form


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


@pytest.mark.parametrize("event_type", list(EventType))
def test_single_object_round_trip(codec: Codec, event_type: EventType) -> None:
    event = example_event(event_type, Theme.MONEY_MULE)
    data = codec.encode(event)
    assert data[:2] == SINGLE_OBJECT_MAGIC
    assert data[2:10] == catalogue()[event_type].fingerprint
    assert codec.decode(data) == event
    assert codec.decode_json(data) == event.to_json()
    assert codec.encode_json(event.to_json()) == data


def test_body_is_plain_avro_readable_by_fastavro(codec: Codec) -> None:
    event = example_event(EventType.SIGNAL, Theme.MONEY_MULE)
    data = codec.encode(event)
    record: Any = fastavro.schemaless_reader(io.BytesIO(data[10:]), fastavro.parse_schema(event_schema("Signal")))
    assert record["id"] == event.id
    assert record["time"] == event.time
    assert record["subject"]["birth_date"] == event.subject.birth_date
    assert record["payload"]["iban"] == "NL91ABNA0417164300"


def test_fingerprint_is_little_endian_crc64_of_canonical_form(codec: Codec) -> None:
    data = codec.encode(example_event(EventType.FEEDBACK))
    canonical = fastavro.schema.to_parsing_canonical_form(event_schema(EventType.FEEDBACK))
    assert data[2:10].hex() == fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")


def test_projected_copy_with_withheld_fields_encodes_and_decodes_as_json(codec: Codec) -> None:
    form = example_event(EventType.SIGNAL, Theme.MONEY_MULE).to_json()
    form["subject"] = {"bsn": None, "name": None, "birth_date": None, "pseudonym": "rcp-ggz-3f9a1c2b7d"}
    form["payload"] = {**form["payload"], "observed_behaviour": None, "iban": None, "urgency": None}
    assert codec.decode_json(codec.encode_json(form)) == form
    with pytest.raises(DecodeError, match=r"payload\.urgency"):
        codec.decode(codec.encode_json(form))  # the model rules still hold for decode()


def test_missing_optional_keys_read_back_as_null(codec: Codec) -> None:
    form = example_event(EventType.CASE_CLOSED).to_json()
    del form["case_id"]
    del form["addressees"]
    back = codec.decode_json(codec.encode_json(form))
    assert back["case_id"] is None
    assert back["addressees"] == []


def test_encode_json_names_every_schema_problem_without_values(codec: Codec) -> None:
    form = example_form(EventType.SIGNAL)
    form["payload"]["urgency"] = "whenever"
    form["time"] = "yesterday"
    form["subject"]["name"] = 42
    form["shoe_size"] = "Jan Secret"
    with pytest.raises(EventInvalid) as caught:
        codec.encode_json(form)
    message = str(caught.value)
    for expected in ("payload.urgency: must be one of", "time: must be an ISO-8601", "subject.name: must be a string",
                     "shoe_size: unknown field"):  # fmt: skip
        assert expected in message
    assert "Jan Secret" not in message
    assert "whenever" not in message


def test_encode_json_refuses_a_naive_time_and_a_bad_uuid(codec: Codec) -> None:
    with pytest.raises(EventInvalid, match="time: must be an ISO-8601 time with a timezone"):
        codec.encode_json(example_form(time="2026-01-01T10:00:00"))
    with pytest.raises(EventInvalid, match="id: must be a UUID"):
        codec.encode_json(example_form(id="123"))
    with pytest.raises(EventInvalid, match="type: must be one of"):
        codec.encode_json(example_form(type="Gossip"))


def test_encode_validates_nothing_beyond_the_model(codec: Codec) -> None:
    event = example_event(EventType.REFERRAL)
    assert codec.decode(codec.encode(event)).payload == event.payload


def test_reads_events_written_with_an_older_schema_version() -> None:
    # An older Signal: no `youth_context`, no `description`, and urgency had only three symbols.
    old = event_schema(EventType.SIGNAL)
    payload = old["fields"][-1]["type"]
    payload["fields"] = [f for f in payload["fields"] if f["name"] not in ("youth_context", "description")]
    payload["fields"][5]["type"][1]["symbols"] = ["low", "normal", "high"]
    codec = Codec(writer_schemas=[old])
    form = example_event(EventType.SIGNAL, Theme.LVB).to_json()
    old_record = copy.deepcopy(form)
    del old_record["payload"]["youth_context"], old_record["payload"]["description"]
    parsed = fastavro.parse_schema(old)
    body = io.BytesIO()
    old_record["time"] = example_event(EventType.SIGNAL, Theme.LVB).time
    old_record["subject"]["birth_date"] = None
    fastavro.schemaless_writer(body, parsed, old_record)
    data = SINGLE_OBJECT_MAGIC + fingerprint(old) + body.getvalue()
    back = codec.decode_json(data)
    assert back["payload"]["description"] is None
    assert back["payload"]["youth_context"] is None
    assert back["payload"]["urgency"] == form["payload"]["urgency"]
    assert codec.decode(data).type is EventType.SIGNAL
    with pytest.raises(DecodeError, match="unknown schema fingerprint"):
        Codec().decode_json(data)  # a reader that does not know that version


def test_confluent_wire_format_with_an_in_memory_registry() -> None:
    registry = InMemorySchemaRegistry()
    writer = Codec("confluent", registry=registry)
    event = example_event(EventType.CONSENT_CHANGE)
    data = writer.encode(event)
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    assert json.loads(registry.schema(schema_id))["name"] == "ConsentChange"
    assert registry.subjects == {"nl.zorgveiligheid.schakel.ConsentChange": [schema_id]}
    reader = Codec(registry=registry)  # reads Confluent data although it writes single-object
    assert reader.decode(data) == event
    with pytest.raises(DecodeError, match="no registry"):
        Codec().decode_json(data)


def test_confluent_needs_a_registry() -> None:
    with pytest.raises(SchemaError, match="registry"):
        Codec("confluent")
    with pytest.raises(SchemaError, match="wire format"):
        Codec("protobuf")  # type: ignore[arg-type]


def test_cloudevent_headers_round_trip() -> None:
    event = example_event(EventType.SIGNAL, Theme.CTER)
    headers = cloudevent_headers(event, source_urns={})
    names = [name for name, _ in headers]
    assert names == ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "content-type"]
    values = dict(headers)
    assert values["ce_specversion"] == b"1.0"
    assert values["ce_id"] == str(event.id).encode()
    assert values["ce_type"] == b"nl.zorgveiligheid.schakel.Signal"
    assert values["ce_source"] == b"urn:nld:zorg-en-veiligheid:politie"
    attributes = read_cloudevent_headers(headers, source_urns={})
    assert attributes.id == event.id
    assert attributes.type is EventType.SIGNAL
    assert attributes.organisation is Organisation.POLITIE
    assert attributes.time == event.time
    assert cloudevent_headers(event.to_json(), source_urns={}) == headers


def test_cloudevent_headers_carry_no_personal_data() -> None:
    event = example_event(EventType.SIGNAL, Theme.MONEY_MULE)
    joined = b"".join(value for _, value in cloudevent_headers(event, source_urns={}))
    assert event.subject.bsn is not None
    assert event.subject.bsn.encode() not in joined
    assert event.subject.name is not None
    assert event.subject.name.encode() not in joined


def test_source_urns_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    urns = {"politie": "urn:nld:oin:00000001003214345000:systeem:bvh"}
    assert source_urn(Organisation.POLITIE, urns) == urns["politie"]
    assert source_urn("ggz", urns) == "urn:nld:zorg-en-veiligheid:ggz"
    headers = cloudevent_headers(example_event(EventType.SIGNAL), source_urns=urns)
    assert dict(headers)["ce_source"] == urns["politie"].encode()
    assert read_cloudevent_headers(headers, source_urns=urns).organisation is Organisation.POLITIE

    from schakel import settings as settings_module

    monkeypatch.setenv("SCHAKEL_SOURCE_URNS", json.dumps(urns))
    settings_module.settings.cache_clear()
    try:
        assert source_urn("politie") == urns["politie"]
    finally:
        monkeypatch.delenv("SCHAKEL_SOURCE_URNS")
        settings_module.settings.cache_clear()


def test_read_cloudevent_headers_names_what_is_wrong() -> None:
    with pytest.raises(DecodeError) as caught:
        read_cloudevent_headers([("ce_specversion", b"0.3"), ("ce_id", b"x"), ("ce_type", b"Gossip")])
    message = str(caught.value)
    for expected in ("ce_specversion: must be 1.0", "ce_id: must be a UUID", "ce_type: not an event type",
                     "ce_source: missing", "ce_time: missing"):  # fmt: skip
        assert expected in message


def test_cloudevent_headers_of_a_broken_form() -> None:
    with pytest.raises(EventInvalid) as caught:
        cloudevent_headers({"type": "Gossip", "source": "nasa"}, source_urns={})
    for expected in (
        "id: required",
        "time: required",
        "type: must be an event type",
        "source: must be an organisation",
    ):
        assert expected in str(caught.value)
