"""A real hub worker (``schakel run`` in a subprocess) on topics of its own, and a deduplicating test sink."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from schakel.consent import Decision, Pseudonymizer, project
from schakel.guidance import load_guidance
from schakel.lineage import LineageRecord, records_from_bytes
from schakel.retention import Opener
from schakel.schemas import Codec, Event
from schakel.settings import Settings
from schakel.streams.access import provision, revoke_grants
from schakel.streams.records import DeadLetter, EgressCopy, Message, ingress_message
from schakel.streams.topics import ADMIN, HUB_TABLES, HubTopics

SPANS = InMemorySpanExporter()
"""The area's in-memory span exporter: whichever module configures tracing first attaches it (once per process)."""


@dataclass
class Worker:
    """One ``schakel run`` process."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    metrics_port: int = 0
    module: str = "schakel.cli"
    """What runs ``run``: the CLI, or a test's variant of it (``tests/streams/held_worker.py``)."""

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "run", "--metrics-port", str(self.metrics_port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final commit."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class DedupSink:
    """Reads egress topics like a sink connector: drops duplicates by (event id, recipient)."""

    settings: Settings
    topics: list[str]
    alive: Callable[[], bool] = lambda: True
    received: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    _consumer: KafkaConsumer | None = None

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            consumer = KafkaConsumer(**self.settings.kafka_client_config(ADMIN), enable_auto_commit=False)
            consumer.assign(
                [
                    TopicPartition(topic, partition)
                    for topic in self.topics
                    for partition in range(self.settings.partitions)
                ]
            )
            consumer.seek_to_beginning()
            self._consumer = consumer
        return self._consumer

    def drain(self, until: int, timeout: float = 90.0, quiet: float = 3.0) -> None:
        """Read until ``until`` distinct copies arrived (and ``quiet`` s passed with nothing new), or ``timeout``."""
        consumer, codec, opener = self._open(), Codec(), Opener.of(self.settings)
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            assert self.alive(), "every hub worker has exited"
            batch = consumer.poll(timeout_ms=250)
            for records in batch.values():
                for record in records:
                    copy = EgressCopy.from_record(
                        record.topic, record.key, record.value, record.headers, codec=codec, opener=opener
                    )
                    key = (copy.event_id, str(copy.recipient))
                    if key in self.received:
                        self.duplicates += 1
                    else:
                        self.received[key] = copy.form
                        last_new = time.monotonic()
            if len(self.received) >= until and time.monotonic() - last_new >= quiet:
                return

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()


def read_all(settings: Settings, topic: str | list[str], quiet: float = 3.0, timeout: float = 60.0) -> list[Any]:
    """Every record of ``topic`` (or of several, read together) until nothing new came for ``quiet`` seconds."""
    consumer = KafkaConsumer(**settings.kafka_client_config(ADMIN), enable_auto_commit=False)
    names = [topic] if isinstance(topic, str) else topic
    consumer.assign([TopicPartition(name, partition) for name in names for partition in range(settings.partitions)])
    consumer.seek_to_beginning()
    records: list[Any] = []
    deadline, last = time.monotonic() + timeout, time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - last < quiet:
            for batch in consumer.poll(timeout_ms=250).values():
                records.extend(batch)
                last = time.monotonic()
    finally:
        consumer.close()
    return records


def lineage_records(settings: Settings, quiet: float = 3.0) -> list[LineageRecord]:
    """Every lineage record on the hub's lineage topic, as lineage ingest reads them: a packed message's records in
    its order (``schakel.lineage.records_from_bytes``; an invalid message fails the test)."""
    topic = HubTopics.of(settings).lineage
    return [record for message in read_all(settings, topic, quiet) for record in records_from_bytes(message.value)]


def changelog_tails(settings: Settings, tables: Iterable[str] = HUB_TABLES) -> dict[str, dict[tuple[int, bytes], Any]]:
    """Per hub table, the last record of each key on each partition of its changelog (a tombstone's value is None;
    a live entry left on any partition shows)."""
    topics = HubTopics.of(settings)
    found: dict[str, dict[tuple[int, bytes], Any]] = {}
    for table in tables:
        changelog = f"{topics.hub_app_id}-{table}-changelog"
        found[table] = {(r.partition, r.key): r for r in read_all(settings, changelog, quiet=1.0, timeout=20)}
    return found


def dead_letters(settings: Settings, quiet: float = 3.0) -> list[DeadLetter]:
    return [
        DeadLetter.from_headers(record.headers)
        for record in read_all(settings, HubTopics.of(settings).dlq, quiet=quiet)
    ]


@dataclass
class Hub:
    """A hub on topics of its own: settings, a producer that writes as connectors do, its workers."""

    settings: Settings
    env: dict[str, str]
    tmp: Path
    producer: KafkaProducer
    workers: list[Worker] = field(default_factory=list)

    def worker(
        self, metrics_port: int = 0, *, module: str = "schakel.cli", env: dict[str, str] | None = None
    ) -> Worker:
        """Start a worker (``module``: what runs it, ``env``: settings beside the hub's)."""
        log = self.tmp / f"worker-{len(self.workers)}.log"
        worker = Worker({**self.env, **(env or {})}, log, metrics_port=metrics_port, module=module)
        self.workers.append(worker)
        worker.start()
        return worker

    def send(self, event: Event) -> None:
        self.produce(ingress_message(event, self.settings))

    def produce(self, message: Message) -> None:
        self.producer.send(message.topic, key=message.key, value=message.value, headers=message.headers)

    def flush(self) -> None:
        self.producer.flush()

    def sink(self) -> DedupSink:
        return DedupSink(self.settings, HubTopics.of(self.settings).all_egress(), alive=self.running)

    def running(self) -> bool:
        return any(w.process is not None and w.process.poll() is None for w in self.workers)

    def await_group(self, members: int, timeout: float = 240.0) -> dict[str, list[str]]:
        """Wait until the workers' consumer group is stable with ``members`` members, each holding ingress
        partitions; return each member's ingress partitions (as ``topic:partition``, by member id).

        The condition a multi-worker test must wait on before it sends: while workers still join, the group
        rebalances, and events sent into a rebalance meet Faust's stalls after one (see test_worker_faults.py) -
        which is what that soak test is about, not what "the workers share the partitions" proves.
        """
        from kafka import KafkaAdminClient

        group = HubTopics.of(self.settings).hub_app_id
        ingress = set(HubTopics.of(self.settings).all_ingress())
        admin = KafkaAdminClient(**self.settings.kafka_client_config(ADMIN))
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        # kafka-python cannot decode Faust's subscription metadata and logs each member's raw bytes as a warning.
        undecodable = logging.getLogger("kafka.admin._groups")
        level, undecodable.level = undecodable.level, logging.ERROR
        try:
            while time.monotonic() < deadline:
                assert all(w.process is None or w.process.poll() is None for w in self.workers), self.logs()
                seen = admin.describe_groups([group]).get(group) or {}
                held = {
                    str(member.get("member_id")): sorted(
                        f"{topic}:{partition}"
                        for topic, partitions in _assigned(member)
                        if topic in ingress
                        for partition in partitions
                    )
                    for member in seen.get("members") or []
                }
                if (
                    seen.get("group_state", seen.get("state")) == "Stable"
                    and len(held) == members
                    and all(held.values())
                ):
                    return held
                time.sleep(0.5)
        finally:
            undecodable.setLevel(level)
            admin.close()
        raise AssertionError(f"the group never became stable with {members} members: {seen}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(worker.log.read_text(errors="replace")[-3000:] for worker in self.workers)


@pytest.fixture
def hub(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[Hub]:
    env = {
        **os.environ,
        "SCHAKEL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "SCHAKEL_TOPIC_PREFIX": f"t{unique}.",
        "SCHAKEL_PARTITIONS": "2",
        "SCHAKEL_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
    }
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{unique}.", partitions=2, data_dir=tmp_path / "data"
    )
    provision(settings)  # topics and ACLs: the workers run as the hub's principal, under this test's prefix
    producer = KafkaProducer(**settings.kafka_client_config(ADMIN), acks="all")  # plays every partner
    running = Hub(settings, env, tmp_path, producer)
    yield running
    producer.close()
    for worker in running.workers:  # SIGKILL: its topics go next, a clean shutdown (seconds each) would save nothing
        if worker.process is not None and worker.process.poll() is None:
            worker.kill()
    _delete_topics(settings)


def _assigned(member: dict[str, Any]) -> list[tuple[str, list[int]]]:
    """(topic, partitions) of a member's assignment as ``describe_groups`` gives it (decoded, or raw bytes where
    kafka-python could not decode the member's Faust subscription beside it)."""
    from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment

    assignment: Any = member.get("member_assignment")
    if isinstance(assignment, bytes):
        assignment = ConsumerProtocolAssignment.decode(assignment)
    if hasattr(assignment, "to_dict"):
        assignment = assignment.to_dict()
    if not isinstance(assignment, dict):
        return []
    pairs: list[tuple[str, list[int]]] = []
    for item in assignment.get("assigned_partitions") or []:
        topic, partitions = (item["topic"], item["partitions"]) if isinstance(item, dict) else item
        pairs.append((str(topic), [int(partition) for partition in partitions]))
    return pairs


def _delete_topics(settings: Settings) -> None:
    """Remove the test's topics (Faust's internal ones too): a broker with thousands of leftover partitions starts
    slowly."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**settings.kafka_client_config(ADMIN))
    try:
        mine = [name for name in admin.list_topics() if name.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()
    revoke_grants(settings)


def expected_copy(event: Event, decision: Decision, pseudonymizer: Pseudonymizer) -> dict[str, Any]:
    """The copy the hub delivers for ``decision``: the projection, with the course of action chosen on it."""
    form = project(event, decision, pseudonymizer)
    course = _GUIDANCE.choose(decision.recipient, form)
    form["course_of_action"] = {"reference": course.id, "version": course.version} if course else None
    return form


_GUIDANCE = load_guidance()
