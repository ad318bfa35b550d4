"""The Faust application: one agent over every partner's ingress topic; tables of subjects' consent state and agenda.

Wiring only - what happens to a record is :class:`schakel.streams.processor.Processor`'s business. The agent reads
each ingress record, lets the processor accept it or dead-letter it, keeps the subject's consent state in the
``consent`` table (fed by ``ConsentChange`` events), and produces what the processor returns.

Ordering and co-partitioning: connectors key every ingress record by the subject's pseudonym (records keyed
otherwise are dead-lettered), every ingress topic and the table's changelog have the same partition count, and Faust
writes a table change to the changelog partition of the event that caused it. So one person's events and consent
changes land on one partition number, one worker, in the order their sender wrote them. Between two senders the
order is the hub's arrival order.

Guarantees: at-least-once. Output records are sent as soon as an event is processed; Faust flushes the producer
before it commits the source offset, so a crash can repeat a delivery but never lose one. Every copy carries its
event id and recipient, and sinks drop duplicates (idempotent delivery); the lineage store is idempotent by record
id. Faust's ``exactly_once`` mode is not offered: its transactional producer has open bugs (see the field notes).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from schakel.consent import ConsentState, Outcome, Policy
from schakel.settings import Settings
from schakel.streams import telemetry
from schakel.streams.agenda_wiring import AGENDA_EVENTS, AgendaKeeper
from schakel.streams.processor import Accepted, Processor, Record, Routed
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
    keeper = AgendaKeeper(processor)
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

    async def send(message: Message) -> None:
        await app.producer.send(message.topic, message.key, message.value, None, None, message.headers)

    async def handle(message: Any) -> None:
        record = Record(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            headers=list(message.headers or ()),
        )
        org = ingress_sender(record.topic, topics.prefix)
        telemetry.EVENTS_IN.labels(org=str(org)).inc()
        try:
            outcome = processor.accept(record)
            if isinstance(outcome, Accepted):
                stored = consent.get(record.key)
                state = ConsentState.from_json(stored) if stored is not None else ConsentState()
                after = processor.consent_after(outcome, state)
                routed = processor.decide(outcome, after)
                if after is not state:
                    consent[record.key] = after.to_json()
                if outcome.event.type in AGENDA_EVENTS:
                    changed, bundle = keeper.step(outcome, routed.decisions, after, agenda.get(record.key))
                    if changed is not None:
                        agenda[record.key] = changed
                    routed = Routed(routed.decisions, [*routed.messages, *bundle])
        except Exception as error:  # a defect must not stop the stream: fail closed, dead-letter, go on
            _log.exception("processing failed for %s[%d]@%d", record.topic, record.partition, record.offset)
            defect = "the hub failed to process this record (see the worker log for the defect)"
            outcome = processor.dead_letter(record, type(error).__name__, defect)
        if isinstance(outcome, DeadLetter):
            telemetry.DEAD_LETTERED.labels(org=str(org)).inc()
            await send(processor.dead_letter_message(record, outcome))
            return
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

    @app.agent(ingress, name="hub")
    async def hub(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await handle(event.message)

    async def report_lag() -> None:
        consumer = app.consumer
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is not None and position is not None:
                telemetry.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(highwater - position, 0))

    app.timer(interval=5.0)(report_lag)

    return app


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
