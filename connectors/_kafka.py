"""Kafka clients for the runners (aiokafka), configured from the settings, each as one Kafka identity (principal).

A connector connects as its organisation (``politie``, ...): the broker's ACLs let it write only its own ingress
topic and read only its own egress topic (see ``schakel.streams.topics``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schakel.settings import Settings
from schakel.streams.topics import HubTopics


def client_config(settings: Settings, principal: str) -> dict[str, Any]:
    return dict(settings.kafka_client_config(principal))


def producer(settings: Settings, client_id: str, *, principal: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas (acks=all)."""
    return AIOKafkaProducer(
        **client_config(settings, principal),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


def consumer(
    settings: Settings, *topics: str, group_id: str | None, client_id: str, principal: str, **extra: Any
) -> AIOKafkaConsumer:
    """A consumer that commits only when told to (manual commit after the partner acked)."""
    return AIOKafkaConsumer(
        *topics,
        **client_config(settings, principal),
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **extra,
    )


async def partitions(consumer: AIOKafkaConsumer, topic: str, timeout: float = 30.0) -> list[TopicPartition]:
    """The partitions of ``topic`` (empty when it does not appear within ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        cluster = await consumer._client.fetch_all_metadata()
        found = cluster.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if loop.time() > deadline:
            return []
        await asyncio.sleep(0.2)


def group_id(settings: Settings, org: str) -> str:
    """``schakel-sink-<org>`` under the default prefix; another prefix gets its own group (tests, second hubs)."""
    return HubTopics.of(settings).sink_group(org)
