"""The RetentionExpired notice: valid, unsealed, naming the person only by the recipient's own pseudonym."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schakel.consent import Pseudonymizer
from schakel.lineage import RETENTION_NOTICE_RECORD_NAME, InvalidRecordError, LineageRecord, RecordKind
from schakel.retention import Opener
from schakel.retention.job import NOTICE_PURPOSE, notice, notice_record
from schakel.schemas import Codec, Organisation, RetentionReason
from schakel.settings import Settings

SETTINGS = Settings(topic_prefix="n.")
PSEUDONYMS = Pseudonymizer(SETTINGS.pseudonym_key.get_secret_value().encode())


def test_a_notice_names_the_person_only_by_the_recipients_pseudonym() -> None:
    person = PSEUDONYMS.subject("bsn:999990019")
    theirs = PSEUDONYMS.for_recipient("bsn:999990019", Organisation.OM)
    later = datetime.now(UTC) + timedelta(days=400)  # `schakel retention run --at` a later time
    message = notice(SETTINGS, person, "om", theirs, RetentionReason.CASE_CLOSED, later - timedelta(days=1), later)
    assert message.topic == "n.egress.om"
    assert message.key == theirs.encode()
    plain = Opener(None, require_sealed=True).open_copy(message.value, message.headers)  # unsealed, and accepted
    form = Codec().decode_json(plain)
    assert form["subject"] == {"bsn": None, "name": None, "birth_date": None, "pseudonym": theirs}
    assert form["payload"]["reason"] == "case_closed"
    assert datetime.fromisoformat(form["time"]) <= datetime.now(UTC), "sent now, never in the future"
    everything = message.value + b"".join(value for _, value in message.headers)
    assert person.encode() not in everything, "the hub pseudonym never leaves the hub in the clear"
    again = notice(SETTINGS, person, "om", theirs, RetentionReason.CASE_CLOSED, later - timedelta(days=1), later)
    assert Codec().decode_json(again.value)["id"] == form["id"], "a repeated run repeats the same event id"


def test_each_notice_is_a_lineage_record_of_the_same_event() -> None:
    person = PSEUDONYMS.subject("bsn:999990019")
    theirs = PSEUDONYMS.for_recipient("bsn:999990019", Organisation.OM)
    due = datetime.now(UTC) - timedelta(days=1)
    message = notice(SETTINGS, person, "om", theirs, RetentionReason.ERASURE, due, datetime.now(UTC))
    recorded = notice_record(SETTINGS, person, "om", RetentionReason.ERASURE, due, datetime.now(UTC))
    assert (recorded.topic, recorded.key) == ("n.lineage", person.encode())
    record = LineageRecord.from_bytes(recorded.value)  # what lineage ingest accepts
    assert str(record.event_id) == Codec().decode_json(message.value)["id"]
    assert (record.name, record.kind, record.outcome) == (RETENTION_NOTICE_RECORD_NAME, RecordKind.DECISION, "permit")
    assert (record.sender, record.recipient, record.data_subject_id) == ("zvh", "om", person)
    assert (record.reasons, record.purpose, record.legal_basis) == (("erasure",), NOTICE_PURPOSE, ("AVG 6(1)(c)",))
    assert theirs not in recorded.value.decode(), "lineage names the person by the hub pseudonym only"
    forged = {**record.model_dump(mode="json"), "reasons": ["consent-withdrawn"]}
    with pytest.raises(InvalidRecordError):  # a notice's reason is why the retention ended
        LineageRecord.from_bytes(json.dumps(forged).encode())
