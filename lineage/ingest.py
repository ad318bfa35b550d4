"""``schakel lineage ingest``: the consumer loop that feeds the lineage store from the ``lineage`` topic and the
partners' ``receipts.<org>`` topics (one consumer, one group, several topics; each partition is a chain of its own).

**A receipts topic holds only its partner's own receipts.** Kafka does not tell the store who wrote a record, but
the broker lets only partner ``<org>`` write ``receipts.<org>`` (:func:`schakel.streams.topics.access_grants`), and
``lineage`` only the hub. So from ``receipts.<org>`` the ingest takes a message only when every record of it is a
receipt of which ``<org>`` is the recipient and that a partner writes: its sink's delivery receipt
(``schakel.delivery.receipt``, delivered or dead-lettered) or - the contact point's, ``zvh`` - the answer to an access
request (``schakel.subject.request.answer``, which names ``zvh`` as sender and recipient: ``schakel subject report``).
A decision, a ``link`` or a receipt naming another partner is rejected like any other message the store cannot take
(below): a compromised connector cannot add a decision to anyone's answers, nor join two people's.

At-least-once plus an idempotent store gives effectively-once: a batch is appended to the store in one transaction,
and only after that commit are the Kafka offsets committed. A crash between the two replays the batch, and the store
skips what it already holds (by chain offset and by record id), so neither the store nor its chains change.

**Ingest never stops on a record.** A message is a lineage record or a packed value of several
(:func:`~schakel.lineage.record.records_from_bytes`), taken whole or not at all. A message that is neither - any way
it can fail: bytes, JSON, a field, a range, any record of a pack, a record its receipts topic may not carry, a value
the database refuses - is counted as rejected and logged by topic, partition, offset and the record's own field
names that failed (never its content, never a key it brought along), and the loop goes on
with the rest of the batch: one bad message must not stop compliance logging for everyone. It does not enter the
chain (judgement call: a rejection marker in the chain would record nothing the topic does not hold already, and
rejection is a pure function of the bytes, so a replay rejects the same messages again); the topic itself still
holds it for inspection. Only an unreachable store stops the loop: it keeps the batch, waits (doubling up to 30 s)
and tries again, committing nothing meanwhile; a batch import (no ``follow``) gives up after ``store_retry`` seconds.
So does a store that refuses a record of the batch as a second copy of one another ingest worker stored meanwhile
(:class:`~schakel.lineage.store.StoreConflictError`): the retry skips that record and stores the rest of its
message - rejecting the message would lose the rest for good.
An unreachable broker is waited out the same way: the consumer reconnects by itself, and an offset commit that fails
(the broker stopped between a poll and the commit - found by the broker-restart fault test) is tried again rather
than ending the loop.
A recreated lineage topic is reported as the chain segments the store started (see :mod:`schakel.lineage.chain`).

Without ``follow`` the loop stops once it has caught up with the end offsets it saw when its partitions were
assigned (a batch import, and what the tests use); with ``follow`` it runs until stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from schakel.lineage.chain import LineagePosition
from schakel.lineage.record import (
    DELIVERY_OUTCOMES,
    DELIVERY_RECEIPT_NAME,
    REQUEST_ANSWER_RECORD_NAME,
    InvalidRecordError,
    LineageError,
    LineageRecord,
    RecordKind,
    records_from_bytes,
)
from schakel.lineage.store import AppendResult, LineageStore, StoreUnavailableError, UnstorableRecordError

if TYPE_CHECKING:
    from kafka import KafkaConsumer

__all__ = ["DEFAULT_GROUP_ID", "PRINCIPAL", "IngestResult", "ingest", "ingest_batch"]

DEFAULT_GROUP_ID = "schakel-lineage-store"
PRINCIPAL = "lineage"
"""Lineage ingest's Kafka identity: the broker lets it read the lineage and receipts topics with its group, nothing
else."""
_log = logging.getLogger(__name__)
_PARTNER_RECEIPTS = {DELIVERY_RECEIPT_NAME: DELIVERY_OUTCOMES, REQUEST_ANSWER_RECORD_NAME: frozenset({"answered"})}
"""The receipts a partner writes to its own receipts topic, by name, with the outcomes each may have."""


@dataclass
class IngestResult:
    """What one run of the ingest loop did."""

    messages: int = 0
    records: int = 0
    """Lineage records in the messages read (a packed message holds several); each is appended or a duplicate, unless
    the store rejects its message."""
    appended: int = 0
    duplicates: int = 0
    rejected: int = 0
    """Messages rejected whole (not a record or pack, or one the store cannot hold)."""
    segments: list[str] = field(default_factory=list)
    """Chain segments started because the lineage topic had been recreated."""

    def merge(self, other: IngestResult) -> None:
        self.messages += other.messages
        self.records += other.records
        self.rejected += other.rejected
        self.appended += other.appended
        self.duplicates += other.duplicates
        self.segments.extend(other.segments)

    def add(self, appended: AppendResult) -> None:
        self.appended += appended.appended
        self.duplicates += appended.duplicates
        self.rejected += appended.rejected
        self.segments.extend(appended.segments)


def ingest(
    store: LineageStore,
    *,
    topic: str,
    receipts: Mapping[str, str] | None = None,
    kafka_config: Mapping[str, Any],
    group_id: str = DEFAULT_GROUP_ID,
    follow: bool = False,
    stop: threading.Event | None = None,
    max_batch: int = 2000,
    assignment_timeout: float = 60.0,
    store_retry: float = 120.0,
    on_batch: Callable[[int], None] | None = None,
) -> IngestResult:
    """Read ``topic`` (the hub's: every kind of record) and the ``receipts`` topics (each with the partner whose sink
    writes it) into ``store``, committing offsets after each store commit (then ``on_batch(messages)``)."""
    from kafka import KafkaConsumer  # here: `schakel lineage --help` and the store's readers need no Kafka client

    stop = stop or threading.Event()
    result = IngestResult()
    topics = [topic, *(receipts or {})]
    consumer = KafkaConsumer(
        *topics,
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
            topic_ids = {tp.topic: _topic_id(consumer, tp.topic) for tp in polled}
            batch = ingest_batch(
                store,
                (
                    (
                        LineagePosition(message.topic, message.partition, message.offset, topic_ids[message.topic]),
                        message.value,
                    )
                    for messages in polled.values()
                    for message in messages
                ),
                receipts=receipts,
                stop=stop,
                give_up_after=None if follow else store_retry,
            )
            if batch is None:
                break  # stopped while the store was away: nothing of this batch is committed
            result.merge(batch)
            if polled:
                if not _commit(consumer, stop, None if follow else store_retry):
                    break  # stopped while the broker was away: the stored batch is read again next time (harmless)
                if on_batch is not None:
                    on_batch(sum(len(messages) for messages in polled.values()))
            if follow:
                continue
            assignment = consumer.assignment()
            if not assignment:
                if time.monotonic() > deadline:
                    raise LineageError(
                        f"no partition of {', '.join(topics)} was assigned within {assignment_timeout:.0f}s"
                    )
                continue
            missing = [tp for tp in assignment if tp not in ends]
            if missing:
                ends.update(consumer.end_offsets(missing))
            if all(consumer.position(tp) >= ends[tp] for tp in assignment):
                break
    finally:
        consumer.close(autocommit=False)
    return result


def _commit(consumer: KafkaConsumer, stop: threading.Event, give_up_after: float | None) -> bool:
    """Commit the consumer's positions, waiting out an unreachable broker (doubling up to 30 s); False when stopped
    first. The batch is in the store already: until the commit succeeds, a restart would only read it again."""
    from kafka.errors import CommitFailedError, KafkaError

    delay, deadline = 0.5, None if give_up_after is None else time.monotonic() + give_up_after
    while not stop.is_set():
        try:
            consumer.commit()
        except CommitFailedError:
            # The group rebalanced: these partitions may be another member's now, and only a poll rejoins. The batch
            # is stored; whoever reads the partitions next reads it again, and the store skips it.
            _log.warning("could not commit the lineage offsets: the group rebalanced")
            return True
        except KafkaError as error:
            if deadline is not None and time.monotonic() + delay > deadline:
                raise LineageError(f"could not commit the lineage offsets: {type(error).__name__}") from error
            _log.warning("could not commit the lineage offsets (%s), retrying in %.1fs", type(error).__name__, delay)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
        else:
            return True
    return False


def _topic_id(consumer: KafkaConsumer, topic: str) -> str | None:
    """The topic's id from the consumer's cluster metadata, None when unknown.

    Judgement call: kafka-python keeps it on its client's cluster metadata, which is not public API; without it the
    store still tells a recreated topic by its offsets going back.
    """
    cluster = getattr(getattr(consumer, "_client", None), "cluster", None)
    topic_id = getattr(cluster, "topic_id", lambda _: None)(topic)
    return None if topic_id is None else str(topic_id)


def ingest_batch(
    store: LineageStore,
    messages: Iterable[tuple[LineagePosition, bytes | None]],
    *,
    receipts: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    give_up_after: float | None = None,
) -> IngestResult | None:
    """One polled batch of lineage messages into the store: every message is stored, a duplicate or rejected. A
    message on one of the ``receipts`` topics is rejected unless it holds only that topic's partner's own receipts.

    Waits for an unreachable store (``give_up_after`` seconds at most, None: until ``stop``); None when stopped.
    """
    result = IngestResult()
    items: list[list[tuple[LineageRecord, LineagePosition | None]]] = []  # per message: its records
    for position, value in messages:
        result.messages += 1
        try:
            records = records_from_bytes(value or b"")
            partner = (receipts or {}).get(position.topic)
            if partner is not None:
                _only_receipts_to(partner, records)
        except InvalidRecordError as error:
            result.rejected += 1
            _log.warning(
                "rejected a message on %s partition %d offset %d: %s",
                position.topic,
                position.partition,
                position.offset,
                error,
            )
            continue
        result.records += len(records)
        items.append([(record, position) for record in records])
    if items:
        appended = _append(store, items, stop or threading.Event(), give_up_after)
        if appended is None:
            return None
        result.add(appended)
        for chain in appended.segments:
            _log.warning("the lineage topic was recreated (offsets went back): started chain segment %s", chain)
    return result


def _only_receipts_to(partner: str, records: Sequence[LineageRecord]) -> None:
    """Refuse (:class:`InvalidRecordError`) records other than ``partner``'s own receipts: what its receipts topic may
    hold (the module's notes). The reason names the record's position, its name and recipient (codes, never
    content)."""
    for index, record in enumerate(records):
        if record.kind is not RecordKind.RECEIPT or record.outcome not in _PARTNER_RECEIPTS.get(record.name, ()):
            raise InvalidRecordError(
                f"not a receipt a partner writes, on the receipts topic of {partner} (records[{index}]: {record.name})"
            )
        if record.recipient != partner:
            raise InvalidRecordError(
                f"a receipt on the receipts topic of {partner} names another recipient (records[{index}]: "
                f"{record.recipient})"
            )


def _append(
    store: LineageStore,
    items: list[list[tuple[LineageRecord, LineagePosition | None]]],
    stop: threading.Event,
    give_up_after: float | None,
) -> AppendResult | None:
    """Append a batch, waiting for an unreachable store; None when stopped first."""
    delay, deadline = 0.5, None if give_up_after is None else time.monotonic() + give_up_after
    while not stop.is_set():
        try:
            return _append_or_split(store, items)
        except StoreUnavailableError as error:
            if deadline is not None and time.monotonic() + delay > deadline:
                raise
            _log.warning("the lineage store is unavailable, retrying in %.1fs: %s", delay, error)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)
    return None


def _append_or_split(
    store: LineageStore, items: list[list[tuple[LineageRecord, LineagePosition | None]]]
) -> AppendResult:
    """The batch (its messages' records) in one transaction; when the database refuses a record in it, message by
    message, rejecting the message whole."""
    try:
        return store.append(item for message in items for item in message)
    except UnstorableRecordError:
        if len(items) == 1:
            _, position = items[0][0]
            _log.warning("rejected a message the store cannot hold at %s", position)
            return AppendResult(0, 0, 1)
    total = AppendResult(0, 0)
    for item in items:
        one = _append_or_split(store, [item])
        total = AppendResult(
            total.appended + one.appended,
            total.duplicates + one.duplicates,
            total.rejected + one.rejected,
            total.segments + one.segments,
        )
    return total
