"""What the hub's consumer commits (``schakel.streams.commits``), without a broker: Kafka's answers at the seek after an
assignment are given by the test, and the commits are recorded instead of sent. The soak test of a worker killed
beside a survivor (``test_worker_faults.py``) shows the same on real workers. A commit also waits until the tables'
changelog records written before it are stored, and never passes one the broker refused."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import faust
from faust.types import TP
from faust.types.tuples import ConsumerMessage, FutureMessage, PendingMessage, RecordMetadata
from kafka.errors import KafkaError

from schakel.streams.commits import ChangelogWrites, CommitGuard, acknowledge
from schakel.streams.durability import use_idempotent_producer

_TP = TP("ingress.politie", 0)


def _consumer(committed: int | None, start: int = 0) -> tuple[CommitGuard, list[dict[TP, int]]]:
    """The hub's consumer after an assignment of ``_TP``, whose committed offset in Kafka is ``committed``."""
    app = faust.App("t-commits", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
    use_idempotent_producer(app)
    app.topics.add(app.topic(_TP.topic, value_type=bytes, value_serializer="raw"))
    app.topics.acking_topics.add(_TP.topic)  # what the conductor does when an agent subscribes to the topic
    consumer = app.consumer
    assert isinstance(consumer, CommitGuard)
    sought: dict[TP, int] = {}
    commits: list[dict[TP, int]] = []

    async def seek_to_committed() -> Mapping[TP, int | None]:
        return {_TP: committed}

    async def earliest_offsets(*partitions: TP) -> Mapping[TP, int]:
        return dict.fromkeys(partitions, start)

    async def seek_wait(partitions: Mapping[TP, int]) -> None:
        sought.update(partitions)

    async def commit_offsets(offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        commits.append(dict(offsets))
        return True

    patch: Any = consumer
    patch.seek_to_committed, patch.earliest_offsets, patch.seek_wait = seek_to_committed, earliest_offsets, seek_wait
    patch._commit_offsets = commit_offsets
    asyncio.run(consumer.perform_seek())
    if not committed or committed < start:
        assert sought == {_TP: max(committed or 0, start)}, "a partition without a usable commit is sought to its start"
    return consumer, commits


def _event(consumer: CommitGuard, offset: int) -> faust.Event:
    message = ConsumerMessage(_TP.topic, _TP.partition, offset, 0.0, 0, None, b"k", b"v", None)
    return faust.Event(consumer.app, b"k", b"v", None, message)


def _commit(consumer: CommitGuard) -> None:
    asyncio.run(consumer.commit())


def test_nothing_is_committed_past_a_record_the_hub_did_not_settle() -> None:
    consumer, commits = _consumer(committed=None)
    for offset in (1, 2, 3):  # offset 0 was cleared from a buffer at a rebalance: never processed
        acknowledge(_event(consumer, offset))
    _commit(consumer)
    assert commits == [], "without offset 0, nothing may be committed"
    acknowledge(_event(consumer, 0))
    _commit(consumer)
    assert commits == [{_TP: 4}]


def test_faust_acknowledging_a_record_it_skipped_counts_for_nothing() -> None:
    consumer, commits = _consumer(committed=40)
    _event(consumer, 40).ack()  # what a stream does with a record it skips at a rebalance
    _commit(consumer)
    assert commits == []
    acknowledge(_event(consumer, 40))
    acknowledge(_event(consumer, 41))
    _commit(consumer)
    assert commits == [{_TP: 42}]


def test_the_record_at_the_committed_offset_must_be_settled_first() -> None:
    consumer, commits = _consumer(committed=40)
    acknowledge(_event(consumer, 41))  # Faust's own check lets the head be one record short
    _commit(consumer)
    assert commits == []


def test_a_partition_whose_committed_records_were_deleted_starts_at_its_first_record() -> None:
    consumer, commits = _consumer(committed=10, start=25)
    acknowledge(_event(consumer, 25))
    _commit(consumer)
    assert commits == [{_TP: 26}]


def _sent(consumer: CommitGuard) -> tuple[list[dict[TP, int]], list[BaseException]]:
    """Commits as far as Kafka's commit request (recorded instead of sent, through the hub's whole commit path),
    and the consumer's crashes."""
    commits: list[dict[TP, int]] = []
    crashes: list[BaseException] = []

    async def commit(offsets: Mapping[TP, int]) -> bool:
        commits.append(dict(offsets))
        return True

    async def flush() -> None:  # nothing produced here but the changelog records the test resolves
        return None

    async def crash(reason: BaseException) -> None:
        crashes.append(reason)

    patch: Any = consumer
    patch._commit, patch.crash, patch.app.producer.flush = commit, crash, flush
    patch.assignment = lambda: {_TP}
    del patch._commit_offsets  # _consumer's recorder: the commit goes through CommitGuard's own here
    return commits, crashes


def _changelog_record(consumer: CommitGuard) -> FutureMessage:
    """A table write as Faust queues it for the table's changelog topic."""
    topic = consumer.app.topic("t-commits-subjects-changelog", key_type=bytes, value_type=bytes)
    record = FutureMessage(PendingMessage(topic, b"k", b"v", 0, None, None, "raw", "raw", None))
    buffer = consumer.app.producer.buffer
    assert isinstance(buffer, ChangelogWrites)
    buffer.put(record)
    return record


def test_a_commit_waits_until_the_table_changes_before_it_are_stored() -> None:
    consumer, _ = _consumer(committed=0)
    commits, crashes = _sent(consumer)

    async def scenario() -> None:
        record = _changelog_record(consumer)  # the event's table change, then the event settled
        acknowledge(_event(consumer, 0))
        committing = asyncio.ensure_future(consumer.commit())
        for _ in range(20):
            await asyncio.sleep(0)
        assert commits == [], "the table change is not stored yet: the offset must not be committed"
        stored = TP("t-commits-subjects-changelog", 0)
        record.set_result(RecordMetadata(stored.topic, stored.partition, stored, 0))
        assert await committing
        assert commits == [{_TP: 1}]

    asyncio.run(scenario())
    assert crashes == []


def test_a_table_change_the_broker_refused_stops_the_commits_and_the_worker() -> None:
    consumer, _ = _consumer(committed=0)
    commits, crashes = _sent(consumer)

    async def scenario() -> None:
        _changelog_record(consumer).set_exception(KafkaError("refused"))
        acknowledge(_event(consumer, 0))
        assert not await consumer.commit()
        acknowledge(_event(consumer, 1))
        assert not await consumer.commit(), "a later commit must not pass the lost table change either"

    asyncio.run(scenario())
    assert commits == []
    assert len(crashes) == 2
