"""The sink runtime: consume ``egress.<org>``, deliver each copy once, retry, dead-letter, write receipts, commit.

Judgement calls:

- **Batches, committed as a whole.** The runner fetches up to ``max_batch`` records, delivers them, and commits the
  batch's offsets only when every copy in it was delivered or dead-lettered. A crash in between re-delivers the
  batch, and the idempotency store (:class:`~schakel.connectors.ledger.DeliveryLedger`) turns each copy already
  delivered into a no-op. Fetching the next batch only after this one is settled is the backpressure: a slow
  partner slows consumption, it does not grow memory.
- **Per-subject ordering, bounded concurrency.** Within a batch, copies with the same key (the recipient's pseudonym
  of the subject) are delivered one after another in offset order; different subjects go in parallel, at most
  ``max_in_flight`` at a time. A copy that is finally dead-lettered does not block that subject's later copies:
  the dead letter records it and ``schakel connectors resend`` puts it back.
- **Receipts are not lost.** The receipt (a ``LineageRecord`` of kind RECEIPT) is produced to the partner's own
  ``receipts.<org>`` topic (the one lineage topic its identity may write) after the partner acked;
  the batch's offsets are committed only after the broker acknowledged all its receipts, and the ledger remembers
  which were written, so a crash in between re-emits them on the re-delivery (the ``record_id`` is deterministic,
  so the lineage store keeps one). The id holds the outcome, and a dead letter's the egress record's position
  (:func:`~schakel.lineage.record.receipt_id`): a copy dead-lettered, resent and delivered keeps both receipts.
  Receipts are not awaited one by one: that would cap a sink at one broker round trip per copy.
- **No personal data in reasons.** A dead-letter reason is the sink's :class:`DeliveryError` message (the contract
  says those never carry personal data) or, for any other exception, only its class name.
- **Grants still on their way at start.** ACLs are applied by an operator (``schakel kafka acls apply``, Strimzi's
  User Operator) while components start; each broker enforces a new ACL a moment after the controller accepted it.
  Until the sink holds its partitions for the first time, a refusal of its topic or group is waited out for
  ``_GRANTS_AT_START`` seconds (read again every ``_BROKER_PAUSE`` s, a warning each time); after that, or once it
  ran, a refusal ends the runner as before (fail closed: it never reads what it may not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    GroupAuthorizationFailedError,
    IllegalStateError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import propagate, trace

from schakel.connectors import _kafka
from schakel.connectors.contract import Connector, ConnectorConfig, Delivery, Sink
from schakel.connectors.deadletter import dead_letter_message
from schakel.connectors.errors import ConnectorConfigError, DeliveryError, PermanentDeliveryError
from schakel.connectors.ledger import DeliveryLedger
from schakel.connectors.metrics import ConnectorMetrics, Health
from schakel.consent import ConsentError, Pseudonymizer
from schakel.lineage import DELIVERY_RECEIPT_NAME, LineageRecord, RecordKind, processing_activity, receipt_id
from schakel.retention import Opener
from schakel.schemas import Codec
from schakel.settings import Settings
from schakel.streams.records import SUBJECT_KEY_HEADER, DeadLetter, EgressCopy, Message, header
from schakel.streams.topics import HubTopics

__all__ = ["SUBJECT_KEY_HEADER", "SinkRunner", "ledger_path"]

_log = logging.getLogger(__name__)
_BROKER_PAUSE = 2.0
"""Seconds to wait before reading again a batch the broker failed."""
_GRANTS_AT_START = 60.0
"""Seconds a starting sink waits for grants not yet in force (see the module's notes)."""
_tracer = trace.get_tracer("schakel.connectors")

"""Optional egress header: ``bsn`` or ``case`` - what the hub pseudonym derives from (default ``bsn``)."""


def ledger_path(settings: Settings, connector: str) -> Path:
    """Where a sink's idempotency store lives: ``<data_dir>/connectors/<prefix>/<connector>/deliveries.sqlite3``."""
    return settings.data_dir / "connectors" / settings.topic_prefix.rstrip(".") / connector / "deliveries.sqlite3"


class SinkRunner:
    """Runs one connector's sink against its ``egress.<org>`` topic until :meth:`stop` (or cancellation)."""

    def __init__(
        self,
        connector: Connector[Any],
        config: ConnectorConfig,
        settings: Settings,
        *,
        sink: Sink | None = None,
        metrics: ConnectorMetrics | None = None,
        session_timeout_ms: int = 10_000,
        rng: random.Random | None = None,
    ) -> None:
        if sink is None:
            if connector.sink is None:
                raise ConnectorConfigError(f"connector {connector.name} has no sink")
            sink = connector.sink(config)
        self.connector = connector
        self.organisation = connector.organisation
        self.config = config
        self.settings = settings
        self.sink = sink
        self.topics = HubTopics.of(settings)
        self.topic = self.topics.egress(connector.organisation)
        self.group_id = _kafka.group_id(settings, connector.organisation)
        self.metrics = metrics or ConnectorMetrics(connector.name, connector.organisation)
        self.health = Health(connector=f"{connector.name}-sink")
        self.ledger = DeliveryLedger(ledger_path(settings, connector.name))
        self._codec = Codec()
        self._opener = Opener.of(settings)  # copies are sealed with their person's data key (schakel.retention)
        self._pseudonymizer = Pseudonymizer(settings.pseudonym_key.get_secret_value().encode())
        self._rng = rng or random.Random()
        self._session_timeout_ms = session_timeout_ms
        self._stopping = asyncio.Event()
        self._receipts: list[tuple[Any, str, str]] = []
        self.ready = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand, commit it, and return from :meth:`run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume, deliver and commit until stopped."""
        grants_until = time.monotonic() + _GRANTS_AT_START
        producer = _kafka.producer(
            self.settings, client_id=f"schakel-sink-{self.connector.name}", principal=self.organisation
        )
        await self.sink.start()
        try:
            await producer.start()
            try:
                consumer = await self._started_consumer(grants_until)
                try:
                    self.health.running = True
                    self.health.started_at = datetime.now(UTC)
                    await self._loop(consumer, producer, grants_until)
                finally:
                    self.health.running = False
                    await consumer.stop()
            finally:
                await producer.stop()
        finally:
            await self.sink.stop()
            self.ledger.close()

    def _consumer(self) -> Any:
        poll_ms = max(300_000, int(self.config.retry.worst_case_seconds() * 1000 * 4))
        return _kafka.consumer(
            self.settings,
            self.topic,
            group_id=self.group_id,
            client_id=f"schakel-sink-{self.connector.name}",
            principal=self.organisation,
            max_poll_interval_ms=poll_ms,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(1000, self._session_timeout_ms // 5),
            rebalance_timeout_ms=poll_ms,
        )

    async def _started_consumer(self, grants_until: float) -> Any:
        """A started consumer: a refusal (its topic not yet granted) is waited out until ``grants_until``."""
        while True:
            consumer = self._consumer()
            try:
                await consumer.start()
                return consumer
            except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as error:
                await consumer.stop()
                await self._refused_at_start(error, grants_until)

    async def _refused_at_start(self, error: KafkaError, grants_until: float) -> None:
        """Wait a pause for grants still on their way; re-raise ``error`` past ``grants_until`` or when stopping."""
        if time.monotonic() >= grants_until or self._stopping.is_set():
            raise error
        self.health.failed(error)
        _log.warning("%s refused at start (%s); waiting for its grants", self.topic, type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), _BROKER_PAUSE)

    async def _loop(self, consumer: Any, producer: Any, grants_until: float) -> None:
        while not self._stopping.is_set():
            try:
                batch = await consumer.getmany(timeout_ms=300, max_records=self.config.max_batch)
            except (TopicAuthorizationFailedError, GroupAuthorizationFailedError) as error:
                if self.ready.is_set():  # it ran: a grant taken away is the operator's decision, not a start-up race
                    raise
                await self._refused_at_start(error, grants_until)
                continue
            if consumer.assignment():
                self.ready.set()
            if batch:
                if not await self._settle_batch(batch, consumer, producer):
                    continue
                offsets = {tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batch.items()}
                try:
                    await consumer.commit(offsets)
                except (CommitFailedError, KafkaError) as error:  # rebalanced meanwhile: the new owner re-delivers
                    self.health.failed(error)
                    _log.warning("commit failed on %s (%s); records will be re-delivered", self.topic, error)
            await self._update_lag(consumer)

    async def _settle_batch(self, batch: dict[TopicPartition, list[Any]], consumer: Any, producer: Any) -> bool:
        """Deliver a batch and wait for its receipts; False when the broker failed meanwhile (a receipt or dead
        letter not acknowledged): then nothing is committed, the batch is read again after a pause, and the
        idempotency store keeps the partner from receiving a copy twice. *Why not exit:* a broker restart must not
        take the sinks down with it (found by the broker-restart fault test)."""
        try:
            await self._deliver_batch(batch, producer)
            await self._receipts_written()
        except KafkaError as error:
            self._receipts = []
            self.health.failed(error)
            _log.warning("the broker failed a batch on %s (%s); reading it again", self.topic, type(error).__name__)
            for tp, records in batch.items():
                with contextlib.suppress(IllegalStateError):  # revoked meanwhile: its new owner reads it
                    consumer.seek(tp, records[0].offset)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), _BROKER_PAUSE)
            return False
        return True

    async def _update_lag(self, consumer: Any) -> None:
        lag = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            with contextlib.suppress(KafkaError, AssertionError):
                lag += max(0, high - await consumer.position(tp))
        self.metrics.lag.set(lag)

    async def _deliver_batch(self, batch: dict[TopicPartition, list[Any]], producer: Any) -> None:
        chains: dict[tuple[int, bytes | None], list[Any]] = defaultdict(list)
        for tp, records in batch.items():
            for record in records:
                chains[(tp.partition, record.key)].append(record)
        window = asyncio.Semaphore(self.config.max_in_flight)

        async def chain(records: list[Any]) -> None:
            for record in records:
                async with window:
                    await self._handle(record, producer)

        tasks = [asyncio.create_task(chain(records)) for records in chains.values()]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # a broker failure (dead letter, receipt): stop the batch, commit nothing, re-deliver
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _handle(self, record: Any, producer: Any) -> None:
        headers: list[tuple[str, bytes]] = list(record.headers or [])
        started = datetime.now(UTC)
        try:
            copy = EgressCopy.from_record(
                record.topic, record.key, record.value, headers, codec=self._codec, opener=self._opener
            )
        except Exception as error:  # corrupt, or its person's key destroyed: nothing to deliver, keep it as it is
            await self._dead_letter(record, None, "undecodable egress record", type(error).__name__, producer)
            return
        if str(copy.recipient) != self.organisation:
            await self._dead_letter(
                record, copy, "egress copy addressed to another recipient", "WrongRecipient", producer
            )
            return
        event_id, recipient = copy.event_id, str(copy.recipient)
        if self.ledger.delivered(copy.event_key, recipient):
            self.metrics.duplicates.inc()
            if not self.ledger.receipt_written(copy.event_key, recipient):
                # The receipt the broker failed (or a crash cut off), written again: it names what the delivery
                # carried - the partner has those fields, whatever this attempt did.
                fields_sent = self.sink.fields_sent(_delivery(copy))
                await self._receipt(record, copy, "delivered", started, fields_sent, producer)
            return
        parent = propagate.extract({"traceparent": copy.traceparent} if copy.traceparent else {})
        with _tracer.start_as_current_span(
            "schakel.connector.deliver",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.source.name": record.topic,
                "schakel.event.id": event_id,
                "schakel.recipient": recipient,
            },
        ):
            await self._deliver(record, copy, started, producer)

    async def _deliver(self, record: Any, copy: EgressCopy, started: datetime, producer: Any) -> None:
        """Deliver one copy with retries; dead-letter it past the maximum; write its receipt."""
        recipient = str(copy.recipient)
        delivery = _delivery(copy)
        attempt = 1
        while True:
            self.metrics.in_flight.inc()
            try:
                await self.sink.deliver(replace(delivery, attempt=attempt))
            except asyncio.CancelledError:
                raise
            except PermanentDeliveryError as error:
                await self._dead_letter(
                    record,
                    copy,
                    f"partner refused: {error}",
                    type(error).__name__,
                    producer,
                    attempts=attempt,
                    started=started,
                )
                return
            except Exception as error:
                self.health.failed(error)
                if self.config.retry.gives_up_after(attempt):
                    said = str(error) if isinstance(error, DeliveryError) else "unexpected error"
                    await self._dead_letter(
                        record,
                        copy,
                        f"gave up after {attempt} attempts: {said}",
                        type(error).__name__,
                        producer,
                        attempts=attempt,
                        started=started,
                    )
                    return
                self.metrics.retried.inc()
                await asyncio.sleep(self.config.retry.backoff(attempt, self._rng))
                attempt += 1
                continue
            finally:
                self.metrics.in_flight.dec()
            break
        self.ledger.record(copy.event_key, recipient, "delivered", attempt)
        self.metrics.delivered.inc()
        await self._receipt(record, copy, "delivered", started, self.sink.fields_sent(delivery), producer)

    async def _dead_letter(
        self,
        record: Any,
        copy: EgressCopy | None,
        reason: str,
        error_class: str,
        producer: Any,
        *,
        attempts: int = 0,
        started: datetime | None = None,
    ) -> None:
        letter = DeadLetter(
            error_class=error_class,
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event_id=copy.event_id if copy else _cloudevent_id(record.headers),
        )
        message = dead_letter_message(
            self.settings, key=record.key, value=record.value, headers=list(record.headers or []), letter=letter
        )
        await _send(producer, message)
        self.metrics.dead_lettered.inc()
        _log.warning("dead-lettered %s offset %s: %s", record.topic, record.offset, reason)
        if copy is not None:
            self.ledger.record(copy.event_key, str(copy.recipient), "dead-lettered", attempts)
            await self._receipt(
                record, copy, "dead-lettered", started or datetime.now(UTC), (), producer, reasons=(error_class,)
            )

    async def _receipt(
        self,
        record: Any,
        copy: EgressCopy,
        outcome: str,
        started: datetime,
        fields_sent: Sequence[str],
        producer: Any,
        *,
        reasons: Sequence[str] = (),
    ) -> None:
        form = copy.form
        trace_id, parent_span_id = _trace_ids(copy.traceparent)
        current = trace.get_current_span().get_span_context()
        span_id = f"{current.span_id:016x}" if current.is_valid else None
        if span_id == parent_span_id:  # no tracing SDK in this process: no span of our own
            span_id = None
        if current.is_valid:
            trace_id = f"{current.trace_id:032x}"
        subject = self._person(copy, record)
        receipt = LineageRecord(
            record_id=receipt_id(
                str(form.get("source")),
                copy.event_id,
                subject,
                str(copy.recipient),
                outcome,
                (record.partition, record.offset),
            ),
            kind=RecordKind.RECEIPT,
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span_id,
            name=DELIVERY_RECEIPT_NAME,
            status="ok" if outcome == "delivered" else "error",
            start_time=started,
            end_time=datetime.now(UTC),
            event_id=copy.event_id,
            event_type=str(form.get("type")),
            sender=str(form.get("source")),
            recipient=str(copy.recipient),
            outcome=outcome,
            fields_sent=tuple(fields_sent),
            purpose=str(form.get("purpose")),
            reasons=tuple(reasons),
            processing_activity_id=processing_activity(str(form.get("purpose"))),
            data_subject_id=subject,
            data_subject_key=header(copy.headers, SUBJECT_KEY_HEADER) or "bsn",
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
        )
        message = Message(
            topic=self.topics.receipts(self.organisation), key=subject.encode(), value=receipt.to_bytes(), headers=[]
        )
        future = await producer.send(message.topic, key=message.key, value=message.value, headers=message.headers)
        self._receipts.append((future, copy.event_key, str(copy.recipient)))

    def _person(self, copy: EgressCopy, record: Any) -> str:
        """The person's hub pseudonym for the receipt, unsealed from the copy's per-copy reference (the copy itself
        carries only the recipient's pseudonym). Without a reference this key cannot open: the record key (the
        recipient's pseudonym) stands in, and the receipt is recorded all the same."""
        if copy.subject_reference:
            try:
                return self._pseudonymizer.unseal(copy.subject_reference)
            except ConsentError:
                _log.warning("egress copy %s/%s: subject reference does not open", copy.event_id, copy.recipient)
        return (record.key or b"unknown").decode("utf-8", "replace")

    async def _receipts_written(self) -> None:
        """Wait for the batch's receipts to be acknowledged (before its offsets are committed) and remember them."""
        pending, self._receipts = self._receipts, []
        for future, event, recipient in pending:
            await future
            self.ledger.mark_receipt(event, recipient)


def _delivery(copy: EgressCopy) -> Delivery:
    return Delivery(
        event_id=copy.event_id,
        recipient=str(copy.recipient),
        event_type=str(copy.form.get("type")),
        form=copy.form,
        subject_pseudonym=copy.recipient_pseudonym,
        traceparent=copy.traceparent,
        guidance=copy.guidance,
    )


async def _send(producer: Any, message: Message) -> None:
    await producer.send_and_wait(message.topic, key=message.key, value=message.value, headers=message.headers)


def _trace_ids(traceparent: str | None) -> tuple[str | None, str | None]:
    """(trace id, parent span id) from a W3C traceparent, or (None, None)."""
    if not traceparent:
        return None, None
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None, None
    return parts[1].lower(), parts[2].lower()


def _cloudevent_id(headers: Any) -> str | None:
    """The event id a CloudEvents ``ce_id`` header carries, when it is one (a UUID; anything else is not repeated)."""
    value = header(list(headers or []), "ce_id")
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None
