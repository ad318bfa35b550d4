"""A dead-lettered copy, resent and then delivered: the lineage store keeps both receipts, and the person's art. 15
report says the copy was delivered - not the dead letter the first attempt ended in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from schakel.connectors.contract import Connector, ConnectorConfig, Delivery, Sink
from schakel.connectors.deadletter import resend
from schakel.connectors.errors import PermanentDeliveryError
from schakel.connectors.sink_runner import SinkRunner
from schakel.connectors.testing import copy_message, eventually, read_topic, write
from schakel.consent import Pseudonymizer
from schakel.lineage import LineagePosition, records_from_bytes
from schakel.lineage.store import open_store
from schakel.settings import Settings
from schakel.streams.access import provision
from schakel.streams.topics import HubTopics

pytestmark = pytest.mark.kafka

_CONNECTOR: Connector[ConnectorConfig] = Connector(
    name="herkansing", organisation="politie", description="in-memory test sink", config_model=ConnectorConfig
)


class _RefusingThenAccepting(Sink):
    """The partner refuses every copy until it is fixed (``accepting``), then takes them."""

    def __init__(self) -> None:
        self.accepting = False
        self.delivered: list[Delivery] = []
        self.refused = 0

    async def deliver(self, delivery: Delivery) -> None:
        if not self.accepting:
            self.refused += 1
            raise PermanentDeliveryError("partner answered HTTP 400")
        self.delivered.append(delivery)


@pytest.fixture
def hub(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Settings:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"rs-{unique}.", partitions=1, data_dir=tmp_path / "data"
    )
    topics = HubTopics.of(settings)
    provision(settings, [topics.egress("politie"), topics.dlq, topics.receipts("politie")])
    return settings


async def _run_until(settings: Settings, sink: _RefusingThenAccepting, done: object) -> None:
    runner = SinkRunner(_CONNECTOR, ConnectorConfig(), settings, sink=sink, session_timeout_ms=6000)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(done)  # type: ignore[arg-type]
    finally:
        runner.stop()
        await task


def test_a_resent_copy_that_was_delivered_is_reported_delivered(hub: Settings, tmp_path: Path) -> None:
    form, message = copy_message(hub, "politie", "bsn:999990019", seed=7)
    sink = _RefusingThenAccepting()
    topics = HubTopics.of(hub)

    async def scenario() -> list[bytes]:
        await write(hub, message)
        await _run_until(hub, sink, lambda: sink.refused == 1)  # dead-lettered: the partner refused it
        sink.accepting = True  # the partner fixed its side; the operator resends
        report = await resend(hub, "politie")
        assert report.resent == (form["id"],)
        await _run_until(hub, sink, lambda: len(sink.delivered) == 1)
        return [record.value for record in await read_topic(hub, topics.receipts("politie"), 2)]

    values = asyncio.run(scenario())
    receipts = [receipt for value in values for receipt in records_from_bytes(value)]
    assert [r.outcome for r in receipts] == ["dead-lettered", "delivered"]

    with open_store(None, tmp_path / "store") as store:
        where = topics.receipts("politie")
        store.append((receipt, LineagePosition(where, 0, offset)) for offset, receipt in enumerate(receipts))
        assert store.count() == 2, "the delivered receipt was dropped as a duplicate of the dead-lettered one"
        assert store.verify().ok
        person = Pseudonymizer(hub.pseudonym_key.get_secret_value().encode()).subject("bsn:999990019")
        [partner] = store.subject_report(person).partners
    [disclosure] = partner.decisions
    assert disclosure.delivery == "delivered"
    assert disclosure.delivered_at == receipts[1].end_time
