"""The Faust application: one agent over every partner's ingress topic; tables of consent state, ids and agendas.

Wiring only - what happens to a record is :class:`schakel.streams.processor.Processor`'s business. The agent reads
each ingress record, lets the processor accept it or dead-letter it, keeps the subject's consent state in the
``consent`` table (fed by ``ConsentChange`` events) and the ids each sender used for the subject in ``event-ids``
(``schakel.streams.identity``), and produces what the processor returns.

Ordering and co-partitioning: connectors key every ingress record by the subject's pseudonym (records keyed
otherwise are dead-lettered), every ingress topic and the table's changelog have the same partition count, and Faust
writes a table change to the changelog partition of the event that caused it. So one person's events and consent
changes land on one partition number, one worker, in the order their sender wrote them. Between two senders the
order is the hub's arrival order.

Guarantees: at-least-once, and nothing lost. Output records are sent as soon as an event is processed, and the
event is acknowledged (its offset may be committed) only once the broker has confirmed every one of them - or, when
one could not be produced (refused by the producer or the broker), once the input's dead letter is confirmed. A dead
letter that cannot be produced is retried, the last tries with positions and reason only, and the input stays
unacknowledged meanwhile: the worker stalls rather than skip a record. Faust commits only offsets below the first
unacknowledged one, so a crash can repeat a delivery but never lose one. Records settle concurrently but are
acknowledged in offset order per partition (:class:`_InOrder`): Faust's commit skips an unacknowledged record at the
head of a partition that has no committed offset yet (its ``_new_offset`` only checks head gaps against a truthy
committed offset), which a test of a refused dead letter caught.

Judgement call: the consent table and the ``event-ids`` index are updated when an event is decided, before its
outputs are confirmed; if they are then refused, the event is dead-lettered with its state change kept - a resend of
the dead letter applies the same change again, which is idempotent, and is not an id conflict (same content).

Every copy carries its sender, event id, subject and recipient, and sinks drop duplicates (idempotent delivery); the
lineage store is idempotent by record id. Faust's ``exactly_once`` mode is not offered: its transactional producer
has open bugs (see the field notes).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust

from schakel.consent import ConsentState, Decision, Outcome, Policy
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.agenda_wiring import AGENDA_EVENTS, AgendaKeeper
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import MAX_REQUEST_BYTES, DeadLetter, Message
from schakel.streams.topics import HUB, HubTopics, ingress_sender

__all__ = ["create_app"]

_log = logging.getLogger("schakel.streams")

# Inputs whose outputs are not yet confirmed, at most: beyond it the agent waits (back-pressure, not loss).
_IN_FLIGHT = 1000

# aiokafka and faust build a DEBUG record for every message unless their loggers are raised.
for _noisy in ("aiokafka", "faust", "mode"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def create_app(settings: Settings, policy: Policy) -> faust.App:
    """The hub's Faust app for these settings and this policy."""
    processor = Processor(settings, policy)
    keeper = AgendaKeeper(processor)
    topics = HubTopics.of(settings)
    (settings.data_dir / "hub").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        topics.hub_app_id,
        broker=[f"kafka://{address.strip()}" for address in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir / "hub"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_request_size=MAX_REQUEST_BYTES,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        table_standby_replicas=1,
        broker_credentials=_credentials(settings),
    )
    ingress = app.topic(
        *topics.all_ingress(),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    consent = app.Table(
        "consent",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,  # the app's default serializers: raw keys, JSON values
    )
    agenda = app.Table(  # the ZVH's signal agenda per subject (streams/agenda.py), co-partitioned like consent
        "agenda",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
    )

    ids = app.Table(
        "event-ids",  # (subject, source, id) -> content digest: see schakel.streams.identity
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
    )

    async def send(message: Message) -> Awaitable[Any]:
        """Hand one record to the producer; the result resolves when the broker has stored it."""
        return await app.producer.send(message.topic, message.key, message.value, None, None, message.headers)

    def process(record: Record) -> tuple[DeadLetter | None, Accepted | None, list[Message], Sequence[Decision]]:
        """What to produce for one record: a dead letter, or the accepted event's outputs and decisions."""
        try:
            outcome = processor.accept(record)
            if isinstance(outcome, DeadLetter):
                return outcome, None, [], ()
            key, digest = processor.index_entry(outcome)
            conflict = processor.id_conflict(outcome, ids.get(key), digest)
            if conflict is not None:
                return conflict, outcome, [], ()
            stored = consent.get(record.key)
            state = ConsentState.from_json(stored) if stored is not None else ConsentState()
            after = processor.consent_after(outcome, state)
            routed = processor.decide(outcome, after)
            too_large = processor.unproducible(outcome, routed.messages)
            if too_large is not None:
                return too_large, outcome, [], ()
            if after is not state:
                consent[record.key] = after.to_json()
            ids[key] = digest
            messages = routed.messages
            if outcome.event.type in AGENDA_EVENTS:
                changed, bundle = keeper.step(outcome, routed.decisions, after, agenda.get(record.key))
                if changed is not None:
                    agenda[record.key] = changed
                messages = [*messages, *bundle]
            return None, outcome, messages, routed.decisions
        except Exception as error:  # a defect must not stop the stream: fail closed, dead-letter, go on
            _log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            defect = "the hub failed to process this record (see the worker log for the defect)"
            return processor.dead_letter(record, type(error).__name__, defect), None, [], ()

    async def dead_letter(record: Record, dead: DeadLetter) -> None:
        """Produce ``dead`` and wait until the broker stored it. Retried until it is: the first try keeps the
        original value, later ones positions and reason only (the value may be what cannot be produced)."""
        attempt = 0
        while True:
            try:
                await (await send(processor.dead_letter_message(record, dead, keep_value=attempt == 0)))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                attempt += 1
                _log.error(
                    "dead letter for %s[%d]@%d not produced (%s), attempt %d; the record stays unacknowledged",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(error).__name__,
                    attempt,
                )
                await asyncio.sleep(min(30.0, 0.25 * 2 ** min(attempt, 7)))
                continue
            telemetry.for_org(telemetry.DEAD_LETTERED, str(ingress_sender(record.topic, topics.prefix))).inc()
            return

    in_order = _InOrder()

    async def settle(
        entry: _Settling,
        record: Record,
        dead: DeadLetter | None,
        accepted: Accepted | None,
        pending: list[Awaitable[Any]],
        decisions: Sequence[Decision],
    ) -> None:
        """Settle ``entry`` once its outputs are confirmed, or once its dead letter is."""
        if dead is None:
            try:
                await asyncio.gather(*pending)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # refused by the broker: the input goes to the dead-letter queue
                _log.error(
                    "output of %s[%d]@%d not produced (%s)",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(error).__name__,
                )
                dead = processor.output_failed(record, type(error).__name__, accepted.event if accepted else None)
        if dead is not None:
            await dead_letter(record, dead)
        else:
            _count(decisions)
        in_order.settled(entry)

    async def handle(event: Any) -> None:
        message = event.message
        record = Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value or b"",  # a tombstone is an empty, undecodable record
            headers=list(message.headers or ()),
        )
        telemetry.for_org(telemetry.EVENTS_IN, str(ingress_sender(record.topic, topics.prefix))).inc()
        dead, accepted, outputs, decisions = process(record)
        pending: list[Awaitable[Any]] = []
        if dead is None:
            try:
                for output in outputs:
                    pending.append(await send(output))
            except Exception as error:  # refused by the producer at once
                _log.error(
                    "output of %s[%d]@%d not produced (%s)",
                    record.topic,
                    record.partition,
                    record.offset,
                    type(error).__name__,
                )
                dead = processor.output_failed(record, type(error).__name__, accepted.event if accepted else None)
        await in_flight.acquire()
        entry = in_order.received(event)
        task = asyncio.ensure_future(settle(entry, record, dead, accepted, pending, decisions))
        settling.add(task)
        task.add_done_callback(_release)

    in_flight = asyncio.Semaphore(_IN_FLIGHT)
    settling: set[asyncio.Future[None]] = set()

    def _release(task: asyncio.Future[None]) -> None:
        settling.discard(task)
        in_flight.release()
        if not task.cancelled() and task.exception() is not None:
            _log.error("settling a record failed (%s); it stays unacknowledged", type(task.exception()).__name__)

    @app.agent(ingress, name="hub")
    async def hub(stream: faust.StreamT[bytes]) -> None:
        # Acknowledged by settle(), never by the stream: an offset is committed only past settled records.
        unacknowledged = cast("faust.Stream[bytes]", stream).noack()  # StreamT does not declare noack()
        async for event in unacknowledged.events():
            await handle(event)

    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position is not None:
                telemetry.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(highwater - position, 0))

    app.timer(interval=5.0)(report_lag)

    return app


@dataclass
class _Settling:
    event: Any
    done: bool = False


class _InOrder:
    """Acknowledges a partition's events in offset order, each once it and every earlier one have settled."""

    def __init__(self) -> None:
        self._waiting: dict[Any, deque[_Settling]] = defaultdict(deque)

    def received(self, event: Any) -> _Settling:
        entry = _Settling(event)
        self._waiting[event.message.tp].append(entry)
        return entry

    def settled(self, entry: _Settling) -> None:
        entry.done = True
        waiting = self._waiting[entry.event.message.tp]
        while waiting and waiting[0].done:
            waiting.popleft().event.ack()


def _count(decisions: Sequence[Decision]) -> None:
    for decision in decisions:
        recipient = str(decision.recipient)
        if decision.outcome is Outcome.DENY:
            telemetry.for_org(telemetry.DENIED, recipient).inc()
            continue
        telemetry.for_org(telemetry.DELIVERED, recipient).inc()
        if decision.outcome is Outcome.PARTIAL:
            telemetry.for_org(telemetry.WITHHELD, recipient).inc()


def _credentials(settings: Settings, principal: str = HUB) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's form of a Kafka identity (the hub's: principal ``hub``) and the TLS settings."""
    context = settings.kafka_ssl_context()
    identity = settings.kafka_sasl(principal)
    if identity is None:
        return None if context is None else faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=identity[0],
        password=identity[1].get_secret_value(),
        mechanism=settings.kafka_mechanism,
        ssl_context=context,
    )
