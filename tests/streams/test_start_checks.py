"""A hub worker refuses to start when the broker hides a topic it must read (on the broker).

Faust leaves a topic it may not read out of its assignment and runs on: that partner's events would wait unprocessed,
with no consumer lag to alert on. ``schakel run`` checks first and says what to do.
"""

from __future__ import annotations

import time

import pytest
import typer
from kafka import KafkaConsumer
from kafka.admin import ACLFilter

from schakel.settings import settings
from schakel.streams import cli, topics
from schakel.streams.access import _acl, _admin
from schakel.streams.topics import HUB, HubTopics, access_grants, unreadable_topics
from tests.streams.conftest import Hub


def _take_read_away(hub: Hub, topic: str) -> None:
    """Delete the hub's READ grant on ``topic`` (an operator's mistake, or a partner added without the hub's grant)."""
    layout = HubTopics.of(hub.settings)
    (grant,) = [g for g in access_grants(layout) if g.principal == HUB and g.name == topic and g.operation == "READ"]
    acl = _acl(grant)
    with _admin(hub.settings) as admin:
        admin.delete_acls(
            [ACLFilter(acl.principal, acl.host, acl.operation, acl.permission_type, acl.resource_pattern)]
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the broker enforces the deletion
        with KafkaConsumer(**hub.settings.kafka_client_config(HUB)) as consumer:
            if topic not in consumer.topics():
                return
        time.sleep(0.5)
    raise AssertionError(f"the broker still shows {topic} to the hub a minute after its grant was deleted")


def test_a_topic_the_hub_may_not_read_is_named_and_the_others_are_not(hub: Hub) -> None:
    layout = HubTopics.of(hub.settings)
    wanted = [*layout.all_ingress(), layout.link, layout.person, layout.purge]
    assert unreadable_topics(hub.settings, wanted, principal=HUB, wait=0) == []
    hidden = layout.ingress("politie")
    _take_read_away(hub, hidden)
    assert unreadable_topics(hub.settings, wanted, principal=HUB, wait=0) == [hidden]


def test_the_worker_refuses_to_start_and_says_how_to_grant(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hidden = HubTopics.of(hub.settings).ingress("om")
    _take_read_away(hub, hidden)
    for name in ("SCHAKEL_KAFKA_BOOTSTRAP", "SCHAKEL_TOPIC_PREFIX", "SCHAKEL_PARTITIONS", "SCHAKEL_DATA_DIR"):
        monkeypatch.setenv(name, hub.env[name])
    monkeypatch.setattr(topics, "_GRANT_WAIT_SECONDS", 5.0)
    monkeypatch.setattr(cli, "_fast_event_loop", lambda: None)  # the test's process keeps its own event loop
    settings.cache_clear()
    try:
        with pytest.raises(typer.Exit) as stopped:
            cli.run(metrics_port=0, loglevel="warning", workers=1)
    finally:
        settings.cache_clear()
    assert stopped.value.exit_code == 1
    said = " ".join(capsys.readouterr().err.split())
    assert f"the hub may not read {hidden}" in said
    assert "schakel kafka acls apply" in said


def test_the_hub_starting_on_an_installation_sees_every_topic_it_creates(hub: Hub) -> None:
    """What a worker does at start (``create_topics`` as the hub): every topic exists, so it creates none - a topic
    the hub may create but not see (the receipts topics, before the hub had DESCRIBE on them) was asked for again at
    every start, and its retention never set."""
    assert topics.create_topics(hub.settings, principal=HUB) == []
