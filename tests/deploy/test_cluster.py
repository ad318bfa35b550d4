"""``schakel kafka up --nodes 3`` for real (``make soak``: the first start of a secured cluster takes one to two
minutes here): three nodes answer, the hub's topics get three copies with two in sync, ``status`` lists the nodes,
a single node cannot start beside the cluster, ``down`` stops all three."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from schakel.deploy.kafka.broker import BrokerError, LocalBroker
from schakel.streams.topics import ADMIN, HubTopics, create_topics
from tests.streams.faults import local_broker

pytestmark = [pytest.mark.kafka, pytest.mark.soak]


@pytest.fixture
def cluster(tmp_path: Path, kafka_bootstrap: str) -> Iterator[LocalBroker]:
    broker = local_broker(tmp_path, offset=2, nodes=3)
    yield broker
    broker.down(timeout=20)


def _cli(broker: LocalBroker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": broker.settings.kafka_bootstrap,
        "SCHAKEL_DATA_DIR": str(broker.settings.data_dir),
        "SCHAKEL_CACHE_DIR": str(broker.settings.cache_dir),
    }
    for name in list(env):
        if name.startswith("SCHAKEL_KAFKA_") and name != "SCHAKEL_KAFKA_BOOTSTRAP":
            del env[name]  # the CLI finds the cluster's CA and credentials from its data directory
    return subprocess.run(
        [sys.executable, "-m", "schakel.cli", "kafka", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_three_nodes_up_replicated_topics_status_down(cluster: LocalBroker) -> None:
    started = _cli(cluster, "up", "--nodes", "3", "--timeout", "300")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "3 nodes" in started.stdout
    assert f"SCHAKEL_KAFKA_BOOTSTRAP={cluster.bootstrap}" in started.stdout
    assert all(node.answering and node.pid is not None for node in cluster.status().nodes)

    settings = cluster.client_settings()
    create_topics(settings)
    topics = HubTopics.of(settings)
    admin = KafkaAdminClient(**settings.kafka_client_config(ADMIN))
    try:
        described = admin.describe_topics([topics.ingress("politie"), topics.lineage, *topics.changelogs])
        replicas = {len(partition["replica_nodes"]) for topic in described for partition in topic["partitions"]}
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.lineage, {"min.insync.replicas": None})],
            config_filter="all",
        )
    finally:
        admin.close()
    assert replicas == {3}
    assert configs["topic"][topics.lineage]["min.insync.replicas"]["value"] == "2"

    status = _cli(cluster, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for node in cluster.nodes:
        assert f"node {node.node_id}  {node.address}  answers" in status.stdout

    with pytest.raises(BrokerError, match="a cluster of three nodes runs"):
        LocalBroker(cluster.settings, nodes=1).up(timeout=10)

    stopped = _cli(cluster, "down")
    assert stopped.stdout.startswith("Kafka stopped (3 nodes"), stopped.stdout + stopped.stderr
    assert not any(node.answering for node in cluster.status().nodes)
