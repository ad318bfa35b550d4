"""Nothing is lost on the hub's output path, on the real broker with a real worker.

An input too large for the hub, an output the broker refuses, a dead letter the broker refuses: each is either
dead-lettered with its reason or left unacknowledged - the consumer group's committed offset never passes a record
that was neither processed nor dead-lettered - and the next good record is delivered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from schakel.consent import ConsentState, Outcome, load_policy
from schakel.retention import Opener
from schakel.schemas import MAX_EVENT_BYTES, Codec, Event, EventType, Organisation, Theme
from schakel.schemas.examples import example_event, example_form
from schakel.streams.records import Message, ingress_message
from schakel.streams.topics import ADMIN, HubTopics
from tests.streams.conftest import Hub, dead_letters, read_all

pytestmark = pytest.mark.kafka


def _set_topic_config(hub: Hub, topic: str, config: dict[str, str]) -> None:
    admin = KafkaAdminClient(**hub.settings.kafka_client_config(ADMIN))
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, config)], raise_on_unknown=False)
    finally:
        admin.close()


def _committed(hub: Hub, topic: str, partition: int) -> int:
    """The hub's committed offset of one ingress partition (-1: none)."""
    admin = KafkaAdminClient(**hub.settings.kafka_client_config(ADMIN))
    try:
        group = f"{hub.settings.topic_prefix}hub"
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    found = offsets.get(TopicPartition(topic, partition))
    return int(found.offset) if found is not None else -1


def _wait(condition: Callable[[], bool], what: str, hub: Hub, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}\n{hub.logs()}"
        assert hub.running(), hub.logs()
        time.sleep(0.5)


def _recipient(event: Event) -> Organisation:
    """A recipient the policy permits ``event`` to."""
    decisions = load_policy().decide_all(event, ConsentState(), datetime.now(UTC))
    return next(d.recipient for d in decisions if d.outcome is not Outcome.DENY)


def _delivered_ids(hub: Hub, org: Organisation) -> set[str]:
    codec, opener = Codec(), Opener.of(hub.settings)
    topic = HubTopics.of(hub.settings).egress(org)
    return {
        str(codec.decode_json(opener.open_copy(record.value, record.headers))["id"])
        for record in read_all(hub.settings, topic, quiet=0.5)
    }


def test_too_large_inputs_and_refused_outputs_are_dead_lettered_and_the_stream_goes_on(hub: Hub) -> None:
    topics = HubTopics.of(hub.settings)
    codec = Codec()
    # A ConsultationOutcome of about 900 kB: the broker takes it, the hub's copies of it could not be produced.
    form = example_form(EventType.CONSULTATION_OUTCOME, theme=Theme.CTER)
    action = dict(form["payload"]["actions"][0], description="Many long actions. " * 190)
    form["payload"]["actions"] = [dict(action, action_id=f"A-{n}") for n in range(240)]
    big = codec.encode_json(form)
    assert MAX_EVENT_BYTES < len(big) < 1_000_000
    template = ingress_message(example_event(EventType.SIGNAL, theme=Theme.CTER), hub.settings)
    too_large = Message(topics.ingress(Organisation.POLITIE), template.key, big, template.headers)
    garbage = Message(template.topic, template.key, b"\x00garbage " * 100_000, [])
    # The broker refuses every copy to om: a CTER police signal permitted to om cannot be fully produced.
    _set_topic_config(hub, topics.egress(Organisation.OM), {"max.message.bytes": "200"})
    refused = example_event(EventType.SIGNAL, theme=Theme.CTER)
    good = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE, source=Organisation.GEMEENTE_SOCIAAL.value)
    assert _recipient(good) is not Organisation.OM

    hub.worker()
    for message in (too_large, garbage):
        hub.produce(message)
    hub.send(refused)
    hub.send(good)
    hub.flush()

    _wait(lambda: len(dead_letters(hub.settings, quiet=0.5)) >= 3, "three dead letters", hub)
    letters = {letter.error_class: letter for letter in dead_letters(hub.settings, quiet=0.5)}
    assert set(letters) == {"DecodeError", "MessageSizeTooLargeError"}, letters
    assert letters["MessageSizeTooLargeError"].event_id == str(refused.id)
    assert letters["MessageSizeTooLargeError"].reason == (
        "the hub could not produce all copies and lineage records of this record"
    )
    records = read_all(hub.settings, topics.dlq, quiet=0.5)
    assert sorted(len(record.value) for record in records)[:2] == [0, 0], "too large to accept: kept without the value"
    original = ingress_message(refused, hub.settings).value
    assert not any(original in record.value for record in records), "the kept value is sealed (schakel.retention)"
    opener = Opener.of(hub.settings)
    assert any(opener.open_dead_letter(record.value, record.headers) == original for record in records)

    _wait(lambda: str(good.id) in _delivered_ids(hub, _recipient(good)), "the next good record arrives", hub)
    ingress = sorted({template.topic, ingress_message(good, hub.settings).topic})
    _wait(lambda: all(_all_committed(hub, topic) for topic in ingress), "every record is settled and committed", hub)


def _all_committed(hub: Hub, topic: str) -> bool:
    """The committed offsets of ``topic`` are past all its records (their sum is its record count)."""
    committed = sum(max(_committed(hub, topic, partition), 0) for partition in range(hub.settings.partitions))
    return committed >= len(read_all(hub.settings, topic, quiet=0.5))


def test_a_record_whose_dead_letter_cannot_be_produced_is_never_committed_past(hub: Hub) -> None:
    topics = HubTopics.of(hub.settings)
    _set_topic_config(hub, topics.dlq, {"max.message.bytes": "100"})  # smaller than any dead letter
    good = example_event(EventType.SIGNAL, theme=Theme.MONEY_MULE)
    template = ingress_message(good, hub.settings)
    hub.produce(Message(template.topic, template.key, b"\x00 not avro", []))
    hub.send(good)
    hub.flush()
    partition = next(r.partition for r in read_all(hub.settings, template.topic, quiet=0.5))
    worker = hub.worker()

    _wait(lambda: "attempt 3" in hub.logs(), "the dead letter was refused three times", hub)
    assert _committed(hub, template.topic, partition) <= 0, "committed past a record that was not dead-lettered"
    assert worker.process is not None
    assert worker.process.poll() is None, "the worker waits; it does not crash or skip"

    _set_topic_config(hub, topics.dlq, {"max.message.bytes": "1048588"})
    _wait(lambda: len(dead_letters(hub.settings, quiet=0.5)) == 1, "the dead letter is stored", hub)
    _wait(lambda: _committed(hub, template.topic, partition) == 2, "both records are committed", hub)
    assert str(good.id) in _delivered_ids(hub, _recipient(good))
