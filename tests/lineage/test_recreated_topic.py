"""A recreated lineage topic is not a replay: new records at old offsets start a new chain segment, never vanish."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schakel.lineage import LineagePosition, LineageRecord, LineageStore
from schakel.lineage.ingest import ingest
from schakel.settings import Settings
from schakel.streams.topics import ADMIN
from tests.lineage.factory import decision, receipt

TOPIC = "schakel.lineage"


def test_new_records_at_offsets_already_chained_start_a_new_segment(store: LineageStore) -> None:
    old = [(decision(recipient="om"), LineagePosition(TOPIC, 0, offset)) for offset in range(3)]
    assert store.append(old).appended == 3
    # The topic is deleted and created again: its offsets start over with new records.
    new = [(decision(recipient="om"), LineagePosition(TOPIC, 0, offset)) for offset in range(2)]
    result = store.append(new)
    assert (result.appended, result.duplicates, result.segments) == (2, 0, (f"{TOPIC}#0/1",))
    for record, _ in new:
        assert store.trace(record.event_id).found
    assert store.verify().ok
    heads = store.heads()
    assert (heads[f"{TOPIC}#0"].next_seq, heads[f"{TOPIC}#0/1"].next_seq) == (3, 2)
    # A replay of the recreated topic changes nothing; its next record goes on in the new segment.
    assert store.append(new).duplicates == 2
    assert store.append([*new[1:], (decision(recipient="om"), LineagePosition(TOPIC, 0, 2))]).segments == ()
    assert store.heads()[f"{TOPIC}#0/1"].next_seq == 3
    assert store.verify().ok


def test_a_replay_is_still_a_replay(store: LineageStore) -> None:
    made = decision()
    first = [(made, LineagePosition(TOPIC, 0, 0)), (receipt(made), LineagePosition(TOPIC, 0, 1))]
    # The hub re-emitted the decision at offset 2: a duplicate by record id, not chained.
    first.append((made, LineagePosition(TOPIC, 0, 2)))
    assert store.append(first)[:3] == (2, 1, 0)
    heads = store.heads()
    assert heads[f"{TOPIC}#0"].last_offset == 1  # the offset of the last chained record, nothing else
    replay = store.append(first)
    assert (replay.appended, replay.duplicates, replay.segments) == (0, 3, ())
    assert store.heads() == heads


def test_a_duplicate_at_a_recreated_offset_still_opens_the_segment_for_the_new_records(store: LineageStore) -> None:
    made = decision()
    assert store.append([(decision(), LineagePosition(TOPIC, 0, o)) for o in range(4)]).appended == 4
    store.append([(made, None)])  # stored elsewhere (the local chain)
    again = store.append([(made, LineagePosition(TOPIC, 0, 0)), (decision(), LineagePosition(TOPIC, 0, 1))])
    assert (again.appended, again.duplicates, again.segments) == (1, 1, (f"{TOPIC}#0/1",))
    assert store.verify().ok


def _create(config: dict[str, Any], topic: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        admin = KafkaAdminClient(**config)
        try:
            admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            return
        except TopicAlreadyExistsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the deletion is still under way
        finally:
            admin.close()


def _produce(config: dict[str, Any], topic: str, records: list[LineageRecord]) -> None:
    producer = KafkaProducer(**config)
    try:
        for record in records:
            producer.send(topic, key=b"k", value=record.to_bytes())
        producer.flush()
    finally:
        producer.close()


@pytest.mark.kafka
def test_ingest_tells_a_recreated_topic_from_a_replay(
    kafka_bootstrap: str, unique: str, store_factory: Callable[[str], LineageStore]
) -> None:
    config = Settings().kafka_client_config(ADMIN)
    topic = f"test.lineage.recreated.{unique}"
    store = store_factory("sqlite")
    _create(config, topic)
    _produce(config, topic, [decision(recipient="om") for _ in range(3)])
    assert ingest(store, topic=topic, kafka_config=config, group_id=unique).appended == 3

    admin = KafkaAdminClient(**config)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()
    _create(config, topic)
    new = [decision(recipient="om") for _ in range(2)]
    _produce(config, topic, new)

    result = ingest(store, topic=topic, kafka_config=config, group_id=unique)
    assert (result.appended, result.duplicates, result.segments) == (2, 0, [f"{topic}#0/1"])
    assert all(store.trace(record.event_id).found for record in new)
    assert store.verify().ok
    # A replay of the recreated topic by another group is a replay.
    replay = ingest(store, topic=topic, kafka_config=config, group_id=f"{unique}-replay")
    assert (replay.appended, replay.duplicates, replay.segments) == (0, 2, [])


def test_a_new_topic_id_starts_a_new_segment_even_past_the_old_offsets(store: LineageStore) -> None:
    old = [(decision(), LineagePosition(TOPIC, 0, offset, "id-1")) for offset in range(2)]
    assert store.append(old).segments == ()
    new = [(decision(), LineagePosition(TOPIC, 0, offset, "id-2")) for offset in range(5, 7)]
    assert store.append(new).segments == (f"{TOPIC}#0/1",)
    assert store.append([(decision(), LineagePosition(TOPIC, 0, 7, "id-2"))]).segments == ()
    assert store.append([(decision(), LineagePosition(TOPIC, 0, 8))]).segments == ()  # no id known: no change
    assert store.heads()[f"{TOPIC}#0/1"].next_seq == 4
    assert store.verify().ok
