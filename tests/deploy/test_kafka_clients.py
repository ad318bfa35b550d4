"""Proof that the pinned broker works with the pinned Python clients and with Faust, on real Kafka (secured: the
clients connect as admin, from the settings)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def _create(config: dict[str, Any], *names: str, partitions: int = 1) -> None:
    admin = KafkaAdminClient(**config)
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names])
        # The broker answering the metadata request may learn of new topics a moment after the controller created them
        # (seen once with `make test`'s three processes creating topics at once): wait for them, up to a ceiling.
        deadline = time.monotonic() + 30
        while not set(names) <= set(admin.list_topics()):
            assert time.monotonic() < deadline, f"{names} not listed 30 s after they were created"
            time.sleep(0.2)
    finally:
        admin.close()


def _read(config: dict[str, Any], topic: str, expected: int, timeout: float = 60.0) -> list[tuple[bytes | None, bytes]]:
    consumer = KafkaConsumer(topic, **config, auto_offset_reset="earliest", group_id=None, consumer_timeout_ms=1000)
    got: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and time.monotonic() < deadline:
            got.extend((record.key, record.value) for record in consumer)
    finally:
        consumer.close()
    return got


def test_admin_creates_topics_with_partitions(kafka_admin_config: dict[str, Any], unique: str) -> None:
    name = f"t-admin-{unique}"
    _create(kafka_admin_config, name, partitions=3)
    consumer = KafkaConsumer(**kafka_admin_config)
    try:
        assert consumer.partitions_for_topic(name) == {0, 1, 2}
    finally:
        consumer.close()


def test_kafka_python_round_trip_with_headers(kafka_admin_config: dict[str, Any], unique: str) -> None:
    topic = f"t-kp-{unique}"
    _create(kafka_admin_config, topic)
    producer = KafkaProducer(**kafka_admin_config, acks="all")
    for number in range(20):
        producer.send(topic, key=b"k%d" % number, value=b"v%d" % number, headers=[("h", b"%d" % number)])
    producer.flush()
    producer.close()
    got = _read(kafka_admin_config, topic, 20)
    assert got == [(b"k%d" % n, b"v%d" % n) for n in range(20)]


def test_aiokafka_round_trip(kafka_admin_config: dict[str, Any], unique: str) -> None:
    topic = f"t-aio-{unique}"
    _create(kafka_admin_config, topic)

    async def round_trip() -> list[bytes]:
        producer = AIOKafkaProducer(**kafka_admin_config, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for number in range(20):
                await producer.send_and_wait(topic, b"m%d" % number, headers=[("n", b"%d" % number)])
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, **kafka_admin_config, auto_offset_reset="earliest", group_id=f"g-{unique}")
        await consumer.start()
        values: list[bytes] = []
        try:
            while len(values) < 20:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), timeout=30)
                values.extend(record.value for records in batch.values() for record in records)
            await consumer.commit()
        finally:
            await consumer.stop()
        return values

    assert asyncio.run(round_trip()) == [b"m%d" % n for n in range(20)]


def test_faust_worker_consumes_one_topic_and_writes_another(
    kafka_bootstrap: str, kafka_admin_config: dict[str, Any], unique: str
) -> None:
    source, target = f"t-faust-in-{unique}", f"t-faust-out-{unique}"
    _create(kafka_admin_config, source, target)
    producer = KafkaProducer(**kafka_admin_config, acks="all")
    for number in range(10):
        producer.send(source, key=b"%d" % number, value=b"hello %d" % number)
    producer.flush()
    producer.close()

    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.deploy.faust_echo", source, target, kafka_bootstrap],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        got = _read(kafka_admin_config, target, 10, timeout=90)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert sorted(got) == sorted((b"%d" % n, b"echo:hello %d" % n) for n in range(10))
