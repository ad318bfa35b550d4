"""The sink runtime with an in-memory sink: bounded in-flight work, one delivery at a time per subject, a permanent
refusal dead-lettered at once, and a corrupt egress record dead-lettered without stopping the others."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import GroupAuthorizationFailedError, KafkaTimeoutError, TopicAuthorizationFailedError

from schakel.connectors import _kafka, sink_runner
from schakel.connectors.contract import Connector, ConnectorConfig, Delivery, Sink, governed_fields_with_value
from schakel.connectors.errors import PermanentDeliveryError
from schakel.connectors.retry import RetryPolicy
from schakel.connectors.sink_runner import SinkRunner
from schakel.connectors.testing import copy_message, eventually, read_topic, write
from schakel.lineage import records_from_bytes
from schakel.settings import Settings
from schakel.streams.access import apply_grants, provision, revoke_grants
from schakel.streams.records import Message, header
from schakel.streams.topics import HubTopics, create_topics

pytestmark = pytest.mark.kafka


class _SlowSink(Sink):
    """Records how many deliveries run at once, overall and per subject; refuses event ids it is told to."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.running = 0
        self.most = 0
        self.per_subject: Counter[str | None] = Counter()
        self.overlap_within_a_subject = False
        self.delivered: list[Delivery] = []
        self.attempts: Counter[str] = Counter()
        self.refuse = refuse

    async def deliver(self, delivery: Delivery) -> None:
        self.attempts[delivery.event_id] += 1
        if delivery.event_id in self.refuse:
            raise PermanentDeliveryError("partner answered HTTP 400")
        subject = delivery.subject_pseudonym
        self.running += 1
        self.per_subject[subject] += 1
        self.most = max(self.most, self.running)
        self.overlap_within_a_subject |= self.per_subject[subject] > 1
        await asyncio.sleep(0.02)
        self.per_subject[subject] -= 1
        self.running -= 1
        self.delivered.append(delivery)


_CONNECTOR: Connector[ConnectorConfig] = Connector(
    name="geheugen", organisation="politie", description="in-memory test sink", config_model=ConnectorConfig
)


@pytest.fixture
def hub(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Settings:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"rt-{unique}.", partitions=3, data_dir=tmp_path / "data"
    )
    topics = HubTopics.of(settings)
    provision(settings, [topics.egress("politie"), topics.dlq, topics.receipts("politie")])
    return settings


async def _run(settings: Settings, sink: _SlowSink, config: ConnectorConfig, until: object) -> SinkRunner:
    runner = SinkRunner(_CONNECTOR, config, settings, sink=sink, session_timeout_ms=6000)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(until)  # type: ignore[arg-type]
    finally:
        runner.stop()
        await task
    return runner


def test_in_flight_work_is_bounded_and_each_subject_is_served_in_order(hub: Settings) -> None:
    copies = [copy_message(hub, "politie", f"bsn:{n % 8}", seed=n) for n in range(48)]
    sink = _SlowSink()

    async def scenario() -> None:
        await write(hub, *(message for _, message in copies))
        await _run(hub, sink, ConnectorConfig(max_in_flight=3), lambda: len(sink.delivered) == 48)

    asyncio.run(scenario())
    assert sink.most == 3, "at most max_in_flight deliveries at once, and more than one when subjects differ"
    assert not sink.overlap_within_a_subject
    for subject in {d.subject_pseudonym for d in sink.delivered}:
        ids = [d.event_id for d in sink.delivered if d.subject_pseudonym == subject]
        # A sink knows the person by the recipient's own pseudonym, the only one a copy carries.
        expected = [form["id"] for form, _ in copies if form["subject"]["pseudonym"] == subject]
        assert ids == expected


def test_a_refusal_is_dead_lettered_at_once_and_a_corrupt_record_does_not_stop_the_rest(hub: Settings) -> None:
    refused_form, refused = copy_message(hub, "politie", "bsn:1", seed=1)
    good_form, good = copy_message(hub, "politie", "bsn:1", seed=2)
    corrupt = Message(topic=good.topic, key=good.key, value=b"\x00 not an egress copy", headers=good.headers)
    sink = _SlowSink(refuse=frozenset({refused_form["id"]}))
    config = ConnectorConfig(retry=RetryPolicy(max_attempts=5, initial_backoff=0.01))

    async def scenario() -> None:
        await write(hub, refused, corrupt, good)
        runner = await _run(hub, sink, config, lambda: len(sink.delivered) == 1)
        assert runner.metrics.value("dead_lettered") == 2
        assert runner.metrics.value("retried") == 0

    asyncio.run(scenario())
    assert [d.event_id for d in sink.delivered] == [good_form["id"]]
    assert sink.attempts[refused_form["id"]] == 1
    letters = asyncio.run(read_topic(hub, HubTopics.of(hub).dlq, 2))
    reasons = sorted(header(r.headers, "schakel-reason") or "" for r in letters)
    assert reasons == ["partner refused: partner answered HTTP 400", "undecodable egress record"]
    undecodable = next(r for r in letters if header(r.headers, "schakel-reason") == "undecodable egress record")
    assert header(undecodable.headers, "schakel-event-id") == good_form["id"], "the CloudEvents ce_id was not kept"


class _FirstReceiptRefused:
    """The runner's producer, except that the broker does not acknowledge the first receipt (a timeout)."""

    def __init__(self, inner: Any, receipts: str) -> None:
        self._inner, self._receipts, self.refused = inner, receipts, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send(self, topic: str, **kwargs: Any) -> Any:
        if topic == self._receipts and not self.refused:
            self.refused += 1
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(KafkaTimeoutError())
            return failed
        return await self._inner.send(topic, **kwargs)


def test_a_receipt_written_again_after_a_broker_failure_names_the_fields_sent(
    hub: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker failed a delivered copy's receipt: the batch is read again, the idempotency store drops the copy
    (the partner has it) and the receipt is written again - saying that no governed field reached the partner: the
    only receipt of a copy that carried the person's name and birth date."""
    form, message = copy_message(hub, "politie", "bsn:999990019", seed=3)
    sink = _SlowSink()
    topics = HubTopics.of(hub)
    wrapped: list[_FirstReceiptRefused] = []
    real = _kafka.producer

    def producer(*args: Any, **kwargs: Any) -> Any:
        wrapped.append(_FirstReceiptRefused(real(*args, **kwargs), topics.receipts("politie")))
        return wrapped[-1]

    monkeypatch.setattr(_kafka, "producer", producer)

    async def scenario() -> list[Any]:
        await write(hub, message)
        runner = SinkRunner(_CONNECTOR, ConnectorConfig(), hub, sink=sink, session_timeout_ms=6000)
        task = asyncio.create_task(runner.run())
        try:
            receipts = await read_topic(hub, topics.receipts("politie"), 1)  # written once the batch was read again
            await eventually(lambda: runner.metrics.value("duplicates_dropped") == 1)
        finally:
            runner.stop()
            await task
        assert wrapped[0].refused == 1
        return receipts

    [record] = asyncio.run(scenario())
    assert len(sink.delivered) == 1, "the copy reached the partner twice"
    [receipt] = records_from_bytes(record.value)
    assert receipt.outcome == "delivered"
    assert set(receipt.fields_sent) == set(governed_fields_with_value(form))
    assert {"subject.name", "subject.birth_date"} <= set(receipt.fields_sent)


def test_a_sink_started_before_its_grants_waits_for_them_and_then_delivers(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    """An operator applies the ACLs while the connector starts (Strimzi's User Operator does): the sink waits for its
    grants instead of exiting, then delivers everything."""
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"rg-{unique}.", partitions=2, data_dir=tmp_path / "data"
    )
    topics = HubTopics.of(settings)
    create_topics(settings, [topics.egress("politie"), topics.dlq, topics.receipts("politie")])  # topics, no grants yet
    copies = [copy_message(settings, "politie", f"bsn:{n}", seed=n) for n in range(4)]
    sink = _SlowSink()

    async def scenario() -> None:
        await write(settings, *(message for _, message in copies))
        runner = SinkRunner(_CONNECTOR, ConnectorConfig(), settings, sink=sink, session_timeout_ms=6000)
        task = asyncio.create_task(runner.run())
        try:
            refused = await eventually(lambda: runner.health.last_error)
            assert refused in {"TopicAuthorizationFailedError", "GroupAuthorizationFailedError"}
            assert not task.done(), "a refusal at start is waited out"
            await asyncio.to_thread(apply_grants, settings)
            await eventually(lambda: len(sink.delivered) == len(copies) or task.done())
        finally:
            runner.stop()
            await task

    try:
        asyncio.run(scenario())
    finally:
        revoke_grants(settings)
    assert sorted(d.event_id for d in sink.delivered) == sorted(form["id"] for form, _ in copies)


def test_a_sink_whose_grants_never_come_fails_closed(
    kafka_bootstrap: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"rn-{unique}.", partitions=2, data_dir=tmp_path / "data"
    )
    topics = HubTopics.of(settings)
    create_topics(settings, [topics.egress("politie"), topics.dlq, topics.receipts("politie")])
    monkeypatch.setattr(sink_runner, "_GRANTS_AT_START", 3.0)
    sink = _SlowSink()

    async def scenario() -> None:
        runner = SinkRunner(_CONNECTOR, ConnectorConfig(), settings, sink=sink, session_timeout_ms=6000)
        await asyncio.wait_for(runner.run(), timeout=120)

    with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
        asyncio.run(scenario())
    assert sink.delivered == []
