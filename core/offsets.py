"""Where things stand on Kafka: end offsets, a consumer group's lag, how many records arrived since a time.

Read-only questions the operator's commands ask (``schakel status``, ``tail``, ``dlq``, the lineage commands' "is
the store behind?"). Every client is built from the settings, so it follows the cluster's security settings. Each
function opens its client, asks, and closes it again: these are one-shot commands, not a hot path. They ask as the
operators' Kafka identity, ``admin``, unless a caller names another (``schakel tail --to X`` reads as X).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schakel.settings import Settings

__all__ = ["TopicPositions", "consumer", "group_lag", "group_members", "positions"]

_OPERATOR = "admin"  # schakel.streams.topics.ADMIN (core sits below streams)


@dataclass(frozen=True)
class TopicPositions:
    """A topic's first and next offsets per partition (empty when the topic does not exist)."""

    topic: str
    beginning: dict[int, int]
    end: dict[int, int]

    @property
    def exists(self) -> bool:
        return bool(self.end)

    @property
    def held(self) -> int:
        """How many records the topic holds now (end minus beginning, summed over partitions)."""
        return sum(self.end[p] - self.beginning.get(p, 0) for p in self.end)


@contextmanager
def consumer(settings: Settings, *, timeout_ms: int = 10_000, principal: str = _OPERATOR) -> Iterator[Any]:
    """A kafka-python consumer without a group, for assigning and seeking by hand; closed on leaving."""
    from kafka import KafkaConsumer

    client = KafkaConsumer(
        **settings.kafka_client_config(principal),
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=max(timeout_ms, 1000) + 500,
    )
    try:
        yield client
    finally:
        client.close()


def _partitions(client: Any, topic: str) -> list[Any]:
    from kafka import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]


def positions(settings: Settings, topic: str, *, since: datetime | None = None) -> tuple[TopicPositions, int | None]:
    """The topic's positions, and (with ``since``) how many records it received at or after that time."""
    with consumer(settings) as client:
        partitions = _partitions(client, topic)
        if not partitions:
            return TopicPositions(topic, {}, {}), (0 if since else None)
        beginning = {tp.partition: offset for tp, offset in client.beginning_offsets(partitions).items()}
        end = {tp.partition: offset for tp, offset in client.end_offsets(partitions).items()}
        recent: int | None = None
        if since is not None:
            found = client.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
            recent = sum(end[tp.partition] - (hit.offset if hit else end[tp.partition]) for tp, hit in found.items())
    return TopicPositions(topic, beginning, end), recent


def _admin(settings: Settings) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**settings.kafka_client_config(_OPERATOR), request_timeout_ms=10_000)


def group_members(settings: Settings, group: str) -> list[str]:
    """The members of a consumer group, as ``client-id@host`` (empty when the group has none or does not exist)."""
    admin = _admin(settings)
    try:
        described = admin.describe_groups([group]).get(group) or {}
    finally:
        admin.close()
    return sorted(
        f"{member.get('client_id', '?')}@{str(member.get('client_host', '?')).lstrip('/')}"
        for member in described.get("members") or []
    )


def group_lag(settings: Settings, group: str, topics: list[str]) -> dict[str, int | None]:
    """Per topic, how many records ``group`` has not committed yet; None when the group has no offset there."""
    admin = _admin(settings)
    try:
        committed = admin.list_group_offsets(group).get(group) or {}
    finally:
        admin.close()
    lag: dict[str, int | None] = {}
    with consumer(settings) as client:
        for topic in topics:
            partitions = _partitions(client, topic)
            ends = client.end_offsets(partitions) if partitions else {}
            done = {tp: committed[tp].offset for tp in partitions if tp in committed and committed[tp].offset >= 0}
            if not done:
                lag[topic] = None if any(ends.values()) else 0
                continue
            lag[topic] = sum(end - done.get(tp, 0) for tp, end in ends.items())
    return lag
