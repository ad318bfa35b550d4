"""Kafka clients for the runners (aiokafka), configured from the settings."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schakel.settings import Settings


def client_config(settings: Settings) -> dict[str, Any]:
    return dict(settings.kafka_client_config())


def producer(settings: Settings, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas (acks=all)."""
    return AIOKafkaProducer(
        **client_config(settings),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


def consumer(settings: Settings, *topics: str, group_id: str | None, client_id: str, **extra: Any) -> AIOKafkaConsumer:
    """A consumer that commits only when told to (manual commit after the partner acked)."""
    return AIOKafkaConsumer(
        *topics,
        **client_config(settings),
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **extra,
    )


def group_id(settings: Settings, org: str) -> str:
    """``schakel-sink-<org>`` under the default prefix; another prefix gets its own group (tests, second hubs)."""
    return f"{settings.topic_prefix.rstrip('.')}-sink-{org}"
