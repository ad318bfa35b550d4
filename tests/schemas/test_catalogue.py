"""The catalogue files: composition, sensitivity labels, fingerprints and released versions."""

from __future__ import annotations

import json
from importlib import resources

import fastavro
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form

from schakel.schemas import (
    NAMESPACE,
    EventType,
    Sensitivity,
    catalogue,
    event_schema,
    field_sensitivities,
    fingerprint,
    released_versions,
)
from schakel.schemas._catalogue import crc64_avro

ENVELOPE = ["id", "type", "source", "time", "subject", "case_id", "case_issuer", "purpose", "theme", "addressees"]


@pytest.mark.parametrize("event_type", list(EventType))
def test_full_schema_is_envelope_then_payload_named_after_the_type(event_type: EventType) -> None:
    schema = event_schema(event_type)
    fastavro.parse_schema(schema)  # a valid Avro schema
    assert schema["name"] == event_type.value
    assert schema["namespace"] == NAMESPACE
    assert [f["name"] for f in schema["fields"]] == [*ENVELOPE, "payload"]
    assert schema["fields"][-1]["type"]["name"] == f"{event_type.value}Payload"


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_payload_field_is_nullable_with_default_null_and_labelled(event_type: EventType) -> None:
    payload = event_schema(event_type)["fields"][-1]["type"]
    for field in payload["fields"]:
        assert field["type"][0] == "null", field["name"]
        assert field["default"] is None, field["name"]
        assert Sensitivity(field["sensitivity"]), field["name"]


def test_theme_symbols_match_the_design() -> None:
    theme = next(f for f in event_schema(EventType.SIGNAL)["fields"] if f["name"] == "theme")["type"]
    assert theme["symbols"] == ["CTER", "LVB", "MONEY_MULE", "OTHER"]


def test_field_sensitivities_of_a_signal() -> None:
    labels = field_sensitivities(EventType.SIGNAL)
    assert labels["subject.bsn"] is Sensitivity.BSN
    assert labels["subject.name"] is Sensitivity.PLAIN
    assert labels["subject.birth_date"] is Sensitivity.PLAIN
    assert labels["observed_behaviour"] is Sensitivity.CRIMINAL
    assert labels["ideology"] is Sensitivity.BELIEF
    assert labels["lvb_indication"] is Sensitivity.HEALTH
    assert labels["youth_context"] is Sensitivity.YOUTH
    assert "subject.pseudonym" not in labels
    assert "case_id" not in labels
    assert "purpose" not in labels


def test_field_sensitivities_of_a_ggz_contribution() -> None:
    labels = field_sensitivities("InformationContribution")
    assert labels["diagnosis"] is Sensitivity.HEALTH
    assert labels["in_care"] is Sensitivity.HEALTH
    assert labels["police_record"] is Sensitivity.CRIMINAL
    assert labels["youth_protection_measure"] is Sensitivity.YOUTH
    assert labels["secrecy_ground"] is Sensitivity.PLAIN


@pytest.mark.parametrize("event_type", list(EventType))
def test_field_sensitivities_cover_subject_and_every_payload_field(event_type: EventType) -> None:
    payload = event_schema(event_type)["fields"][-1]["type"]
    expected = {"subject.bsn", "subject.name", "subject.birth_date"} | {f["name"] for f in payload["fields"]}
    assert set(field_sensitivities(event_type)) == expected


def test_crc64_avro_matches_the_spec_and_fastavro() -> None:
    # The Avro spec's test vector: the fingerprint of the schema "null" is 7195948357588979594.
    assert crc64_avro(b'"null"') == 7195948357588979594
    for event_type in EventType:
        canonical = to_parsing_canonical_form(event_schema(event_type))
        assert fingerprint(event_schema(event_type)).hex() == fastavro_fingerprint(canonical, "CRC-64-AVRO")


def test_fingerprints_differ_between_types() -> None:
    fingerprints = {v.fingerprint for v in catalogue().values()}
    assert len(fingerprints) == len(EventType)


def test_every_type_has_a_released_v1_that_is_self_contained() -> None:
    for event_type in EventType:
        history = released_versions()[event_type]
        assert history, event_type
        assert history[0].version == 1
        fastavro.parse_schema(dict(history[0].schema))


def test_released_files_are_the_current_catalogue_or_older() -> None:
    for event_type, current in catalogue().items():
        newest = released_versions()[event_type][-1]
        assert current.version in (newest.version, newest.version + 1)
        assert current.released == (current.canonical == newest.canonical)


def test_released_files_parse_as_json() -> None:
    for entry in resources.files("schakel.schemas.released").iterdir():
        if entry.name.endswith(".avsc"):
            assert json.loads(entry.read_text(encoding="utf-8"))["type"] == "record"


def test_the_package_is_pure() -> None:
    """schemas imports nothing from Kafka, Faust, the hub or the connectors (style rule 2)."""
    import subprocess
    import sys

    code = (
        "import sys, schakel.schemas, schakel.schemas.cli, schakel.schemas.examples\n"
        "from schakel.schemas import Codec, cloudevent_headers\n"
        "from schakel.schemas.examples import example_event\n"
        "Codec().decode(Codec().encode(example_event())); cloudevent_headers(example_event())\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kafka', 'aiokafka', 'faust', 'mode')\n"
        "       or m.startswith(('schakel.streams', 'schakel.connectors', 'schakel.consent', 'schakel.lineage'))]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
