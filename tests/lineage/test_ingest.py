"""``schakel lineage ingest`` against the real broker: the store mirrors the topic, replays change nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from schakel.lineage import LineageRecord, LineageStore
from schakel.lineage.ingest import ingest
from tests.lineage.factory import decision, receipt

pytestmark = pytest.mark.kafka


def _topic_with_records(config: dict[str, Any], name: str) -> list[LineageRecord]:
    admin = KafkaAdminClient(**config)
    try:
        admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    finally:
        admin.close()
    records: list[LineageRecord] = []
    for person in range(8):
        subject = f"{person:02d}" * 16
        for recipient in ("politie", "om", "ggz"):
            made = decision(subject=subject, recipient=recipient, outcome="deny" if recipient == "ggz" else "permit")
            records.append(made)
            if made.outcome == "permit":
                records.append(receipt(made))
    producer = KafkaProducer(**config)
    try:
        for record in records:
            producer.send(name, key=record.data_subject_id.encode(), value=record.to_bytes())
        producer.send(name, key=b"junk", value=b"{not a lineage record")
        # The hub re-emits a decision after a restart (at-least-once): a second copy at a later offset.
        producer.send(name, key=records[0].data_subject_id.encode(), value=records[0].to_bytes())
        producer.flush()
    finally:
        producer.close()
    return records


def _snapshot(store: LineageStore) -> tuple[object, ...]:
    return (store.heads(), list(store.raw_rows()))


def test_ingest_mirrors_the_topic_and_replay_changes_nothing(
    kafka_admin_config: dict[str, Any], unique: str, backend: str, store_factory: Callable[[str], LineageStore]
) -> None:
    topic = f"test.lineage.{unique}"
    records = _topic_with_records(kafka_admin_config, topic)
    config = kafka_admin_config
    store = store_factory(backend)

    first = ingest(store, topic=topic, kafka_config=config, group_id=f"g1-{unique}")
    assert (first.messages, first.appended, first.duplicates, first.rejected) == (len(records) + 2, len(records), 1, 1)
    assert store.count() == len(records)
    assert store.verify().ok
    assert len(store.heads()) == 3  # one chain per partition
    before = _snapshot(store)

    # The same group again: its offsets were committed after the store commit, so there is nothing left to read.
    again = ingest(store, topic=topic, kafka_config=config, group_id=f"g1-{unique}")
    assert again.messages == 0

    # A new group replays the whole topic into the same store: same store, same chains.
    replay = ingest(store, topic=topic, kafka_config=config, group_id=f"g2-{unique}")
    assert (replay.appended, replay.duplicates) == (0, len(records) + 1)
    assert _snapshot(store) == before

    # And into a fresh store: the chains are a function of the topic alone.
    fresh = store_factory(backend)
    ingest(fresh, topic=topic, kafka_config=config, group_id=f"g3-{unique}")
    assert _snapshot(fresh) == before

    to_om, its_receipt = records[2], records[3]
    assert [hop.record_id for hop in store.trace(to_om.event_id).hops] == [to_om.record_id, its_receipt.record_id]
    assert store.subject_report(to_om.data_subject_id).records == 5
    assert store.trace(uuid4()).hops == ()


def test_follow_mode_keeps_ingesting_until_stopped(
    kafka_admin_config: dict[str, Any], unique: str, store_factory: Callable[[str], LineageStore]
) -> None:
    topic = f"test.lineage.follow.{unique}"
    store = store_factory("sqlite")
    stop = threading.Event()
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(
            ingest(
                store,
                topic=topic,
                kafka_config=kafka_admin_config,
                group_id=unique,
                follow=True,
                stop=stop,
            )
        )
    )
    records = _topic_with_records(kafka_admin_config, topic)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while store.count() < len(records) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.count() == len(records)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert store.verify().ok
