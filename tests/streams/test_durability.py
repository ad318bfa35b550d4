"""Every producer of the hub acknowledges with all in-sync replicas and is idempotent; topics take the cluster's
replication unless the settings name one (no broker needed)."""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from schakel.consent import load_policy
from schakel.settings import Settings
from schakel.streams.hub import create_app
from schakel.streams.topics import cluster_replication


def test_the_hubs_faust_producer_is_idempotent_and_waits_for_every_in_sync_replica() -> None:
    settings = Settings(kafka_security_protocol="PLAINTEXT")
    producer: Any = create_app(settings, load_policy(settings.covenants_dir)).producer
    config = {**producer._settings_default(), **producer._settings_extra()}
    assert config["enable_idempotence"] is True
    assert config["acks"] == "all"


def test_kafka_python_producers_are_idempotent_by_default() -> None:
    """``schakel send`` and the tests rely on kafka-python 3's defaults: pinned here, so an upgrade that changes
    them fails a test instead of weakening a producer."""
    defaults = KafkaProducer.DEFAULT_CONFIG
    assert defaults["enable_idempotence"] is True
    assert defaults["acks"] in ("all", -1)


def test_topics_take_the_clusters_replication_unless_the_settings_name_one() -> None:
    assert cluster_replication(Settings()) == -1  # CreateTopics: the broker's default.replication.factor
    assert cluster_replication(Settings(replication_factor=2)) == 2
