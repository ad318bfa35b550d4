"""The consume-and-produce loop the bench's bare program and its lean hub share (``tests.bench.streams``,
``tests.bench._lean``): batches of up to 500 ingress records, each batch's outputs flushed and its offsets committed
before the next."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from schakel.settings import Settings
from schakel.streams.records import Message
from schakel.streams.topics import ADMIN, HubTopics


async def relay(
    settings: Settings,
    group: str,
    stop: asyncio.Event,
    outputs: Callable[[ConsumerRecord[bytes, bytes]], Iterable[Message]],
) -> None:
    """Read every ingress topic (consumer group ``<prefix><group>``) and write what ``outputs`` makes of each
    record, until ``stop``."""
    consumer = AIOKafkaConsumer(
        *HubTopics.of(settings).all_ingress(),
        **settings.kafka_client_config(ADMIN),
        group_id=f"{settings.topic_prefix}{group}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(**settings.kafka_client_config(ADMIN), acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            for records in batch.values():
                for record in records:
                    for message in outputs(record):
                        await producer.send(message.topic, message.value, key=message.key, headers=message.headers)
            if batch:
                await producer.flush()
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
