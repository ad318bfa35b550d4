"""The typed models: the validation rules a user expects, and the JSON form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schakel.errors import SchakelError
from schakel.schemas import (
    EVENT_CLASSES,
    Event,
    EventInvalid,
    EventType,
    Organisation,
    SchemaError,
    SignalEvent,
    SignalPayload,
    Subject,
    Theme,
    Urgency,
    parse_event,
)
from schakel.schemas._rules import is_valid_bsn, is_valid_iban
from schakel.schemas.examples import example_event, example_form, synthetic_bsn


def reasons(form: dict[str, Any]) -> str:
    with pytest.raises(EventInvalid) as caught:
        parse_event(form)
    return str(caught.value)


@pytest.mark.parametrize("event_type", list(EventType))
@pytest.mark.parametrize("theme", list(Theme))
def test_examples_are_valid_and_round_trip_through_json(event_type: EventType, theme: Theme) -> None:
    event = example_event(event_type, theme)
    assert isinstance(event, EVENT_CLASSES[event_type])
    assert event.type is event_type
    assert parse_event(event.to_json()) == event


def test_json_form_has_envelope_on_top_and_payload_below() -> None:
    form = example_event(EventType.SIGNAL, Theme.MONEY_MULE).to_json()
    assert list(form) == [
        "id", "type", "source", "time", "subject", "case_id", "case_issuer", "purpose", "theme", "addressees",
        "payload",
    ]  # fmt: skip
    assert form["type"] == "Signal"
    assert form["payload"]["iban"] == "NL91ABNA0417164300"
    assert form["time"].endswith("Z")


@pytest.mark.parametrize(
    ("bsn", "valid"),
    [("111222333", True), ("123456782", True), ("123456789", False), ("12345678", False), ("1234567890", False),
     ("12345678a", False), ("000000000", False)],
)  # fmt: skip
def test_bsn_eleven_test(bsn: str, valid: bool) -> None:
    assert is_valid_bsn(bsn) is valid


def test_synthetic_bsns_pass_the_eleven_test() -> None:
    assert all(is_valid_bsn(synthetic_bsn()) for _ in range(100))


@pytest.mark.parametrize(
    ("iban", "valid"),
    [("NL91ABNA0417164300", True), ("GB82WEST12345698765432", True), ("NL92ABNA0417164300", False),
     ("NL91ABNA041716430", False), ("nl91abna0417164300", False), ("XX", False)],
)  # fmt: skip
def test_iban_checksum(iban: str, valid: bool) -> None:
    assert is_valid_iban(iban) is valid


def test_iban_is_normalised() -> None:
    event = example_event(EventType.SIGNAL, Theme.MONEY_MULE, payload={"iban": "nl91 abna 0417 1643 00"})
    assert isinstance(event, SignalEvent)
    assert event.payload.iban == "NL91ABNA0417164300"


def test_invalid_bsn_is_named_without_its_value() -> None:
    message = reasons(example_form(subject={"bsn": "123456789", "name": "Jan Secret"}))
    assert "subject.bsn" in message
    assert "11-test" in message
    assert "123456789" not in message
    assert "Jan Secret" not in message


def test_unknown_organisation_code() -> None:
    assert "source" in reasons(example_form(source="nasa"))
    assert "addressees.0" in reasons(example_form(addressees=["nasa"]))


def test_duplicate_addressees() -> None:
    assert "more than once" in reasons(example_form(addressees=["ggz", "ggz"]))


def test_not_a_uuid() -> None:
    message = reasons(example_form(id="not-a-uuid-4711"))
    assert "id: must be a UUID" in message
    assert "4711" not in message


def test_time_in_the_future_is_refused_but_small_skew_is_fine() -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    assert parse_event(example_form(time=soon)).time.tzinfo is UTC
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert "time: lies more than 5 minutes in the future" in reasons(example_form(time=later))
    assert "time" in reasons(example_form(time="1999-12-31T23:00:00Z"))


def test_time_needs_a_timezone_and_is_normalised_to_utc() -> None:
    assert "time" in reasons(example_form(time="2026-01-01T12:00:00"))
    event = parse_event(example_form(time="2026-01-01T12:00:00+01:00"))
    assert event.to_json()["time"] == "2026-01-01T11:00:00Z"


def test_text_lengths_are_bounded() -> None:
    assert "subject.name" in reasons(example_form(subject={"bsn": "111222333", "name": "x" * 201}))
    long_text = "y" * 4001
    message = reasons(example_form(payload={"description": long_text}))
    assert "payload.description" in message
    assert long_text not in message


def test_money_mule_signal_needs_a_valid_iban() -> None:
    assert "payload.iban is required" in reasons(
        example_form(EventType.SIGNAL, Theme.MONEY_MULE, payload={"iban": None})
    )
    assert "payload.iban" in reasons(
        example_form(EventType.SIGNAL, Theme.MONEY_MULE, payload={"iban": "NL00ABNA0417164300"})
    )
    # other themes do not need one
    assert parse_event(example_form(EventType.SIGNAL, Theme.CTER)).payload.model_dump()["iban"] is None


def test_bsn_or_case_id_is_required() -> None:
    assert "subject.bsn or case_id" in reasons(example_form(subject={"name": "A"}, case_id=None))
    assert parse_event(example_form(subject={"name": "A"}, case_id="ZVH-1")).subject.bsn is None
    assert parse_event(example_form(subject={"bsn": "111222333"}, case_id=None)).case_id is None


def test_required_payload_fields_on_ingress() -> None:
    assert "payload.urgency: Field required" in reasons(
        example_form(EventType.SIGNAL, Theme.LVB, payload={"urgency": None}) | {"payload": {"description": "x"}}
    )
    assert "payload.reason" in reasons(example_form(EventType.REFERRAL, payload={"reason": None}))
    assert "payload.grantees" in reasons(example_form(EventType.CONSENT_CHANGE, payload={"grantees": []}))
    assert "payload.kind" in reasons(example_form(EventType.SUBJECT_REQUEST, payload={"kind": "delete-all"}))


def test_conditional_payload_rules() -> None:
    deferred = example_form(EventType.REFERRAL, payload={"subject_informed": False})
    assert "informing_deferred_reason" in reasons(deferred)
    deferred["payload"]["informing_deferred_reason"] = "Informing now would endanger the investigation."
    assert parse_event(deferred).type is EventType.REFERRAL
    assert "redirected_to" in reasons(example_form(EventType.TRIAGE_DECISION, payload={"outcome": "redirected"}))


def test_unknown_fields_and_types_are_refused() -> None:
    assert "payload.shoe_size" in reasons(example_form(payload={"shoe_size": "44"}))
    assert "colour" in reasons(example_form(colour="blue"))
    assert "type: must be one of" in reasons(example_form(type="Gossip"))
    assert "type" in reasons({k: v for k, v in example_form().items() if k != "type"})


def test_purpose_is_a_slug() -> None:
    assert "purpose" in reasons(example_form(purpose="Any Purpose!"))


def test_errors_are_schakel_errors() -> None:
    assert issubclass(EventInvalid, SchemaError)
    assert issubclass(SchemaError, SchakelError)


def test_not_a_mapping() -> None:
    with pytest.raises(EventInvalid, match="JSON object"):
        parse_event(["not", "an", "event"])  # type: ignore[arg-type]


def test_constructing_the_base_class_with_a_payload_model() -> None:
    event = Event(
        id="0b6c5a8e-6a3e-4c53-9d33-3f0f3c2f8a11",
        type=EventType.SIGNAL,
        source=Organisation.POLITIE,
        time=datetime.now(UTC),
        subject=Subject(bsn="111222333"),
        purpose="case-consultation",
        theme=Theme.OTHER,
        payload=SignalPayload(urgency=Urgency.LOW),
    )
    assert event.to_json()["payload"]["urgency"] == "low"
    assert parse_event(event.to_json()) == SignalEvent.model_validate(event.to_json())
