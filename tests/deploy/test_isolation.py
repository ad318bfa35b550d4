"""The isolation matrix on the real, secured broker: each partner's Kafka identity against every topic of the layout.

For every organisation X (one parametrised test class, run once per organisation): X writes ``ingress.X`` and
``receipts.X`` and reads ``egress.X`` with its own group; for every other organisation Y it is refused writing
``ingress.Y`` and ``receipts.Y``, reading ``egress.Y`` and committing in Y's group; it may not write ``lineage`` (only
the hub does), read ``lineage``, ``dlq`` or its own receipts, create a topic or delete one, write
the hub's internal steps and tables' changelogs, alter a topic's configuration, commit in the hub's, the console's or
the lineage store's group, or take a transactional id; and a wrong password gets it nowhere. The ACLs come from
``schakel.streams.topics.access_grants`` and are applied the way ``schakel kafka acls apply`` does. The hub's, lineage
ingest's and the console's own reach are checked at the end.

A refused read, in kafka-python 3.0: on a topic the principal may describe but not read (it may write ``dlq``),
``assign`` + ``poll`` raises ``TopicAuthorizationFailedError``; on a topic it may not even describe, the broker
withholds the metadata, and the consumer logs "not authorized" and returns nothing - it never fetches. There the
proof is the broker's answer to a metadata request as that principal (TOPIC_AUTHORIZATION_FAILED, error 29; any
READ grant implies DESCRIBE) plus an empty poll although the topic holds a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError as AioKafkaError
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailedError,
)
from kafka.structs import OffsetAndMetadata

from schakel.lineage.ingest import DEFAULT_GROUP_ID as LINEAGE_GROUP
from schakel.schemas import Organisation
from schakel.settings import Settings
from schakel.streams.access import provision, revoke_grants
from schakel.streams.topics import ADMIN, CONSOLE, HUB, LINEAGE, HubTopics, access_grants

pytestmark = pytest.mark.kafka

ORGANISATIONS = list(Organisation)


@dataclass(frozen=True)
class Layout:
    """The hub's topics under a prefix of this module, one seeded record on each topic a partner might read."""

    settings: Settings
    topics: HubTopics


@pytest.fixture(scope="module")
def layout(kafka_bootstrap: str) -> Iterator[Layout]:
    import uuid

    settings = Settings(topic_prefix=f"iso{uuid.uuid4().hex[:8]}.", partitions=1)
    assert settings.kafka_protocol == "SASL_SSL", "the isolation matrix needs the secured broker (schakel kafka up)"
    provision(settings)
    topics = HubTopics.of(settings)
    producer = KafkaProducer(**settings.kafka_client_config(ADMIN), acks="all")
    try:
        for topic in (*topics.all_egress(), *topics.lineage_sources(), topics.dlq):
            producer.send(topic, key=b"seed", value=b"seed").get(timeout=30)
    finally:
        producer.close()
    yield Layout(settings, topics)
    admin = KafkaAdminClient(**settings.kafka_client_config(ADMIN))
    try:
        admin.delete_topics([*topics.all(), *topics.changelogs, topics.purge])
    finally:
        admin.close()
    shared = [grant for grant in access_grants(topics) if grant.name == LINEAGE_GROUP]  # kept for other prefixes
    assert revoke_grants(settings) == len(access_grants(topics)) - len(shared)


def _consumer(settings: Settings, principal: str, group: str | None) -> KafkaConsumer:
    return KafkaConsumer(
        **settings.kafka_client_config(principal),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def _read(consumer: KafkaConsumer, topic: str, timeout: float = 20.0) -> list[Any]:
    """The first poll that brings records of ``topic``'s partition 0 (raises when the broker refuses)."""
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    polled = consumer.poll(timeout_ms=int(timeout * 1000), max_records=1)
    return [record for records in polled.values() for record in records]


_TOPIC_AUTHORIZATION_FAILED = 29


def _refused_read(consumer: KafkaConsumer, admin: KafkaAdminClient, topic: str) -> None:
    try:
        records = _read(consumer, topic, timeout=0.5)
    except TopicAuthorizationFailedError:
        return
    assert records == [], f"{topic} was read"
    [described] = admin.describe_topics([topic])
    assert described["error_code"] == _TOPIC_AUTHORIZATION_FAILED, f"{topic}: {described}"


class TestPartnerIsolation:
    """Run once per organisation: what the partner's connector identity can and cannot do."""

    @pytest.fixture(params=ORGANISATIONS, ids=[org.value for org in ORGANISATIONS])
    def org(self, request: pytest.FixtureRequest) -> Organisation:
        return Organisation(request.param)

    @pytest.fixture
    def others(self, org: Organisation) -> list[Organisation]:
        return [other for other in ORGANISATIONS if other != org]

    def test_writes_its_own_ingress_and_no_other(
        self, layout: Layout, org: Organisation, others: list[Organisation]
    ) -> None:
        producer = KafkaProducer(**layout.settings.kafka_client_config(org.value), acks="all", max_block_ms=15_000)
        try:
            written = producer.send(layout.topics.ingress(org), key=b"k", value=b"v").get(timeout=30)
            assert written.topic == layout.topics.ingress(org)
            for other in others:
                with pytest.raises(TopicAuthorizationFailedError):
                    producer.send(layout.topics.ingress(other), key=b"k", value=b"v").get(timeout=30)
            for not_mine in (layout.topics.egress(org), layout.topics.egress(others[0])):
                with pytest.raises(TopicAuthorizationFailedError):
                    producer.send(not_mine, key=b"k", value=b"v").get(timeout=30)
        finally:
            producer.close()

    def test_writes_receipts_to_its_own_receipts_topic_only_never_to_lineage(
        self, layout: Layout, org: Organisation, others: list[Organisation]
    ) -> None:
        """The boundary the store relies on: a receipts topic was written by its partner's sink, ``lineage`` by the
        hub - a compromised connector cannot put a decision or a link on ``lineage``, nor pose as another partner."""
        producer = KafkaProducer(**layout.settings.kafka_client_config(org.value), acks="all", max_block_ms=15_000)
        try:
            written = producer.send(layout.topics.receipts(org), key=b"k", value=b"receipt").get(timeout=30)
            assert written.topic == layout.topics.receipts(org)
            with pytest.raises(TopicAuthorizationFailedError):
                producer.send(layout.topics.lineage, key=b"k", value=b"forged decision").get(timeout=30)
            for other in others:
                with pytest.raises(TopicAuthorizationFailedError):
                    producer.send(layout.topics.receipts(other), key=b"k", value=b"forged").get(timeout=30)
        finally:
            producer.close()

    def test_reads_its_own_egress_with_its_own_group_and_nothing_else(
        self, layout: Layout, org: Organisation, others: list[Organisation]
    ) -> None:
        consumer = _consumer(layout.settings, org.value, layout.topics.sink_group(org))
        admin = KafkaAdminClient(**layout.settings.kafka_client_config(org.value))
        try:
            [record] = _read(consumer, layout.topics.egress(org))
            assert record.value == b"seed"
            consumer.commit({TopicPartition(layout.topics.egress(org), 0): OffsetAndMetadata(1, "", -1)})
            for other in others:
                _refused_read(consumer, admin, layout.topics.egress(other))
            for evidence in (layout.topics.lineage, layout.topics.dlq, layout.topics.receipts(org)):
                _refused_read(consumer, admin, evidence)
            _refused_read(consumer, admin, layout.topics.ingress(org))
        finally:
            consumer.close()
            admin.close()

    def test_cannot_commit_in_another_partners_group(
        self, layout: Layout, org: Organisation, others: list[Organisation]
    ) -> None:
        consumer = _consumer(layout.settings, org.value, layout.topics.sink_group(others[0]))
        try:
            consumer.assign([TopicPartition(layout.topics.egress(org), 0)])
            with pytest.raises(GroupAuthorizationFailedError):
                consumer.commit({TopicPartition(layout.topics.egress(org), 0): OffsetAndMetadata(1, "", -1)})
        finally:
            consumer.close()

    def test_cannot_create_or_delete_topics(
        self, layout: Layout, org: Organisation, others: list[Organisation]
    ) -> None:
        admin = KafkaAdminClient(**layout.settings.kafka_client_config(org.value))
        try:
            with pytest.raises(TopicAuthorizationFailedError):
                admin.create_topics([NewTopic(f"{layout.settings.topic_prefix}ingress.{org}-2", 1, 1)])
            for victim in (
                layout.topics.ingress(org),
                layout.topics.egress(others[0]),
                layout.topics.lineage,
                layout.topics.receipts(org),
            ):
                with pytest.raises(TopicAuthorizationFailedError):
                    admin.delete_topics([victim])
        finally:
            admin.close()

    def test_cannot_touch_the_hubs_internals_configs_groups_or_transactions(
        self, layout: Layout, org: Organisation
    ) -> None:
        """A compromised connector aims at what the hub trusts: its internal steps and tables, the topics' configs,
        the hub's, console's and lineage store's groups, and a transactional id."""
        topics = layout.topics
        producer = KafkaProducer(**layout.settings.kafka_client_config(org.value), acks="all", max_block_ms=15_000)
        try:
            for internal in (topics.link, topics.person, *topics.changelogs, topics.purge):
                with pytest.raises(TopicAuthorizationFailedError):
                    producer.send(internal, key=b"k", value=b"forged").get(timeout=30)
        finally:
            producer.close()
        admin = KafkaAdminClient(**layout.settings.kafka_client_config(org.value))
        try:
            for victim in (topics.ingress(org), topics.lineage, topics.dlq, topics.receipts(org)):
                said = admin.alter_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, victim, configs={"retention.ms": "1"})],
                    raise_on_unknown=False,
                )
                assert "TopicAuthorizationFailed" in str(said["topic"][victim]), said
        finally:
            admin.close()
        egress = TopicPartition(topics.egress(org), 0)
        for group in (topics.hub_app_id, topics.console_group, LINEAGE_GROUP):
            consumer = _consumer(layout.settings, org.value, group)
            try:
                consumer.assign([egress])
                with pytest.raises(GroupAuthorizationFailedError):
                    consumer.commit({egress: OffsetAndMetadata(0, "", -1)})
            finally:
                consumer.close()
        transactional = KafkaProducer(
            **layout.settings.kafka_client_config(org.value), transactional_id=topics.hub_app_id, max_block_ms=15_000
        )
        try:
            with pytest.raises(TransactionalIdAuthorizationFailedError):
                transactional.init_transactions()
        finally:
            transactional.close()

    def test_a_wrong_password_is_refused(self, layout: Layout, org: Organisation) -> None:
        config = {**layout.settings.kafka_client_config(org.value), "sasl_plain_password": "not-the-password"}

        async def connect() -> None:
            producer = AIOKafkaProducer(**config, request_timeout_ms=10_000)
            try:
                await producer.start()
            finally:
                await producer.stop()

        with pytest.raises(AioKafkaError):
            asyncio.run(connect())


def test_nothing_was_deleted_or_created_by_a_partner(layout: Layout) -> None:
    """Runs after the matrix (file order): the layout is whole, and no partner-made topic exists."""
    admin = KafkaAdminClient(**layout.settings.kafka_client_config(ADMIN))
    try:
        mine = {name for name in admin.list_topics() if name.startswith(layout.settings.topic_prefix)}
    finally:
        admin.close()
    assert mine == {*layout.topics.all(), *layout.topics.changelogs, layout.topics.purge}, (
        "the layout provision made, and nothing else"
    )


def test_kafka_python_gives_up_on_a_wrong_password_after_its_bootstrap_timeout(layout: Layout) -> None:
    config = {**layout.settings.kafka_client_config("politie"), "sasl_plain_password": "not-the-password"}
    with pytest.raises(KafkaError):
        KafkaProducer(**config, bootstrap_timeout_ms=3_000).close()


@pytest.mark.parametrize(
    ("principal", "readable", "refused"),
    [
        (LINEAGE, ["lineage", "receipts.politie", "receipts.zvh"], ["dlq", "egress.politie", "ingress.politie"]),
        (
            CONSOLE,
            ["egress.politie", "egress.ggz", "dlq", "lineage", "ingress.zvh"],
            ["ingress.politie", "receipts.politie"],
        ),
        (HUB, ["ingress.politie", "ingress.zvh"], ["egress.politie", "lineage", "dlq", "receipts.politie"]),
    ],
)
def test_the_hub_lineage_and_console_read_only_their_topics(
    layout: Layout, principal: str, readable: list[str], refused: list[str]
) -> None:
    consumer = _consumer(layout.settings, principal, None)
    admin = KafkaAdminClient(**layout.settings.kafka_client_config(principal))
    try:
        for name in readable:
            _read(consumer, layout.settings.topic(name), timeout=2.0)  # no error; ingress may be empty
        for name in refused:
            _refused_read(consumer, admin, layout.settings.topic(name))
    finally:
        consumer.close()
        admin.close()


@pytest.mark.parametrize("principal", [LINEAGE, CONSOLE])
def test_lineage_and_console_write_nothing(layout: Layout, principal: str) -> None:
    # Not idempotent: an idempotent producer of a principal that may write no topic at all is refused a producer id
    # (CLUSTER_AUTHORIZATION_FAILED) before any topic is asked; this asks the broker about each topic.
    producer = KafkaProducer(
        **layout.settings.kafka_client_config(principal), acks="all", enable_idempotence=False, max_block_ms=15_000
    )
    try:
        for name in ("lineage", "dlq", "egress.politie", "ingress.politie", "receipts.politie"):
            with pytest.raises(TopicAuthorizationFailedError):
                producer.send(layout.settings.topic(name), value=b"forged").get(timeout=30)
    finally:
        producer.close()
