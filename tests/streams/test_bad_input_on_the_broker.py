"""A sample of the bad-input corpus through a real worker on the real broker.

One case of each family that reaches the hub (a record on a topic the hub does not read is never its business), then
the person's good record: every bad one is dead-lettered with its reason and event id, nothing of them reaches an
egress topic or lineage, the good record is delivered and decided once, and no personal value appears in the
worker's log, its metrics, or a dead letter's key or headers.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schakel.consent import ConsentState, Outcome, load_policy
from schakel.lineage import RecordKind
from schakel.schemas import parse_event
from schakel.streams.topics import HubTopics
from tests.streams.conftest import Hub, lineage_records, read_all
from tests.streams.corpus import CASES, PERSONAL, Case, good_message, person_form
from tests.streams.test_pipeline import _free_port, _metric, _scrape

pytestmark = pytest.mark.kafka

SAMPLE = (
    "truncated-to-150-bytes",
    "fingerprint-bit-flipped-at-5",
    "confluent-framing-without-registry",
    "garbage-empty",
    "garbage-json-form-of-the-event",
    "garbage-text-with-bsn-and-name",
    "trailing-name",
    "oversized-personal-json",
    "invalid-bsn-is-a-name",
    "invalid-name-too-long",
    "politie-event-on-ingress-ggz",
    "key-raw-bsn",
    "key-name",
    "ce-id-a-name-and-garbage",
)


def test_a_sample_of_the_corpus_is_dead_lettered_and_the_good_record_delivered(hub: Hub) -> None:
    cases = {case.name: case for case in CASES}
    sample = [cases[name] for name in SAMPLE]
    positions: dict[tuple[str, int, int], Case] = {}
    for case in sample:
        message = case.message(hub.settings)
        sent = hub.producer.send(message.topic, key=message.key, value=message.value, headers=message.headers)
        metadata = sent.get(timeout=30)
        positions[(message.topic, metadata.partition, metadata.offset)] = case
    hub.produce(good_message(hub.settings))
    hub.flush()
    port = _free_port()
    hub.worker(metrics_port=port)

    good = parse_event(person_form())
    decisions = load_policy().decide_all(good, ConsentState(), datetime.now(UTC))
    permitted = [d for d in decisions if d.outcome is not Outcome.DENY]
    sink = hub.sink()
    sink.drain(until=len(permitted))
    sink.close()
    assert set(sink.received) == {(str(good.id), str(d.recipient)) for d in permitted}, hub.logs()
    assert sink.duplicates == 0

    topics = HubTopics.of(hub.settings)
    letters = read_all(hub.settings, topics.dlq)
    assert len(letters) == len(sample), hub.logs()
    for record in letters:
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
        position = (
            headers["schakel-original-topic"],
            int(headers["schakel-original-partition"]),
            int(headers["schakel-original-offset"]),
        )
        case = positions.pop(position)
        assert headers["schakel-error-class"] in case.expected, f"{case.name}: {headers}"
        assert len(headers["schakel-reason"]) >= 10
        assert headers.get("schakel-event-id") == (str(good.id) if case.keeps_event_id else None), case.name
        assert record.key in (None, good_message(hub.settings).key), "never the original key"
        revealed = " ".join([(record.key or b"").decode("utf-8", "replace"), *headers.values()])
        for value in PERSONAL:
            assert value not in revealed, case.name
    assert not positions, "every bad record has its dead letter"

    lineage = lineage_records(hub.settings)
    lineage = [record for record in lineage if record.kind == RecordKind.DECISION]  # not the event's link record
    assert sorted(record.recipient for record in lineage) == sorted(str(d.recipient) for d in decisions)

    metrics = _scrape(port)
    assert _metric(metrics, "schakel_dead_lettered_total") == len(sample)
    assert _metric(metrics, "schakel_events_in_total") == len(sample) + 1
    logs = hub.logs()
    for value in PERSONAL:
        assert value not in metrics
        assert value not in logs
