"""Brokers failing under a running hub (``make soak``): one of three nodes SIGKILLed mid-stream and restarted later,
and the single broker stopped and restarted mid-stream. Nothing lost, nothing held twice by a partner system, the
lineage complete and intact, and no process of the hub restarted by hand."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schakel.deploy.kafka.broker import LocalBroker
from tests.streams.faults import Pipeline, assert_complete, expected, local_broker, signals

pytestmark = [pytest.mark.kafka, pytest.mark.soak]


@pytest.fixture
def cluster(tmp_path: Path, kafka_bootstrap: str) -> Iterator[LocalBroker]:
    broker = local_broker(tmp_path, offset=2, nodes=3)
    broker.up(timeout=300)
    yield broker
    broker.down(timeout=20)


@pytest.fixture
def single(tmp_path: Path, kafka_bootstrap: str) -> Iterator[LocalBroker]:
    broker = local_broker(tmp_path, offset=8, nodes=1)
    broker.up(timeout=300)
    yield broker
    broker.down(timeout=20)


def test_a_node_of_three_killed_mid_stream_loses_nothing(cluster: LocalBroker, tmp_path: Path) -> None:
    pipeline = Pipeline.on(cluster, tmp_path / "hub")
    events = signals(10_000)
    permitted, candidates = expected(events)
    try:
        pipeline.start()
        pipeline.send(events)
        pipeline.wait(lambda: pipeline.delivered(permitted) >= len(permitted) // 5, 600, "a fifth delivered")
        victim = cluster.node_pid(1)  # the first bootstrap address, too
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        at_kill = pipeline.delivered(permitted)
        assert at_kill < len(permitted), "the node must be killed mid-stream"
        # Two of three nodes are the minimum in sync: the hub goes on without the third.
        pipeline.wait(lambda: pipeline.delivered(permitted) >= at_kill + len(permitted) // 5, 600, "progress")
        cluster.up(timeout=300)  # node 1 again; it catches up from the others
        assert all(node.answering for node in cluster.status().nodes)
        pipeline.wait(lambda: pipeline.delivered(permitted) >= len(permitted), 900, "everything delivered")
        time.sleep(5.0)  # a duplicate still under way would arrive now
        assert_complete(pipeline, permitted, candidates)
    finally:
        pipeline.stop()


def test_the_single_broker_restarted_mid_stream_everything_recovers(single: LocalBroker, tmp_path: Path) -> None:
    pipeline = Pipeline.on(single, tmp_path / "hub")
    events = signals(4_000)
    permitted, candidates = expected(events)
    try:
        pipeline.start()
        pipeline.send(events)
        pipeline.wait(lambda: pipeline.delivered(permitted) >= len(permitted) // 4, 600, "a quarter delivered")
        assert single.down(timeout=30).startswith("Kafka stopped")
        stopped_at = pipeline.delivered(permitted)
        assert stopped_at < len(permitted), "the broker must be stopped mid-stream"
        time.sleep(20.0)  # long enough for every client to notice: connections refused, fetches and commits failing
        single.up(timeout=300)
        pipeline.wait(lambda: pipeline.delivered(permitted) >= len(permitted), 900, "everything delivered")
        time.sleep(5.0)
        assert_complete(pipeline, permitted, candidates)
    finally:
        pipeline.stop()
