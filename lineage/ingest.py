"""``schakel lineage ingest``: the consumer loop that feeds the lineage store from the ``lineage`` topic.

At-least-once plus an idempotent store gives effectively-once: a batch is appended to the store in one transaction,
and only after that commit are the Kafka offsets committed. A crash between the two replays the batch, and the store
skips what it already holds (by chain offset and by record id), so neither the store nor its chains change.

A message that is not a lineage record is counted as rejected and logged by topic, partition and offset (never its
content) and the loop goes on: one bad message must not stop compliance logging for everyone. It does not enter the
chain; the topic itself still holds it for inspection.

Without ``follow`` the loop stops once it has caught up with the end offsets it saw when its partitions were
assigned (a batch import, and what the tests use); with ``follow`` it runs until stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer

from schakel.lineage.chain import LineagePosition
from schakel.lineage.record import InvalidRecordError, LineageError, LineageRecord
from schakel.lineage.store import LineageStore

__all__ = ["DEFAULT_GROUP_ID", "PRINCIPAL", "IngestResult", "ingest"]

DEFAULT_GROUP_ID = "schakel-lineage-store"
PRINCIPAL = "lineage"
"""Lineage ingest's Kafka identity: the broker lets it read the lineage topic with its group, nothing else."""
_log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What one run of the ingest loop did."""

    messages: int = 0
    appended: int = 0
    duplicates: int = 0
    rejected: int = 0


def ingest(
    store: LineageStore,
    *,
    topic: str,
    kafka_config: Mapping[str, Any],
    group_id: str = DEFAULT_GROUP_ID,
    follow: bool = False,
    stop: threading.Event | None = None,
    max_batch: int = 2000,
    assignment_timeout: float = 60.0,
    on_batch: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read ``topic`` into ``store``, committing offsets after each store commit (then ``on_batch(messages)``)."""
    stop = stop or threading.Event()
    result = IngestResult()
    consumer = KafkaConsumer(
        topic,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_batch,
        **dict(kafka_config),
    )
    ends: dict[Any, int] = {}
    deadline = time.monotonic() + assignment_timeout
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=500, max_records=max_batch)
            items: list[tuple[LineageRecord, LineagePosition | None]] = []
            for messages in polled.values():
                for message in messages:
                    result.messages += 1
                    try:
                        record = LineageRecord.from_bytes(message.value)
                    except InvalidRecordError as error:
                        result.rejected += 1
                        _log.warning(
                            "skipped a message on %s partition %d offset %d: %s",
                            message.topic,
                            message.partition,
                            message.offset,
                            error,
                        )
                        continue
                    items.append((record, LineagePosition(message.topic, message.partition, message.offset)))
            if items:
                appended = store.append(items)
                result.appended += appended.appended
                result.duplicates += appended.duplicates
            if polled:
                consumer.commit()
                if on_batch is not None:
                    on_batch(sum(len(messages) for messages in polled.values()))
            if follow:
                continue
            assignment = consumer.assignment()
            if not assignment:
                if time.monotonic() > deadline:
                    raise LineageError(f"no partition of {topic} was assigned within {assignment_timeout:.0f}s")
                continue
            missing = [tp for tp in assignment if tp not in ends]
            if missing:
                ends.update(consumer.end_offsets(missing))
            if all(consumer.position(tp) >= ends[tp] for tp in assignment):
                break
    finally:
        consumer.close(autocommit=False)
    return result
