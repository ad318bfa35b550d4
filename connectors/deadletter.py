"""Dead-letter records written by the connector runtime, and resending one recipient's dead-lettered copies.

A dead-letter record keeps the original key and value and adds headers that say why (``schakel.streams.records.
DeadLetter``: reason, error class, original topic, partition, offset, time) - never a value about a person. A sink's
dead letter also keeps the egress record's own headers (CloudEvents ids, ``schakel-recipient``, ``traceparent``), so
that :func:`resend` can put the copy back on its egress topic exactly as the hub wrote it. The sink's idempotency store
drops a resent copy that was delivered meanwhile, so resending twice is harmless.

A source's dead letter (a partner file or outbox row that could not become an event) carries at most the first
:data:`MAX_EXCERPT` bytes of the partner's input as its value (``schakel-original-size`` says how large the input was
when it was cut), the ingress topic it was meant for as ``schakel-original-topic``, and partition and offset -1.
Judgement call: an excerpt, not the input - enough to find the record in the partner's own copy (the file drop keeps
the original in ``failed/``, the outbox keeps its row), and a dead letter can never exceed the broker's record limit,
which would otherwise turn one refused input into a record that can be neither produced nor settled.

A dead letter names the event id (``schakel-event-id``) whenever it is known: from the decoded copy, or else from the
record's CloudEvents ``ce_id`` header, so a partner can match a letter about a copy it could not read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition

from schakel.connectors import _kafka
from schakel.connectors.errors import ConnectorError
from schakel.settings import Settings
from schakel.streams.records import DEAD_LETTER_HEADERS, DeadLetter, Message, header
from schakel.streams.topics import ADMIN, HubTopics

__all__ = ["DLQ_HEADERS", "MAX_EXCERPT", "RESENT_HEADER", "ResendReport", "dead_letter_message", "excerpt", "resend"]

ORIGIN_HEADER = "schakel-origin"
SIZE_HEADER = "schakel-original-size"
DLQ_HEADERS = DEAD_LETTER_HEADERS | {ORIGIN_HEADER, SIZE_HEADER}
MAX_EXCERPT = 16 * 1024
"""Bytes of a refused partner input a source's dead letter keeps."""
RESENT_HEADER = "schakel-resent-from"
_MAX_REASON = 300


def dead_letter_message(
    settings: Settings,
    *,
    key: bytes | None,
    value: bytes,
    headers: Sequence[tuple[str, bytes]],
    letter: DeadLetter,
    origin: str | None = None,
) -> Message:
    """The record for the ``dlq`` topic: original key, value and headers, plus the dead-letter headers."""
    kept = [(name, data) for name, data in headers if name != ORIGIN_HEADER]
    short = dataclasses.replace(letter, reason=letter.reason[:_MAX_REASON])
    message = short.message(HubTopics.of(settings).dlq, key, value, kept)
    if origin:
        message.headers.append((ORIGIN_HEADER, origin.encode()))
    return message


def excerpt(raw: bytes, limit: int = MAX_EXCERPT) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The part of a refused input a dead letter keeps, and the header that says it was cut (if it was)."""
    if len(raw) <= limit:
        return raw, []
    return raw[:limit], [(SIZE_HEADER, str(len(raw)).encode())]


@dataclass(frozen=True)
class ResendReport:
    """What :func:`resend` did: copies put back, per event id, and dead letters read."""

    resent: tuple[str, ...]
    scanned: int


async def resend(
    settings: Settings, recipient: str, *, event_id: str | None = None, timeout: float = 30.0
) -> ResendReport:
    """Put every dead-lettered copy for ``recipient`` (or only ``event_id``) back on ``egress.<recipient>``.

    Reads the ``dlq`` topic from its beginning up to its end as of the call (no consumer group: resending commits
    nothing and does not disturb other readers). When a fetch brings nothing for ``timeout`` seconds while a
    partition is still short of its end (a slow broker, a big topic), :class:`ConnectorError` says how far it got -
    what it found until then is put back all the same, and running it again is harmless (the sink drops a copy
    delivered meanwhile) - rather than a report that reads as if every dead letter had been looked at.
    """
    topics = HubTopics.of(settings)
    egress = topics.egress(recipient)
    # An operator's repair: it reads every partner's dead letters, so it runs as admin.
    consumer = _kafka.consumer(settings, group_id=None, client_id=f"schakel-resend-{recipient}", principal=ADMIN)
    producer = _kafka.producer(settings, client_id=f"schakel-resend-{recipient}", principal=ADMIN)
    resent: list[str] = []
    scanned = 0
    stalled: set[TopicPartition] = set()
    try:
        await consumer.start()  # in the try: a broker that does not answer leaves no client open behind it
        await producer.start()
        partitions = await _kafka.partitions(consumer, topics.dlq, timeout)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        futures = []
        while remaining:
            before = {tp: await consumer.position(tp) for tp in remaining}
            batch = await consumer.getmany(*remaining, timeout_ms=int(timeout * 1000))
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    scanned += 1
                    headers = list(record.headers or [])
                    if header(headers, "schakel-original-topic") != egress:
                        continue
                    letter_event = header(headers, "schakel-event-id")
                    if event_id is not None and letter_event != event_id:
                        continue
                    original = [(name, data) for name, data in headers if name not in DLQ_HEADERS]
                    original = [(n, d) for n, d in original if n != RESENT_HEADER]
                    original.append((RESENT_HEADER, f"{tp.partition}:{record.offset}".encode()))
                    futures.append(await producer.send(egress, key=record.key, value=record.value, headers=original))
                    resent.append(letter_event or "")
            positions = {tp: await consumer.position(tp) for tp in remaining}
            remaining = {tp for tp in remaining if positions[tp] < ends[tp]}
            if remaining and not batch and all(positions[tp] == before[tp] for tp in remaining):
                stalled = remaining  # nothing came, and no partition moved on: the broker is too slow for the wait
                break
        for future in futures:
            await future
    finally:
        await producer.stop()
        await consumer.stop()
    if stalled:
        raise ConnectorError(
            f"the dead letters were not all read: {len(stalled)} partition(s) of {topics.dlq} brought nothing for "
            f"{timeout:g} s before their end ({scanned} read, {len(resent)} resent to {recipient}); run it again"
        )
    return ResendReport(resent=tuple(resent), scanned=scanned)
