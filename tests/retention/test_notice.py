"""The RetentionExpired notice: valid, unsealed, naming the person only by the recipient's own pseudonym."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schakel.consent import Pseudonymizer
from schakel.retention import Opener
from schakel.retention.job import notice
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
