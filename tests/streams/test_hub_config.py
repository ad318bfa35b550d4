from __future__ import annotations

import faust
from pydantic import SecretStr

from schakel.consent import load_policy
from schakel.settings import Settings
from schakel.streams.hub import _credentials, create_app
from schakel.streams.partitioner import KeyPartitioner
from schakel.streams.topics import HUB, HubTopics, access_grants


def test_plaintext_needs_no_credentials() -> None:
    assert _credentials(Settings(kafka_security_protocol="PLAINTEXT")) is None


def test_sasl_ssl_credentials_reach_faust() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="hub",
        kafka_sasl_password=SecretStr("s3cret"),
    )
    credentials = _credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "hub"
    assert credentials.password == "s3cret"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None


def test_ssl_without_sasl_uses_a_tls_context() -> None:
    assert isinstance(_credentials(Settings(kafka_security_protocol="SSL")), faust.SSLCredentials)


def test_every_table_changelog_of_the_hub_falls_under_the_hubs_grant() -> None:
    settings = Settings(kafka_security_protocol="PLAINTEXT")
    topics = HubTopics.of(settings)
    app = create_app(settings, load_policy(settings.covenants_dir))
    changelogs = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    assert f"{topics.hub_app_id}-agenda-changelog" in changelogs  # the ZVH's signal agenda (issue 15)
    assert changelogs == set(topics.changelogs), "create_topics makes every changelog before a worker starts"
    prefixes = [g.name for g in access_grants(topics) if g.principal == HUB and g.prefixed and g.operation == "ALL"]
    assert all(any(name.startswith(prefix) for prefix in prefixes) for name in changelogs)


def test_the_hubs_records_and_its_tables_keys_are_partitioned_as_kafka_does() -> None:
    # The hub's producer and Faust's own key -> partition choice (tables, co-partitioned steps) share the one
    # partitioner that tests/streams/test_partitioner.py compares with Kafka's default.
    settings = Settings(kafka_security_protocol="PLAINTEXT")
    app = create_app(settings, load_policy(settings.covenants_dir))
    chosen: object = app.conf.producer_partitioner
    assert isinstance(chosen, KeyPartitioner)
    assert app.producer.partitioner is chosen
