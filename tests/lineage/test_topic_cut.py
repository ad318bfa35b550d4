"""``schakel lineage prune`` on the real broker: after the store is pruned, the ``lineage`` topic is cut behind it
(its log start offset moves up to the first record the store still keeps whole), the store still verifies, and
``lineage ingest --follow`` goes on reading after the cut. Only the store's own identity may cut the topic. The
partners' receipts topics, which the store is fed from too, are cut the same way."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from schakel.lineage import LineageRecord, open_store
from schakel.lineage.ingest import DEFAULT_GROUP_ID, ingest
from schakel.lineage.retention import cut_lineage_topic
from schakel.settings import Settings
from schakel.streams.access import apply_grants
from schakel.streams.topics import ADMIN, HUB, LINEAGE, HubTopics, create_topics
from tests.lineage.factory import T0, decision
from tests.streams.conftest import _delete_topics

pytestmark = pytest.mark.kafka


@pytest.fixture
def configured(
    kafka_bootstrap: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """A hub prefix of its own with its topics and grants, its lineage store under ``tmp_path``; the environment
    says the same, for the CLI."""
    from schakel.settings import settings as cached_settings

    monkeypatch.setenv("SCHAKEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SCHAKEL_TOPIC_PREFIX", f"c{unique}.")
    monkeypatch.setenv("SCHAKEL_PARTITIONS", "2")
    monkeypatch.delenv("SCHAKEL_LINEAGE_URL", raising=False)
    monkeypatch.delenv("SCHAKEL_LINEAGE_RETENTION_DAYS", raising=False)
    cached_settings.cache_clear()
    settings = Settings()
    create_topics(settings, HubTopics.of(settings).lineage_sources())
    apply_grants(settings)
    yield settings
    cached_settings.cache_clear()
    _delete_topics(settings)


def _produce(settings: Settings, records: list[tuple[int, LineageRecord]]) -> None:
    producer = KafkaProducer(**settings.kafka_client_config(HUB))  # the hub writes lineage
    try:
        for partition, record in records:
            producer.send(HubTopics.of(settings).lineage, value=record.to_bytes(), partition=partition)
        producer.flush()
    finally:
        producer.close()


def _starts(settings: Settings, topic: str | None = None) -> dict[int, int]:
    topic = topic or HubTopics.of(settings).lineage
    admin = KafkaAdminClient(**settings.kafka_client_config(ADMIN))
    try:
        found = admin.list_partition_offsets({TopicPartition(topic, p): OffsetSpec.EARLIEST for p in (0, 1)})
    finally:
        admin.close()
    return {tp.partition: int(offset.offset) for tp, offset in found.items()}


def test_prune_cuts_the_topic_behind_the_store_and_ingest_goes_on(configured: Settings, unique: str) -> None:
    from typer.testing import CliRunner

    from schakel.lineage.cli import app

    topic = HubTopics.of(configured).lineage
    now = datetime.now(UTC)
    old = [decision(at=T0.replace(year=T0.year - 1)) for _ in range(5)]  # long past a ceiling of 20 days
    new = [decision(at=now) for _ in range(2)]
    # partition 0: old, old, new, old, new  -> the topic must keep offset 2 on (the first record kept whole)
    # partition 1: old, old                 -> nothing kept: the topic may start after the last one ingested
    _produce(configured, [(0, old[0]), (0, old[1]), (0, new[0]), (0, old[2]), (0, new[1]), (1, old[3]), (1, old[4])])
    group = f"{DEFAULT_GROUP_ID}-{unique}"
    lineage_config = configured.kafka_client_config(LINEAGE)
    with open_store(None, configured.data_dir) as store:
        first = ingest(store, topic=topic, kafka_config=lineage_config, group_id=group)
        assert first.appended == 7
        assert _starts(configured) == {0: 0, 1: 0}

    runner = CliRunner()
    pruned = runner.invoke(app, ["prune", "--older-than", "20", "--store-only"])
    assert pruned.exit_code == 0, pruned.output
    assert "pruned 5 records" in pruned.output
    assert _starts(configured) == {0: 0, 1: 0}, "--store-only leaves the topic alone"

    with open_store(None, configured.data_dir) as store:
        assert {partition: low for partition, (low, _) in store.topic_cut(topic).items()} == {0: 2, 1: 2}
        # The hub writes lineage but may not delete it.
        with pytest.raises(KafkaError):
            cut_lineage_topic(configured, store, principal=HUB)
        assert _starts(configured) == {0: 0, 1: 0}

    # A second lineage store that has read partition 0 only up to offset 1 still needs offset 1 on.
    lagging = f"{DEFAULT_GROUP_ID}-{unique}-second"
    admin = KafkaAdminClient(**configured.kafka_client_config(ADMIN))
    try:
        admin.alter_group_offsets(lagging, {TopicPartition(topic, 0): OffsetAndMetadata(1, "", -1)})
        pruned = runner.invoke(app, ["prune", "--older-than", "20"])
        assert pruned.exit_code == 0, pruned.output
        assert "pruned 0 records" in pruned.output
        assert f"topic {topic}: 3 records deleted from the topic" in pruned.output
        assert "has read only up to offset 1" in pruned.output
        assert _starts(configured) == {0: 1, 1: 2}, "the log start offsets moved, not past the lagging store"
        admin.delete_groups([lagging])
    finally:
        admin.close()

    # Once it is gone, the next run cuts up to the first record the store keeps whole; then there is nothing more.
    again = runner.invoke(app, ["prune", "--older-than", "20"])
    assert again.exit_code == 0, again.output
    assert "1 records deleted from the topic" in again.output
    assert _starts(configured) == {0: 2, 1: 2}
    verified = runner.invoke(app, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "intact: 7 records" in verified.output
    assert "0 records deleted from the topic" in runner.invoke(app, ["prune", "--older-than", "20"]).output

    with open_store(None, configured.data_dir) as store:
        # ingest --follow goes on after the cut, from its committed offsets.
        stop = threading.Event()
        follower = threading.Thread(
            target=ingest,
            kwargs={"topic": topic, "kafka_config": lineage_config, "group_id": group, "follow": True, "stop": stop},
            args=(store,),
            daemon=True,
        )
        follower.start()
        later = [decision(at=now) for _ in range(2)]
        _produce(configured, [(0, later[0]), (1, later[1])])
        deadline = time.monotonic() + 60
        while store.count() < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        follower.join(timeout=30)
        assert store.count() == 4  # the two kept whole, and the two written after the cut
        assert store.verify().ok

        # A new consumer group starts at the topic's new beginning: it replays only what is still there.
        replay = ingest(store, topic=topic, kafka_config=lineage_config, group_id=f"{group}-replay")
        assert (replay.appended, replay.duplicates) == (0, 5)
        assert store.verify().ok


def test_prune_cuts_the_receipts_topics_behind_the_store_too(configured: Settings) -> None:
    """A partner's sink writes its receipts to its own topic; once the store has ingested and pruned them, ``prune``
    deletes them from that topic as it does from ``lineage`` - no topic the store is fed from keeps them longer."""
    from typer.testing import CliRunner

    from schakel.lineage.cli import app
    from tests.lineage.factory import receipt

    topics = HubTopics.of(configured)
    sent = [decision(recipient="politie", at=T0.replace(year=T0.year - 1)) for _ in range(3)]
    _produce(configured, [(0, record) for record in sent])
    producer = KafkaProducer(**configured.kafka_client_config("politie"))  # the police's sink writes its receipts
    try:
        for record in sent:
            producer.send(topics.receipts("politie"), value=receipt(record).to_bytes(), partition=1)
        producer.flush()
    finally:
        producer.close()
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest"])
    assert ingested.exit_code == 0, ingested.output
    assert "6 stored" in ingested.output

    pruned = runner.invoke(app, ["prune", "--older-than", "20"])
    assert pruned.exit_code == 0, pruned.output
    assert "pruned 6 records" in pruned.output
    assert f"topic {topics.receipts('politie')}: 3 records deleted from the topic" in pruned.output
    assert _starts(configured, topics.receipts("politie")) == {0: 0, 1: 3}
    assert _starts(configured) == {0: 3, 1: 0}
    assert runner.invoke(app, ["verify"]).exit_code == 0


def test_a_recreated_topic_is_not_cut_at_the_old_topics_offsets_by_a_store_that_never_learnt_topic_ids(
    configured: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that ingested and pruned the old topic without knowing its topic id (a consumer that did not say,
    or a store written before ids were kept) cannot tell the recreated topic from the one it read: it does not cut
    it - the new topic's first records were never read."""
    from typer.testing import CliRunner

    from schakel.lineage.cli import app

    topic = HubTopics.of(configured).lineage
    _produce(configured, [(0, decision(at=T0.replace(year=T0.year - 1))) for _ in range(4)])
    monkeypatch.setattr("schakel.lineage.ingest._topic_id", lambda *_: None)  # the consumer knows no topic ids
    with open_store(None, configured.data_dir) as store:
        read = ingest(
            store,
            topic=topic,
            kafka_config=configured.kafka_client_config(LINEAGE),
            group_id=f"{DEFAULT_GROUP_ID}-{unique}",
        )
        assert read.appended == 4
    pruned = CliRunner().invoke(app, ["prune", "--older-than", "20", "--store-only"])
    assert pruned.exit_code == 0, pruned.output
    assert "pruned 4 records" in pruned.output

    # The topic is deleted and created again; the hub writes six records the store has not read.
    admin = KafkaAdminClient(**configured.kafka_client_config(ADMIN))
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()
    deadline = time.monotonic() + 60
    while not _created(configured, topic):
        assert time.monotonic() < deadline, "the lineage topic was not created again"
        time.sleep(0.5)  # the deletion is still under way
    _produce(configured, [(0, decision(at=datetime.now(UTC))) for _ in range(6)])
    assert _starts(configured) == {0: 0, 1: 0}

    with open_store(None, configured.data_dir) as store:
        cut = cut_lineage_topic(configured, store)
    assert _starts(configured) == {0: 0, 1: 0}, "nothing of the new topic is deleted"
    assert "recreated" in cut.skipped.get(0, "")
    monkeypatch.undo()
    with open_store(None, configured.data_dir) as store:
        after = ingest(
            store,
            topic=topic,
            kafka_config=configured.kafka_client_config(LINEAGE),
            group_id=f"{DEFAULT_GROUP_ID}-{unique}-new",
        )
        assert after.appended == 6, "the store reads every record of the new topic"
        assert store.verify().ok


def _created(settings: Settings, topic: str) -> bool:
    try:
        return create_topics(settings, [topic]) == [topic]
    except KafkaError:
        return False
