"""The hub's topics on the real broker: dead letters expire after the configured retention, lineage after the longest
lineage period (the store is the evidence once it ingested them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from schakel.settings import Settings
from schakel.streams.topics import ADMIN, HubTopics, create_topics, lineage_retention_ms
from tests.streams.conftest import _delete_topics

pytestmark = pytest.mark.kafka


@pytest.fixture
def configured(kafka_bootstrap: str, unique: str) -> Iterator[Settings]:
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"r{unique}.", partitions=1)
    yield settings
    _delete_topics(settings)


def _retention(settings: Settings, topic: str, within: float = 10.0) -> str:
    """The topic's ``retention.ms``; a topic created a moment ago may describe without configs until the broker has
    applied the controller's metadata, so that is asked again for up to ``within`` seconds."""
    deadline = time.monotonic() + within
    admin = KafkaAdminClient(**settings.kafka_client_config(ADMIN))
    try:
        while True:
            found: Any = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
            value = _find(found, "retention.ms")
            if value is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
    finally:
        admin.close()
    assert value is not None, found
    return str(value)


def _retention_once_changed(settings: Settings, topic: str, before: str, within: float = 10.0) -> str:
    """The topic's retention once it is no longer ``before`` (or ``before`` after ``within`` seconds): the broker
    applies an accepted config change from the controller's metadata a moment later, so a describe right after the
    alter can still answer the old value."""
    deadline = time.monotonic() + within
    value = _retention(settings, topic)
    while value == before and time.monotonic() < deadline:
        time.sleep(0.2)
        value = _retention(settings, topic)
    return value


def _find(tree: Any, key: str) -> Any:
    """The value of ``key`` anywhere in describe_configs' nested answer."""
    if isinstance(tree, dict):
        if key in tree:
            value = tree[key]
            return value.get("value", value) if isinstance(value, dict) else value
        for child in tree.values():
            found = _find(child, key)
            if found is not None:
                return found
    return None


def test_the_dlq_keeps_dead_letters_for_the_configured_days_and_lineage_for_the_longest_period(
    configured: Settings,
) -> None:
    topics = HubTopics.of(configured)
    receipts = topics.receipts("politie")
    create_topics(configured, [topics.dlq, topics.lineage, receipts])
    dlq_before = _retention(configured, topics.dlq)
    assert dlq_before == str(14 * 24 * 3600 * 1000)
    longest = max(configured.retention_lineage_days, configured.retention_consent_days)  # the shipped covenants: P7Y
    lineage_before = _retention(configured, topics.lineage)
    assert lineage_before == str(max(longest, 7 * 365) * 24 * 3600 * 1000)
    assert _retention(configured, receipts) == lineage_before, "a receipts topic keeps what lineage keeps"

    shorter = configured.model_copy(update={"dlq_retention_days": 2, "lineage_retention_days": 30})
    assert create_topics(shorter, [topics.dlq, topics.lineage, receipts]) == [], "nothing new to create"
    assert _retention_once_changed(configured, topics.dlq, dlq_before) == str(2 * 24 * 3600 * 1000), (
        "an existing dlq gets the retention too"
    )
    assert _retention_once_changed(configured, topics.lineage, lineage_before) == str(30 * 24 * 3600 * 1000), (
        "and an existing lineage topic"
    )
    assert _retention_once_changed(configured, receipts, lineage_before) == str(30 * 24 * 3600 * 1000), (
        "and an existing receipts topic"
    )
    assert lineage_retention_ms(shorter) == 30 * 24 * 3600 * 1000
