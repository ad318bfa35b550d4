"""Connector runtime throughput against the real broker, each as a ratio against a bare aiokafka loop in the same run.

- sink: SinkRunner (decode, idempotency store, per-subject ordering, receipt to its receipts topic, manual commit)
  delivering to a no-op sink, against a bare consumer that decodes each egress record and commits per batch;
- source: SourceRunner (mapping, validation, Avro encoding, acks awaited before settling) from an in-memory partner,
  against a bare producer sending the same events already mapped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from schakel.connectors import _kafka
from schakel.connectors.contract import ConnectorConfig, Delivery, PartnerRecord, Settlement, Sink, Source
from schakel.connectors.partners import politie
from schakel.connectors.sink_runner import SinkRunner
from schakel.connectors.source_runner import SourceRunner
from schakel.connectors.testing import copy_message, write
from schakel.deploy.kafka.broker import LocalBroker
from schakel.retention import Opener
from schakel.schemas import Codec, Event
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.records import EgressCopy, ingress_message
from schakel.streams.topics import ADMIN, HubTopics

_COPIES = 3000


class _NullSink(Sink):
    def __init__(self) -> None:
        self.count = 0

    async def deliver(self, delivery: Delivery) -> None:
        self.count += 1


class _MemorySource(Source):
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records
        self.settled = 0

    def to_event(self, data: Mapping[str, Any]) -> Event:
        return politie.MAPPING.to_event(data)

    async def records(self) -> AsyncIterator[PartnerRecord]:
        async def settled(_: Settlement) -> None:
            self.settled += 1

        for record in self._records:
            yield PartnerRecord(data=record, origin="memory", on_settled=settled)
        while True:
            await asyncio.sleep(3600)


async def _until(check: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish")
        await asyncio.sleep(0.005)


async def _bare_consumer(settings: Settings, topic: str, count: int) -> float:
    consumer = _kafka.consumer(
        settings, topic, group_id=f"bench-bare-{uuid.uuid4().hex[:6]}", client_id="bench", principal=ADMIN
    )
    codec, opener = Codec(), Opener.of(settings)
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=500, max_records=256)
            for records in batch.values():
                for r in records:
                    EgressCopy.from_record(r.topic, r.key, r.value, list(r.headers), codec=codec, opener=opener)
                    seen += 1
            if batch:
                await consumer.commit()
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def _sink(settings: Settings) -> tuple[float, float]:
    topics = HubTopics.of(settings)
    messages = [copy_message(settings, "politie", f"bsn:{i % 50}", seed=i)[1] for i in range(_COPIES)]
    await write(settings, *messages)
    bare = await _bare_consumer(settings, topics.egress("politie"), _COPIES)
    sink = _NullSink()
    runner = SinkRunner(politie.CONNECTOR, ConnectorConfig(), settings, sink=sink)
    task = asyncio.create_task(runner.run())
    started = time.perf_counter()
    await _until(lambda: sink.count >= _COPIES)
    elapsed = time.perf_counter() - started
    runner.stop()
    await task
    return bare, elapsed


async def _bare_producer(settings: Settings, events: list[Event]) -> float:
    producer = _kafka.producer(settings, client_id="bench", principal=ADMIN)
    await producer.start()
    codec = Codec()
    started = time.perf_counter()
    try:
        futures = []
        for event in events:
            message = ingress_message(event, settings, codec=codec)
            futures.append(await producer.send(message.topic, key=message.key, value=message.value))
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def _source(settings: Settings) -> tuple[float, float]:
    records = [politie.MAPPING.example("registratie") for _ in range(_COPIES)]
    bare = await _bare_producer(settings, [politie.MAPPING.to_event(r) for r in records])
    source = _MemorySource(records)
    runner = SourceRunner(politie.CONNECTOR, ConnectorConfig(max_in_flight=256), settings, source=source)
    started = time.perf_counter()
    task = asyncio.create_task(runner.run())
    await _until(lambda: source.settled >= _COPIES)
    elapsed = time.perf_counter() - started
    runner.stop()
    await task
    return bare, elapsed


def main() -> None:
    with TemporaryDirectory() as data:
        reach = LocalBroker(Settings()).client_settings()  # the broker's CA and credentials, whatever data_dir says
        settings = reach.model_copy(
            update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}.", "partitions": 4, "data_dir": Path(data)}
        )
        topics = HubTopics.of(settings)
        provision(
            settings, [topics.egress("politie"), topics.ingress("politie"), topics.receipts("politie"), topics.dlq]
        )
        bare, runtime = asyncio.run(_sink(settings))
        print(
            f"sink   {_COPIES} copies: runtime {_COPIES / runtime:8.0f}/s, bare consumer {_COPIES / bare:8.0f}/s, "
            f"ratio runtime/bare time {runtime / bare:5.1f}x (idempotency store + receipt + ordering + commit)"
        )
        bare, runtime = asyncio.run(_source(settings))
        print(
            f"source {_COPIES} records: runtime {_COPIES / runtime:8.0f}/s, bare producer {_COPIES / bare:8.0f}/s, "
            f"ratio runtime/bare time {runtime / bare:5.1f}x (mapping + validation + acks before settling)"
        )


if __name__ == "__main__":
    main()
