"""A partner's receipts topic: what a (compromised) connector writes there under its own Kafka identity reaches the
lineage store only when it is a delivery receipt to that partner.

Through the real broker and ``schakel lineage ingest``: the hub writes a decision to ``lineage``; the police's
identity writes its own ``receipts.politie`` - a forged decision, a forged ``link`` joining the person to someone
else, a receipt naming the OM as recipient, and the proper receipt of the hub's decision. The ingest keeps the first
three out (counted and logged as rejected, by position and reason, never content), stores the receipt, and the
person's art. 15 answer says the police received the data - and nothing of the forgeries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from typer.testing import CliRunner

from schakel.lineage import LineageRecord, open_store, subject_pseudonym
from schakel.lineage.chain import LineagePosition
from schakel.lineage.cli import app
from schakel.lineage.ingest import ingest_batch
from schakel.lineage.record import pack_records
from schakel.lineage.requests import answer_record
from schakel.lineage.store import LineageStore
from schakel.settings import Settings, settings
from schakel.streams.access import provision
from schakel.streams.topics import ADMIN, HUB, HubTopics
from tests.lineage.factory import SUBJECT_B, T0, decision, link, receipt, request_received

BSN = "111222333"


@pytest.fixture
def layout(
    tmp_path: Path, kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, HubTopics]]:
    """The lineage topics of a prefix of this test, with their grants; the CLI configured for it."""
    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHAKEL_TOPIC_PREFIX", f"rc{unique}.")
    monkeypatch.setenv("SCHAKEL_PARTITIONS", "1")
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    settings.cache_clear()
    config = settings()
    topics = HubTopics.of(config)
    provision(config, topics.lineage_sources())
    yield config, topics
    settings.cache_clear()
    admin = KafkaAdminClient(**config.kafka_client_config(ADMIN))
    try:
        admin.delete_topics(topics.lineage_sources())
    finally:
        admin.close()


def _write(config: Settings, principal: str, topic: str, *records: LineageRecord) -> None:
    producer = KafkaProducer(**config.kafka_client_config(principal), acks="all")
    try:
        for record in records:
            producer.send(topic, key=record.data_subject_id.encode(), value=record.to_bytes()).get(timeout=30)
    finally:
        producer.close()


@pytest.mark.kafka
def test_a_receipts_topic_gives_the_store_only_its_partners_delivery_receipts(
    layout: tuple[Settings, HubTopics], caplog: pytest.LogCaptureFixture
) -> None:
    config, topics = layout
    person = subject_pseudonym(BSN)
    sent = decision(subject=person, recipient="politie", fields_sent=("urgency",))
    forged_decision = decision(subject=person, recipient="politie", fields_sent=("ideology",))
    forged_link = link(subject=person, case_subject=SUBJECT_B)
    for_another = receipt(decision(subject=person, recipient="om", fields_sent=("iban",)))
    delivered = receipt(sent)
    _write(config, HUB, topics.lineage, sent)
    _write(config, "politie", topics.receipts("politie"), forged_decision, forged_link, for_another, delivered)

    with caplog.at_level(logging.WARNING, logger="schakel.lineage.ingest"):
        ingested = CliRunner().invoke(app, ["ingest"])
    assert ingested.exit_code == 0, ingested.output
    assert "5 messages (2 records): 2 stored, 0 already stored, 3 messages rejected" in ingested.stdout
    said = [r.getMessage() for r in caplog.records if "rejected a message" in r.getMessage()]
    receipts = topics.receipts("politie")
    assert said == [
        f"rejected a message on {receipts} partition 0 offset 0: not a receipt a partner writes, on the receipts "
        "topic of politie (records[0]: schakel.consent.decide)",
        f"rejected a message on {receipts} partition 0 offset 1: not a receipt a partner writes, on the receipts "
        "topic of politie (records[0]: schakel.subject.link)",
        f"rejected a message on {receipts} partition 0 offset 2: a receipt on the receipts topic of politie names "
        "another recipient (records[0]: om)",
    ]
    assert BSN not in ingested.output + "".join(said)

    with open_store(None, config.data_dir) as store:
        assert {r.record_id for r in store.records()} == {sent.record_id, delivered.record_id}
        assert store.verify().ok
        assert set(store.heads()) == {f"{topics.lineage}#0", f"{receipts}#0"}
    answer = CliRunner().invoke(app, ["subject", "--bsn", BSN])
    assert answer.exit_code == 0, answer.output
    report = json.loads(answer.stdout)
    assert report["data_subject_ids"] == [person], "the forged link joined someone else's answers to this person's"
    [police] = report["partners"]
    assert police["organisation"]["code"] == "politie"
    assert [(item["event_id"], item["delivery"]["en"]) for item in police["shared"]] == [
        (str(sent.event_id), "delivered")
    ]


def test_a_pack_on_a_receipts_topic_is_taken_whole_or_not_at_all(store: LineageStore) -> None:
    """A pack of proper receipts (delivered, dead-lettered) is stored; one forged record in a pack keeps it all out;
    the contact point's answer to an access request is taken from its own receipts topic only; the hub's own
    ``lineage`` topic takes any kind of record."""
    receipts = {"rc.receipts.politie": "politie", "rc.receipts.zvh": "zvh"}
    answer = answer_record(request_received(uuid4(), T0, "access"), T0 + timedelta(days=3)).to_bytes()
    sent = decision(recipient="politie")
    failed = decision(recipient="politie")
    proper = pack_records([receipt(sent).to_bytes(), receipt(failed, outcome="dead-lettered").to_bytes()])
    mixed = pack_records([receipt(decision(recipient="politie")).to_bytes(), decision(recipient="politie").to_bytes()])
    result = ingest_batch(
        store,
        [
            (LineagePosition("rc.receipts.politie", 0, 0), proper),
            (LineagePosition("rc.receipts.politie", 0, 1), mixed),
            (LineagePosition("rc.receipts.politie", 0, 2), answer),
            (LineagePosition("rc.receipts.zvh", 0, 0), answer),
            (LineagePosition("rc.lineage", 0, 0), decision(recipient="om").to_bytes()),
        ],
        receipts=receipts,
    )
    assert result is not None
    assert (result.appended, result.rejected) == (4, 2)
    assert [r.name for r in store.records() if r.recipient == "zvh"] == ["schakel.subject.request.answer"]
    assert {r.outcome for r in store.records() if r.recipient == "politie"} == {"delivered", "dead-lettered"}
