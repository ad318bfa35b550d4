"""The lineage record: its wire form, its guards against personal data, and its Logboek Dataverwerkingen shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from schakel.lineage import (
    BUNDLE_RECORD_NAME,
    InvalidRecordError,
    LineageRecord,
    RecordKind,
    load_processing_activities,
    record_id,
)
from schakel.lineage.activities import ProcessingActivitiesError, processing_activity
from tests.lineage.factory import decision, link, receipt

BSN = "111222333"  # passes the 11-test


def test_bytes_round_trip_keeps_every_field() -> None:
    record = decision(fields_withheld=("ideology",), reasons=("consent-missing",))
    assert LineageRecord.from_bytes(record.to_bytes()) == record
    expected = f"{record.sender}/{record.event_id}/{record.data_subject_id}/politie/decision"
    assert json.loads(record.to_bytes())["record_id"] == expected


def test_times_are_normalised_to_utc() -> None:
    record = decision()
    amsterdam = timezone(timedelta(hours=1))
    shifted = record.model_copy(update={"start_time": record.start_time.astimezone(amsterdam)})
    reparsed = LineageRecord.from_bytes(shifted.model_dump_json().encode())
    assert reparsed.start_time.utcoffset() == timedelta(0)
    assert reparsed == record


def test_record_id_must_be_deterministic() -> None:
    data = json.loads(decision().to_bytes())
    data["record_id"] = "something-else"
    with pytest.raises(InvalidRecordError, match="record_id"):
        LineageRecord.from_bytes(json.dumps(data).encode())


def test_a_bsn_is_refused_as_subject_id_and_never_echoed() -> None:
    data = json.loads(decision().to_bytes())
    data["data_subject_id"] = BSN
    with pytest.raises(InvalidRecordError) as caught:
        LineageRecord.from_bytes(json.dumps(data).encode())
    assert BSN not in str(caught.value)
    with pytest.raises(ValidationError) as direct:
        LineageRecord.model_validate(data)
    assert BSN not in str(direct.value)


def test_field_values_are_refused_where_field_names_belong() -> None:
    data = json.loads(decision().to_bytes())
    data["fields_sent"] = ["urgency", "Jan de Vries slaat zijn buren"]
    with pytest.raises(InvalidRecordError) as caught:
        LineageRecord.from_bytes(json.dumps(data).encode())
    assert "Jan" not in str(caught.value)


def test_outcome_must_fit_the_kind() -> None:
    data = json.loads(receipt(decision()).to_bytes())
    data["outcome"] = "permit"
    with pytest.raises(InvalidRecordError, match="outcome"):
        LineageRecord.from_bytes(json.dumps(data).encode())


def test_logboek_shape_carries_the_standard_fields() -> None:
    record = decision(fields_withheld=("ideology",))
    logboek = record.to_logboek()
    for key in ("trace_id", "span_id", "parent_span_id", "name", "status", "start_time", "end_time", "attributes"):
        assert key in logboek
    attributes = logboek["attributes"]
    assert attributes["dpl.core.processing_activity_id"] == record.processing_activity_id
    assert attributes["dpl.core.data_subject_id"] == record.data_subject_id
    assert attributes["dpl.core.data_subject_id_type"] == "schakel-pseudonym:bsn"
    assert attributes["schakel.fields_withheld"] == ["ideology"]
    assert attributes["schakel.policy"] == "cter-noord-holland@2025.1"
    assert logboek["status"] == "Ok"
    assert len(logboek["trace_id"]) == 32
    assert len(logboek["span_id"]) == 16


def test_a_denial_is_a_normal_outcome_in_the_decision_log() -> None:
    denied = decision(outcome="deny", fields_withheld=("urgency",), reasons=("no-rule",))
    log = denied.to_decision_log()
    assert log is not None
    assert log["response"]["decision"] is False
    assert log["response"]["context"]["fields_withheld"] == ["urgency"]
    assert log["policies"] == [{"id": "cter-noord-holland", "version": "2025.1", "rule": "cter-signal-to-police"}]
    assert denied.to_logboek()["status"] == "Ok"
    assert receipt(decision()).to_decision_log() is None


def test_records_without_trace_context_still_export_valid_ids() -> None:
    record = decision().model_copy(update={"trace_id": None, "span_id": None})
    logboek = record.to_logboek()
    assert logboek["trace_id"] == record.event_id.hex
    assert len(logboek["span_id"]) == 16
    assert record.kind is RecordKind.DECISION


def test_processing_activity_per_purpose_from_the_shipped_register() -> None:
    for purpose in ("case-consultation", "cter-person-centred", "lvb-exploitation", "money-mule-prevention"):
        activity = processing_activity(purpose)
        assert activity is not None
        assert activity.startswith("urn:")
    assert processing_activity("no-such-purpose") is None


def test_processing_activities_can_come_from_another_file(tmp_path: Path) -> None:
    register = tmp_path / "register.yaml"
    register.write_text("activities:\n  case-consultation: https://register.example/verwerking/7\n")
    assert load_processing_activities(register) == {"case-consultation": "https://register.example/verwerking/7"}
    register.write_text("activities: [1, 2]\n")
    with pytest.raises(ProcessingActivitiesError):
        load_processing_activities(register)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purpose", "jan-jansen-111222333"),
        ("purpose", "Case consultation"),
        ("reasons", ["consent-missing", "Jan Jansen wilde niet"]),
        ("reasons", ["no-such-reason"]),
        ("event_type", "Jan Jansen"),
        ("sender", "Jan Jansen"),
        ("recipient", "jan"),
        ("legal_basis", ["toestemming van Jan"]),
        ("rule", "Jan Jansen"),
        ("covenant_id", "jan jansen"),
        ("name", "Jan Jansen"),
        ("processing_activity_id", "Jan Jansen"),
        ("source_topic", "Jan Jansen"),
        ("data_subject_id", "Jan Jansen"),
    ],
)
def test_sender_text_is_refused_where_lineage_carries_codes(field: str, value: object) -> None:
    data = json.loads(decision(reasons=("permitted",)).to_bytes())
    data[field] = value
    with pytest.raises(InvalidRecordError) as caught:
        LineageRecord.from_bytes(json.dumps(data).encode())
    assert "Jan" not in str(caught.value)
    assert "111222333" not in str(caught.value)


def test_a_receipt_names_an_error_class_as_its_reason() -> None:
    made = receipt(decision(), outcome="dead-lettered").model_copy(update={"reasons": ("PermanentDeliveryError",)})
    assert LineageRecord.from_bytes(made.to_bytes()) == made
    data = json.loads(made.to_bytes())
    data["reasons"] = ["partner said: Jan is not known here"]
    with pytest.raises(InvalidRecordError):
        LineageRecord.from_bytes(json.dumps(data).encode())


def test_a_link_names_two_pseudonyms_and_nothing_else() -> None:
    made = link(subject="a" * 32, case_subject="c" * 32)
    assert LineageRecord.from_bytes(made.to_bytes()) == made
    assert made.record_id == record_id(made.sender, made.event_id, made.data_subject_id, made.sender, RecordKind.LINK)
    for change in ({"outcome": "permit"}, {"linked_subject_id": None}, {"linked_subject_id": BSN}):
        data = {**json.loads(made.to_bytes()), **change}
        with pytest.raises(InvalidRecordError):
            LineageRecord.from_bytes(json.dumps(data).encode())
    data = {**json.loads(decision().to_bytes()), "linked_subject_id": "c" * 32, "linked_subject_key": "case"}
    with pytest.raises(InvalidRecordError, match="only a link"):
        LineageRecord.from_bytes(json.dumps(data).encode())


def test_a_bundle_record_names_the_bundles_reason_and_only_a_bundle_record_may() -> None:
    base = decision(event_type="SignalBundle", sender="zvh", recipient="zvh").model_dump()
    made = LineageRecord.model_validate(
        {**base, "name": BUNDLE_RECORD_NAME, "rule": "signal-agenda", "reasons": ("several_partners",)}
    )
    assert LineageRecord.from_bytes(made.to_bytes()) == made
    refusals = (
        {"reasons": ["permitted"]},  # a consent reason on a bundle record
        {"event_type": "Signal"},  # a bundle record of another type
        {"name": "schakel.consent.decide"},  # a bundle's reason on a consent decision
    )
    for change in refusals:
        data = {**json.loads(made.to_bytes()), **change}
        with pytest.raises(InvalidRecordError):
            LineageRecord.from_bytes(json.dumps(data).encode())


@pytest.mark.parametrize(
    "make", [decision, lambda: receipt(decision()), lambda: link(subject="p-bsn", case_subject="p-case")]
)
def test_trusted_bytes_are_the_models_canonical_bytes(make: Callable[[], LineageRecord]) -> None:
    record = make()
    given = {
        name: value for name, value in record.__dict__.items() if value != LineageRecord.model_fields[name].default
    }
    assert LineageRecord.trusted_bytes(**given) == record.to_bytes()
    with_microseconds = record.model_copy(update={"end_time": record.end_time + timedelta(microseconds=123)})
    assert LineageRecord.trusted_bytes(**with_microseconds.__dict__) == with_microseconds.to_bytes()


def test_trusted_bytes_refuse_an_unknown_or_missing_field() -> None:
    fields = dict(decision().__dict__)
    with pytest.raises(TypeError, match="unknown \\['bsn'\\]"):
        LineageRecord.trusted_bytes(**fields, bsn="x")
    del fields["purpose"]
    with pytest.raises(TypeError, match="missing \\['purpose'\\]"):
        LineageRecord.trusted_bytes(**fields)
