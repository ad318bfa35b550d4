"""The source runtime: read a partner's records, map them, produce to ``ingress.<org>``, settle after the broker acked.

Judgement calls:

- **Ordered produce, concurrent acknowledgement.** Records are mapped and handed to the idempotent producer one by
  one, in the order the transport offers them (so one subject's events keep their order on a partition); the
  broker's acknowledgements are awaited concurrently, at most ``max_in_flight`` at a time (the backpressure: the
  transport is not read further while the window is full).
- **Settled only after the broker acked.** A webhook answers 202 only then, a file moves to ``processed/`` only then,
  an outbox row is marked sent only then. A crash before means the record is read again and, thanks to its
  deterministic event id, deduplicated downstream.
- **Bad input is settled per record.** A record the mapping refuses is settled as rejected (4xx with the reason, or
  ``failed/``) and - for transports with no one to answer (file drop, outbox) - dead-lettered with an excerpt of its
  raw bytes (:data:`~schakel.connectors.deadletter.MAX_EXCERPT`). Whatever a record makes the mapping or the codec
  raise is that record's rejection; the source stops only for its own failure (its folder or database gone, the
  broker refusing the producer), and logs why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from schakel.connectors import _kafka
from schakel.connectors.contract import Connector, ConnectorConfig, PartnerRecord, Settlement, Source
from schakel.connectors.deadletter import dead_letter_message, excerpt
from schakel.connectors.errors import ConnectorConfigError, ConnectorError, RecordRejected
from schakel.connectors.metrics import ConnectorMetrics, Health
from schakel.schemas import Codec
from schakel.settings import Settings
from schakel.streams.records import DeadLetter, ingress_message
from schakel.streams.topics import HubTopics

__all__ = ["SourceRunner"]

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("schakel.connectors")


class SourceRunner:
    """Runs one connector's source until :meth:`stop` (or cancellation)."""

    def __init__(
        self,
        connector: Connector[Any],
        config: ConnectorConfig,
        settings: Settings,
        *,
        source: Source | None = None,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        if source is None:
            if connector.source is None:
                raise ConnectorConfigError(f"connector {connector.name} has no source")
            source = connector.source(config)
        self.connector = connector
        self.organisation = connector.organisation
        self.config = config
        self.settings = settings
        self.source = source
        self.topic = HubTopics.of(settings).ingress(connector.organisation)
        self.metrics = metrics or ConnectorMetrics(connector.name, connector.organisation)
        self.health = Health(connector=f"{connector.name}-source")
        self._codec = Codec()
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()

    def stop(self) -> None:
        """Stop reading, wait for the acknowledgements in flight, and return from :meth:`run`."""
        self._stopping.set()

    async def run(self) -> None:
        producer = _kafka.producer(
            self.settings, client_id=f"schakel-source-{self.connector.name}", principal=self.organisation
        )
        await producer.start()
        try:
            await self.source.start()
            try:
                self.health.running = True
                self.health.started_at = datetime.now(UTC)
                self.ready.set()
                pump = asyncio.create_task(self._pump(producer))
                stopping = asyncio.create_task(self._stopping.wait())
                try:
                    await asyncio.wait({pump, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    # Also when this task is cancelled: the read loop ends (its acknowledgements in flight awaited)
                    # before the transport and the producer stop - else it goes on reading the partner system.
                    stopping.cancel()
                    if not pump.done():
                        pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        try:
                            await pump
                        except Exception as error:  # the source's own failure (folder gone, database refused)
                            self.health.failed(error)
                            said = str(error) if isinstance(error, ConnectorError) else "unexpected error"
                            name = self.connector.name
                            _log.error("the source of %s stopped: %s (%s)", name, said, type(error).__name__)
                            raise
            finally:
                self.health.running = False
                await self.source.stop()
        finally:
            await producer.stop()

    async def _pump(self, producer: Any) -> None:
        window = asyncio.Semaphore(self.config.max_in_flight)
        pending: set[asyncio.Task[None]] = set()
        try:
            async for record in self.source.records():
                await window.acquire()
                task = await self._produce(record, producer, window)
                if task is not None:
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        finally:
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _produce(
        self, record: PartnerRecord, producer: Any, window: asyncio.Semaphore
    ) -> asyncio.Task[None] | None:
        """Map and enqueue one record (in order); return the task that awaits its acknowledgement."""
        try:
            if record.problem is not None:
                raise record.problem
            if record.data is None:
                raise RecordRejected("invalid-record", "empty record")
            event = self.source.to_event(record.data)
        except RecordRejected as problem:
            await self._reject(record, problem, producer)
            window.release()
            return None
        except Exception as error:
            await self._reject(record, RecordRejected("invalid-record", type(error).__name__), producer)
            window.release()
            return None
        with _tracer.start_as_current_span(
            "schakel.connector.produce",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.destination.name": self.topic,
                "schakel.event.id": str(event.id),
                "schakel.event.type": str(event.type),
            },
        ):
            try:
                message = ingress_message(event, self.settings, codec=self._codec)
            except Exception as error:  # an event the codec cannot write is this record's problem, not the source's
                await self._reject(record, RecordRejected("invalid-record", type(error).__name__), producer)
                window.release()
                return None
            try:
                future = await producer.send(
                    message.topic, key=message.key, value=message.value, headers=message.headers
                )
            except Exception as error:
                return asyncio.create_task(self._failed(record, error, window))

        async def acknowledged() -> None:
            try:
                await future
            except Exception as error:
                await self._failed(record, error, window)
                return
            self.metrics.produced.inc()
            await _settle(record, Settlement("accepted", event_id=str(event.id)))
            window.release()

        return asyncio.create_task(acknowledged())

    async def _failed(
        self, record: PartnerRecord, error: BaseException, window: asyncio.Semaphore | None = None
    ) -> None:
        """The broker did not take the record: settle it as failed, so the transport offers it again later."""
        self.health.failed(error)
        _log.warning("broker did not acknowledge a record from %s (%s)", record.origin, type(error).__name__)
        await _settle(record, Settlement("failed"))
        if window is not None:
            window.release()

    async def _reject(self, record: PartnerRecord, problem: RecordRejected, producer: Any) -> None:
        self.metrics.rejected.inc()
        _log.info("rejected a record from %s: %s", record.origin, problem.code)
        if getattr(self.source, "dead_letters_rejects", True):
            value, cut = excerpt(record.raw)
            message = dead_letter_message(
                self.settings,
                key=None,
                value=value,
                headers=cut,
                letter=DeadLetter(
                    error_class=problem.code, reason=problem.reason, topic=self.topic, partition=-1, offset=-1
                ),
                origin=f"{self.connector.name}:{record.origin}",
            )
            try:
                await producer.send_and_wait(message.topic, key=None, value=message.value, headers=message.headers)
            except Exception as error:
                await self._failed(record, error)
                return
        await _settle(record, Settlement("rejected", problem=problem))


async def _settle(record: PartnerRecord, settlement: Settlement) -> None:
    try:
        await record.settle(settlement)
    except Exception:  # a transport's bookkeeping failed: the record will be offered again, deduplicated downstream
        _log.exception("settling a record from %s failed", record.origin)
