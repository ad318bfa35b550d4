"""What the hub commits: a partition's offset moves only past records the hub itself has settled, one after the
other from where the partition was taken up.

Faust decides what to commit from its own bookkeeping, and three of its habits can commit past records no agent ever
processed - found by the soak test of a worker killed beside a survivor (``tests/streams/test_worker_faults.py``),
which lost the first few hundred records of ``hub-link`` partitions at the first rebalance:

1. After a rebalance Faust seeks each partition to its committed offset, but aiokafka does not seek one that has no
   committed offset yet: it stays where the fetcher was in the previous generation, past the records that sat in
   the agents' buffers Faust cleared at the rebalance. The next commit (from nothing, so unchecked) skips them.
2. A record a stream takes while the flow is stopped (a rebalance) or from an older generation is skipped - and
   acknowledged as if it had been processed, by the stream, whatever ``noack()`` says.
3. A jump in the offsets it reads is taken for a compacted or transactional gap and counted as acknowledged; the
   head of the acknowledged offsets is checked against the committed one only when that is known and non-zero, and
   then one record short.
4. It drops a fetched record whose offset is below the last one it read. That mark is also moved by the records of
   the previous generation it still hands on after the seek of a rebalance (skipped there): the partition's
   records from the committed offset on are then dropped as read, and the partition stalls - the survivor's
   "Stream has not started processing" and "Has not committed" of the same soak test.

So the hub's consumer (:class:`CommitGuard`) keeps, per partition of an acknowledging topic, the *floor*: the next
offset to commit, taken from Kafka when the partition is taken up (its committed offset, or the partition's start
when there is none - where ``consumer_auto_offset_reset="earliest"`` starts - and the partition is sought there).
It commits the floor forward only over a run of acknowledged offsets that starts at the floor, counts only the
acknowledgements the hub gives (:func:`acknowledge`, from the records' settling in offset order), and never fills
gaps. Until the floor is known (between an assignment and the seek), it commits nothing. Faust keeps no read mark
for these partitions (:class:`_ReadOffsets`): a record fetched twice is processed twice (at-least-once; sinks and the
lineage store drop duplicates) rather than dropped once too often.

Judgement calls:

- *Fail closed.* The hub's topics have no gaps in their offsets (not compacted, no transactions: every producer is
  idempotent, without transactions), so a missing offset means a record was not processed: commits on that partition
  stop there (the record and those after it are processed again after a restart or rebalance), rather than skip
  it. Known limit: a partner that wrote an ingress topic transactionally, or retention deleting records the hub has
  not read yet, stops that partition's commits until the next rebalance or restart takes the partition up anew.
- *At a revocation*, the acknowledged offsets are committed before Faust forgets them; the records still settling
  are committed when Faust waits for them, as before.
- *A record whose partition was revoked while it was being processed* (:func:`holding` says so) may be let go
  (:func:`let_go`) instead: Faust stops waiting for it, and it is not acknowledged - the partition's next owner
  processes it again. Faust's revocation waits for every record an agent took, but a member that takes longer than
  the rebalance timeout (``broker_rebalance_timeout``) is dropped from the group and its partitions go to the others
  while it still waits; what it then writes to a table reaches the changelog the new owner keeps
  (``schakel.streams.purge``, the one agent that writes its tables after waiting for the broker).

**The tables' changes behind a commit.** An agent's table write is a record for the table's changelog, which Faust
queues in its producer buffer (``send_soon``) and produces later; Faust's commit "flushes" that buffer first, but the
flush gives up after 0.1 s without progress (seen on this shared machine: the event loop was held 0.1-0.3 s at p99)
and does not wait for the record it is producing at that moment, and a changelog record the broker refuses is only
logged - either way the offset was committed without the table change (a lost consent withdrawal, link or event-id
entry after a crash). :class:`ChangelogWrites` remembers each changelog record until the broker confirmed it, and
:class:`CommitGuard` commits only once every one written before the commit is confirmed; a refused one stops the
worker (fail closed: the records are processed again after the restart, and their table writes made again).

**Commits on the timer only** (``broker_commit_interval``, see ``schakel.streams.hub``). Faust also commits after
every 10,000 acknowledgements (``broker_commit_every``), from the loop that fetches records: fetching stops until
that commit is done, producer flush included - measured here 31-870 ms at the median and 0.2-8.4 s at the worst (one
worker, 5-13 events/s, a loaded machine), every ~3,300 events (three steps acknowledge each event): a stall of every
partition in the p99 tail. The timer's commit runs beside the fetching, so :class:`CommitGuard` switches the count
off; what is committed, and when at the latest, does not change.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP, FutureMessage, Message
from mode.utils.futures import notify

from schakel.errors import SchakelError

__all__ = ["ChangelogError", "ChangelogWrites", "CommitGuard", "acknowledge", "holding", "let_go"]

_log = logging.getLogger("schakel.streams")

# Changelog records queued at most before Faust holds every stream until 100 of them are produced ("producer buffer
# full"). Faust's 100 is 25 events' table writes (about 4 per event): one fetched batch of 25 events stalled every
# partition. 1,000 is one to two commit intervals of writes at the hub's maximum rate (about 2.8 per event at 150-250
# events/s on the bench machine, README Benchmarks), beyond which holding the streams is back-pressure rather than a
# burst; each is a few hundred bytes.
CHANGELOG_BUFFER = 1000

_settling: ContextVar[bool] = ContextVar("schakel_settling", default=False)
_letting_go: ContextVar[bool] = ContextVar("schakel_letting_go", default=False)


@contextmanager
def _hub_acknowledges() -> Iterator[None]:
    token = _settling.set(True)
    try:
        yield
    finally:
        _settling.reset(token)


def acknowledge(event: Any) -> None:
    """Acknowledge a Faust event the hub has settled: the only acknowledgement :class:`CommitGuard` counts."""
    with _hub_acknowledges():
        event.ack()


def holding(event: Any) -> Callable[[], bool]:
    """A test of whether this worker still holds the partition of a Faust ``event``'s record: true until a rebalance
    begins to revoke the partition after this call, then false for good (if the partition comes back, the record is
    processed again from the committed offset)."""
    consumer = event.app.consumer
    if not isinstance(consumer, CommitGuard):
        raise TypeError("the hub's consumer is a CommitGuard (schakel.streams.durability)")
    tp = event.message.tp
    mark = consumer.revocations(tp)
    return lambda: consumer.revocations(tp) == mark


def let_go(event: Any) -> None:
    """Let go of a Faust event whose partition was revoked while the hub processed it (:func:`holding`): Faust stops
    waiting for it, and it is not acknowledged - its offset is not committed, the partition's next owner processes it
    again."""
    token = _letting_go.set(True)
    try:
        event.ack()
    finally:
        _letting_go.reset(token)


class _ReadOffsets(defaultdict[TP, int | None]):
    """Faust's read marks (the last offset read per partition), never kept for the partitions the hub guards."""

    def __init__(self, guarded: Callable[[str], bool]) -> None:
        super().__init__(lambda: None)
        self._guarded = guarded

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        if not self._guarded(tp.topic):
            super().__setitem__(tp, offset)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for tp, offset in dict(*args, **kwargs).items():
            self[tp] = offset


class ChangelogError(SchakelError):
    """A table's changelog record was not stored by the broker: the offsets behind it are not committed."""


class ChangelogWrites(ProducerBuffer):
    """Faust's producer buffer of table changelog records, which remembers each record until the broker confirmed
    it (:meth:`confirmed`)."""

    max_messages = CHANGELOG_BUFFER

    def __post_init__(self) -> None:
        super().__post_init__()
        self._unconfirmed: deque[FutureMessage] = deque()

    def put(self, fut: FutureMessage) -> None:
        self._unconfirmed.append(fut)
        super().put(fut)

    async def confirmed(self) -> None:
        """Return once every record put so far is stored by the broker; raise :class:`ChangelogError` if one was
        not (it stays remembered: every later call raises too)."""
        writes = list(self._unconfirmed)
        if writes:
            await asyncio.wait(writes)  # not cancelling them when the commit is cancelled
        for write in writes:
            _refused(write)
        while self._unconfirmed and self._unconfirmed[0].done():  # forget the stored ones, up to the first not
            _refused(self._unconfirmed[0])
            self._unconfirmed.popleft()


def _refused(write: FutureMessage) -> None:
    """Raise :class:`ChangelogError` if the broker did not store ``write`` (done)."""
    if write.cancelled() or write.exception() is not None:
        error = "cancelled" if write.cancelled() else type(write.exception()).__name__
        raise ChangelogError(f"a changelog record for {write.message.channel.get_topic_name()}: {error}")


class CommitGuard(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer that commits a partition only over the records the hub settled, from its floor,
    once the tables' changelog records written before are stored, and on the commit timer only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._floor: dict[TP, int] = {}
        self._revocations: defaultdict[TP, int] = defaultdict(int)
        self._read_offset = _ReadOffsets(self._guarded)
        self._commit_every = None  # no commit from the fetching loop (module docstring)

    def _guarded(self, topic: str) -> bool:
        return bool(self.app.topics.acks_enabled_for(topic))

    def revocations(self, tp: TP) -> int:
        """How many rebalances began to revoke ``tp`` from this worker so far."""
        return self._revocations[tp]

    def ack(self, message: Message) -> bool:
        if self._guarded(message.topic) and _letting_go.get():  # let_go(): done with, never counted
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
            return False
        if self._guarded(message.topic) and not _settling.get():
            return False  # Faust's own acknowledgement of a record it skipped: the hub never processed it
        return bool(super().ack(message))

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        for tp in revoked:
            self._revocations[tp] += 1
        await self.commit()  # what is acknowledged so far, before Faust drops it for the revoked partitions
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Set[TP], generation_id: int = 0) -> None:
        for tp in assigned:
            self._floor.pop(tp, None)  # nothing committed until the seek has set the floor again
        await super().on_partitions_assigned(assigned, generation_id)

    async def perform_seek(self) -> None:
        committed: Mapping[TP, int | None] = await self.seek_to_committed()
        streams = [tp for tp in committed if self._guarded(tp.topic)]
        starts = await self.earliest_offsets(*streams) if streams else {}
        floors: dict[TP, int] = {}
        for tp in streams:
            offset, start = committed[tp], starts.get(tp)
            if start is None or start < 0:
                continue  # no floor: no commits on this partition until it is taken up again
            floors[tp] = max(offset or 0, start)
        behind = {tp: floor for tp, floor in floors.items() if (committed[tp] or 0) < floor or not committed[tp]}
        if behind:
            await self.seek_wait(behind)  # aiokafka does not seek a partition without a committed offset
        for tp, floor in floors.items():
            self._acked.pop(tp, None)
            self._acked_index.pop(tp, None)
            self._gap.pop(tp, None)
            self._read_offset[tp] = floor or None
            self._committed_offset[tp] = floor or None
            self._floor[tp] = floor
        for tp, offset in committed.items():  # the changelogs' partitions, as Faust's own seek does
            if tp not in floors:
                self._read_offset[tp] = offset if offset is not None and offset >= 0 else None
                if offset:
                    self._committed_offset[tp] = offset

    async def _commit_offsets(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        writes = self.app.producer.buffer
        if isinstance(writes, ChangelogWrites):
            try:
                await writes.confirmed()  # the tables' changes behind these offsets, on the broker
            except ChangelogError as error:
                _log.error("offsets not committed: %s; the worker stops", error)
                await self.crash(error)
                return False
        return bool(await super()._commit_offsets(offsets, start_new_transaction))

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if not self._guarded(tp.topic):
            await super()._add_gap(tp, offset_from, offset_to)

    def _new_offset(self, tp: TP) -> int | None:
        if not self._guarded(tp.topic):
            return super()._new_offset(tp)
        floor = self._floor.get(tp)
        acked = self._acked[tp]
        if floor is None or not acked:
            return None
        acked.sort()
        done = bisect.bisect_left(acked, floor)  # committed already (acknowledged again after a rebalance)
        index = self._acked_index[tp]
        if done:
            index.difference_update(acked[:done])
            del acked[:done]
        end = floor
        while end - floor < len(acked) and acked[end - floor] == end:
            end += 1
        if end == floor:
            return None  # the record at the floor is not settled yet
        index.difference_update(acked[: end - floor])
        del acked[: end - floor]
        self._floor[tp] = end
        return end
