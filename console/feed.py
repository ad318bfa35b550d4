"""Thin wiring: the console's one Kafka consumer, and the items it keeps in memory for the pages.

The console reads with its own identity (the Kafka settings of the process that runs it - ``SCHAKEL_KAFKA_*`` - so a
secured cluster gives it a ``console`` principal with read access to these topics only):

- every ``egress.<org>`` topic: the copies the hub delivered, one inbox per organisation;
- ``lineage``: the hub's decision records, joined to the copies by (event id, recipient) for rule, purpose, legal
  basis and the names of withheld fields;
- ``dlq``: the dead letters' headers (reasons and positions; the values are never decoded);
- ``ingress.zvh``: what the ZVH itself sent (triage decisions, plans, closures), for the case board.

It assigns every partition (no consumer group: each console process keeps its own view) and reads from the
beginning, keeping a bounded history per organisation. A copy is published to the live subscribers once its decision
record has been read, or after :attr:`Feed.decision_wait` seconds without one (then shown as "decision not yet
known"): the hub writes both at once, so the wait is normally a single fetch. Copies repeated by the hub's
at-least-once delivery are dropped by (recipient, event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schakel.console.inbox import DecisionNote, InboxItem, item_from_copy
from schakel.lineage import InvalidRecordError, LineageRecord, RecordKind, records_from_bytes
from schakel.retention import Opener, SealError
from schakel.schemas import Codec, Organisation, SchemaError
from schakel.settings import Settings
from schakel.streams.records import DeadLetter
from schakel.streams.topics import CONSOLE, HubTopics

__all__ = ["Feed"]

_log = logging.getLogger("schakel.console.feed")
_DECISIONS_KEPT = 100_000


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error("the console's feed stopped: %s", type(task.exception()).__name__)


class Feed:
    """Reads the topics above and serves their contents to the pages and the live streams."""

    def __init__(self, settings: Settings, *, history: int = 5000, decision_wait: float = 2.0) -> None:
        self.settings = settings
        self.topics = HubTopics.of(settings)
        self.decision_wait = decision_wait
        self._codec = Codec()
        self._opener = Opener.of(settings)  # copies are sealed with their person's data key (schakel.retention)
        self._items: dict[str, deque[InboxItem]] = {str(org): deque(maxlen=history) for org in Organisation}
        self._known: dict[str, set[str]] = {str(org): set() for org in Organisation}
        self._decisions: OrderedDict[tuple[str, str], DecisionNote] = OrderedDict()
        self._pending: dict[tuple[str, str], tuple[InboxItem, float]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[InboxItem]]] = {str(org): set() for org in Organisation}
        self.dead_letters: deque[DeadLetter] = deque(maxlen=history)
        self.zvh_sent: deque[InboxItem] = deque(maxlen=history)
        self._zvh_sent_ids: set[str] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._assigned: set[TopicPartition] = set()
        self.assigned = asyncio.Event()
        """Set once every topic above has been found and assigned."""

    # -- what the pages read -------------------------------------------------------------------------------------

    def items(self, organisation: str) -> list[InboxItem]:
        """What was delivered to ``organisation``, newest first."""
        return list(reversed(self._items.get(organisation, ())))

    def item(self, organisation: str, event_id: str) -> InboxItem | None:
        return next((i for i in self._items.get(organisation, ()) if i.event_id == event_id), None)

    def subscribe(self, organisation: str) -> asyncio.Queue[InboxItem]:
        queue: asyncio.Queue[InboxItem] = asyncio.Queue(maxsize=1000)
        self._subscribers[organisation].add(queue)
        return queue

    def unsubscribe(self, organisation: str, queue: asyncio.Queue[InboxItem]) -> None:
        self._subscribers[organisation].discard(queue)

    # -- running ---------------------------------------------------------------------------------------------------

    def _wanted(self) -> list[str]:
        return [*self.topics.all_egress(), self.topics.lineage, self.topics.dlq, self.topics.ingress(Organisation.ZVH)]

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **self.settings.kafka_client_config(CONSOLE),
            client_id="schakel-console",
            group_id=None,
            enable_auto_commit=False,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="schakel-console-feed")
        self._task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        # aiokafka's public partitions_for_topic only knows subscribed topics; the full metadata answers for any
        # topic (schakel.connectors does the same).
        cluster = await consumer._client.fetch_all_metadata()
        found = {
            TopicPartition(topic, partition)
            for topic in self._wanted()
            for partition in cluster.partitions_for_topic(topic) or ()
        }
        new = found - self._assigned
        if new:
            self._assigned |= new
            consumer.assign(sorted(self._assigned))
            await consumer.seek_to_beginning(*new)
        if {tp.topic for tp in self._assigned} >= set(self._wanted()):
            self.assigned.set()

    async def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_look = 0.0
        while True:
            if not self.assigned.is_set() and time.monotonic() >= next_look:
                await self._assign(consumer)
                next_look = time.monotonic() + 1.0
            if not self._assigned:
                await asyncio.sleep(0.2)
                continue
            batches = await consumer.getmany(timeout_ms=100, max_records=1000)
            records = [record for batch in batches.values() for record in batch]
            records.sort(key=lambda r: r.topic != self.topics.lineage)  # decisions first
            for record in records:
                self._take(record)
            self._release_overdue()

    # -- one record ------------------------------------------------------------------------------------------------

    def _take(self, record: Any) -> None:
        try:
            if record.topic == self.topics.lineage:
                for lineage in records_from_bytes(record.value):  # the hub packs an event's records in one message
                    self._take_decision(lineage)
            elif record.topic == self.topics.dlq:
                self.dead_letters.append(DeadLetter.from_headers(record.headers or []))
            elif record.topic == self.topics.ingress(Organisation.ZVH):
                self._take_zvh_sent(record.value)
            else:
                self._take_copy(record.topic, record.value, list(record.headers or []))
        except (InvalidRecordError, SchemaError, KeyError, ValueError) as error:
            # Positions and the error class only: the value may hold personal data.
            _log.warning("skipped %s[%d]@%d: %s", record.topic, record.partition, record.offset, type(error).__name__)

    def _take_decision(self, lineage: LineageRecord) -> None:
        if lineage.kind is not RecordKind.DECISION:
            return
        key = (str(lineage.event_id), lineage.recipient)
        note = DecisionNote.of(lineage)
        self._decisions[key] = note
        while len(self._decisions) > _DECISIONS_KEPT:
            self._decisions.popitem(last=False)
        waiting = self._pending.pop(key, None)
        if waiting is not None:
            self._publish(waiting[0].decided(note))
        elif key[0] in self._known.get(lineage.recipient, ()):
            self._late(lineage.recipient, key[0], note)

    def _late(self, recipient: str, event_id: str, note: DecisionNote) -> None:
        """A decision read after its copy was shown without one: the pages show it from now on."""
        items = self._items[recipient]
        for index, item in enumerate(items):
            if item.event_id == event_id and item.decision is None:
                items[index] = item.decided(note)
                return

    def _take_copy(self, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        recipient = topic.rsplit(".", 1)[-1]
        if recipient not in self._known:
            return
        try:
            plain = self._opener.open_copy(value, headers)
        except SealError:  # the person's retention ended (or erasure): the copy is gone for the console too
            return
        item = item_from_copy(recipient, self._codec.decode_json(plain), datetime.now(UTC))
        key = (item.event_id, recipient)
        if item.event_id in self._known[recipient] or key in self._pending:
            return
        note = self._decisions.get(key)
        if note is not None:
            self._publish(item.decided(note))
        else:
            self._pending[key] = (item, time.monotonic() + self.decision_wait)

    def _take_zvh_sent(self, value: bytes) -> None:
        form = self._codec.decode_json(value)
        if str(form.get("source")) != str(Organisation.ZVH):
            return  # the hub dead-letters it; the board shows only what the ZVH really sent
        item = item_from_copy(str(Organisation.ZVH), form, datetime.now(UTC))
        if item.event_id not in self._zvh_sent_ids:
            self._zvh_sent_ids.add(item.event_id)
            self.zvh_sent.append(item)

    def _release_overdue(self) -> None:
        now = time.monotonic()
        for key in [key for key, (_, deadline) in self._pending.items() if deadline <= now]:
            item, _ = self._pending.pop(key)
            self._publish(item)

    def _publish(self, item: InboxItem) -> None:
        self._known[item.recipient].add(item.event_id)
        self._items[item.recipient].append(item)
        for queue in list(self._subscribers[item.recipient]):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self._subscribers[item.recipient].discard(queue)  # a stalled page; its stream ends
