"""The Faust application: the hub's agents and its tables of people's state and identifier links.

Wiring only - what happens to a record is :class:`schakel.streams.processor.Processor`'s business.

**One person, several identifiers.** A person is known by a BSN and by case ids of named issuers
(``case:<issuer>:<id>``). The hub keeps two tables, both co-partitioned with every ingress topic (same partition
count, keys hashed by the same partitioner):

- ``links``: case pseudonym -> person pseudonym (the BSN's), written the first time an event carries the case id
  with a BSN; a later event with that case id and another BSN is dead-lettered as a conflict, never merged;
- ``subjects``: person pseudonym -> :class:`~schakel.consent.SubjectState` (consent history and case invitations).

Connectors key an ingress record by the BSN's pseudonym when the event has a BSN, else by the case's. So an event
can sit on another partition - another worker - than its person's state. Three agents re-key where needed, each
reading only its own partition's table entries:

1. ``hub`` (every ingress topic): accept or dead-letter. A BSN without a case id: the key is the person, decide here.
   A case id without a BSN: the key is the case, so the ``links`` entry is here - resolve here (step 2). A case id
   with a BSN: forward to ``hub-link`` keyed by the case.
2. ``link`` (``hub-link``, keyed by the case): read ``links`` for the case; conflict -> dead letter; a new link is
   written, and whatever state the case had as its own person until now travels along to be merged. If the case is
   its own person (no BSN known), decide here (the key is that person); otherwise forward to ``hub-person`` keyed by
   the person.
3. ``person`` (``hub-person``, keyed by the person): merge what came along, decide on the person's state.

*Why not key every ingress record by a person id:* a connector cannot know that a case id belongs to a BSN; only the
hub's link table does. *Ordering:* events of one person under one key keep their sender's order, as before. Events
that travel different paths (a BSN-only event decided at step 1, one with a case id decided at step 3) are decided in
the order they reach the person's partition - the hub's arrival order, as between two senders already. A
withdrawal counts for everything decided after it is applied, whichever identifier it came under. Known limit: a
case-only event decided before the case's first BSN event arrives is decided on the case's own state, which is then
merged into the person's.

Guarantees: at-least-once. Output records (and forwarded ones) are sent as soon as an event is processed; Faust
flushes the producer before it commits the source offset, so a crash can repeat a delivery but never lose one.
Every copy carries its event id and recipient, and sinks drop duplicates (idempotent delivery); the lineage store is
idempotent by record id; applying an event twice to a person's state changes nothing. Faust's ``exactly_once``
mode is not offered: its transactional producer has open bugs (see the field notes).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from schakel.consent import Outcome, Policy, SubjectState
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.processor import Accepted, Processor, Record
from schakel.streams.records import DeadLetter, Message
from schakel.streams.topics import HubTopics, ingress_sender

__all__ = ["create_app"]

_log = logging.getLogger("schakel.streams")

# aiokafka and faust build a DEBUG record for every message unless their loggers are raised.
for _noisy in ("aiokafka", "faust", "mode"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


def create_app(settings: Settings, policy: Policy) -> faust.App:
    """The hub's Faust app for these settings and this policy."""
    processor = Processor(settings, policy)
    topics = HubTopics.of(settings)
    (settings.data_dir / "hub").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}hub",
        broker=[f"kafka://{address.strip()}" for address in settings.kafka_bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir / "hub"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger_ms=5,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        table_standby_replicas=1,
        broker_credentials=_credentials(settings),
    )
    ingress = app.topic(*topics.all_ingress(), **_raw(settings))
    link_step = app.topic(topics.link, **_raw(settings))
    person_step = app.topic(topics.person, **_raw(settings))
    # Keys are raw bytes (pseudonyms), values JSON (the app's default serializer).
    subjects = app.Table("subjects", default=None, partitions=settings.partitions, key_type=bytes)
    links = app.Table("links", default=None, partitions=settings.partitions, key_type=bytes)

    async def send(message: Message) -> None:
        await app.producer.send(message.topic, message.key, message.value, None, None, message.headers)

    async def dead(record: Record, letter: DeadLetter) -> None:
        telemetry.DEAD_LETTERED.labels(org=str(ingress_sender(record.topic, topics.prefix))).inc()
        await send(processor.dead_letter_message(record, letter))

    async def decide(accepted: Accepted, person: str, merge: SubjectState | None = None) -> None:
        """On the person's partition: decide on the person's state, keep the state, produce the results."""
        stored = subjects.get(person.encode())
        state = SubjectState.from_json(stored) if stored is not None else SubjectState()
        if merge is not None:
            state = state.merge(merge)
        routed = processor.decide(accepted, state, person)
        if routed.state != state or (merge is not None and stored is None):
            subjects[person.encode()] = routed.state.to_json()
        for output in routed.messages:
            await send(output)
        for decision in routed.decisions:
            recipient = str(decision.recipient)
            if decision.outcome is Outcome.DENY:
                telemetry.DENIED.labels(org=recipient).inc()
                continue
            telemetry.DELIVERED.labels(org=recipient).inc()
            if decision.outcome is Outcome.PARTIAL:
                telemetry.WITHHELD.labels(org=recipient).inc()

    async def link(accepted: Accepted, case: str) -> None:
        """On the case's partition: find (or make) the person the case belongs to, then decide or forward."""
        stored = links.get(case.encode())
        linked = stored if isinstance(stored, str) else None
        person = processor.link(accepted, linked)
        if isinstance(person, DeadLetter):
            await dead(accepted.record, person)
            return
        merge: SubjectState | None = None
        if linked is None and person != case:
            links[case.encode()] = person
            kept = subjects.get(case.encode())
            merge = SubjectState.from_json(kept) if kept is not None else None
        if person == case:
            await decide(accepted, person)
        else:
            await send(processor.forward(accepted, topics.person, person, merge))

    async def guarded(record: Record, step: Awaitable[None]) -> None:
        try:
            await step
        except Exception as error:  # a defect must not stop the stream: fail closed, dead-letter, go on
            _log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            defect = "the hub failed to process this record (see the worker log for the defect)"
            await dead(record, processor.dead_letter(record, type(error).__name__, defect))

    def _record(message: Any) -> Record:
        return Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=list(message.headers or ()),
        )

    async def on_ingress(record: Record) -> None:
        outcome = processor.accept(record)
        if isinstance(outcome, DeadLetter):
            await dead(record, outcome)
        elif outcome.case is None:
            await decide(outcome, outcome.pseudonym)
        elif outcome.event.subject.bsn:
            await send(processor.forward(outcome, topics.link, outcome.case))
        else:
            await link(outcome, outcome.case)

    async def on_forwarded(record: Record, then: Callable[[Accepted, SubjectState | None], Awaitable[None]]) -> None:
        origin, merge = processor.forwarded(record)
        outcome = processor.accept(origin)
        if isinstance(outcome, DeadLetter):  # it was accepted before it was forwarded; only a defect gets here
            await dead(origin, outcome)
            return
        await then(outcome, merge)

    @app.agent(ingress, name="hub")
    async def hub(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            record = _record(event.message)
            telemetry.EVENTS_IN.labels(org=str(ingress_sender(record.topic, topics.prefix))).inc()
            await guarded(record, on_ingress(record))

    def decided_for(person: str) -> Callable[[Accepted, SubjectState | None], Awaitable[None]]:
        async def decided(accepted: Accepted, merge: SubjectState | None) -> None:
            await decide(accepted, person, merge)

        return decided

    async def linked(accepted: Accepted, _merge: SubjectState | None) -> None:
        assert accepted.case is not None  # only events with a case id are forwarded to the link step
        await link(accepted, accepted.case)

    @app.agent(link_step, name="link")
    async def link_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            record = _record(event.message)
            await guarded(record, on_forwarded(record, linked))

    @app.agent(person_step, name="person")
    async def person_agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            record = _record(event.message)
            await guarded(record, on_forwarded(record, decided_for((record.key or b"").decode())))

    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position is not None:
                telemetry.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(highwater - position, 0))

    app.timer(interval=5.0)(report_lag)

    return app


def _raw(settings: Settings) -> dict[str, Any]:
    """A topic of raw bytes (keys and values), with the partition count every co-partitioned topic shares."""
    return {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "partitions": settings.partitions,
    }


def _credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """Faust's form of the SASL/SSL settings, for a secured production cluster."""
    import ssl

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if settings.kafka_sasl_mechanism is None:
        return faust.SSLCredentials(ssl.create_default_context())
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=ssl.create_default_context() if protocol == "SASL_SSL" else None,
    )
