"""Property-based round trips for every event type: JSON form, models, and both wire formats."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schakel.schemas import Codec, DecodeError, EventType, InMemorySchemaRegistry, parse_event
from schakel.schemas._rules import is_valid_bsn, is_valid_iban
from tests.schemas.strategies import bsns, event_forms, ibans, projected_forms

EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SINGLE = Codec()
CONFLUENT = Codec("confluent", registry=InMemorySchemaRegistry())


@given(bsns())
@settings(max_examples=200)
def test_generated_bsns_pass_the_eleven_test(bsn: str) -> None:
    assert is_valid_bsn(bsn)


@given(ibans())
@settings(max_examples=200)
def test_generated_ibans_pass_the_checksum(iban: str) -> None:
    assert is_valid_iban(iban)


@pytest.mark.parametrize("event_type", list(EventType))
def test_round_trips(event_type: EventType) -> None:
    @given(event_forms(event_type))
    @EXAMPLES
    def check(form: dict[str, Any]) -> None:
        event = parse_event(form)
        canonical = event.to_json()
        assert parse_event(canonical) == event  # JSON form <-> model
        assert canonical["payload"].keys() == form["payload"].keys()
        for codec in (SINGLE, CONFLUENT):
            data = codec.encode(event)
            assert codec.decode(data) == event  # model -> bytes -> model
            assert codec.decode_json(data) == canonical  # bytes -> JSON form, losslessly
            assert codec.encode_json(canonical) == data  # JSON form -> the same bytes
            assert codec.encode_json(form) == data  # any valid JSON form, not only the canonical one

    check()


@pytest.mark.parametrize("event_type", list(EventType))
def test_projected_copies_round_trip_through_the_json_hot_path(event_type: EventType) -> None:
    @given(projected_forms(event_type))
    @EXAMPLES
    def check(form: dict[str, Any]) -> None:
        for codec in (SINGLE, CONFLUENT):
            assert codec.decode_json(codec.encode_json(form)) == form

    check()


@given(event_forms(), st.data())
@settings(max_examples=40, deadline=None)
def test_every_truncation_is_a_decode_error(form: dict[str, Any], data: st.DataObject) -> None:
    blob = SINGLE.encode_json(form)
    cut = data.draw(st.integers(0, len(blob) - 1))
    with pytest.raises(DecodeError):
        SINGLE.decode_json(blob[:cut])


@given(event_forms(), st.data())
@settings(max_examples=60, deadline=None)
def test_corrupted_bytes_give_a_decode_error_or_a_valid_schema_record(
    form: dict[str, Any], data: st.DataObject
) -> None:
    blob = bytearray(SINGLE.encode_json(form))
    position = data.draw(st.integers(10, len(blob) - 1))
    blob[position] = data.draw(st.integers(0, 255))
    try:
        back = SINGLE.decode_json(bytes(blob))
    except DecodeError:
        return
    # A flip can land in a text or a number, or give a varint that fastavro reads leniently (a union index of -1 picks
    # the last branch): then what comes back is still a complete record that matches the schema. Avro carries no
    # checksum; Kafka's record-batch CRC guards transport. What must never happen is a partial or schema-less result.
    assert SINGLE.decode_json(SINGLE.encode_json(back)) == back
